import type { Tally } from "./tally.ts";
export const LOAD_CHECKS = ["load-unary", "load-streams"];
export async function runLoad(
  _t: Tally,
  _p: { seed: number; clients: number; rpcs: number; checks: string[] },
) {}
