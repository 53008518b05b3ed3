/** The shape of an aconctl command: its own flags, its help line, and a run function. */
import type { AconClient } from "./client.ts";

export interface CommandContext {
  client: () => AconClient;
  /** Print machine-readable JSON instead of text. */
  json: boolean;
  args: string[];
}

export interface Command {
  name: string;
  usage: string;
  summary: string;
  /** Longer help for `aconctl COMMAND --help` (flags, exit status). */
  help?: string;
  run(c: CommandContext): Promise<number>;
}

export class UsageError extends Error {}

export function printJson(v: unknown): void {
  console.log(JSON.stringify(v, (_k, x) => typeof x === "bigint" ? x.toString() : x, 2));
}

/**
 * Protobuf JSON (toJson) with 64-bit integers as JSON numbers, as the message holds them (toJson
 * writes them as strings); values beyond 2^53 stay strings.
 */
export function withNumbers(json: unknown, msg: unknown): unknown {
  const num = (v: bigint) =>
    v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(v)
      : v.toString();
  if (typeof msg === "bigint") return num(msg);
  if (Array.isArray(json) && Array.isArray(msg)) return json.map((j, i) => withNumbers(j, msg[i]));
  if (json && typeof json === "object" && msg && typeof msg === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(json)) {
      out[k] = withNumbers(v, (msg as Record<string, unknown>)[k]);
    }
    return out;
  }
  return json;
}
