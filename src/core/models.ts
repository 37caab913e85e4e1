/** Resolving what users write as a model (`local:stories260K`, `run:3`, `vllm:qwen2.5-7b`) to something that answers. */
import { ErrorCode, TuneError } from "../errors.ts";
import type { InferenceModel } from "./inference.ts";
import type { EngineRepo, RunRecord } from "./ports.ts";
import type { TrainerProvider } from "./trainer.ts";

export interface ProviderSet {
  trainer(name: string): TrainerProvider | null;
  trainerNames(): string[];
  /** Inference for a provider's model id: a base model, or the tuned model id a TrainOutcome gave. */
  inference(provider: string, modelId: string, ref: string): InferenceModel | null;
  /** Names that can appear before the colon of a model reference (trainers and named endpoints). */
  providerNames(): string[];
  /** Providers tuneloop knows but this process has no settings for, with the setting that turns each on. */
  unconfigured?(): Array<{ name: string; setting: string }>;
}

/**
 * The refusal for a provider that is not here: a known one names the setting that turns it on ("No trainer
 * together here: set TOGETHER_API_KEY ..."), an unknown one lists what there is and what could be.
 */
export function providerUnavailable(
  providers: ProviderSet,
  name: string,
  kind: "trainer" | "model" = "trainer",
): TuneError {
  const off = providers.unconfigured?.() ?? [];
  const known = off.find((p) => p.name === name.toLowerCase());
  const here = kind === "trainer" ? providers.trainerNames() : providers.providerNames();
  const could = off.map((p) => `${p.name} (set ${p.setting})`);
  const message = known
    ? `No ${kind === "trainer" ? "trainer" : "provider"} "${name}" here: set ${known.setting} in .env or the environment (a running bot needs a restart to see it). See /tune help providers.`
    : `No ${kind === "trainer" ? "trainer" : "provider or endpoint"} named "${name}". ${kind === "trainer" ? "Trainers" : "Providers"} here: ${here.join(", ") || "none"}${could.length ? `; also possible: ${could.join(", ")}` : ""}.${kind === "model" ? " Name OpenAI-compatible endpoints in TUNELOOP_ENDPOINTS." : ""}`;
  return new TuneError(kind === "trainer" || known ? ErrorCode.ProviderUnavailable : ErrorCode.UnknownModel, message);
}

export interface ResolvedModel {
  ref: string;
  model: InferenceModel;
  run: RunRecord | null;
}

export function parseRunRef(ref: string): number | null {
  const m = /^(?:run[:#-]?)(\d+)$/i.exec(ref.trim());
  return m ? Number(m[1]) : null;
}

export const runRef = (id: number) => `run:${id}`;

/**
 * A model id that reads as a path on the host (`/etc`, `~/x`, `./x`, `../x`, `C:\\x`, `a/../b`): never a model's
 * name (hub ids like `meta-llama/Llama-3-8b` are not), and refused wherever it is typed, so no model reference reaches
 * the host's disk (the local provider would load an adapter from that folder).
 */
export function namesFolder(modelId: string): boolean {
  return /^(?:[/\\~.]|[A-Za-z]:)|(?:^|[/\\])\.\.(?:[/\\]|$)|[\0\\]/.test(modelId);
}

export function resolveModel(ref: string, providers: ProviderSet, repo: EngineRepo): ResolvedModel {
  const runId = parseRunRef(ref);
  if (runId !== null) {
    const run = repo.runById(runId);
    if (!run) throw new TuneError(ErrorCode.RunNotFound, `No run ${runId}. See /tune run list.`);
    const tuned = run.result?.tunedModelId;
    if (run.state !== "succeeded" && typeof tuned !== "string") {
      throw new TuneError(
        ErrorCode.RunNotReady,
        `Run ${runId} is ${run.state.replace("_", " ")}; its tuned model exists once training has succeeded.`,
      );
    }
    const model = providers.inference(run.provider, String(tuned), runRef(runId));
    if (!model) {
      const why = providerUnavailable(providers, run.provider, "model");
      throw new TuneError(ErrorCode.ProviderUnavailable, `Run ${runId} was tuned on ${run.provider}. ${why.message}`);
    }
    return { ref: runRef(runId), model, run };
  }
  const i = ref.indexOf(":");
  if (i <= 0) {
    throw new TuneError(
      ErrorCode.UnknownModel,
      `"${ref}" is not a model reference: write provider:model (e.g. local:stories260K, or an endpoint from TUNELOOP_ENDPOINTS such as vllm:qwen2.5-7b) or run:N for a tuned run.`,
    );
  }
  const provider = ref.slice(0, i);
  const modelId = ref.slice(i + 1);
  if (namesFolder(modelId))
    throw new TuneError(
      ErrorCode.HostPathRefused,
      `"${ref}" names a folder; a model is provider:model (e.g. local:stories260K) or run:N for a tuned run, whose adapter tuneloop finds itself.`,
    );
  const model = providers.inference(provider, modelId, ref);
  if (!model) throw providerUnavailable(providers, provider, "model");
  return { ref, model, run: null };
}
