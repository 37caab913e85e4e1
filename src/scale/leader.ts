/**
 * One leader among replicas: Slack's Socket Mode and Discord's gateway allow one connection per bot, so with several
 * replicas only the holder of a lease in Postgres connects. It renews the lease every third of its length; a replica
 * that dies stops renewing, and another takes over once the lease runs out (TUNELOOP_LEADER_LEASE_S, 20 s by default,
 * checked every quarter of it: within 25 s of the death).
 */
import crypto from "node:crypto";
import os from "node:os";
import { acquireLease, releaseLease } from "../../db/pg/scale.ts";
import type { PgDb } from "../../db/pg/client.ts";
import type { Logger } from "../log.ts";

export interface LeaderCallbacks {
  /** This replica became the leader: connect. */
  lead(): Promise<void>;
  /** It lost the lease (the database unreachable past the lease, or another took over): disconnect now. */
  follow(): Promise<void>;
}

export class LeaderLease {
  readonly holder = `${os.hostname()}:${process.pid}:${crypto.randomBytes(3).toString("hex")}`;
  private timer: NodeJS.Timeout | null = null;
  private leading = false;
  private ticking: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly db: PgDb,
    readonly name: string,
    private readonly leaseMs: number,
    private readonly log: Pick<Logger, "info" | "warn">,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  start(cb: LeaderCallbacks): void {
    const tick = async () => {
      if (this.stopped) return;
      const now = new Date();
      let got = false;
      try {
        got = await acquireLease(this.db, this.name, this.holder, now, new Date(now.getTime() + this.leaseMs));
      } catch (err) {
        this.log.warn({ err, lease: this.name }, "leader lease: the database did not answer");
      }
      if (this.stopped) return;
      if (got && !this.leading) {
        this.leading = true;
        this.log.info({ lease: this.name, holder: this.holder }, "leader lease taken: this replica connects");
        await cb.lead().catch((err) => this.log.warn({ err }, "leader: connecting failed"));
      } else if (!got && this.leading) {
        this.leading = false;
        this.log.warn({ lease: this.name }, "leader lease lost: this replica disconnects");
        await cb.follow().catch((err) => this.log.warn({ err }, "leader: disconnecting failed"));
      }
    };
    const run = () => {
      if (this.ticking) return;
      this.ticking = tick().finally(() => {
        this.ticking = null;
      });
    };
    // Renew at a third of the lease while leading; look at a quarter while following.
    this.timer = setInterval(run, Math.max(250, Math.floor(this.leaseMs / 4)));
    this.timer.unref();
    run();
  }

  /** Stops, and gives the lease up at once so another replica takes over without waiting. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.ticking;
    if (this.leading) {
      this.leading = false;
      await releaseLease(this.db, this.name, this.holder).catch(() => {});
    }
  }
}
