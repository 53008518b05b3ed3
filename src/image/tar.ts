/**
 * Safe, streaming extraction of an uncompressed tar into an EMPTY directory (a layer staging dir).
 * One pass: the reader hashes the raw bytes as it hands them out, headers are parsed by
 * ./tarformat.ts, every placement is decided by ./tartree.ts before anything touches the disk.
 * Refused: absolute paths, `..`, traversal through symlinks, hard links to anything but a regular
 * file of this layer, device nodes, fifos, unknown entry types, truncated archives, oversized
 * metadata. Kept: rwx bits (setuid/setgid/sticky dropped), file mtimes. Not kept: ownership (the
 * daemon is root, so everything is root-owned), xattrs. OCI whiteouts become overlayfs whiteouts.
 */
import { createHash, type Hash } from "node:crypto";
import { setImmediate } from "node:timers";
import type { HashAlg } from "../digest.ts";
import type { ChunkSink } from "./hasher.ts";
import { lsetxattr, mkWhiteout } from "../sys/fs.ts";
import { FileBatch } from "../sys/layerfiles.ts";
import {
  BLOCK,
  classifyWhiteout,
  isZeroBlock,
  MAX_LONGNAME_BYTES,
  MAX_PAX_BYTES,
  normalizeEntryPath,
  padded,
  parseHeader,
  parsePax,
  parsePaxSize,
  type RawHeader,
  safeMode,
  TarError,
} from "./tarformat.ts";
import { LayerTree, type Placement } from "./tartree.ts";

/** Sequential access to the archive bytes; views are valid until the next call. */
export interface TarReader {
  /** Exactly n bytes (n ≤ maxTake), or fewer only at the end of the input. */
  take(n: number): Promise<Uint8Array> | Uint8Array;
  /** Between 1 and n bytes, or an empty view at the end of the input. */
  takeUpTo(n: number): Promise<Uint8Array> | Uint8Array;
  /** The largest n take() accepts. */
  readonly maxTake: number;
  /** Bytes handed out so far. */
  readonly position: number;
  /** Consumes (and hashes) whatever is left after the end-of-archive marker. */
  drain(): Promise<void> | void;
}

/** The whole blob already in memory (unary AddBlob): views, no copies. */
export class MemoryReader implements TarReader {
  #pos = 0;
  constructor(private readonly data: Uint8Array) {}
  get maxTake(): number {
    return Number.MAX_SAFE_INTEGER;
  }
  get position(): number {
    return this.#pos;
  }
  take(n: number): Uint8Array {
    const v = this.data.subarray(this.#pos, this.#pos + n);
    this.#pos += v.length;
    return v;
  }
  takeUpTo(n: number): Uint8Array {
    return this.take(n);
  }
  drain(): void {
    this.#pos = this.data.length;
  }
}

const EMPTY = new Uint8Array(0);

/**
 * Bytes pushed as they arrive (chunked upload), pulled by a concurrent extraction. Every pushed
 * chunk goes to the hashers right away (in order, including whatever follows the end-of-archive
 * marker), so hashing and extraction are one pass over the bytes that overlaps with the client
 * sending the next chunk. push() callers wait in waitForSpace() (bounded memory).
 */
export class StreamReader implements TarReader {
  readonly #queue: Uint8Array[] = [];
  #queued = 0;
  #cur: Uint8Array = EMPTY;
  #ended = false;
  #error: Error | null = null;
  #pos = 0;
  #wakeReader: (() => void) | null = null;
  #wakeWriters: (() => void)[] = [];
  readonly maxTake = 4 << 20;

  constructor(private readonly hashers: ChunkSink[]) {}

  get position(): number {
    return this.#pos;
  }
  /** Bytes pushed that the extraction has not started on (plus at most one current chunk). */
  get queued(): number {
    return this.#queued;
  }

  push(chunk: Uint8Array): void {
    if (this.#ended) throw new Error("push after end");
    if (chunk.length === 0) return;
    for (const h of this.hashers) h.update(chunk);
    this.#queue.push(chunk);
    this.#queued += chunk.length;
    this.#wake();
  }
  end(): void {
    this.#ended = true;
    this.#wake();
  }
  /** Makes the extraction fail (discarded upload). */
  abort(e: Error): void {
    this.#error = e;
    this.#ended = true;
    this.#wake();
    this.#releaseWriters();
  }
  /** Resolves once at most `limit` bytes are waiting (or the stream is aborted). */
  async waitForSpace(limit: number): Promise<void> {
    while (this.queued > limit && this.#error === null) {
      await new Promise<void>((r) => this.#wakeWriters.push(r));
    }
  }

  #wake(): void {
    const w = this.#wakeReader;
    this.#wakeReader = null;
    w?.();
  }
  #releaseWriters(): void {
    const ws = this.#wakeWriters;
    this.#wakeWriters = [];
    for (const w of ws) w();
  }

