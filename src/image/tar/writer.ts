/**
 * The disk side of an extraction: regular files written in batches on another thread
 * (BackgroundWrites, ffi/layer.c), and the small synchronous helpers for what is created in
 * place (directories, large files). Paths are relative to the staging directory `dest`; every
 * decision about them was made by tree.ts before they get here.
 */
import { FileBatch } from "../../sys/layerfiles.ts";
import type { Placement } from "./tree.ts";

/** A batch of small files is written (another thread) once it holds this much data or files. */
const BATCH_BYTES = 1 << 20;
const BATCH_FILES = 128;

let umaskCache: number | undefined;

/** The process umask (read once): a mode it would clip needs an explicit chmod. */
export function currentUmask(): number {
  if (umaskCache === undefined) {
    try {
      const u = Deno.umask(0o022);
      Deno.umask(u);
      umaskCache = u;
    } catch {
      umaskCache = 0o777; // unknown: always chmod
    }
  }
  return umaskCache;
}

/**
 * Regular files are written in batches on another thread (ffi/layer.c) while the parser goes on
 * with the next entries: the syscalls of ~16k small files cost as much as parsing and hashing
 * them. One batch is in flight at a time, so files are written in archive order. Anything done
 * at a path whose write is pending (replacing it, hard-linking to it) waits for that write first;
 * a failure surfaces at the next call; nothing is in flight any more once extractTar returns or
 * throws (so the caller may delete or place the staging directory). Memory: two batches, used in
 * turn (the data is copied into the batch by add(), so the caller's view is free at once, and the
 * two buffers are reused from batch to batch).
 */
export class BackgroundWrites {
  #batch = new FileBatch();
  #batchPaths = new Set<string>();
  /** The batch written last, once its write settled: the next one to fill. */
  #written: FileBatch | null = null;
  #inFlight: Promise<void> | null = null;
  #inFlightPaths = new Set<string>();
  #failure: unknown = null;
  #failed = false;

  constructor(private readonly dest: string, private readonly umask: number) {}

  /** Queues a new file at `path` (relative to dest) with exact `mode` and mtime. */
  add(path: string, data: Uint8Array, mode: number, mtime: number): void {
    this.#batch.add(path, data, mode, (mode & this.umask) !== 0, mtime);
    this.#batchPaths.add(path);
  }

  /** Throws the first write failure, if any. */
  check(): void {
    if (this.#failed) throw this.#failure;
  }

  /** Waits until nothing is pending at `path`. */
  async waitFor(path: string): Promise<void> {
    if (this.#batchPaths.has(path)) await this.#dispatch();
    if (this.#inFlightPaths.has(path)) await this.#inFlight;
    this.check();
  }

  /** Sends the batch off once it is full (after the previous one is done). */
  async flushIfFull(): Promise<void> {
    if (this.#batch.bytes >= BATCH_BYTES || this.#batch.count >= BATCH_FILES) {
      await this.#dispatch();
    }
    this.check();
  }

  async #dispatch(): Promise<void> {
    if (this.#inFlight) await this.#inFlight;
    if (this.#batch.count === 0 || this.#failed) return;
    const batch = this.#batch;
    this.#inFlightPaths = this.#batchPaths;
    const next = this.#written ?? new FileBatch();
    next.reset();
    this.#written = null;
    this.#batch = next;
    this.#batchPaths = new Set();
    this.#inFlight = batch.write(this.dest).then(
      () => {
        this.#written = batch;
      },
      (e) => {
        if (!this.#failed) {
          this.#failed = true;
          this.#failure = e;
        }
      },
    );
  }

  /** Writes whatever is queued and waits for it; never throws (check() reports). */
  async finish(): Promise<void> {
    if (!this.#failed) await this.#dispatch();
    await this.abandon();
  }

  /** Drops what is queued and waits for the batch in flight (the extraction failed). */
  async abandon(): Promise<void> {
    this.#batch.reset();
    this.#batchPaths = new Set();
    if (this.#inFlight) await this.#inFlight;
    this.#inFlightPaths = new Set();
  }
}

/** The absolute path of `path` ("" is dest itself). */
export function at(dest: string, path: string): string {
  return path === "" ? dest : `${dest}/${path}`;
}

/** A new directory with exactly `mode` (chmod when the umask would clip it). */
export function mkdirMode(dest: string, path: string, mode: number, umask: number): void {
  const full = at(dest, path);
  Deno.mkdirSync(full, { mode });
  if ((mode & umask) !== 0) Deno.chmodSync(full, mode);
}

/** The parents a placement lacks (tar may omit them), with tar's default mode. */
export function makeDirs(dest: string, pl: Placement): void {
  for (const d of pl.mkdirs) Deno.mkdirSync(at(dest, d), { mode: 0o755 });
}

export function writeAll(f: Deno.FsFile, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += f.writeSync(data.subarray(off));
}
