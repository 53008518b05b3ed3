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
