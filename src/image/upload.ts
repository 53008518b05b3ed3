/**
 * Chunked, resumable blob uploads (BeginBlob / WriteBlob / BlobStatus / CommitBlob). Each chunk is
 * appended to a staging file in uploads/ and fed to an extraction that runs while the upload
 * proceeds (hash + extract in one pass, overlapping with the client sending the next chunk);
 * CommitBlob ends the stream, verifies the digest named at BeginBlob and places the layer.
 * Fixes ACON's broken resume (§4.6, §11.1): nothing is truncated, the server says how much it
 * holds, and a retried chunk is idempotent.
 * Limits (docs/layers.md): MAX_UPLOADS at once, chunks ≤ MAX_CHUNK, uploads idle for STALE_MS are
 * discarded (swept on every upload call). State is in memory: a daemon restart forgets uploads.
 */
import type { Hash } from "node:crypto";
import type { Context } from "../context.ts";
import { AcondError, invalid } from "../errors.ts";
import type { HashAlg } from "../attest/sha.ts";
import { toHex } from "../attest/sha.ts";
import {
  algsFromBits,
  checkReferenced,
  type Digest,
  hexOf,
  parseDigest,
  placeLayer,
  type Staged,
  stageLayer,
} from "./blob.ts";
import { hashers, StreamReader } from "./tar.ts";
import { TarError } from "./tarformat.ts";
import { log } from "../util/log.ts";

export const MAX_UPLOADS = 4;
export const MAX_CHUNK = 8 << 20;
export const STALE_MS = 10 * 60 * 1000;
/** Bytes received but not yet extracted before WriteBlob waits (memory bound per upload). */
export const MAX_QUEUED = 2 * MAX_CHUNK;

export interface UploadStatus {
  uploadId: string;
  received: bigint;
}

interface Upload {
  id: string;
  digest: Digest;
  /** Declared total size, 0 = unknown. */
  size: number;
  received: number;
  /** offset → length of every chunk written, to recognise retries. */
  chunks: Map<number, number>;
  file: Deno.FsFile;
  path: string;
  lastActive: number;
  busy: boolean;
  stream: StreamReader;
  /** The named digest's algorithm and sha384, fed by the stream. */
  hashes: Map<HashAlg, Hash>;
  /** The concurrent extraction: never rejects (an Error is a value here). */
  staging: Promise<Staged | Error>;
  failure: Error | null;
}

function notFound(): AcondError {
  return new AcondError("not_found", "Unknown or expired upload id");
}

export class Uploads {
  readonly #uploads = new Map<string, Upload>();
  #cleaned = false;

  constructor(private readonly ctx: Context, private readonly now = () => Date.now()) {}

  /** Leftovers of a previous daemon run are meaningless: the ids were in memory. */
  #init(): void {
    if (this.#cleaned) return;
    this.#cleaned = true;
    try {
      Deno.removeSync(this.ctx.layout.uploads, { recursive: true });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    Deno.mkdirSync(this.ctx.layout.uploads, { recursive: true, mode: 0o700 });
  }

  #sweep(): void {
    const cutoff = this.now() - STALE_MS;
    for (const u of this.#uploads.values()) {
      if (!u.busy && u.lastActive < cutoff) {
        log.info(`upload ${u.id} (${u.digest.alg}/${u.digest.hex.slice(0, 12)}…) expired`);
        this.#discard(u);
      }
    }
  }

