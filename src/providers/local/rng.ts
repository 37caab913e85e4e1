/** Small deterministic generators for the local trainer (shuffling, LoRA init, sampling). */

export { mulberry32 } from "../../lib/rng.ts";

/** Fisher-Yates shuffle in place with the given generator. */
export function shuffleInPlace<T>(items: T[], rand: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = items[i];
    items[i] = items[j];
    items[j] = t;
  }
  return items;
}
