/**
 * The `selfhosted` provider: LoRA adapters trained on your own GPU by a trainer process (trainer-process.ts, the
 * default one in trainers/hf_peft_sft.py) and served by a vLLM or SGLang server that loads them at run time
 * (server.ts). Training costs its wall time in GPU hours at the endpoint's `gpuHourUsd`; evals cost their request
 * time. A tuned model is `gpu:<adapter>`. docs/selfhosted.md walks through it.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { CompletionRequest, CompletionResult, InferenceModel, Pricing } from "../../core/inference.ts";
import type { Hyper } from "../../core/ports.ts";
import { CancelledError, type TrainerProvider, type TrainJob, type TrainOutcome } from "../../core/trainer.ts";
import { fmt } from "../../core/format.ts";
import { TuneError } from "../../errors.ts";
import type { EndpointConfig } from "../openai-compatible.ts";
import { SGLANG } from "./sglang.ts";
import { EXPECT, LoraServer, VLLM } from "./server.ts";
import {
  commandWords,
  FILES,
  follow,
  lastLogLines,
  launch,
  readPid,
  stillRunning,
  type Launched,
  type TrainerEvent,
} from "./trainer-process.ts";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const DEFAULT_TRAINER_COMMAND = "python3 trainers/hf_peft_sft.py";
/** The prefix of self-hosted models: `gpu:<base>` to train on, `gpu:<adapter>` for a tuned one. */
export const GPU_PREFIX = "gpu";

export interface SelfHostedSettings {
  /** TUNELOOP_TRAINER_COMMAND, split into words; the job file's path is added as the last argument. */
  command: string[];
  /** SIGTERM to SIGKILL on cancel (TUNELOOP_TRAINER_GRACE_MS). */
  graceMs: number;
  /** Longest sequence the trainer packs (TUNELOOP_TRAINER_MAX_SEQ). */
  maxSeqLength: number;
}

export function selfHostedSettings(env: NodeJS.ProcessEnv): SelfHostedSettings {
  const raw = env.TUNELOOP_TRAINER_COMMAND?.trim() || DEFAULT_TRAINER_COMMAND;
  const int = (name: string, def: number, min: number) => {
    const v = env[name]?.trim();
    if (!v) return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new TuneError("config_invalid", `${name}=${JSON.stringify(v)}: write a whole number of at least ${min}.`);
    return n;
  };
  return {
    command: commandWords(raw),
    graceMs: int("TUNELOOP_TRAINER_GRACE_MS", 30_000, 0),
    maxSeqLength: int("TUNELOOP_TRAINER_MAX_SEQ", 2048, 64),
  };
}

/** The job file a trainer reads (JSON Schema in docs/selfhosted.md). */
export interface TrainerJobFile {
  version: 1;
  runId: number;
  /** A Hugging Face id or a local folder: the weights the serving side was started with. */
  baseModel: string;
  /** Chat JSONL, one {"messages": [...]} per line. */
  trainFile: string;
  rows: number;
  /** Where the PEFT adapter goes (a fresh folder; tuneloop moves it to its final name when done). */
  outputDir: string;
  adapterName: string;
  hyper: {
    epochs: number;
    learningRate: number;
    batchSize: number;
    loraRank: number;
    loraAlpha: number;
    loraDropout: number;
    targetModules: string | string[];
    maxSeqLength: number;
    seed: number;
  };
}

/** The adapter's name for a run: stable across restarts, unique per run (its idempotency key). */
export function adapterName(runId: number, key: string): string {
  return `tl-r${runId}-${crypto.createHash("sha256").update(key).digest("hex").slice(0, 8)}`;
}

const ADAPTER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A tuned model id ("gpu:tl-r3-..." or "tl-r3-...") to its adapter name, or null for a base model. */
export function adapterOf(modelId: string, server: LoraServer): string | null {
  const id = modelId.startsWith(`${GPU_PREFIX}:`) ? modelId.slice(GPU_PREFIX.length + 1) : modelId;
  if (!ADAPTER_NAME.test(id)) return null;
  // tuneloop's own adapters by their name (the folder may be on the GPU box only), others by their folder
  if (/^tl-r\d+-[0-9a-f]{8}$/.test(id)) return id;
  const dir = path.join(server.endpoint.adapterDir ?? "", id);
  return fs.existsSync(path.join(dir, "adapter_config.json")) ? id : null;
}

