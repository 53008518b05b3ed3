/**
 * ACON's RTMR3 event log: one line per event, each extended into RTMR3 as sha384(line). The
 * first measurement writes `INIT sha384/<96 zeros>` first. Lines: `<domain> <operation> <content>`.
 */
import { digest } from "./sha.ts";
import type { Tee } from "./tee.ts";

export const INIT_LINE = "INIT sha384/" + "0".repeat(96);
export const ACON_DOMAIN = "github.com/intel/ACON";
export const RTMR3 = 3;

export class EventLog {
  readonly path: string;
  readonly #tee: Tee;
  #lines: string[] = [];

  constructor(path: string, tee: Tee) {
    this.path = path;
    this.#tee = tee;
  }

  get lines(): readonly string[] {
    return this.#lines;
  }

  /** Extends RTMR3 with sha384(line) and appends the line (writing INIT first if needed). */
  async measure(line: string): Promise<void> {
    if (line.includes("\n")) throw new Error("event log lines cannot contain a newline");
    if (this.#lines.length === 0) await this.#append(INIT_LINE);
    await this.#append(line);
  }

  async #append(line: string): Promise<void> {
    await this.#tee.extendRtmr(RTMR3, digest("sha384", line));
    this.#lines.push(line);
    const dir = this.path.slice(0, this.path.lastIndexOf("/"));
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(this.path, line + "\n", { append: true });
  }
}

/** Replays lines from an all-zero RTMR: H = sha384(H || sha384(line)). */
export function replay(lines: readonly string[]): Uint8Array {
  let h: Uint8Array<ArrayBuffer> = new Uint8Array(48);
  for (const line of lines) {
    const joined = new Uint8Array(96);
    joined.set(h);
    joined.set(digest("sha384", line), 48);
    h = digest("sha384", joined);
  }
  return h;
}
