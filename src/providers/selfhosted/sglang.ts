/**
 * SGLang's run-time LoRA API, as a dialect of the same port (docs: https://docs.sglang.ai/advanced_features/lora.html):
 * its adapter routes sit at the server's root, not under /v1 (`POST /load_lora_adapter`, `/unload_lora_adapter`),
 * the models list is `/v1/models`, and a request names an adapter as `base:adapter`. Start it with
 * `--enable-lora --max-lora-rank R --max-loras-per-batch N`.
 */
import type { ServerDialect } from "./server.ts";

const root = (b: string) => b.replace(/\/+$/, "").replace(/\/v1$/, "");

export const SGLANG: ServerDialect = {
  kind: "sglang",
  label: "SGLang",
  loadUrl: (b) => `${root(b)}/load_lora_adapter`,
  unloadUrl: (b) => `${root(b)}/unload_lora_adapter`,
  modelsUrl: (b) => `${root(b)}/v1/models`,
  chatModel: (base, adapter) => `${base}:${adapter}`,
  ranks: null,
  maxRankFlag: "--max-lora-rank",
  runtimeLoadingHint:
    "this SGLang has no run-time adapter loading: start it with --enable-lora (and a version with /load_lora_adapter)",
};