export class SelfHostedProvider implements TrainerProvider {
  readonly name = "selfhosted";
  readonly defaultModel = "";
  readonly validationLoss = false;
  private baseCache: { id: string; at: number } | null = null;

  constructor(
    readonly server: LoraServer,
    readonly settings: SelfHostedSettings,
  ) {}

  models(): string[] {
    return [];
  }

  private get adapterDir(): string {
    return path.resolve(this.server.endpoint.adapterDir ?? "");
  }

  private stripPrefix(model: string): string {
    const m = model.trim();
    for (const p of [`${GPU_PREFIX}:`, "selfhosted:", `${this.server.name}:`])
      if (m.startsWith(p)) return m.slice(p.length);
    return m;
  }

  async prepare(input: { model: string; hyper: Hyper; format: string; signal?: AbortSignal }) {
    if (input.format === "text") {
      throw new TuneError(
        "dataset_format_unsupported",
        "The self-hosted trainer trains chat rows (the loss on the assistant's tokens); these are plain text rows. Upload them as chat messages.",
      );
    }
    this.server.checkRank(input.hyper.loraRank);
    const name = this.stripPrefix(input.model);
    if (!name) {
      const served = (await this.server.bases(input.signal)).map((b) => `gpu:${b.id}`);
      throw new TuneError(
        "selfhosted_model_required",
        `Name the base model to tune: --model ${served[0] ?? "gpu:<base>"} (${this.server.name} serves ${served.join(", ") || "nothing yet"}).`,
      );
    }
    const base = await this.server.servedBase(name, input.signal);
    await this.server.checkRuntimeLoading(input.signal);
    return { baseModel: base.id };
  }

  /** GPU hours of the estimated wall time; without one, a cautious 1,000 tokens/s plus 2 minutes of loading. */
  priceTraining(input: { baseModel: string; tokens: number; wallSeconds: number | null }) {
    const seconds = input.wallSeconds ?? 120 + input.tokens / 1000;
    const hours = seconds / 3600;
    const rate = this.server.gpuHourUsd;
    return {
      usd: Math.ceil(hours * rate * 100 - 1e-9) / 100,
      basis: `${gpuHours(hours)}${input.wallSeconds === null ? " (a cautious guess until a first run here: 1,000 tokens/s + 2 min loading)" : ""} at ${fmt.usd(rate)}/h`,
    };
  }

  /** Time billing: a request's share of the GPU is its time over the requests that share it (the concurrency). */
  pricing(): Pricing {
    return {
      inputPer1M: 0,
      outputPer1M: 0,
      time: { usdPerSecond: this.server.gpuHourUsd / 3600 / this.server.endpoint.concurrency, ...EXPECT },
    };
  }

  async train(job: TrainJob): Promise<TrainOutcome> {
    const dir = path.join(job.workDir, "selfhosted");
    const name = adapterName(job.run.id, job.run.idempotencyKey);
    const finalDir = path.join(this.adapterDir, name);
    const outputDir = path.join(this.adapterDir, `.${name}.partial`);
    const jobFile = path.join(dir, FILES.job);
    const losses: number[] = [];
    let tokens = 0;
    let steps = 0;
    const epochs = job.hyper.epochs;
    const onEvent = (e: TrainerEvent) => {
      if (e.event !== "progress") return;
      steps = e.step;
      if (Number.isFinite(e.loss)) losses.push(e.loss);
      job.onProgress({
        step: e.step,
        totalSteps: e.totalSteps,
        epoch: e.totalSteps ? (e.step / e.totalSteps) * epochs : 0,
        loss: e.loss,
        tokensPerSec: e.tokensPerSecond,
        tokens,
        elapsedMs: Date.now() - startedAt.getTime(),
      });
    };

    let launched: Launched | null = null;
    let pid: number;
    let startedAt: Date;
    const prior = readPid(dir);
    if (prior) {
      // A restart: follow the trainer that is still running, or fail the run; never start a second one.
      if (!stillRunning(prior)) {
        const done = this.finishedEarlier(dir);
        if (!done) {
          this.removePartial(outputDir);
          throw new TuneError(
            "selfhosted_trainer_lost",
            `The trainer of run ${job.run.id} (pid ${prior.pid}) stopped while tuneloop was not watching, without finishing.${this.logTail(dir)}`,
          );
        }
      }
      pid = prior.pid;
      startedAt = new Date(prior.startedAt);
      job.onEvent?.(`following the trainer still running (pid ${pid}) after a restart`);
    } else {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dir, { recursive: true });
      this.removePartial(outputDir);
      fs.mkdirSync(this.adapterDir, { recursive: true });
      const trainFile = path.join(dir, "train.jsonl");
      const lines = job.trainRows.map((r) => JSON.stringify({ messages: r.messages ?? [] }));
      fs.writeFileSync(trainFile, `${lines.join("\n")}\n`);
      const served = await this.server.servedBase(job.run.baseModel, job.signal);
      const spec: TrainerJobFile = {
        version: 1,
        runId: job.run.id,
        baseModel: served.root ?? served.id,
        trainFile,
        rows: job.trainRows.length,
        outputDir,
        adapterName: name,
        hyper: {
          epochs,
          learningRate: job.hyper.learningRate,
          batchSize: job.hyper.batchSize,
          loraRank: job.hyper.loraRank,
          loraAlpha: job.hyper.loraAlpha,
          loraDropout: 0.05,
          targetModules: "all-linear",
          maxSeqLength: this.settings.maxSeqLength,
          seed: job.hyper.seed,
        },
      };
      fs.writeFileSync(jobFile, JSON.stringify(spec, null, 2));
      const command = this.resolveCommand();
      try {
        launched = await launch(dir, command, jobFile, process.cwd());
      } catch (err) {
        throw new TuneError(
          "selfhosted_trainer_not_started",
          `Could not start the trainer (${command.join(" ")}): ${(err as Error).message}. Check TUNELOOP_TRAINER_COMMAND (docs/selfhosted.md).`,
        );
      }
      pid = launched.pid;
      startedAt = launched.startedAt;
      job.onJobCreated(`pid:${pid}`);
    }

