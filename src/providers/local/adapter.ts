/**
 * LoRA adapters on disk: a folder with
 *  - adapter.json: format/version, the base model (name, sha256 of its checkpoint, shape), rank, alpha, targets,
 *    the tensor index (name, shape, offset in floats of A and B), the sha256 of weights.bin, and free-form training
 *    facts (hyperparameters, steps, losses...);
 *  - weights.bin: little-endian float32, for each adapted projection A [in, rank] then B [rank, out], row-major, in
 *    the index order.
 * Both files are written to temporary names and renamed, so a reader never sees half an adapter. Loading checks the
 * sizes and the weights' sha256; inference refuses an adapter made for another base model.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { LlamaConfig } from "./checkpoint.ts";
import { LORA_TARGETS, type LoraTarget, type LoraWeights } from "./model.ts";

export const ADAPTER_FORMAT = "tuneloop-lora";
export const ADAPTER_VERSION = 1;
export const ADAPTER_JSON = "adapter.json";
export const ADAPTER_WEIGHTS = "weights.bin";

export interface AdapterTensorEntry {
  name: string;
  inDim: number;
  outDim: number;
  /** Offsets in float32 elements into weights.bin. */
  aOffset: number;
  bOffset: number;
}

export interface AdapterMeta {
  format: typeof ADAPTER_FORMAT;
  version: number;
  baseModel: {
    name: string;
    sha256: string;
    config: Pick<LlamaConfig, "dim" | "hiddenDim" | "nLayers" | "nHeads" | "nKvHeads" | "vocabSize" | "seqLen">;
  };
  rank: number;
  alpha: number;
  targets: LoraTarget[];
  tensors: AdapterTensorEntry[];
  weightsSha256: string;
  createdAt: string;
  /** Whatever the trainer wants to keep with the adapter (hyperparameters, steps, losses...). */
  training?: Record<string, unknown>;
}

export interface SaveAdapterOptions {
  baseName: string;
  baseSha256: string;
  baseConfig: LlamaConfig;
  training?: Record<string, unknown>;
}

export function saveAdapter(dir: string, adapter: LoraWeights, opts: SaveAdapterOptions): AdapterMeta {
  const r = adapter.config.rank;
  let total = 0;
  const tensors: AdapterTensorEntry[] = adapter.matrices.map((m) => {
    if (m.a.length !== m.inDim * r || m.b.length !== r * m.outDim)
      throw new Error(`adapter tensor ${m.name} has the wrong size`);
    const e = { name: m.name, inDim: m.inDim, outDim: m.outDim, aOffset: total, bOffset: total + m.a.length };
    total += m.a.length + m.b.length;
    return e;
  });
  const weights = new Float32Array(total);
  adapter.matrices.forEach((m, i) => {
    weights.set(m.a, tensors[i].aOffset);
    weights.set(m.b, tensors[i].bOffset);
  });
  const bytes = toLittleEndianBytes(weights);
  const c = opts.baseConfig;
  const meta: AdapterMeta = {
    format: ADAPTER_FORMAT,
    version: ADAPTER_VERSION,
    baseModel: {
      name: opts.baseName,
      sha256: opts.baseSha256,
      config: {
        dim: c.dim,
        hiddenDim: c.hiddenDim,
        nLayers: c.nLayers,
        nHeads: c.nHeads,
        nKvHeads: c.nKvHeads,
        vocabSize: c.vocabSize,
        seqLen: c.seqLen,
      },
    },
    rank: r,
    alpha: adapter.config.alpha,
    targets: [...adapter.config.targets],
    tensors,
    weightsSha256: createHash("sha256").update(bytes).digest("hex"),
    createdAt: new Date().toISOString(),
    training: opts.training,
  };
  fs.mkdirSync(dir, { recursive: true });
  writeAtomic(path.join(dir, ADAPTER_WEIGHTS), bytes);
  writeAtomic(path.join(dir, ADAPTER_JSON), Buffer.from(`${JSON.stringify(meta, null, 2)}\n`));
  return meta;
}

export function loadAdapter(dir: string): { adapter: LoraWeights; meta: AdapterMeta } {
  const jsonFile = path.join(dir, ADAPTER_JSON);
  const binFile = path.join(dir, ADAPTER_WEIGHTS);
  if (!fs.existsSync(jsonFile) || !fs.existsSync(binFile))
    throw new Error(`no adapter in ${dir} (expected ${ADAPTER_JSON} and ${ADAPTER_WEIGHTS})`);
  const meta = JSON.parse(fs.readFileSync(jsonFile, "utf8")) as AdapterMeta;
  if (meta.format !== ADAPTER_FORMAT || meta.version !== ADAPTER_VERSION) {
    throw new Error(`${jsonFile} is not a ${ADAPTER_FORMAT} v${ADAPTER_VERSION} adapter`);
  }
  for (const t of meta.targets) if (!LORA_TARGETS.includes(t)) throw new Error(`${jsonFile}: unknown LoRA target ${t}`);
  const bytes = fs.readFileSync(binFile);
  const sha = createHash("sha256").update(bytes).digest("hex");
  if (sha !== meta.weightsSha256)
    throw new Error(`${binFile} is damaged (sha256 ${sha}, expected ${meta.weightsSha256})`);
  const weights = fromLittleEndianBytes(bytes);
  const r = meta.rank;
  const matrices = meta.tensors.map((e) => {
    const aEnd = e.aOffset + e.inDim * r;
    const bEnd = e.bOffset + r * e.outDim;
    if (aEnd > weights.length || bEnd > weights.length) throw new Error(`${binFile} is too short for tensor ${e.name}`);
    return {
      name: e.name,
      inDim: e.inDim,
      outDim: e.outDim,
      a: weights.slice(e.aOffset, aEnd),
      b: weights.slice(e.bOffset, bEnd),
    };
  });
  return { adapter: { config: { rank: r, alpha: meta.alpha, targets: [...meta.targets] }, matrices }, meta };
}

function writeAtomic(file: string, data: Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function toLittleEndianBytes(a: Float32Array): Buffer {
  const buf = Buffer.alloc(a.length * 4);
  if (LITTLE_ENDIAN) Buffer.from(a.buffer, a.byteOffset, a.byteLength).copy(buf);
  else for (let i = 0; i < a.length; i++) buf.writeFloatLE(a[i], i * 4);
  return buf;
}

function fromLittleEndianBytes(b: Buffer): Float32Array {
  if (b.length % 4 !== 0) throw new Error("weights.bin length is not a multiple of 4");
  const out = new Float32Array(b.length / 4);
  if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(b);
  else for (let i = 0; i < out.length; i++) out[i] = b.readFloatLE(i * 4);
  return out;
}