  /** Makes the next chunk current; false at the end of the input. */
  async #next(): Promise<boolean> {
    for (;;) {
      if (this.#error) throw this.#error;
      const c = this.#queue.shift();
      if (c) {
        this.#queued -= c.length;
        this.#cur = c;
        this.#releaseWriters();
        // Let the event loop answer the WriteBlob that brought this chunk before we chew on it.
        await yieldToLoop();
        return true;
      }
      if (this.#ended) return false;
      this.#releaseWriters();
      await new Promise<void>((r) => (this.#wakeReader = r));
    }
  }

  async takeUpTo(n: number): Promise<Uint8Array> {
    if (n === 0) return EMPTY;
    if (this.#cur.length === 0 && !(await this.#next())) return EMPTY;
    const v = this.#cur.subarray(0, Math.min(n, this.#cur.length));
    this.#cur = this.#cur.subarray(v.length);
    this.#pos += v.length;
    return v;
  }

  async take(n: number): Promise<Uint8Array> {
    if (this.#cur.length >= n) return await this.takeUpTo(n);
    // Spans chunks: copy into one buffer (headers and files ≤ maxTake only).
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const v = await this.takeUpTo(n - got);
      if (v.length === 0) return out.subarray(0, got);
      out.set(v, got);
      got += v.length;
    }
    return out;
  }

  async drain(): Promise<void> {
    while ((await this.takeUpTo(Number.MAX_SAFE_INTEGER)).length > 0) { /* already hashed */ }
  }
}

/** Hashers for the given algorithms, and their hex results. */
export function hashers(algs: Iterable<HashAlg>): Map<HashAlg, Hash> {
  const m = new Map<HashAlg, Hash>();
  for (const a of algs) m.set(a, createHash(a));
  return m;
}

export interface ExtractStats {
  entries: number;
  bytes: number;
}

let umaskCache: number | undefined;
function currentUmask(): number {
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
 * Extraction gives the event loop a turn every YIELD_EVERY bytes, so that other requests (and the
 * next chunk of an upload) are received while a layer is being extracted.
 */
const YIELD_EVERY = 1 << 20;

/** Lets other requests run during a long extraction (we are PID 1's only thread). */
function yieldToLoop(): Promise<void> {
  // setImmediate runs right after pending I/O callbacks, without setTimeout's clamping.
  return new Promise((r) => setImmediate(r));
}

interface Pending {
  path?: string;
  linkpath?: string;
  size?: number;
}

/** A batch of small files is written (another thread) once it holds this much data or files. */
const BATCH_BYTES = 1 << 20;
const BATCH_FILES = 128;

/**
 * Regular files are written in batches on another thread (ffi/layer.c) while the parser goes on
 * with the next entries: the syscalls of ~16k small files cost as much as parsing and hashing
 * them. One batch is in flight at a time, so files are written in archive order. Anything done
 * at a path whose write is pending (replacing it, hard-linking to it) waits for that write first;
 * a failure surfaces at the next call; nothing is in flight any more once extractTar returns or
 * throws (so the caller may delete or place the staging directory). Memory: two batches (the data
 * is copied into the batch when it is sent off).
 */
class BackgroundWrites {
  #batch = new FileBatch();
  #batchPaths = new Set<string>();
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
    this.#batch = new FileBatch();
    this.#batchPaths = new Set();
    this.#inFlight = batch.write(this.dest).catch((e) => {
      if (!this.#failed) {
        this.#failed = true;
        this.#failure = e;
      }
    });
  }

  /** Writes whatever is queued and waits for it; never throws (check() reports). */
  async finish(): Promise<void> {
    if (!this.#failed) await this.#dispatch();
    await this.abandon();
  }

  /** Drops what is queued and waits for the batch in flight (the extraction failed). */
  async abandon(): Promise<void> {
    this.#batch = new FileBatch();
    this.#batchPaths = new Set();
    if (this.#inFlight) await this.#inFlight;
    this.#inFlightPaths = new Set();
  }
}

/**
 * Extracts the archive into `dest` (an existing, empty directory). Throws TarError on anything
 * refused; the caller deletes `dest` then. `totalSize`, when known, lets a giant size field be
 * refused before reading.
 */
export async function extractTar(
  reader: TarReader,
  dest: string,
  totalSize?: number,
): Promise<ExtractStats> {
  const writes = new BackgroundWrites(dest, currentUmask());
  try {
    const stats = await extractEntries(reader, dest, writes, totalSize);
    await writes.finish();
    writes.check();
    return stats;
  } finally {
    // Never leave a write running into a directory the caller is about to delete.
    await writes.abandon();
  }
}

async function extractEntries(
  reader: TarReader,
  dest: string,
  writes: BackgroundWrites,
  totalSize?: number,
): Promise<ExtractStats> {
  const tree = new LayerTree();
  const umask = currentUmask();
  let pending: Pending = {};
  let entries = 0;
  let nextYield = YIELD_EVERY;

  const readExactly = async (n: number, what: string): Promise<Uint8Array> => {
    const v = await reader.take(n);
    if (v.length < n) throw new TarError(`truncated archive (in ${what})`);
    return v;
  };
  const skip = async (n: number) => {
    while (n > 0) {
      const v = await reader.takeUpTo(n);
      if (v.length === 0) throw new TarError("truncated archive (in entry data)");
      n -= v.length;
    }
    if (reader.position >= nextYield) {
      nextYield = reader.position + YIELD_EVERY;
      await yieldToLoop();
    }
  };
  const readMeta = async (h: RawHeader, size: number, limit: number): Promise<Uint8Array> => {
    if (size > limit) throw new TarError(`${h.kind} header too large (${size} bytes)`);
    return (await readExactly(padded(size), "extended header")).slice(0, size);
  };

  for (;;) {
    const block = await reader.take(BLOCK);
    if (block.length === 0) throw new TarError("truncated archive (no end-of-archive marker)");
    if (block.length < BLOCK) throw new TarError("truncated archive (in header)");
    if (isZeroBlock(block)) {
      if (pending.path !== undefined || pending.linkpath !== undefined) {
        throw new TarError("extended header without an entry");
      }
      break;
    }
    const h = parseHeader(block);
    const isMeta = h.kind === "pax" || h.kind === "paxGlobal" || h.kind === "gnuLongName" ||
      h.kind === "gnuLongLink";
    const size = isMeta || pending.size === undefined ? h.size : pending.size;
    if (totalSize !== undefined && size > totalSize - reader.position) {
      throw new TarError(
        `truncated archive: entry size ${size} exceeds the remaining ${
          totalSize - reader.position
        } bytes`,
        pending.path ?? h.name,
      );
    }
    switch (h.kind) {
      case "pax": {
        const rec = parsePax(await readMeta(h, size, MAX_PAX_BYTES));
        const p = rec.get("path");
        if (p !== undefined) pending.path = p;
        const l = rec.get("linkpath");
        if (l !== undefined) pending.linkpath = l;
        const s = rec.get("size");
        if (s !== undefined) pending.size = parsePaxSize(s);
        continue;
      }
      case "paxGlobal":
        // Global records (GNU tar's archive-wide defaults) carry nothing we apply.
        await readMeta(h, size, MAX_PAX_BYTES);
        continue;
      case "gnuLongName":
      case "gnuLongLink": {
        const raw = await readMeta(h, size, MAX_LONGNAME_BYTES);
        let end = raw.indexOf(0);
        if (end < 0) end = raw.length;
        const text = new TextDecoder().decode(raw.subarray(0, end));
        if (h.kind === "gnuLongName") pending.path = text;
        else pending.linkpath = text;
        continue;
      }
      default:
        break;
    }

    const rawPath = pending.path ?? h.name;
    const linkname = pending.linkpath ?? h.linkname;
    pending = {};
    entries++;
    const path = normalizeEntryPath(rawPath);
    const wo = path === "" ? { kind: "none" as const } : classifyWhiteout(path);
    if (wo.kind !== "none") {
      await skip(padded(size));
      if (wo.kind === "opaque") {
        const pl = tree.place(wo.dir === "" ? "" : wo.dir, "dir");
        if (pl.existing !== undefined && pl.existing !== "dir") {
          throw new TarError("opaque marker in a non-directory", rawPath);
        }
        makeDirs(dest, pl);
        if (pl.existing === undefined) mkdirMode(dest, wo.dir, 0o755, umask);
        tree.record(pl, wo.dir, "dir");
        lsetxattr(at(dest, wo.dir), "trusted.overlay.opaque", new TextEncoder().encode("y"));
      } else {
        const pl = tree.place(wo.target, "whiteout");
        // OCI: an entry of this same layer wins over its whiteout.
        if (pl.existing !== undefined) continue;
        makeDirs(dest, pl);
        mkWhiteout(at(dest, wo.target));
        tree.record(pl, wo.target, "whiteout");
      }
      continue;
    }

    switch (h.kind) {
      case "dir": {
        const pl = tree.place(path, "dir");
        makeDirs(dest, pl);
        if (pl.existing === "dir") Deno.chmodSync(at(dest, path), safeMode(h.mode));
        else {
          if (pl.existing !== undefined) {
            await writes.waitFor(path);
            Deno.removeSync(at(dest, path));
          }
          mkdirMode(dest, path, safeMode(h.mode), umask);
        }
        tree.record(pl, path, "dir");
        await skip(padded(size));
        break;
      }
      case "file": {
        const pl = tree.place(path, "file");
        makeDirs(dest, pl);
        const full = at(dest, path);
        if (pl.existing !== undefined) {
          await writes.waitFor(path);
          Deno.removeSync(full);
        }
        const mode = safeMode(h.mode);
        const mtime = Math.max(0, h.mtime); // pre-1970 (base-256 negative) clamps to the epoch
        if (size <= reader.maxTake) {
          const data = await readExactly(size, "file data");
          writes.add(path, data, mode, mtime);
          tree.record(pl, path, "file");
          await skip(padded(size) - size);
          await writes.flushIfFull();
          break;
        } else {
          const f = Deno.openSync(full, { write: true, createNew: true, mode });
          try {
            let left = size;
            while (left > 0) {
              const v = await reader.takeUpTo(Math.min(left, 1 << 20));
              if (v.length === 0) throw new TarError("truncated archive (in file data)", rawPath);
              writeAll(f, v);
              left -= v.length;
            }
          } finally {
            f.close();
          }
          if ((mode & umask) !== 0) Deno.chmodSync(full, mode);
        }
        Deno.utimeSync(full, mtime, mtime);
        tree.record(pl, path, "file");
        await skip(padded(size) - size);
        break;
      }
      case "symlink": {
        if (linkname === "" || linkname.includes("\0")) {
          throw new TarError("bad symlink target", rawPath);
        }
        const pl = tree.place(path, "symlink");
        makeDirs(dest, pl);
        const full = at(dest, path);
        if (pl.existing !== undefined) {
          await writes.waitFor(path);
          Deno.removeSync(full);
        }
        // Stored verbatim: it is resolved inside the container, and no later entry may pass it.
        Deno.symlinkSync(linkname, full);
        tree.record(pl, path, "symlink");
        await skip(padded(size));
        break;
      }
      case "hardlink": {
        const target = normalizeEntryPath(linkname);
        tree.checkHardlinkTarget(target, rawPath);
        if (target === path) throw new TarError("hard link to itself", rawPath);
        const pl = tree.place(path, "file");
        makeDirs(dest, pl);
        const full = at(dest, path);
        await writes.waitFor(target);
        if (pl.existing !== undefined) {
          await writes.waitFor(path);
          Deno.removeSync(full);
        }
        Deno.linkSync(at(dest, target), full);
        tree.record(pl, path, "file");
        await skip(padded(size));
        break;
      }
      case "chardev":
      case "blockdev":
        throw new TarError("device nodes are not allowed in layers", rawPath);
      case "fifo":
        throw new TarError("fifos are not allowed in layers", rawPath);
      default:
        throw new TarError(`unsupported entry type '${printable(h.typeflag)}'`, rawPath);
    }
  }
  await reader.drain();
  return { entries, bytes: reader.position };
}

function printable(c: string): string {
  const code = c.charCodeAt(0);
  return code >= 0x21 && code < 0x7f ? c : `\\x${code.toString(16).padStart(2, "0")}`;
}

function at(dest: string, path: string): string {
  return path === "" ? dest : `${dest}/${path}`;
}

function mkdirMode(dest: string, path: string, mode: number, umask: number): void {
  const full = at(dest, path);
  Deno.mkdirSync(full, { mode });
  if ((mode & umask) !== 0) Deno.chmodSync(full, mode);
}

function makeDirs(dest: string, pl: Placement): void {
  for (const d of pl.mkdirs) Deno.mkdirSync(at(dest, d), { mode: 0o755 });
}

function writeAll(f: Deno.FsFile, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += f.writeSync(data.subarray(off));
}