    let result: Awaited<ReturnType<typeof follow>>;
    try {
      result = await follow({
        dir,
        pid,
        exited: launched?.exited,
        signal: job.signal,
        onEvent,
        graceMs: this.settings.graceMs,
      });
    } catch (err) {
      if (job.signal.reason instanceof CancelledError || err instanceof CancelledError) {
        this.removePartial(outputDir);
        fs.rmSync(path.join(dir, FILES.pid), { force: true });
      }
      throw err;
    }
    fs.rmSync(path.join(dir, FILES.pid), { force: true });
    const wallMs = Date.now() - startedAt.getTime();
    if (!result.done) {
      this.removePartial(outputDir);
      const why = result.error
        ? `the trainer failed: ${result.error}`
        : `the trainer exited${result.exitCode !== undefined ? ` with ${result.exitCode === null ? "a signal" : `code ${result.exitCode}`}` : ""} without reporting done`;
      throw new TuneError("selfhosted_trainer_failed", `Run ${job.run.id}: ${why}.${this.logTail(dir)}`);
    }
    // The adapter must be PEFT's two files; it then moves to its final name in one rename.
    const produced = path.resolve(result.done.adapterDir);
    for (const f of ["adapter_config.json", "adapter_model.safetensors"]) {
      if (!fs.existsSync(path.join(produced, f))) {
        this.removePartial(outputDir);
        throw new TuneError(
          "selfhosted_trainer_failed",
          `Run ${job.run.id}: the trainer reported done but ${produced} has no ${f} (a PEFT adapter is adapter_config.json + adapter_model.safetensors).`,
        );
      }
    }
    if (produced !== finalDir) {
      fs.rmSync(finalDir, { recursive: true, force: true });
      fs.renameSync(produced, finalDir);
    }
    const trainSeconds = Math.max(wallMs / 1000, result.done.seconds);
    tokens = result.done.trainTokens;
    const usd = (trainSeconds / 3600) * this.server.gpuHourUsd;
    job.onEvent?.(
      `adapter ${name} written (${fmt.bytes(dirBytes(finalDir))}); ${gpuHours(trainSeconds / 3600)} at ${fmt.usd(this.server.gpuHourUsd)}/h`,
    );
    return {
      tunedModelId: `${GPU_PREFIX}:${name}`,
      steps,
      trainingTokens: tokens,
      finalLoss: losses.at(-1) ?? Number.NaN,
      losses,
      wallMs: Math.round(trainSeconds * 1000),
      usd,
      jobId: `pid:${pid}`,
    };
  }

  /** A trainer that finished while tuneloop was down: its done event is in the events file. */
  private finishedEarlier(dir: string): boolean {
    try {
      return fs
        .readFileSync(path.join(dir, FILES.events), "utf8")
        .split("\n")
        .some((l) => l.includes('"done"'));
    } catch {
      return false;
    }
  }

  private resolveCommand(): string[] {
    const c = [...this.settings.command];
    // The default trainer ships with tuneloop: found next to it whatever the working folder.
    for (let i = 1; i < c.length; i++) {
      if (c[i] === "trainers/hf_peft_sft.py" && !fs.existsSync(c[i])) c[i] = path.join(REPO_ROOT, c[i]);
    }
    return c;
  }

  private removePartial(outputDir: string) {
    fs.rmSync(outputDir, { recursive: true, force: true });
  }

  private logTail(dir: string): string {
    const lines = lastLogLines(dir);
    return lines.length ? ` Last lines of its log:\n${lines.map((l) => `  ${l}`).join("\n")}` : " It wrote no log.";
  }

  /** The served base model or a tuned adapter as an InferenceModel; null when `modelId` is neither. */
  inference(modelId: string, ref: string): InferenceModel | null {
    const adapter = adapterOf(modelId, this.server);
    const base = adapter ? null : this.stripPrefix(modelId);
    const server = this.server;
    const adapterPath = adapter ? path.join(this.adapterDir, adapter) : "";
    const self = this;
    return {
      ref,
      provider: this.name,
      pricing: this.pricing(),
      concurrency: server.endpoint.concurrency,
      async completeAll(requests: CompletionRequest[], opts) {
        const served = await self.servedBaseId(opts.signal);
        if (adapter) await server.ensureLoaded(adapter, adapterPath, served, opts.signal);
        return Promise.all(
          requests.map(async (r, i) => {
            if (adapter) await server.ensureLoaded(adapter, adapterPath, served, opts.signal);
            let res: CompletionResult;
            try {
              res = await server.chat(base ?? served, adapter, r, opts.signal);
            } catch (err) {
              // the server lost the adapter (restarted, or another client unloaded it): load it again, once
              if (!adapter || !/HTTP 404/.test(String((err as Error).message))) throw err;
              server.forget();
              await server.ensureLoaded(adapter, adapterPath, served, opts.signal);
              res = await server.chat(served, adapter, r, opts.signal);
            }
            opts.onResult?.(i, res);
            return res;
          }),
        );
      },
    };
  }

  private async servedBaseId(signal?: AbortSignal): Promise<string> {
    if (this.baseCache && Date.now() - this.baseCache.at < 60_000) return this.baseCache.id;
    const [b] = await this.server.bases(signal);
    if (!b) throw new TuneError("selfhosted_base_not_served", `${this.server.name} serves no base model.`);
    this.baseCache = { id: b.id, at: Date.now() };
    return b.id;
  }
}

