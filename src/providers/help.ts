/** `/tune help providers`: which trainers and endpoints this bot has, and what each hosted provider needs. */
import { list, text, type Card } from "../core/cards.ts";
import { OPENAI_CLOSURE } from "./openai.ts";
import { endpointsFromSettings, loadProviderSettings } from "./settings.ts";

const servesLoras = (env: NodeJS.ProcessEnv) => {
  try {
    return endpointsFromSettings(env).some((e) => e.kind === "vllm" || e.kind === "sglang");
  } catch {
    return false;
  }
};

export function providersHelpData(env: NodeJS.ProcessEnv = process.env) {
  let s: ReturnType<typeof loadProviderSettings>["summary"] | null = null;
  try {
    s = loadProviderSettings(env).summary;
  } catch {
    s = null;
  }
  return [
    {
      provider: "local",
      configured: true,
      how: "the bundled stories260K trainer, always there",
    },
    {
      provider: "together",
      configured: s?.together ?? false,
      how: "TOGETHER_API_KEY (TOGETHER_BASE_URL to change the API base); LoRA by default, TOGETHER_TRAINING_TYPE=full for full fine-tuning",
    },
    {
      provider: "openai",
      configured: s?.openai ?? false,
      how: "OPENAI_API_KEY (OPENAI_BASE_URL to change the API base); OPENAI_WEBHOOK_SECRET to hear of finished jobs at once",
      notice: OPENAI_CLOSURE,
    },
    {
      provider: "selfhosted",
      configured: servesLoras(env),
      how: 'LoRA on your own GPU: a "kind": "vllm" (or "sglang") endpoint in TUNELOOP_ENDPOINTS with adapterDir and gpuHourUsd; models written gpu:<base>, tuned ones gpu:<adapter> (docs/selfhosted.md)',
    },
    {
      provider: "endpoints",
      configured: Boolean(env.TUNELOOP_ENDPOINTS || env.TUNELOOP_ENDPOINTS_FILE),
      how: "TUNELOOP_ENDPOINTS (JSON) or TUNELOOP_ENDPOINTS_FILE: any OpenAI-compatible /v1 endpoint (vLLM, Ollama, LM Studio, Fireworks...) as a baseline or judge, written <endpoint>:<model>",
    },
  ];
}

export function providersHelpCard(env: NodeJS.ProcessEnv = process.env): Card {
  const rows = providersHelpData(env);
  const mark = (c: boolean) => (c ? "configured" : "not configured");
  return {
    title: "/tune help providers",
    ephemeral: true,
    blocks: [
      text(
        "Trainers run fine-tunes (`/tune run start <dataset> --provider together|openai|selfhosted|local --model <base>`); every provider's models also answer evals, and named endpoints serve as baselines and judges.",
      ),
      list(
        rows.map((r) => `${r.provider} (${mark(r.configured)}): ${r.how}`),
        "Providers",
      ),
      text(`Notice: ${OPENAI_CLOSURE}`),
      text(
        "Costs are booked from the provider's reported token counts and the price table (src/providers/prices.json, with source and date per entry). A provider outage shows the run as stalled, not failed; it goes on when the provider answers again.",
      ),
    ],
  };
}
