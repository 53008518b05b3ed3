/**
 * The unary AddBlob, streamed: a binary request (Connect `application/proto`, gRPC-web
 * `application/grpc-web[+proto]`, uncompressed) is decoded as its body arrives, by the wire reader
 * (./protowire.ts), and the `data` field's bytes go straight into the same streamed ingest the
 * raw PUT uses (hash on a worker thread, strict tar reader, extraction into a staging directory:
 * image/upload/unary.ts), so a request holds a small constant of memory whatever the layer's size,
 * not its body (issue 10 item 11). JSON, compressed and plain gRPC requests go to the buffered
 * route (`fallback`), bounded by the body gate (./bodygate.ts) as before; so do streamed ones, at
 * STREAMED_BODY_BYTES each.
 *
 * The message as protobuf parses it, with two refusals where a stream cannot follow protobuf's
 * last-one-wins rule (invalid_argument, docs/api.md "Limits"):
 * - a second `data` field (the first one's bytes are already extracted);
 * - an `alg` after `data` that differs from the `alg` given before it (the digests computed are
 *   the ones it asked for). With no `alg` before `data`, every digest is computed and an `alg`
 *   after it is fine (encoders write fields in number order: alg, then data).
 * Unknown fields are skipped anywhere. Data under SMALL_DATA bytes is gathered and handed to the
 * buffered AddBlob whole (no worker thread, no staging for a small layer). The checks of the
 * buffered route all hold: --max-request on the data (resource_exhausted, before any byte of it
 * is taken) and on the body, the digests against the loaded manifests (nothing placed unless one
 * references the layer; with no manifest that could, refused before any byte is extracted), the
 * strict tar rules, the body's idle deadline (the connection's, and STREAM_IDLE_MS), the call's
 * timeout header. A body that breaks off or is refused stops the extraction and removes its
 * staging directory before the answer: nothing of it stays.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import {
  codeToHttpStatus,
  errorToJsonBytes,
  parseTimeout as parseConnectTimeout,
} from "@connectrpc/connect/protocol-connect";
import {
  parseTimeout as parseGrpcTimeout,
  trailerSerialize,
} from "@connectrpc/connect/protocol-grpc-web";
import { AconService, AddBlobRequestSchema } from "../gen/acon_pb.ts";
import { AcondError, invalid } from "../errors.ts";
import { Batches, BodyPieces, type BodySink, STREAM_BATCH } from "../image/upload/body.ts";
import { toConnectError } from "./errors.ts";
import { LEN, VARINT, WireError, WireReader } from "./protowire.ts";
import type { Route } from "./server.ts";

/** What the gate (./bodygate.ts) counts for one streamed body: about what it holds at most. */
export const STREAMED_BODY_BYTES = 16 << 20;
/** Data shorter than this is gathered whole and given to the buffered AddBlob. */
export const SMALL_DATA = STREAM_BATCH;

const FIELD_ALG = 1;
const FIELD_DATA = 2;
const FIELDS = new Map([[FIELD_ALG, VARINT], [FIELD_DATA, LEN]]);

/** One streamed ingest (image/upload/unary.ts UnaryIngest). */
export interface BlobIngest extends BodySink {
  finish(bits: number): Promise<void>;
  abort(): Promise<void>;
}

/** The daemon's side (image/upload/unary.ts unaryBlobs). */
export interface StreamedBlobs {
  /** Throws what no bytes can change: data over --max-request, no manifest that could match. */
  check(size: number, bits: number | null): void;
  begin(size: number, bits: number | null): BlobIngest;
  addWhole(bits: number, data: Uint8Array): Promise<void>;
}

export interface StreamOptions {
  /** The largest body (as Connect's readMaxBytes for the buffered route). */
  readMaxBytes: number;
  /** The longest pause in the body (body.ts STREAM_IDLE_MS). */
  idleMs: number;
}

const UNARY = /^application\/proto\s*(;|$)/i;
const GRPC_WEB = /^application\/grpc-web(\+proto)?\s*(;|$)/i;

function identity(v: string | null): boolean {
  return v === null || v.trim().toLowerCase() === "identity";
}

/** Whether the streamed route takes `req` (else the buffered route does). */
export function streamable(req: Request): boolean {
  if (req.method !== "POST") return false;
  const type = req.headers.get("content-type") ?? "";
  if (UNARY.test(type)) return identity(req.headers.get("content-encoding"));
  if (GRPC_WEB.test(type)) return identity(req.headers.get("grpc-encoding"));
  return false;
}

