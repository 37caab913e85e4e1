import type { RunState } from "../ports.ts";

/**
 * The run state machine: estimating -> awaiting_confirmation -> queued -> running -> succeeded | failed | cancelled.
 * A hosted provider's outage moves a running run to `stalled` (not failed); it goes back to running when the
 * provider answers again.
 */
export const TRANSITIONS: Record<RunState, RunState[]> = {
  estimating: ["awaiting_confirmation", "queued", "failed", "cancelled"],
  awaiting_confirmation: ["queued", "cancelled"],
  queued: ["running", "cancelled", "failed"],
  running: ["succeeded", "failed", "cancelled", "queued", "stalled"],
  stalled: ["running", "failed", "cancelled"],
  succeeded: [],
  failed: [],
  cancelled: [],
};

export const ACTIVE_STATES: RunState[] = ["estimating", "awaiting_confirmation", "queued", "running", "stalled"];
export const isFinal = (s: RunState) => TRANSITIONS[s].length === 0;

export function canTransition(from: RunState, to: RunState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The states from which `to` may be entered. */
export function sourcesOf(to: RunState): RunState[] {
  return (Object.keys(TRANSITIONS) as RunState[]).filter((s) => TRANSITIONS[s].includes(to));
}

export const STATE_LABEL: Record<RunState, string> = {
  estimating: "estimating",
  awaiting_confirmation: "awaiting confirmation",
  queued: "queued",
  running: "running",
  stalled: "stalled",
  succeeded: "succeeded",
  failed: "failed",
  cancelled: "cancelled",
};