export function dirBytes(dir: string): number {
  let n = 0;
  for (const f of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, f.name);
    n += f.isDirectory() ? dirBytes(p) : fs.statSync(p).size;
  }
  return n;
}

/** "0.034 GPU hours" */
const gpuHours = (h: number) => `${h.toFixed(3)} GPU hours`;

/** The serving endpoints of TUNELOOP_ENDPOINTS (kind vllm or sglang) as servers. */
export function loraServers(endpoints: EndpointConfig[]): LoraServer[] {
  return endpoints
    .filter((e) => e.kind === "vllm" || e.kind === "sglang")
    .map((e) => new LoraServer(e, e.kind === "sglang" ? SGLANG : VLLM));
}

/** The self-hosted provider on the one serving endpoint (or the one TUNELOOP_SELFHOSTED_ENDPOINT names). */
export function createSelfHosted(endpoints: EndpointConfig[], env: NodeJS.ProcessEnv): SelfHostedProvider | null {
  const servers = loraServers(endpoints);
  if (!servers.length) return null;
  const wanted = env.TUNELOOP_SELFHOSTED_ENDPOINT?.trim();
  const server = wanted ? servers.find((s) => s.name === wanted) : servers.length === 1 ? servers[0] : null;
  if (!server) {
    throw new TuneError(
      "config_invalid",
      wanted
        ? `TUNELOOP_SELFHOSTED_ENDPOINT=${JSON.stringify(wanted)} names no vllm or sglang endpoint; there are: ${servers.map((s) => s.name).join(", ")}.`
        : `Several vllm/sglang endpoints (${servers.map((s) => s.name).join(", ")}): name the one self-hosted training uses in TUNELOOP_SELFHOSTED_ENDPOINT.`,
    );
  }
  return new SelfHostedProvider(server, selfHostedSettings(env));
}
