/**
 * Chunked, resumable blob uploads (BeginBlob / WriteBlob / BlobStatus / CommitBlob). Each chunk is
 * hashed (on a worker thread, every algorithm BeginBlob asked for) and fed to an extraction that
 * runs while the upload proceeds, overlapping with the client sending the next chunk; nothing but
 * the extracted layer is written. CommitBlob ends the stream, verifies the digest named at
 * BeginBlob and places the layer.
 * Fixes ACON's broken resume (§4.6, §11.1): nothing is truncated, the server says how much it
 * holds, and a retried chunk is idempotent.
 * The same upload also takes a raw streamed request body (writeStream, api/blobstream.ts): the
 * bytes go through the same hashers, extraction, limits and back-pressure, without one RPC per chunk.
 * Limits (docs/layers.md): MAX_UPLOADS at once, chunks ≤ MAX_CHUNK, uploads idle for STALE_MS are
 * discarded (swept on every upload call). State is in memory: a daemon restart forgets uploads.
 */
import { MAX_CHUNK_BYTES } from "../options.ts";
import type { Context } from "../context.ts";
import { AcondError, invalid } from "../errors.ts";
import type { HashAlg } from "../digest.ts";
import { toHex } from "../digest.ts";
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
import { StreamReader } from "./tar/reader.ts";
import { WorkerHasher } from "./hasher.ts";
import { TarError } from "./tar/format.ts";
import { log } from "../util/log.ts";

export const MAX_UPLOADS = 4;
export const MAX_CHUNK = MAX_CHUNK_BYTES;
export const STALE_MS = 10 * 60 * 1000;
/**
 * Bytes received but not yet extracted (and, separately, not yet hashed) before WriteBlob waits:
 * the memory bound per upload.
 */
export const MAX_QUEUED = 2 * MAX_CHUNK;
/**
 * A streamed body arrives in small pieces (tens of KiB); they are gathered into batches of this size
 * before they go to the hashers and the extraction, whose costs are per piece (a message to the
 * worker, a turn of the event loop).
 */
export const STREAM_BATCH = 1 << 20;
/**
 * A streamed body that brings nothing for this long (while the daemon is ready for more) is ended
 * as if the connection had been cut: a sender that vanished without closing must not keep the
 * upload busy (unresumable, never swept) for ever.
 */
export const STREAM_IDLE_MS = 60_000;
/** How many discarded-on-failure uploads remember why, for BlobStatus after a cut stream. */
const FAILURES_KEPT = 16;

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

function beyondSize(size: number): AcondError {
  return invalid(`Data beyond the declared size ${size}`);
}

function wrongOffset(offset: bigint | number, received: number): AcondError {
  return invalid(`Wrong offset ${offset}: expected offset ${received}`);
}

/** What the sender of a streamed body declared about it (Content-Range, Content-Length). */
export interface StreamDeclared {
  /** The whole blob's size (Content-Range's total), when given. */
  total?: number;
  /** This body's length, when given. */
  length?: number;
}

/** A body read piece by piece; a piece is valid until the next read. */
interface PieceReader {
  read(): Promise<Uint8Array | null>;
  cancel(): void;
}

/**
 * BYOB reads into one reused buffer where the stream allows it (Deno's request bodies do): no
 * allocation per piece and fewer, larger pieces than the default reader gives.
 */
function pieceReader(body: ReadableStream<Uint8Array>): PieceReader {
  let byob: ReadableStreamBYOBReader | undefined;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch { /* not a byte stream */ }
  if (byob) {
    const r = byob;
    let buf = new ArrayBuffer(256 << 10);
    return {
      async read() {
        const x = await r.read(new Uint8Array(buf));
        if (x.done || !x.value) return null;
        buf = x.value.buffer as ArrayBuffer; // handed back (transferred) with the data
        return x.value;
      },
      cancel: () => void r.cancel().catch(() => {}),
    };
  }
  const r = body.getReader();
  return {
    async read() {
      const x = await r.read();
      return x.done ? null : x.value;
    },
    cancel: () => void r.cancel().catch(() => {}),
  };
}

const shared = new WeakMap<Context, Uploads>();

/** The daemon's one upload table: the Connect RPCs and the raw stream route work on the same. */
export function uploadsFor(ctx: Context): Uploads {
  let u = shared.get(ctx);
  if (!u) shared.set(ctx, u = new Uploads(ctx));
  return u;
}

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
    u.stream.abort(new TarError("upload discarded"));
    u.hasher.abort();
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
      throw wrongOffset(offsetBig, u.received);
    }
    if (u.size > 0 && u.received + data.length > u.size) throw beyondSize(u.size);
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

  /**
   * Streams a request body into the upload from `offset`, which must be what it has received (the
   * rule of WriteBlob). Pieces are gathered into STREAM_BATCH batches; after each batch the body is
   * not read until the hashers and the extraction are within MAX_QUEUED (back-pressure reaches
   * the sender through the connection). If the body breaks off (cut connection), what arrived is
   * kept and the error is rethrown: BlobStatus says where to resume. A refused archive discards the
   * upload, as with WriteBlob.
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
    const reader = pieceReader(body);
    // Measured in real time, between reads only (waiting for the extraction is not idleness).
    let lastRead = Date.now();
    let reading = false;
    let stalled = false;
    const watchdog = setInterval(() => {
      if (reading && Date.now() - lastRead > this.streamIdleMs) {
        stalled = true;
        reader.cancel(); // the pending read ends as the end of the body
      }
    }, Math.max(10, this.streamIdleMs / 4));
    let batch = new Uint8Array(STREAM_BATCH);
    let filled = 0;
    const flush = async () => {
      if (filled === 0) return;
      try {
        u.stream.push(batch.subarray(0, filled));
      } catch (e) {
        u.failure ??= e instanceof Error ? e : new Error(String(e));
      }
      u.received += filled;
      u.lastActive = this.now();
      batch = new Uint8Array(STREAM_BATCH); // the pushed one now belongs to the extraction
      filled = 0;
      if (!u.failure) {
        await Promise.all([
          u.stream.waitForSpace(MAX_QUEUED),
          u.hasher.waitForBacklog(MAX_QUEUED),
        ]);
      }
      if (u.failure) throw u.failure;
    };
    try {
      for (;;) {
        let piece: Uint8Array | null;
        lastRead = Date.now();
        try {
          reading = true;
          piece = await reader.read();
          reading = false;
          if (stalled) throw new Error(`nothing for ${this.streamIdleMs / 1000} s`);
        } catch (e) {
          reading = false;
          await flush(); // keep what arrived before the connection broke
          throw invalid(
            `Request body broke off at ${u.received} bytes ` +
              `(${e instanceof Error ? e.message : String(e)}): resume from there`,
          );
        }
        if (piece === null) break;
        if (limit !== undefined && u.received + filled + piece.length > limit) {
          await flush();
          throw beyondSize(limit);
        }
        while (piece.length > 0) {
          const n = Math.min(piece.length, STREAM_BATCH - filled);
          batch.set(piece.subarray(0, n), filled);
          filled += n;
          piece = piece.subarray(n);
          if (filled === STREAM_BATCH) await flush();
        }
      }
      await flush();
    } catch (e) {
      reader.cancel();
      throw e;
    } finally {
      clearInterval(watchdog);
      u.busy = false;
      u.lastActive = this.now();
      if (u.failure) this.#discard(u);
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
