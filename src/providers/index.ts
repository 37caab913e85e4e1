/** The providers configured by settings: the local trainer always, and every named OpenAI-compatible endpoint. */
import path from "node:path";
import type { Config } from "../config.ts";
import type { ProviderSet } from "../core/models.ts";
import type { TrainerProvider } from "../core/trainer.ts";
import { LocalProvider } from "./local/provider.ts";
import { endpointModel, OpenAICompatibleClient } from "./openai-compatible.ts";

export interface Providers extends ProviderSet {
  close(): Promise<void>;
}

export function createProviders(config: Config): Providers {
  const local = new LocalProvider({
    modelDir: config.localModelDir,
    cacheDir: path.join(config.dataDir, "cache", "models"),
  });
  const trainers = new Map<string, TrainerProvider>([["local", local]]);
  const endpoints = new Map(config.endpoints.map((e) => [e.name, new OpenAICompatibleClient(e)]));
  return {
    trainer: (name) => trainers.get(name) ?? null,
    trainerNames: () => [...trainers.keys()],
    inference(provider, modelId, ref) {
      if (provider === "local") return local.inference(modelId, ref);
      const ep = endpoints.get(provider);
      return ep ? endpointModel(ep, modelId) : null;
    },
    providerNames: () => [...trainers.keys(), ...endpoints.keys()],
    async close() {
      await local.close();
    },
  };
}
