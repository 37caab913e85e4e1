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
import { loadProviderSettings } from "./settings.ts";
import { installCostTables } from "./tables.ts";
import { TogetherProvider } from "./together.ts";

export interface Providers extends ProviderSet {
  close(): Promise<void>;
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
  const endpoints = new Map(config.endpoints.map((e) => [e.name, new OpenAICompatibleClient(e)]));
  return {
    trainer: (name) => trainers.get(name) ?? null,
    trainerNames: () => [...trainers.keys()],
    inference(provider, modelId, ref) {
      if (provider === "local") return local.inference(modelId, ref);
      if (provider === "together" && together) return together.inference(modelId, ref);
      if (provider === "openai" && openai) return openai.inference(modelId, ref);
      const ep = endpoints.get(provider);
      return ep ? endpointModel(ep, modelId) : null;
    },
    providerNames: () => [...new Set([...trainers.keys(), ...endpoints.keys()])],
    unconfigured: () => [
      ...(together ? [] : [{ name: "together", setting: "TOGETHER_API_KEY" }]),
      ...(openai ? [] : [{ name: "openai", setting: "OPENAI_API_KEY" }]),
    ],
    async close() {
      await local.close();
    },
  };
}
