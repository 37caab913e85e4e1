/**
 * The providers configured by settings: the local trainer always, Together and OpenAI when their keys are set
 * (src/providers/settings.ts), and every named OpenAI-compatible endpoint.
 */
import path from "node:path";
import type { Config } from "../config.ts";
import type { ProviderSet } from "../core/models.ts";
import type { TrainerProvider } from "../core/trainer.ts";
import { LocalProvider } from "./local/provider.ts";
import { endpointModel, OpenAICompatibleClient } from "./openai-compatible.ts";
import { OpenAIProvider } from "./openai.ts";
import { createSelfHosted, GPU_PREFIX, loraServers } from "./selfhosted/provider.ts";
import type { LoraServer } from "./selfhosted/server.ts";
import { loadProviderSettings } from "./settings.ts";
import { installCostTables } from "./tables.ts";
import { TogetherProvider } from "./together.ts";

export interface Providers extends ProviderSet {
  close(): Promise<void>;
  /** A vLLM/SGLang endpoint of TUNELOOP_ENDPOINTS by name (serve bench), or null. */
  loraServer?(name: string): LoraServer | null;
  /** The names of the vLLM/SGLang endpoints. */
  loraServerNames?(): string[];
}

export function createProviders(config: Config, env: NodeJS.ProcessEnv = process.env): Providers {
  installCostTables();
  const local = new LocalProvider({
    modelDir: config.localModelDir,
    cacheDir: path.join(config.dataDir, "cache", "models"),
  });
  const trainers = new Map<string, TrainerProvider>([["local", local]]);
  const hosted = loadProviderSettings(env);
  const together = hosted.together ? new TogetherProvider(hosted.together) : null;
  const openai = hosted.openai ? new OpenAIProvider(hosted.openai) : null;
  if (together) trainers.set("together", together);
  if (openai) trainers.set("openai", openai);
  const selfhosted = createSelfHosted(config.endpoints, env);
  const servers = loraServers(config.endpoints);
  if (selfhosted) trainers.set("selfhosted", selfhosted);
  const endpoints = new Map(config.endpoints.map((e) => [e.name, new OpenAICompatibleClient(e)]));
  return {
    trainer: (name) => trainers.get(name) ?? null,
    trainerNames: () => [...trainers.keys()],
    inference(provider, modelId, ref) {
      if (provider === "local") return local.inference(modelId, ref);
      if (provider === "together" && together) return together.inference(modelId, ref);
      if (provider === "openai" && openai) return openai.inference(modelId, ref);
      // self-hosted: gpu:<base> or gpu:<adapter>, a run's tuned model, or the serving endpoint by its own name
      if (selfhosted && (provider === "selfhosted" || provider === GPU_PREFIX || provider === selfhosted.server.name))
        return selfhosted.inference(modelId, ref);
      const ep = endpoints.get(provider);
      return ep ? endpointModel(ep, modelId) : null;
    },
    providerNames: () => [...new Set([...trainers.keys(), ...endpoints.keys(), ...(selfhosted ? [GPU_PREFIX] : [])])],
    unconfigured: () => [
      ...(together ? [] : [{ name: "together", setting: "TOGETHER_API_KEY" }]),
      ...(openai ? [] : [{ name: "openai", setting: "OPENAI_API_KEY" }]),
      ...(selfhosted ? [] : [{ name: "selfhosted", setting: 'a "kind": "vllm" endpoint in TUNELOOP_ENDPOINTS' }]),
    ],
    loraServer: (name) =>
      selfhosted?.server.name === name ? selfhosted.server : (servers.find((s) => s.name === name) ?? null),
    loraServerNames: () => servers.map((s) => s.name),
    async close() {
      await local.close();
    },
  };
}
