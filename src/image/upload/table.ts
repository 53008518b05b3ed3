/**
 * Chunked, resumable blob uploads (BeginBlob / WriteBlob / BlobStatus / CommitBlob). Each chunk is
 * hashed (on a worker thread, every algorithm BeginBlob asked for) and fed to an extraction that
 * runs while the upload proceeds, overlapping with the client sending the next chunk; nothing but
 * the extracted layer is written. CommitBlob ends the stream, verifies the digest named at
 * BeginBlob and places the layer.
 * Fixes ACON's broken resume (§4.6, §11.1): nothing is truncated, the server says how much it
 * holds, and a retried chunk is idempotent.
 * The same upload also takes a raw streamed request body (writeStream, api/blobstream.ts; the body
 * handling is ./body.ts): the bytes go through the same hashers, extraction, limits and
 * back-pressure, without one RPC per chunk. The daemon has one table (daemon.ts builds it), shared
 * by the Connect RPCs and the raw stream route.
 * Limits (docs/layers.md): MAX_UPLOADS at once, chunks ≤ MAX_CHUNK, uploads idle for STALE_MS are
 * discarded (swept on every upload call). State is in memory: a daemon restart forgets uploads.
 */
import { MAX_CHUNK_BYTES } from "../../options.ts";
import type { Context } from "../../context.ts";
import { AcondError, invalid } from "../../errors.ts";
import { toHex } from "../../digest.ts";
import { algsFromBits, checkReferenced, parseDigest } from "../blob.ts";
import { log } from "../../util/log.ts";
import {
  beyondSize,
  type BodySink,
  receiveBody,
  STREAM_BATCH,
  STREAM_IDLE_MS,
  type StreamDeclared,
} from "./body.ts";
import {
  abortUpload,
  finishUpload,
  pushBytes,
  startUpload,
  type Upload,
  waitForRoom,
} from "./upload.ts";
import { BatchPool } from "./pool.ts";

export const MAX_UPLOADS = 4;
export const MAX_CHUNK = MAX_CHUNK_BYTES;
export const STALE_MS = 10 * 60 * 1000;
/**
 * Bytes received but not yet extracted (and, separately, not yet hashed) before WriteBlob waits:
 * the memory bound per upload.
 */
export const MAX_QUEUED = 2 * MAX_CHUNK;
/** How many discarded-on-failure uploads remember why, for BlobStatus after a cut stream. */
const FAILURES_KEPT = 16;

export interface UploadStatus {
  uploadId: string;
  received: bigint;
}

function notFound(): AcondError {
  return new AcondError("not_found", "Unknown or expired upload id");
}

function wrongOffset(offset: bigint | number, received: number): AcondError {
  return invalid(`Wrong offset ${offset}: expected offset ${received}`);
}

/** The daemon's one upload table: the Connect RPCs and the raw stream route work on the same. */
export class Uploads {
  readonly #uploads = new Map<string, Upload>();
  /**
   * Why recently failed uploads were discarded: a streamed body refused half-way often reaches the
   * client as a cut connection, and its BlobStatus should then say why rather than "unknown".
   */
  readonly #failures = new Map<string, Error>();
  #cleaned = false;

  constructor(
    private readonly ctx: Context,
    private readonly now = () => Date.now(),
    private readonly streamIdleMs = STREAM_IDLE_MS,
    /** Each upload's batches (./pool.ts); the tests count what comes back. */
    private readonly newPool = () => new BatchPool(STREAM_BATCH),
  ) {}

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
    if (u.failure) {
      this.#failures.set(u.id, u.failure);
      if (this.#failures.size > FAILURES_KEPT) {
        this.#failures.delete(this.#failures.keys().next().value!);
      }
    }
    abortUpload(u);
  }

  /** The upload; unless `evenIfBusy`, refused while another call on it is in progress. */
  #get(id: string, evenIfBusy = false): Upload {
    this.#sweep();
    const u = this.#uploads.get(id);
    if (!u) throw this.#failures.get(id) ?? notFound();
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
    const u = startUpload(
      this.ctx,
      id,
      digest,
      Number(size),
      requested,
      this.now(),
      this.newPool(),
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
      throw wrongOffset(offsetBig, u.received);
    }
    if (u.size > 0 && u.received + data.length > u.size) throw beyondSize(u.size);
    if (data.length === 0) return { uploadId: id, received: BigInt(u.received) };
    u.busy = true;
    try {
      pushBytes(u, data);
      u.chunks.set(offset, data.length);
      // Answer once the backlog is small again: the next chunk's transfer overlaps with the work.
      if (!u.failure) await waitForRoom(u, MAX_QUEUED);
    } finally {
      u.busy = false;
    }
    if (u.failure) {
      this.#discard(u);
      throw u.failure;
    }
    return { uploadId: id, received: BigInt(u.received) };
  }

  /**
   * Streams a request body into the upload from `offset`, which must be what it has received (the
   * rule of WriteBlob); ./body.ts reads it. If the body breaks off (cut connection), what arrived
   * is kept and the error is rethrown: BlobStatus says where to resume. A refused archive discards
   * the upload, as with WriteBlob.
   */
  async writeStream(
    id: string,
    offset: number,
    body: ReadableStream<Uint8Array> | null,
    declared: StreamDeclared = {},
  ): Promise<UploadStatus> {
    const u = this.#get(id);
    if (u.failure) {
      this.#discard(u);
      throw u.failure;
    }
    if (offset !== u.received) throw wrongOffset(offset, u.received);
    if (declared.total !== undefined && u.size > 0 && declared.total !== u.size) {
      throw invalid(`Total size ${declared.total} differs from the declared size ${u.size}`);
    }
    const limit = u.size > 0 ? u.size : declared.total;
    if (limit !== undefined && declared.length !== undefined && offset + declared.length > limit) {
      throw beyondSize(limit);
    }
    u.lastActive = this.now();
    if (!body) return { uploadId: id, received: BigInt(u.received) };
    u.busy = true;
    try {
      await receiveBody(body, this.#sink(u), { limit, idleMs: this.streamIdleMs });
    } finally {
      u.busy = false;
      u.lastActive = this.now();
      if (u.failure) this.#discard(u);
    }
    return { uploadId: id, received: BigInt(u.received) };
  }

  /** The upload as the receiver of a streamed body. */
  #sink(u: Upload): BodySink {
    return {
      get received() {
        return u.received;
      },
      accept: async (batch) => {
        pushBytes(u, batch);
        u.lastActive = this.now();
        if (!u.failure) await waitForRoom(u, MAX_QUEUED);
        if (u.failure) throw u.failure;
      },
      newBatch: () => u.pool.take(),
    };
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
      await finishUpload(this.ctx, u, linkAlgs);
    } finally {
      u.busy = false;
      this.#discard(u);
    }
  }
}
