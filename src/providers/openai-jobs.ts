/**
 * OpenAI as the source of a migration (src/core/migrate/source.ts): the team's fine-tuning jobs and the files they
 * trained on, through the official SDK and OpenAIProvider.call (its retries, deadlines and key scrubbing).
 *
 * API reference (https://platform.openai.com/docs/api-reference):
 *   GET /fine_tuning/jobs?after&limit -> {object: list, data: [fine_tuning.job], has_more}; pass the last job's id as
 *     `after` for the next page. A job: id, status, model, fine_tuned_model, training_file, validation_file,
 *     created_at, trained_tokens, method {type: supervised | dpo | reinforcement, <type>: {hyperparameters:
 *     {n_epochs, batch_size, learning_rate_multiplier (number or "auto")}}}, and the legacy top-level
 *     `hyperparameters` (supervised jobs only);
 *   GET /fine_tuning/jobs/{id}; GET /files/{id} (filename); GET /files/{id}/content (the bytes as uploaded).
 */
import fs from "node:fs";
import { Readable } from "node:stream";
import type { FineTuneJob, JobPage, MigrationSource, ReportedValue } from "../core/migrate/source.ts";
import { TuneError } from "../errors.ts";
import { ProviderHttpError, ProviderUnavailableError } from "./hosted.ts";
import type { OpenAIJob, OpenAIProvider } from "./openai.ts";

/** OpenAI's refusals and outages as coded errors that say what to do (the key is already scrubbed by `call`). */
async function said<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ProviderHttpError) {
      const hint =
        err.status === 401 || err.status === 403
          ? " Check OPENAI_API_KEY: it must be a key of the organisation that owns the tuned models."
          : err.status === 404
            ? " See /tune migrate openai list."
            : "";
      throw new TuneError(
        "provider_refused",
        `OpenAI refused ${what}: HTTP ${err.status}: ${err.providerMessage}.${hint}`,
        {
          status: err.status,
        },
      );
    }
    if (err instanceof ProviderUnavailableError)
      throw new TuneError("provider_unavailable", `${err.message}. Try again later.`);
    throw err;
  }
}

const reported = (v: unknown): ReportedValue =>
  typeof v === "number" && Number.isFinite(v) ? v : v === "auto" ? "auto" : null;

/** OpenAI's job object -> the port's FineTuneJob. */
export function jobFromOpenAI(j: OpenAIJob & { hyperparameters?: Record<string, unknown> }): FineTuneJob {
  const type = j.method?.type ?? "supervised";
  const byMethod = (j.method as Record<string, { hyperparameters?: Record<string, unknown> }> | undefined)?.[type]
    ?.hyperparameters;
  const hp = byMethod ?? j.hyperparameters ?? {};
  return {
    id: j.id,
    status: j.status,
    baseModel: j.model ?? "?",
    tunedModel: j.fine_tuned_model ?? null,
    trainingFile: j.training_file ?? "",
    validationFile: j.validation_file ?? null,
    method: type,
    hyper: {
      epochs: reported(hp.n_epochs),
      learningRateMultiplier: reported(hp.learning_rate_multiplier),
      batchSize: reported(hp.batch_size),
    },
    createdAt: new Date((j.created_at ?? 0) * 1000),
    trainedTokens: typeof j.trained_tokens === "number" ? j.trained_tokens : null,
  };
}

export function openAIMigrationSource(p: OpenAIProvider): MigrationSource {
  return {
    name: "openai",
    async listJobs(o): Promise<JobPage> {
      const limit = Math.max(1, Math.min(100, o.limit ?? 20));
      const page = await said("the list of fine-tuning jobs", () =>
        p.call(
          "GET /fine_tuning/jobs",
          async (ro) => {
            const r = await p.client.fineTuning.jobs.list({ limit, ...(o.after ? { after: o.after } : {}) }, ro);
            return { data: r.data as unknown as OpenAIJob[], has_more: r.has_more };
          },
          { signal: o.signal },
        ),
      );
      const jobs = page.data.map(jobFromOpenAI);
      return { jobs, hasMore: Boolean(page.has_more) && jobs.length > 0, lastId: jobs.at(-1)?.id ?? null };
    },
    async job(id, signal) {
      return jobFromOpenAI(await said(`fine-tuning job ${id.slice(0, 80)}`, () => p.getJob(id, signal)));
    },
    async fileName(id, signal) {
      const f = await said(`file ${id}`, () =>
        p.call(`GET /files/${id}`, (ro) => p.client.files.retrieve(id, ro), { signal }),
      );
      return typeof f.filename === "string" ? f.filename : null;
    },
    async downloadFile(id, dest, o) {
      const res = await said(`the content of file ${id}`, () =>
        p.call(`GET /files/${id}/content`, (ro) => p.client.files.content(id, ro), { signal: o.signal }),
      );
      if (!res.body) {
        fs.writeFileSync(dest, "");
        return 0;
      }
      let bytes = 0;
      const out = fs.createWriteStream(dest);
      const body = Readable.fromWeb(res.body as import("node:stream/web").ReadableStream);
      // The body has a deadline too: no byte for the provider timeout ends the download.
      let idle: NodeJS.Timeout | null = null;
      const arm = () => {
        if (idle) clearTimeout(idle);
        idle = setTimeout(
          () =>
            body.destroy(
              new TuneError(
                "provider_unavailable",
                `OpenAI stopped sending file ${id} for ${p.opts.timeoutMs} ms (${bytes} bytes in). Try again later.`,
              ),
            ),
          p.opts.timeoutMs,
        );
      };
      arm();
      try {
        for await (const chunk of body) {
          arm();
          bytes += (chunk as Buffer).length;
          if (bytes > o.maxBytes) {
            throw new TuneError(
              "dataset_too_large",
              `OpenAI's file ${id} is larger than ${Math.round(o.maxBytes / 1024 / 1024)} MB (TUNELOOP_MAX_UPLOAD_MB). Raise the setting to migrate it.`,
            );
          }
          if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", () => r()));
        }
      } catch (err) {
        body.destroy();
        out.destroy();
        fs.rmSync(dest, { force: true });
        throw err;
      } finally {
        if (idle) clearTimeout(idle);
      }
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
      return bytes;
    },
  };
}