  #discard(u: Upload): void {
    this.#uploads.delete(u.id);
    u.stream.abort(new TarError("upload discarded"));
    try {
      u.file.close();
    } catch { /* already closed */ }
    try {
      Deno.removeSync(u.path);
    } catch { /* gone */ }
  }

  /** The upload; unless `evenIfBusy`, refused while another call on it is in progress. */
  #get(id: string, evenIfBusy = false): Upload {
    this.#sweep();
    const u = this.#uploads.get(id);
    if (!u) throw notFound();
    if (u.busy && !evenIfBusy) {
      throw new AcondError("failed_precondition", "Upload busy (a call is in progress)");
    }
    return u;
  }

  get count(): number {
    return this.#uploads.size;
  }

  begin(digestText: string, size: bigint): UploadStatus {
    this.#init();
    this.#sweep();
    const digest = parseDigest(digestText);
    checkReferenced(this.ctx.state, this.ctx.opts.minHash, [digest]);
    if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid("Blob size out of range");
    if (this.#uploads.size >= MAX_UPLOADS) {
      throw new AcondError(
        "resource_exhausted",
        `Too many uploads in progress (at most ${MAX_UPLOADS}); commit or wait for expiry`,
      );
    }
    const id = toHex(crypto.getRandomValues(new Uint8Array(16)));
    const path = `${this.ctx.layout.uploads}/${id}`;
    const file = Deno.openSync(path, { read: true, write: true, createNew: true, mode: 0o600 });
    const hashes = hashers(new Set<HashAlg>([digest.alg, "sha384"]));
    const stream = new StreamReader([...hashes.values()]);
    const u: Upload = {
      id,
      digest,
      size: Number(size),
      received: 0,
      chunks: new Map(),
      file,
      path,
      lastActive: this.now(),
      busy: false,
      stream,
      hashes,
      staging: Promise.resolve(new Error("not started")),
      failure: null,
    };
    u.staging = stageLayer(this.ctx, stream, u.size > 0 ? u.size : undefined).catch(
      (e: unknown) => {
        u.failure = e instanceof Error ? e : new Error(String(e));
        stream.abort(u.failure); // releases a WriteBlob waiting for the extraction to catch up
        return u.failure;
      },
    );
    this.#uploads.set(id, u);
    return { uploadId: id, received: 0n };
  }

  async write(id: string, offsetBig: bigint, data: Uint8Array): Promise<UploadStatus> {
    const u = this.#get(id);
    if (u.failure) {
      // The extraction already refused the archive: no point in receiving the rest.
      this.#discard(u);
      throw u.failure;
    }
    if (data.length > MAX_CHUNK) {
      throw invalid(`Chunk too large: ${data.length} bytes (at most ${MAX_CHUNK})`);
    }
    const offset = Number(offsetBig);
    u.lastActive = this.now();
    if (offset !== u.received) {
      // A retry of a chunk that already arrived (same offset, same length) is a no-op.
      if (offset < u.received && u.chunks.get(offset) === data.length) {
        return { uploadId: id, received: BigInt(u.received) };
      }
      throw invalid(`Wrong offset ${offsetBig}: expected offset ${u.received}`);
    }
    if (u.size > 0 && u.received + data.length > u.size) {
      throw invalid(`Data beyond the declared size ${u.size}`);
    }
    if (data.length === 0) return { uploadId: id, received: BigInt(u.received) };
    u.busy = true;
    try {
      // The extraction starts on this chunk (JS thread) while the staging copy is written by
      // Deno's I/O thread: the two overlap.
      u.stream.push(data);
      u.received += data.length;
      u.chunks.set(offset, data.length);
      try {
        await u.file.seek(offset, Deno.SeekMode.Start);
        let off = 0;
        while (off < data.length) off += await u.file.write(data.subarray(off));
      } catch (e) {
        u.failure ??= e instanceof Error ? e : new Error(String(e));
      }
      if (!u.failure) await u.stream.waitForSpace(MAX_QUEUED);
    } finally {
      u.busy = false;
    }
    if (u.failure) {
      this.#discard(u);
      throw u.failure;
    }
    return { uploadId: id, received: BigInt(u.received) };
  }

  status(id: string): UploadStatus {
    const u = this.#get(id, true);
    u.lastActive = this.now();
    return { uploadId: id, received: BigInt(u.received) };
  }

  /**
   * Verifies the digest named at BeginBlob while extracting (one streaming pass), re-checks the
   * reference and places the layer. The upload is gone afterwards, whatever the outcome, except
   * when it is simply incomplete.
   */
  async commit(id: string, bits: number): Promise<void> {
    const u = this.#get(id);
    const named = u.digest;
    const requested = algsFromBits(bits);
    const linkAlgs = requested.length === 0 ? [named.alg] : requested;
    if (u.size > 0 && u.received !== u.size) {
      throw invalid(`Upload incomplete: ${u.received} of ${u.size} bytes received`);
    }
    u.busy = true;
    try {
      u.stream.end();
      const staged = await u.staging;
      if (staged instanceof Error) throw staged;
      const digests = hexOf(u.hashes);
      const extra = linkAlgs.filter((a) => !digests.has(a));
      if (extra.length > 0 && digests.get(named.alg) === named.hex) {
        for (const [alg, hex] of this.#hashFile(u, extra)) digests.set(alg, hex);
      }
      await placeLayer(this.ctx, staged, digests, {
        linkAlgs,
        matchAlgs: [named.alg],
        expected: named,
      });
    } finally {
      u.busy = false;
      this.#discard(u);
    }
  }

  /** Digests the stream did not compute (alg links asked for only at commit). */
  #hashFile(u: Upload, algs: HashAlg[]): Map<HashAlg, string> {
    const hs = hashers(algs);
    const buf = new Uint8Array(4 << 20);
    u.file.seekSync(0, Deno.SeekMode.Start);
    for (;;) {
      const n = u.file.readSync(buf);
      if (n === null || n === 0) break;
      for (const h of hs.values()) h.update(buf.subarray(0, n));
    }
    return hexOf(hs);
  }
}
