/**
 * Chunked, resumable blob uploads (BeginBlob / WriteBlob / BlobStatus / CommitBlob). Each chunk is
 * hashed (on a worker thread, every algorithm BeginBlob asked for) and fed to an extraction that
 * runs while the upload proceeds, overlapping with the client sending the next chunk; nothing but
 * the extracted layer is written. CommitBlob ends the stream, verifies the digest named at
 * BeginBlob and places the layer.
 * Fixes ACON's broken resume (§4.6, §11.1): nothing is truncated, the server says how much it
 * holds, and a retried chunk is idempotent.
 * Limits (docs/layers.md): MAX_UPLOADS at once, chunks ≤ MAX_CHUNK, uploads idle for STALE_MS are
 * discarded (swept on every upload call). State is in memory: a daemon restart forgets uploads.
 */
import { MAX_CHUNK_BYTES } from "../options.ts";
import type { Context } from "../context.ts";
import { AcondError, invalid } from "../errors.ts";
import type { HashAlg } from "../attest/sha.ts";
import { toHex } from "../attest/sha.ts";
import {
  algsFromBits,
  checkReferenced,
  type Digest,
  discardStaged,
  parseDigest,
  placeLayer,
  type Staged,
  stageLayer,
} from "./blob.ts";
import { StreamReader } from "./tar.ts";
import { WorkerHasher } from "./hasher.ts";
import { TarError } from "./tarformat.ts";
import { log } from "../util/log.ts";

export const MAX_UPLOADS = 4;
export const MAX_CHUNK = MAX_CHUNK_BYTES;
export const STALE_MS = 10 * 60 * 1000;
/**
 * Bytes received but not yet extracted (and, separately, not yet hashed) before WriteBlob waits:
 * the memory bound per upload.
 */
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
  lastActive: number;
  busy: boolean;
  stream: StreamReader;
  /** The alg links CommitBlob makes unless it names a subset. */
  linkAlgs: HashAlg[];
  /** What the hasher computes: linkAlgs, the named digest's algorithm and sha384. */
  hashAlgs: Set<HashAlg>;
  hasher: WorkerHasher;
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
    u.hasher.abort();
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

  begin(digestText: string, size: bigint, bits = 0): UploadStatus {
    this.#init();
    this.#sweep();
    const digest = parseDigest(digestText);
    const requested = algsFromBits(bits);
    checkReferenced(this.ctx.state, this.ctx.opts.minHash, [digest]);
    if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid("Blob size out of range");
    if (this.#uploads.size >= MAX_UPLOADS) {
      throw new AcondError(
        "resource_exhausted",
        `Too many uploads in progress (at most ${MAX_UPLOADS}); commit or wait for expiry`,
      );
    }
    const id = toHex(crypto.getRandomValues(new Uint8Array(16)));
    const linkAlgs = requested.length === 0 ? [digest.alg] : requested;
    const hashAlgs = new Set<HashAlg>([...linkAlgs, digest.alg, "sha384"]);
    const hasher = new WorkerHasher([...hashAlgs]);
    const stream = new StreamReader([hasher]);
    const u: Upload = {
      id,
      digest,
      size: Number(size),
      received: 0,
      chunks: new Map(),
      lastActive: this.now(),
      busy: false,
      stream,
      linkAlgs,
      hashAlgs,
      hasher,
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
      try {
        // The hasher gets a copy at once (worker thread); the extraction takes the chunk when it
        // is done with the previous ones.
        u.stream.push(data);
      } catch (e) {
        u.failure ??= e instanceof Error ? e : new Error(String(e));
      }
      u.received += data.length;
      u.chunks.set(offset, data.length);
      // Answer once the backlog is small again: the next chunk's transfer overlaps with the work.
      if (!u.failure) {
        await Promise.all([
          u.stream.waitForSpace(MAX_QUEUED),
          u.hasher.waitForBacklog(MAX_QUEUED),
        ]);
      }
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
   * Verifies the digest named at BeginBlob (computed while the chunks streamed in), re-checks the
   * reference and places the layer. The upload is gone afterwards, whatever the outcome, except
   * when it is simply incomplete or `bits` names digests that were not computed.
   */
  async commit(id: string, bits: number): Promise<void> {
    const u = this.#get(id);
    const named = u.digest;
    const requested = algsFromBits(bits);
    const missing = requested.filter((a) => !u.hashAlgs.has(a));
    if (missing.length > 0) {
      throw invalid(
        `CommitBlob alg asks for ${missing.join(", ")}, not computed for this upload: ` +
          `name it in BeginBlob's alg (or commit with alg 0)`,
      );
    }
    const linkAlgs = requested.length === 0 ? u.linkAlgs : requested;
    if (u.size > 0 && u.received !== u.size) {
      throw invalid(`Upload incomplete: ${u.received} of ${u.size} bytes received`);
    }
    u.busy = true;
    try {
      u.stream.end();
      const staged = await u.staging;
      if (staged instanceof Error) throw staged;
      let digests: Map<HashAlg, string>;
      try {
        digests = await u.hasher.digest();
      } catch (e) {
        discardStaged(staged.dir);
        throw e;
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
}
