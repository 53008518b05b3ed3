import type { Tally } from "./tally.ts";
export const FAULTS: { name: string }[] = [];
export async function runFaults(_t: Tally, _seed: number, _c: string[]) {}
