/**
 * Flag parsing for the image-side commands: node:util parseArgs with its errors as UsageError
 * (exit 2 with the usage line), and `--help`/`-h` anywhere printing the command's help (exit 0).
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { type Command, type CommandContext, UsageError } from "../command.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

export function wantsHelp(args: string[]): boolean {
  const end = args.indexOf("--");
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === "--help" || a === "-h");
}

/** Parses the command's flags; UsageError for an unknown flag or a missing value. */
export function flags<O extends Options>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional.*$/s, ""));
  }
}

/** A command with a help text: `aconctl NAME --help` prints it and exits 0. */
export function withHelp(
  cmd: Omit<Command, "run"> & { help: string; run(c: CommandContext): Promise<number> },
): Command {
  return {
    name: cmd.name,
    usage: cmd.usage,
    summary: cmd.summary,
    help: cmd.help.trimEnd(),
    run(c) {
      if (wantsHelp(c.args)) {
        console.log(`usage: aconctl ${cmd.usage}\n\n${cmd.summary}\n\n${cmd.help.trimEnd()}`);
        return Promise.resolve(0);
      }
      return cmd.run(c);
    },
  };
}

/** A positive integer flag value. */
export function intFlag(name: string, v: string | undefined, min: number, max: number) {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^-?[0-9]+$/.test(v) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, not "${v}"`);
  }
  return n;
}

/** Whether the path exists (without following a final symlink). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

export async function readBytes(path: string, what: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    throw new Error(`cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}
