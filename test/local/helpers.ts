import path from "node:path";
import { sharedDir } from "../helpers.ts";

/** The stories260K folder: TUNELOOP_LOCAL_MODEL_DIR, else <shared>/models/stories260K (shared = ../shared by default). */
export const localModelDir = path.resolve(
  process.env.TUNELOOP_LOCAL_MODEL_DIR ?? path.join(sharedDir, "models", "stories260K"),
);

/** The README's known greedy output from BOS. */
export const KNOWN_STORY =
  "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.";
