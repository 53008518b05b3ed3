/**
 * ACON's RTMR3 event log: one line per event, each extended into RTMR3 as sha384(line). The
 * first measurement writes `INIT sha384/<96 zeros>` first. Lines: `<domain> <operation> <content>`.
 *
 * Crash consistency (extend and append cannot be one atomic step): a write-ahead file
 * `rtmr3.log.pending` holds the line being measured. Order: write+fsync pending → extend RTMR3 →
 * append+fsync the log → remove pending. On open(), the log is replayed and compared with RTMR3:
 * equal → the pending line (if any) was never extended and is dropped; equal after adding the
 * pending line → the extend happened but the append did not, so the line is appended; a torn last
 * line (no newline) is cut off first. Anything else means the log does not describe RTMR3: the log
 * is "broken" and every later measurement is refused (fail closed) rather than building on it.
 */
import { sha384Native, toHex } from "../digest_boot.ts";
import type { Tee } from "./tee.ts";
import { AcondError, MSG } from "../errors.ts";
import { Mutex } from "../util/mutex.ts";
import { log } from "../util/log.ts";
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
function writeSynced(path: string, data: string, append: boolean): void {
  const f = Deno.openSync(path, { write: true, create: true, append, truncate: !append });
  try {
    const bytes = enc.encode(data);
    let off = 0;
    while (off < bytes.length) off += f.writeSync(bytes.subarray(off));
    f.syncDataSync();
  } finally {
    f.close();
  }
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

  constructor(path: string, tee: Tee) {
    this.path = path;
    this.#tee = tee;
  }

  get lines(): readonly string[] {
    return this.#lines;
  }

  get pendingPath(): string {
    return `${this.path}.pending`;
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
    let text = readOrNull(this.path) ?? "";
    if (text.length > 0 && !text.endsWith("\n")) {
      // A torn append: the bytes after the last newline were never a complete line.
      text = text.slice(0, text.lastIndexOf("\n") + 1);
      writeSynced(this.path, text, false);
    }
    const lines = text === "" ? [] : text.slice(0, -1).split("\n");
    const pending = readOrNull(this.pendingPath);
    if (!this.#tee.canMeasure) {
      this.#lines = lines;
      return;
    }
    const rtmr = toHex(await this.#tee.readRtmr(RTMR3));
    const zero = "0".repeat(96);
    if (toHex(replay(lines)) === rtmr) {
      this.#lines = lines;
    } else if (pending !== null && toHex(replay([...lines, pending])) === rtmr) {
      writeSynced(this.path, pending + "\n", true);
      this.#lines = [...lines, pending];
      log.warn(`event log: recovered "${pending}" (extended but not appended before a crash)`);
    } else if (rtmr === zero) {
      // The register was reset (a new boot, or a new sim instance): the file is from before.
      const stale = `${this.path}.stale-${Date.now()}`;
      Deno.renameSync(this.path, stale);
      log.warn(`event log: RTMR3 is zero but a log exists; moved it to ${stale}`);
      this.#lines = [];
    } else {
      this.#lines = lines;
      this.#broken = `the event log (${lines.length} lines) does not replay to RTMR3 ${rtmr}`;
      log.error(`event log: ${this.#broken}; measurements are refused`);
    }
    if (pending !== null) removeQuietly(this.pendingPath);
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
    writeSynced(this.pendingPath, line, false);
    try {
      await this.#tee.extendRtmr(RTMR3, await sha384Native(line));
    } catch (e) {
      if (await this.#extendedAnyway()) {
        // RTMR3 holds the line although the extend failed: keep the pending file, which open()
        // after a restart appends, and stop measuring until then (as for a failed append).
        this.#broken = `extending RTMR3 with "${line}" failed but RTMR3 changed`;
        log.error(`event log: ${this.#broken}; measurements are refused`);
      } else {
        removeQuietly(this.pendingPath);
      }
      throw e;
    }
    try {
      writeSynced(this.path, line + "\n", true);
    } catch (e) {
      // RTMR3 now includes a line the log lacks: stop measuring; open() after a restart recovers.
      this.#broken = `appending "${line}" to the event log failed after extending RTMR3`;
      throw e;
    }
    this.#lines.push(line);
    removeQuietly(this.pendingPath);
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