function malformed(why: string): ConnectError {
  return new ConnectError(
    `Malformed request: ${why} (expected a binary ${AddBlobRequestSchema.typeName})`,
    Code.InvalidArgument,
  );
}

/** gRPC-web's 5-byte envelope around the one request message, undone piece by piece. */
class Envelope {
  readonly #head = new Uint8Array(5);
  #got = 0;
  #left = -1;

  /** The message bytes in `piece`; refuses flags, compression and a second message. */
  message(piece: Uint8Array, maxBytes: number): Uint8Array {
    let i = 0;
    while (this.#got < 5 && i < piece.length) this.#head[this.#got++] = piece[i++];
    if (this.#got < 5) return piece.subarray(piece.length);
    if (this.#left < 0) {
      if (this.#head[0] !== 0) {
        throw malformed(`gRPC-web message flags ${this.#head[0]} (compressed or trailers)`);
      }
      this.#left = new DataView(this.#head.buffer).getUint32(1);
      if (this.#left > maxBytes) throw tooLarge(this.#left, maxBytes);
    }
    const n = Math.min(this.#left, piece.length - i);
    this.#left -= n;
    if (i + n < piece.length) throw malformed("more than one message in a unary request");
    return piece.subarray(i, i + n);
  }

  finish(): void {
    if (this.#got === 0) throw malformed("missing message");
    if (this.#got < 5 || this.#left > 0) throw malformed("message truncated");
  }
}

function tooLarge(n: number, max: number): ConnectError {
  return new ConnectError(
    `message size ${n} is larger than configured readMaxBytes ${max}`,
    Code.ResourceExhausted,
  );
}

/** The request's timeout header (connect-timeout-ms, grpc-timeout), in ms. */
function timeoutOf(req: Request, grpcWeb: boolean): number | undefined {
  const t = grpcWeb
    ? parseGrpcTimeout(req.headers.get("grpc-timeout"), 2 ** 31 - 1)
    : parseConnectTimeout(req.headers.get("connect-timeout-ms"), 2 ** 31 - 1);
  if (t.error) throw t.error;
  return t.timeoutMs;
}

/** Reads one AddBlobRequest off `body` into `blobs`; the ingest it started, for the abort. */
class Decode {
  ingest: BlobIngest | null = null;
  readonly #wire = new WireReader(FIELDS);
  #alg: number | null = null;
  #algAtData: number | null = null;
  #dataSeen = false;
  #whole: Uint8Array | null = null;
  #filled = 0;
  #batches: Batches | null = null;

  constructor(private readonly blobs: StreamedBlobs) {}

  async feed(piece: Uint8Array): Promise<void> {
    for (const e of this.#wire.feed(piece)) {
      if (e.kind === "varint") {
        if (this.#dataSeen && this.#algAtData !== null && e.value !== this.#algAtData) {
          throw invalid(
            `AddBlobRequest.alg given again after data with another value (${this.#algAtData}, ` +
              `then ${e.value}): give alg once, before data`,
          );
        }
        this.#alg = e.value;
      } else if (e.kind === "begin") {
        if (this.#dataSeen) {
          throw invalid(
            "AddBlobRequest.data given twice: the first one is already being extracted; " +
              "send the layer once",
          );
        }
        this.#dataSeen = true;
        this.#algAtData = this.#alg || null;
        this.blobs.check(e.length, this.#algAtData);
        if (e.length < SMALL_DATA) {
          this.#whole = new Uint8Array(e.length);
        } else {
          this.ingest = this.blobs.begin(e.length, this.#algAtData);
          this.#batches = new Batches(this.ingest);
        }
      } else if (e.kind === "chunk") {
        if (this.#whole) {
          this.#whole.set(e.bytes, this.#filled);
          this.#filled += e.bytes.length;
        } else await this.#batches!.add(e.bytes);
      } else if (this.#batches) await this.#batches.flush();
    }
  }

  /** The body ended: place the layer (or refuse it). */
  async finish(): Promise<void> {
    this.#wire.finish();
    const bits = this.#alg ?? 0;
    if (this.ingest) await this.ingest.finish(bits);
    else await this.blobs.addWhole(bits, this.#whole ?? new Uint8Array(0));
  }
}

function answer(grpcWeb: boolean, type: string, e: ConnectError | null): Response {
  if (grpcWeb) {
    const trailer = new Headers({ "grpc-status": String(e ? e.code : 0) });
    if (e) trailer.set("grpc-message", encodeURIComponent(e.rawMessage));
    const t = trailerSerialize(trailer);
    const body = new Uint8Array((e ? 0 : 5) + 5 + t.length);
    let at = 0;
    if (!e) at = 5; // the empty AddBlobResponse: flags 0, length 0
    body[at] = 0x80;
    new DataView(body.buffer).setUint32(at + 1, t.length);
    body.set(t, at + 5);
    return new Response(body, {
      status: 200,
      headers: {
        "content-type": type.split(";")[0].trim(),
        ...(e ? { connection: "close" } : {}),
      },
    });
  }
  if (!e) {
    return new Response(null, { status: 200, headers: { "content-type": "application/proto" } });
  }
  return new Response(errorToJsonBytes(e, {}) as Uint8Array<ArrayBuffer>, {
    status: codeToHttpStatus(e.code),
    headers: { "content-type": "application/json", connection: "close" },
  });
}

/** Reads and drops the rest of a refused body, at most `left` bytes; quietly stops on a failure. */
async function drain(pieces: BodyPieces, left: number): Promise<void> {
  try {
    for (let p = await pieces.read(); p !== null && left > 0; p = await pieces.read()) {
      left -= p.length;
    }
  } catch { /* cut: nothing to answer to */ }
}

/**
 * AddBlob's route: streamable requests here, the others to `fallback`. `blobs` gives the daemon's
 * side (loaded with the upload machinery on first use, like the deferred handlers).
 */
export function streamAddBlob(
  fallback: Route,
  blobs: () => Promise<StreamedBlobs>,
  o: StreamOptions,
): Route {
  return async (req) => {
    if (!streamable(req)) return await fallback(req);
    const type = req.headers.get("content-type") ?? "";
    const grpcWeb = GRPC_WEB.test(type);
    let decode: Decode | null = null;
    const pieces = req.body ? new BodyPieces(req.body, o.idleMs) : null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timedOut = false;
    let broken = false;
    let total = 0;
    try {
      const timeoutMs = timeoutOf(req, grpcWeb);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          timedOut = true;
          pieces?.cancel();
        }, timeoutMs);
      }
      const d = decode = new Decode(await blobs());
      const env = grpcWeb ? new Envelope() : null;
      for (;;) {
        let piece: Uint8Array | null = null;
        try {
          piece = pieces ? await pieces.read() : null;
        } catch (e) {
          broken = true;
          if (timedOut) break;
          const stalled = e instanceof Error && /nothing for|stalled/.test(e.message);
          throw new AcondError(
            stalled ? "deadline_exceeded" : "invalid_argument",
            `AddBlob request body broke off after ${total} bytes (${
              e instanceof Error ? e.message : String(e)
            }): send it again`,
          );
        }
        if (timedOut) break;
        if (piece === null) break;
        total += piece.length;
        if (total > o.readMaxBytes + (env ? 5 : 0)) {
          broken = true;
          throw tooLarge(total, o.readMaxBytes);
        }
        await d.feed(env ? env.message(piece, o.readMaxBytes) : piece);
      }
      if (timedOut) throw new ConnectError("the call's deadline passed", Code.DeadlineExceeded);
      env?.finish();
      await d.finish();
      return answer(grpcWeb, type, null);
    } catch (e) {
      await decode?.ingest?.abort();
      // A refusal before the body's end: the rest is read (and dropped) so that the client,
      // still sending, gets to read the answer; a broken or oversized body is cut.
      if (pieces && !broken && !timedOut) await drain(pieces, o.readMaxBytes - total);
      pieces?.cancel();
      const ce = e instanceof WireError ? malformed(e.message) : toConnectError(e, "AddBlob");
      return answer(grpcWeb, type, ce);
    } finally {
      clearTimeout(timer);
      pieces?.stop();
    }
  };
}

/** Puts the streamed route in front of AddBlob's (made by router.ts buildRoutes). */
export function streamAddBlobRoute(
  routes: Map<string, Route>,
  blobs: () => Promise<StreamedBlobs>,
  o: StreamOptions,
): void {
  const path = `/${AconService.typeName}/AddBlob`;
  const route = routes.get(path);
  if (route) routes.set(path, streamAddBlob(route, blobs, o));
}
