import type { Tally } from "./tally.ts";
export const HOSTILE: { name: string }[] = [];
export async function runHostile(_t: Tally, _seed: number, _c: string[]) {}
