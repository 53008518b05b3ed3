/**
 * ACON's RTMR3 event log: one line per event, each extended into RTMR3 as sha384(line). The
 * first measurement writes `INIT sha384/<96 zeros>` first. Lines: `<domain> <operation> <content>`.
 *
 * Crash consistency (extend and append cannot be one atomic step): the line is appended (and
 * fsynced) to the log first, then RTMR3 is extended. Every write happens before the extend, so
 * nothing that needs space (or can fail for lack of it) comes after RTMR3 moved: a failed append
 * (ENOSPC: resource_exhausted) is cut back off and nothing is measured. On open(), the log is
 * replayed and compared with RTMR3: a torn last line (no newline) is cut off first; equal → as
 * is; equal without the last line → it was appended but never extended (a crash between the two
 * steps, or a failed extend whose cut failed) and is cut off. Anything else means the log does not
 * describe RTMR3: the log is "broken" and every later measurement is refused (fail closed).
 */
import { sha384Native, toHex } from "../digest_boot.ts";
import type { Tee } from "./tee.ts";
import { AcondError, MSG } from "../errors.ts";
import { Mutex } from "../util/mutex.ts";
import { log } from "../util/log.ts";
import { errnoOf } from "../sys/errors.ts";
import { INIT_LINE, replay, RTMR3 } from "./replay.ts";

// The line vocabulary and the replay are pure and shared with verifiers (replay.ts).
export { ACON_DOMAIN, addManifestLine, FINALIZE_LINE, INIT_LINE, replay, RTMR3 } from "./replay.ts";

/** Longest line accepted (an image id is ~230 bytes; the boot event well under 1 KiB). */
export const MAX_LINE = 4096;

/** A line is printable ASCII without newline (what a text log and its verifiers can carry). */
export function checkLine(line: string): void {
  if (line.length === 0 || line.length > MAX_LINE || !/^[\x20-\x7e]+$/.test(line)) {
    throw new AcondError("internal", "an event log line must be 1..4096 printable ASCII chars");
  }
}

const enc = new TextEncoder();

// The log's file operations are synchronous: a few small writes, rare (boot, AddManifest,
// Finalize), on tmpfs in a VM; one blocking fdatasync costs less than the thread hand-offs of
// the asynchronous calls, and the order of the steps (the crash consistency) stays obvious.
function appendSynced(path: string, data: string): void {
  const f = Deno.openSync(path, { write: true, create: true, append: true });
  try {
    const bytes = enc.encode(data);
    let off = 0;
    while (off < bytes.length) off += f.writeSync(bytes.subarray(off));
    f.syncDataSync();
  } finally {
    f.close();
  }
}

/** Cuts the log back to `size` bytes (shrinking needs no space) and syncs it. */
function truncateSynced(path: string, size: number): void {
  const f = Deno.openSync(path, { write: true });
  try {
    f.truncateSync(size);
    f.syncDataSync();
  } finally {
    f.close();
  }
}

/** ENOSPC/EDQUOT writing the log as resource_exhausted (nothing was measured); else `e`. */
function noSpace(e: unknown, path: string): unknown {
  const errno = errnoOf(e);
  if (errno !== "ENOSPC" && errno !== "EDQUOT") return e;
  return new AcondError(
    "resource_exhausted",
    `No space left for the event log ${path} (${errno}): nothing was measured; ` +
      `free space in the state directory and retry`,
    { cause: e },
  );
}

function readOrNull(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path);
  } catch { /* already gone */ }
}

export class EventLog {
  readonly path: string;
  readonly #tee: Tee;
  readonly #mutex = new Mutex();
  #lines: string[] = [];
  #opened = false;
  #broken: string | null = null;
  /** Bytes of the log file that hold the lines (where a failed append is cut back to). */
  #size = 0;

  constructor(path: string, tee: Tee) {
    this.path = path;
    this.#tee = tee;
  }

  get lines(): readonly string[] {
    return this.#lines;
  }

  /** Why measurements are refused, or null when the log matches RTMR3. */
  get broken(): string | null {
    return this.#broken;
  }

  /** Loads and recovers the log (see the module comment). Idempotent. */
  open(): Promise<void> {
    return this.#mutex.run(() => this.#open());
  }

  async #open(): Promise<void> {
    if (this.#opened) return;
    // Marked open only once loaded: after a failure (RTMR3 unreadable, I/O) the next call loads
    // again instead of measuring on an empty view of a non-empty log.
    await this.#load();
    this.#opened = true;
  }

