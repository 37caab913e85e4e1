/**
 * The demo task: a small short-answer task that the base stories260K cannot do and a rank-8 LoRA learns from a few
 * hundred rows, for showing the whole loop end to end on the local trainer.
 *
 * Each row is a one-sentence event about a child, then "How did <name> feel?"; the answer is one of four labels
 * (happy, sad, scared, angry), set by the kind of event. There are 4 event templates per label and a few question
 * wordings. Names and objects are split by the seed into two disjoint pools: training rows use one, eval rows the
 * other, so no eval prompt occurs in training and every eval row has a name and an object the model never saw
 * during tuning (the event templates are shared: this tests learning the format and the event -> feeling mapping,
 * not generalisation to new kinds of events). Labels are balanced (round-robin, then shuffled), so the
 * majority-label baseline is 25%.
 *
 * The base model scores 0% exact match: it continues the text as a story instead of answering with one word and
 * stopping.
 */
import { mulberry32 } from "../../lib/rng.ts";

export interface DemoChatRow {
  messages: Array<{ role: "user" | "assistant"; content: string }>;
}

export interface DemoTask {
  train: DemoChatRow[];
  eval: DemoChatRow[];
  /** Every answer a row can have. */
  labels: string[];
  /** The most frequent label of the train set and its share of the eval set (the majority-label baseline). */
  majority: { label: string; evalShare: number };
  description: string;
}

export interface DemoTaskOptions {
  seed: number;
  trainRows: number;
  evalRows: number;
}

export const DEMO_LABELS = ["happy", "sad", "scared", "angry"] as const;
export type DemoLabel = (typeof DEMO_LABELS)[number];

interface Person {
  name: string;
  he: string;
  his: string;
  him: string;
}

/** Name and object pools (exported for tests). */
export const DEMO_GIRLS = [
  "Lily",
  "Mia",
  "Anna",
  "Lucy",
  "Sue",
  "Emma",
  "Amy",
  "Kate",
  "Zoe",
  "Jane",
  "Sara",
  "Jill",
  "Ella",
  "Rose",
  "Molly",
  "Sally",
  "Ellie",
  "Lola",
  "Ruby",
  "Daisy",
  "Grace",
  "Ivy",
  "Kim",
  "Nora",
  "Rita",
  "Vera",
  "Hannah",
  "Maya",
  "Lisa",
  "Tina",
];
export const DEMO_BOYS = [
  "Tom",
  "Ben",
  "Sam",
  "Max",
  "Tim",
  "Jack",
  "Bob",
  "Leo",
  "Mark",
  "Joe",
  "Dan",
  "Jake",
  "Billy",
  "Timmy",
  "Mike",
  "Nick",
  "Finn",
  "Henry",
  "Luke",
  "Oscar",
  "Paul",
  "Theo",
  "Will",
  "Fred",
  "Adam",
  "Jim",
  "Roy",
  "Ted",
  "Eli",
  "Ned",
];
export const DEMO_OBJECTS = [
  "ball",
  "kite",
  "doll",
  "car",
  "book",
  "hat",
  "cup",
  "bike",
  "drum",
  "truck",
  "boat",
  "train",
  "teddy bear",
  "box",
  "crayon",
  "puzzle",
  "robot",
  "shoe",
  "balloon",
  "blanket",
  "spoon",
  "flower",
  "bag",
  "block",
  "ring",
  "sock",
  "wagon",
  "whistle",
  "scarf",
  "jar",
  "shell",
  "rock",
  "stick",
  "pillow",
  "clock",
  "lamp",
  "brush",
  "bucket",
  "basket",
  "button",
  "coat",
  "plane",
  "horse toy",
  "paper star",
  "toy duck",
];

