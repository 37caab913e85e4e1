/**
 * The providers' data: the price table (prices.json) and the default throughput table (throughput.json), read and
 * validated here and handed to the core, which reads no file of src/providers/.
 */
import { readFileSync } from "node:fs";
import { type PriceEntry, parsePriceTable, usePriceTable } from "../core/costs/estimate.ts";
import { parseThroughputTable, type ThroughputEntry, useThroughputTable } from "../core/costs/throughput.ts";

export interface CostTables {
  prices: readonly PriceEntry[];
  throughput: readonly ThroughputEntry[];
}

let loaded: CostTables | undefined;

const readJson = (name: string): unknown => JSON.parse(readFileSync(new URL(`./${name}`, import.meta.url), "utf8"));

/** Reads and validates both tables once (throws naming the file and the field when one is invalid). */
export function loadCostTables(): CostTables {
  loaded ??= Object.freeze({
    prices: Object.freeze(parsePriceTable(readJson("prices.json"))),
    throughput: Object.freeze(parseThroughputTable(readJson("throughput.json"))),
  });
  return loaded;
}

/** Loads the tables and hands them to the core (the wiring calls this before estimating anything). */
export function installCostTables(): CostTables {
  const t = loadCostTables();
  usePriceTable(t.prices);
  useThroughputTable(t.throughput);
  return t;
}