  async #load(): Promise<void> {
    const dir = this.path.slice(0, this.path.lastIndexOf("/"));
    Deno.mkdirSync(dir, { recursive: true });
    // A write-ahead file of acond before 0.1 (the line being measured): no longer written.
    removeQuietly(`${this.path}.pending`);
    let text = readOrNull(this.path) ?? "";
    if (text.length > 0 && !text.endsWith("\n")) {
      // A torn append: the bytes after the last newline were never a complete line.
      text = text.slice(0, text.lastIndexOf("\n") + 1);
      truncateSynced(this.path, enc.encode(text).length);
    }
    let lines = text === "" ? [] : text.slice(0, -1).split("\n");
    this.#size = enc.encode(text).length;
    if (!this.#tee.canMeasure) {
      this.#lines = lines;
      return;
    }
    const rtmr = toHex(await this.#tee.readRtmr(RTMR3));
    const zero = "0".repeat(96);
    if (lines.length > 0 && toHex(replay(lines)) !== rtmr) {
      const last = lines[lines.length - 1];
      if (toHex(replay(lines.slice(0, -1))) === rtmr) {
        // Appended, never extended (a crash between the two steps): it was never measured.
        lines = lines.slice(0, -1);
        this.#size -= last.length + 1;
        truncateSynced(this.path, this.#size);
        log.warn(`event log: dropped "${last}" (appended but not extended before a crash)`);
      }
    }
    if (toHex(replay(lines)) === rtmr) {
      this.#lines = lines;
    } else if (rtmr === zero) {
      // The register was reset (a new boot, or a new sim instance): the file is from before.
      const stale = `${this.path}.stale-${Date.now()}`;
      Deno.renameSync(this.path, stale);
      log.warn(`event log: RTMR3 is zero but a log exists; moved it to ${stale}`);
      this.#lines = [];
      this.#size = 0;
    } else {
      this.#lines = lines;
      this.#broken = `the event log (${lines.length} lines) does not replay to RTMR3 ${rtmr}`;
      log.error(`event log: ${this.#broken}; measurements are refused`);
    }
  }

  /** Extends RTMR3 with sha384(line) and appends the line (writing INIT first if needed). */
  measure(line: string): Promise<void> {
    return this.#mutex.run(async () => {
      checkLine(line);
      if (!this.#tee.canMeasure) {
        throw new AcondError(
          "failed_precondition",
          `${MSG.attestationNotSupported}: this TEE cannot extend RTMR3 (${this.#tee.note})`,
        );
      }
      await this.#open();
      if (this.#broken) throw new AcondError("failed_precondition", this.#broken);
      if (this.#lines.length === 0) await this.#append(INIT_LINE);
      await this.#append(line);
    });
  }

  async #append(line: string): Promise<void> {
    const before = this.#size;
    try {
      appendSynced(this.path, line + "\n");
    } catch (e) {
      this.#cutBack(before, line);
      throw noSpace(e, this.path);
    }
    try {
      await this.#tee.extendRtmr(RTMR3, await sha384Native(line));
    } catch (e) {
      if (await this.#extendedAnyway()) {
        // RTMR3 moved although the extend failed: the line stays in the log, which stops
        // measuring; open() after a restart keeps or drops it by what RTMR3 then holds.
        this.#broken = `extending RTMR3 with "${line}" failed but RTMR3 changed`;
        log.error(`event log: ${this.#broken}; measurements are refused`);
      } else {
        this.#cutBack(before, line);
      }
      throw e;
    }
    this.#lines.push(line);
    this.#size = before + line.length + 1;
  }

  /** Cuts an unmeasured append off; if that fails, measuring stops until open() cuts it. */
  #cutBack(size: number, line: string): void {
    try {
      truncateSynced(this.path, size);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound && size === 0) return; // never created
      this.#broken = `cutting the unmeasured "${line}" off the event log failed ` +
        `(${(e as Error).message})`;
      log.error(`event log: ${this.#broken}; measurements are refused`);
    }
  }

  /** After a failed extend: whether RTMR3 moved anyway (unknown counts as moved: fail closed). */
  async #extendedAnyway(): Promise<boolean> {
    try {
      return toHex(await this.#tee.readRtmr(RTMR3)) !== toHex(replay(this.#lines));
    } catch {
      return true;
    }
  }
}