/** Event templates per label: {n} name, {he}/{his}/{him} pronouns, {o} object, {f} another child's name. */
const TEMPLATES: Record<DemoLabel, string[]> = {
  happy: [
    "{n} got a new {o} for {his} birthday.",
    "{n} found {his} lost {o} under the bed.",
    "{f} gave {n} a pretty {o} as a gift.",
    "{n} won a big prize and a shiny {o} at the fair.",
  ],
  sad: [
    "{n} lost {his} {o} at the park and could not find it.",
    "{n} dropped {his} {o} and it broke into many pieces.",
    "{n}'s best friend {f} moved far away.",
    "It rained all day, so {n} could not play with {his} {o} outside.",
  ],
  scared: [
    "A big dog barked at {n} in the dark.",
    "{n} heard a loud noise under {his} bed at night.",
    "{n} saw a huge spider on {his} {o}.",
    "Thunder boomed and the lights went out in {n}'s room.",
  ],
  angry: [
    "{f} took {n}'s {o} without asking.",
    "{f} broke {n}'s {o} on purpose.",
    "{f} pushed {n} and laughed at {him}.",
    "{f} threw {n}'s {o} in the mud.",
  ],
};

const QUESTIONS = ["How did {n} feel?", "How did {n} feel then?", "How do you think {n} felt?"];

function shuffle<T>(items: T[], rand: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

function fill(template: string, p: Person, o: string, f: string): string {
  return template
    .replaceAll("{n}", p.name)
    .replaceAll("{his}", p.his)
    .replaceAll("{him}", p.him)
    .replaceAll("{he}", p.he)
    .replaceAll("{o}", o)
    .replaceAll("{f}", f);
}

function makeRows(
  count: number,
  people: Person[],
  objects: string[],
  rand: () => number,
  avoid: Set<string>,
): DemoChatRow[] {
  const labels: DemoLabel[] = shuffle(
    Array.from({ length: count }, (_, i) => DEMO_LABELS[i % DEMO_LABELS.length]),
    rand,
  );
  const rows: DemoChatRow[] = [];
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
  for (const label of labels) {
    let prompt = "";
    for (let attempt = 0; attempt < 1000; attempt++) {
      const p = pick(people);
      let f = pick(people).name;
      while (f === p.name) f = pick(people).name;
      prompt = `${fill(pick(TEMPLATES[label]), p, pick(objects), f)} ${fill(pick(QUESTIONS), p, "", "")}`;
      if (!avoid.has(prompt)) break;
    }
    if (avoid.has(prompt)) throw new Error("demo task: ran out of distinct prompts; ask for fewer rows");
    avoid.add(prompt);
    rows.push({
      messages: [
        { role: "user", content: prompt },
        { role: "assistant", content: label },
      ],
    });
  }
  return rows;
}

/**
 * Generates the demo task. Deterministic for a seed. Train and eval use disjoint names and objects (about 60% of
 * each pool for training), so they share no prompt.
 */
export function makeDemoTask(opts: DemoTaskOptions): DemoTask {
  const trainRows = Math.max(0, Math.floor(opts.trainRows));
  const evalRows = Math.max(0, Math.floor(opts.evalRows));
  const rand = mulberry32((opts.seed ^ 0x2545f491) >>> 0);
  const people: Person[] = shuffle(
    [
      ...DEMO_GIRLS.map((name) => ({ name, he: "she", his: "her", him: "her" })),
      ...DEMO_BOYS.map((name) => ({ name, he: "he", his: "his", him: "him" })),
    ],
    rand,
  );
  const objects = shuffle([...DEMO_OBJECTS], rand);
  const cutP = Math.round(people.length * 0.6);
  const cutO = Math.round(objects.length * 0.6);
  const seen = new Set<string>();
  const train = makeRows(trainRows, people.slice(0, cutP), objects.slice(0, cutO), rand, seen);
  const evalSet = makeRows(evalRows, people.slice(cutP), objects.slice(cutO), rand, seen);
  const counts = new Map<string, number>();
  for (const r of train) counts.set(r.messages[1].content, (counts.get(r.messages[1].content) ?? 0) + 1);
  const majorityLabel = [...DEMO_LABELS].sort((a, b) => (counts.get(b) ?? 0) - (counts.get(a) ?? 0))[0];
  const evalShare =
    evalSet.length === 0 ? 0 : evalSet.filter((r) => r.messages[1].content === majorityLabel).length / evalSet.length;
  return {
    train,
    eval: evalSet,
    labels: [...DEMO_LABELS],
    majority: { label: majorityLabel, evalShare },
    description:
      "How did the child feel? One-sentence events about a child, answered with one of four labels (happy, sad, scared, angry). Eval rows use names and objects never seen in training.",
  };
}
