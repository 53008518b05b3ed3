/**
 * A raw HTTP request body streamed into an upload (PUT …/blobs/<id>, api/blobstream.ts): read in
 * pieces (straight into the batch where the body allows it, DIRECT_READ; else BYOB where the
 * stream allows), gathered into STREAM_BATCH batches for the upload
 * (table.ts), bounded by the declared size, and ended when the sender goes quiet for too long.
 * Knows nothing of the upload table: the upload is a BodySink.
 */
import { invalid } from "../../errors.ts";
import type { AcondError } from "../../errors.ts";

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

/** What the sender of a streamed body declared about it (Content-Range, Content-Length). */
export interface StreamDeclared {
  /** The whole blob's size (Content-Range's total), when given. */
  total?: number;
  /** This body's length, when given. */
  length?: number;
}

/** Where the body's bytes go, in order. */
export interface BodySink {
  /** Bytes the upload has received (where a broken-off body resumes). */
  readonly received: number;
  /** Takes a batch (which it then owns); resolves once there is room for more, throws to stop. */
  accept(batch: Uint8Array): Promise<void>;
  /** An empty STREAM_BATCH-byte buffer for the next batch (a reused one); else a new one. */
  newBatch?(): Uint8Array;
}

export function beyondSize(size: number): AcondError {
  return invalid(`Data beyond the declared size ${size}`);
}

/** A body read piece by piece; a piece is valid until the next read. */
export interface PieceReader {
  read(): Promise<Uint8Array | null>;
  cancel(): void;
}

/**
 * A body that can also be read straight into the caller's memory (api/h1_put.ts: the socket read
 * into the upload's batch, no stream and no copy in between). The function fills up to
 * `dst.length` bytes and says how many (null at the end of the body), or throws why the body
 * broke off. A pending read ends by the body's own deadline, not by a cancel.
 */
export const DIRECT_READ = Symbol("acond.directRead");
export type DirectRead = (dst: Uint8Array) => Promise<number | null>;

function directReader(
  body: ReadableStream<Uint8Array>,
  read: DirectRead,
  into: () => Uint8Array,
): PieceReader {
  return {
    async read() {
      const dst = into();
      const n = await read(dst);
      return n === null ? null : dst.subarray(0, n);
    },
    cancel: () => void body.cancel().catch(() => {}),
  };
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
    let buf = new ArrayBuffer(1 << 20);
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

/**
 * A body read piece by piece (a piece is valid until the next read), cancelled when one read
 * waits longer than `idleMs` (measured in real time, between reads only: waiting for the
 * extraction is not idleness). Also used by the streamed unary AddBlob (api/addblob_stream.ts).
 */
export class BodyPieces {
  readonly #reader: PieceReader;
  #lastRead = Date.now();
  #reading = false;
  #stalled = false;
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(body: ReadableStream<Uint8Array> | PieceReader, private readonly idleMs: number) {
    const reader = this.#reader = body instanceof ReadableStream ? pieceReader(body) : body;
    this.#timer = setInterval(() => {
      if (this.#reading && Date.now() - this.#lastRead > idleMs) {
        this.#stalled = true;
        reader.cancel(); // the pending read ends as the end of the body
      }
    }, Math.max(10, idleMs / 4));
  }

  /** The next piece, null at the end; throws when the body broke off or went quiet. */
  async read(): Promise<Uint8Array | null> {
    this.#lastRead = Date.now();
    this.#reading = true;
    try {
      const piece = await this.#reader.read();
      if (this.#stalled) throw new Error(`nothing for ${this.idleMs / 1000} s`);
      return piece;
    } finally {
      this.#reading = false;
    }
  }

  /** Whatever was not read is not wanted. */
  cancel(): void {
    this.#reader.cancel();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/**
 * Gathers pieces into STREAM_BATCH batches for the sink. A batch lives in shared memory (the
 * sink's, ./pool.ts): the hash worker reads it where it is while the extraction reads it too;
 * nothing writes to a batch once it is given to the sink.
 */
export class Batches {
  #batch: Uint8Array | null = null;
  #filled = 0;

  constructor(private readonly sink: BodySink) {}

  #fresh(): Uint8Array {
    return this.sink.newBatch?.() ?? new Uint8Array(new SharedArrayBuffer(STREAM_BATCH));
  }

  /** Bytes gathered, not yet given to the sink. */
  get pending(): number {
    return this.#filled;
  }

  /** Where the next bytes go: the free end of the batch being filled (begun if none is). */
  tail(): Uint8Array {
    this.#batch ??= this.#fresh();
    return this.#batch.subarray(this.#filled);
  }

  async add(piece: Uint8Array): Promise<void> {
    const b = this.#batch;
    if (
      b && piece.length > 0 && piece.buffer === b.buffer &&
      piece.byteOffset === b.byteOffset + this.#filled
    ) {
      // Read into tail() already: nothing to copy.
      this.#filled += piece.length;
      if (this.#filled === STREAM_BATCH) await this.flush();
      return;
    }
    while (piece.length > 0) {
      const n = Math.min(piece.length, STREAM_BATCH - this.#filled);
      this.#batch ??= this.#fresh();
      this.#batch.set(piece.subarray(0, n), this.#filled);
      this.#filled += n;
      piece = piece.subarray(n);
      if (this.#filled === STREAM_BATCH) await this.flush();
    }
  }

  async flush(): Promise<void> {
    if (this.#filled === 0 || !this.#batch) return;
    const batch = this.#batch.subarray(0, this.#filled);
    this.#batch = null; // the given one now belongs to the sink
    this.#filled = 0;
    await this.sink.accept(batch);
  }
}

/**
 * Streams `body` into `sink`, at most `limit` bytes of blob in all when a size is known. After
 * each batch the body is not read until the sink has room (back-pressure reaches the sender
 * through the connection). If the body breaks off (cut connection), what arrived is kept and an
 * InvalidArgument says where to resume; a sink that throws stops the reading.
 */
export async function receiveBody(
  body: ReadableStream<Uint8Array>,
  sink: BodySink,
  opts: { limit?: number; idleMs: number },
): Promise<void> {
  const batches = new Batches(sink);
  const direct = (body as { [DIRECT_READ]?: DirectRead })[DIRECT_READ];
  const idle = new BodyPieces(
    direct ? directReader(body, direct, () => batches.tail()) : body,
    opts.idleMs,
  );
  try {
    for (;;) {
      let piece: Uint8Array | null;
      try {
        piece = await idle.read();
      } catch (e) {
        await batches.flush(); // keep what arrived before the connection broke
        throw invalid(
          `Request body broke off at ${sink.received} bytes ` +
            `(${e instanceof Error ? e.message : String(e)}): resume from there`,
        );
      }
      if (piece === null) break;
      if (opts.limit !== undefined && sink.received + batches.pending + piece.length > opts.limit) {
        await batches.flush();
        throw beyondSize(opts.limit);
      }
      await batches.add(piece);
    }
    await batches.flush();
  } catch (e) {
    idle.cancel();
    throw e;
  } finally {
    idle.stop();
  }
}
