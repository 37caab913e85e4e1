/**
 * Reader of llama2.c "legacy" checkpoints (the format of Karpathy's tinyllamas, e.g. stories260K.bin).
 *
 * Layout: 7 little-endian int32 header fields (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
 * a negative vocab_size means the classifier is NOT tied to the token embedding and is stored at the end), then
 * float32 weights in this order: token_embedding [vocab, dim], rms_att [L, dim], wq [L, dim, dim], wk [L, kvDim, dim],
 * wv [L, kvDim, dim], wo [L, dim, dim], rms_ffn [L, dim], w1 [L, hidden, dim], w2 [L, dim, hidden], w3 [L, hidden, dim],
 * rms_final [dim], freq_cis_real [seq_len, headSize/2], freq_cis_imag [seq_len, headSize/2], (wcls [vocab, dim] when
 * untied). Matrices are stored [out, in] row-major (y = W x).
 */
import { createHash } from "node:crypto";
import fs from "node:fs";

export interface LlamaConfig {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  /** True when the classifier reuses the token embedding (vocab_size > 0 in the header). */
  sharedClassifier: boolean;
  headSize: number;
  kvDim: number;
}

export interface LayerWeights {
  rmsAtt: Float32Array; // [dim]
  wq: Float32Array; // [dim, dim] (out, in)
  wk: Float32Array; // [kvDim, dim]
  wv: Float32Array; // [kvDim, dim]
  wo: Float32Array; // [dim, dim]
  rmsFfn: Float32Array; // [dim]
  w1: Float32Array; // [hidden, dim]
  w2: Float32Array; // [dim, hidden]
  w3: Float32Array; // [hidden, dim]
}

export interface Checkpoint {
  config: LlamaConfig;
  tokenEmbedding: Float32Array; // [vocab, dim]
  layers: LayerWeights[];
  rmsFinal: Float32Array; // [dim]
  freqCisReal: Float32Array; // [seqLen, headSize/2]
  freqCisImag: Float32Array; // [seqLen, headSize/2]
  /** The classifier [vocab, dim]: the token embedding itself when shared. */
  wcls: Float32Array;
  /** sha256 (hex) of the checkpoint file's bytes. */
  sha256: string;
}

const HEADER_BYTES = 7 * 4;

export function parseCheckpoint(bytes: Uint8Array): Checkpoint {
  if (bytes.byteLength < HEADER_BYTES) throw new Error("checkpoint too short for a llama2.c header");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = Array.from({ length: 7 }, (_, i) => view.getInt32(i * 4, true));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, rawVocab, seqLen] = h;
  const sharedClassifier = rawVocab > 0;
  const vocabSize = Math.abs(rawVocab);
  if (dim <= 0 || hiddenDim <= 0 || nLayers <= 0 || nHeads <= 0 || nKvHeads <= 0 || vocabSize === 0 || seqLen <= 0) {
    throw new Error(`not a llama2.c legacy checkpoint (header ${h.join(", ")})`);
  }
  if (dim % nHeads !== 0 || nHeads % nKvHeads !== 0)
    throw new Error(`inconsistent heads in checkpoint header (${h.join(", ")})`);
  const headSize = dim / nHeads;
  const kvDim = (dim * nKvHeads) / nHeads;
  const config: LlamaConfig = {
    dim,
    hiddenDim,
    nLayers,
    nHeads,
    nKvHeads,
    vocabSize,
    seqLen,
    sharedClassifier,
    headSize,
    kvDim,
  };

  const floatCount =
    vocabSize * dim +
    nLayers * (2 * dim + 2 * dim * dim + 2 * kvDim * dim + 3 * hiddenDim * dim) +
    dim +
    seqLen * headSize + // freq_cis real + imag: 2 * seqLen * headSize/2
    (sharedClassifier ? 0 : vocabSize * dim);
  const expected = HEADER_BYTES + floatCount * 4;
  if (bytes.byteLength !== expected) {
    throw new Error(`checkpoint size ${bytes.byteLength} does not match its header (expected ${expected} bytes)`);
  }
  // Copy into an aligned buffer (the file's bytes may sit at any offset).
  const all = new Float32Array(floatCount);
  new Uint8Array(all.buffer).set(bytes.subarray(HEADER_BYTES, HEADER_BYTES + floatCount * 4));
  let off = 0;
  const take = (n: number) => {
    const a = all.subarray(off, off + n);
    off += n;
    return a;
  };
  const tokenEmbedding = take(vocabSize * dim);
  const per = (n: number) => Array.from({ length: nLayers }, () => take(n));
  const rmsAtt = per(dim);
  const wq = per(dim * dim);
  const wk = per(kvDim * dim);
  const wv = per(kvDim * dim);
  const wo = per(dim * dim);
  const rmsFfn = per(dim);
  const w1 = per(hiddenDim * dim);
  const w2 = per(dim * hiddenDim);
  const w3 = per(hiddenDim * dim);
  const rmsFinal = take(dim);
  const freqCisReal = take((seqLen * headSize) / 2);
  const freqCisImag = take((seqLen * headSize) / 2);
  const wcls = sharedClassifier ? tokenEmbedding : take(vocabSize * dim);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < nLayers; l++) {
    layers.push({
      rmsAtt: rmsAtt[l],
      wq: wq[l],
      wk: wk[l],
      wv: wv[l],
      wo: wo[l],
      rmsFfn: rmsFfn[l],
      w1: w1[l],
      w2: w2[l],
      w3: w3[l],
    });
  }
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  return { config, tokenEmbedding, layers, rmsFinal, freqCisReal, freqCisImag, wcls, sha256 };
}

export function readCheckpoint(file: string): Checkpoint {
  return parseCheckpoint(fs.readFileSync(file));
}
