/**
 * HTTP/2 connections, served by the runtime's `node:http2` (nghttp2) instead of Deno's own
 * engine: it sends HTTP/2 trailers, which native gRPC needs (grpc-status) and Deno.serve cannot
 * send. One connection at a time is handed in (api/conn_limits.ts decides which connections are
 * HTTP/2: the client's preface, or ALPN h2 on TLS) with the bytes already read from it; each
 * stream becomes a fetch Request for the same handler as on Deno's engine, and its Response is
 * written back, with the trailers of a TrailedResponse (api/trailers.ts) after the body.
 * Nothing thrown here reaches the process: every stream, session and socket error is caught,
 * a protocol error ends its stream or connection.
 */
import http2 from "node:http2";
import { log } from "../util/log.ts";
import { type ByteConn, duplexOf } from "./byteconn.ts";
import { type Conn, type HttpConnServer, REQUEST_ENDED } from "./conn.ts";
import { Deadline } from "./deadline.ts";
import { UNARY_PATH, type UnaryCore } from "./unary.ts";
import { H2_PREFACE } from "./h2_preface.ts";
export { H2_PREFACE, prefaceSoFar } from "./h2_preface.ts";
import { TrailedResponse } from "./trailers.ts";

/** Streams one connection takes at once, and the largest header block it accepts. */
const SETTINGS: http2.Settings = {
  maxConcurrentStreams: 100,
  maxHeaderListSize: 64 * 1024,
};

/** Headers HTTP/2 forbids (connection-specific, RFC 9113 §8.2.2). */
const HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);

const GOAWAY = 0x7;

/**
 * The client's bytes with its GOAWAY frames taken out. Deno 2.9.6's node:http2 aborts the
 * process on a received GOAWAY after some streams have closed (nghttp2's assertion
 * `stream->closed_next == NULL` in find_stream_on_goaway_func; h2load ends every run with one).
 * A GOAWAY only tells the server that the client opens no more streams: without it the session
 * ends when the client closes the connection, as it does right after.
 */
export class GoawayFilter {
  #head = new Uint8Array(9);
  #headLen = 0;
  /** Bytes left of the current frame's payload, and whether they are dropped. */
  #left = 0;
  #drop = false;
  #preface: number;

  constructor(prefaceSeen: number) {
    this.#preface = H2_PREFACE.length - prefaceSeen;
  }

  push(b: Uint8Array): Uint8Array {
    const out: Uint8Array[] = [];
    let at = 0;
    if (this.#preface > 0) {
      const n = Math.min(this.#preface, b.length);
      out.push(b.subarray(0, n));
      this.#preface -= n;
      at = n;
    }
    while (at < b.length) {
      if (this.#left > 0) {
        const n = Math.min(this.#left, b.length - at);
        if (!this.#drop) out.push(b.subarray(at, at + n));
        this.#left -= n;
        at += n;
        continue;
      }
      const n = Math.min(9 - this.#headLen, b.length - at);
      this.#head.set(b.subarray(at, at + n), this.#headLen);
      this.#headLen += n;
      at += n;
      if (this.#headLen < 9) break;
      this.#headLen = 0;
      const h = this.#head;
      this.#left = (h[0] << 16) | (h[1] << 8) | h[2];
      this.#drop = h[3] === GOAWAY;
      if (!this.#drop) out.push(h.slice());
    }
    if (out.length === 1) return out[0].slice();
    const size = out.reduce((a, c) => a + c.length, 0);
    const joined = new Uint8Array(size);
    let o = 0;
    for (const c of out) (joined.set(c, o), o += c.length);
    return joined;
  }
}

/** The request body as a web stream, pulled from the Node stream (backpressure both ways). */
function bodyOf(stream: http2.ServerHttp2Stream): ReadableStream<Uint8Array> {
  let cancelled = false;
  return new ReadableStream<Uint8Array>({
    start(c) {
      stream.on("data", (chunk: Uint8Array) => {
        if (cancelled) return; // discarded
        c.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((c.desiredSize ?? 0) <= 0) stream.pause();
      });
      stream.on("end", () => {
        try {
          c.close();
        } catch { /* cancelled */ }
      });
      stream.on("close", () => {
        try {
          c.error(new Error("the client reset the stream"));
        } catch { /* closed already */ }
      });
      stream.pause();
    },
    pull() {
      stream.resume();
    },
    cancel() {
      // The handler does not want the rest: it is read and dropped. A stream left paused with
      // data pending trips an assertion in the runtime's nghttp2 on the next GOAWAY (a crash).
      cancelled = true;
      stream.resume();
    },
  }, { highWaterMark: 1 });
}

/** Writes `res` on `stream`: headers, body with backpressure, then its trailers if it has any. */
async function respond(stream: http2.ServerHttp2Stream, res: Response): Promise<void> {
  const headers: http2.OutgoingHttpHeaders = { ":status": res.status };
  res.headers.forEach((v, k) => {
    if (!HOP.has(k)) headers[k] = v;
  });
  const trailer = res instanceof TrailedResponse ? res.trailer : undefined;
  if (trailer) {
    stream.once("wantTrailers", () => {
      const t: http2.OutgoingHttpHeaders = {};
      trailer.forEach((v, k) => (t[k] = v));
      try {
        stream.sendTrailers(t);
      } catch (e) {
        log.debug(`h2: trailers: ${(e as Error).message}`);
        stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      }
    });
  }
  stream.respond(headers, { endStream: res.body === null && !trailer, waitForTrailers: !!trailer });
  if (res.body === null) {
    if (trailer) stream.end();
    return;
  }
  const reader = res.body.getReader();
  try {
    for (;;) {
      if (stream.destroyed) return;
      const r = await reader.read();
      if (r.done) break;
      if (!stream.write(r.value)) {
        await new Promise<void>((ok) => {
          const go = () => (stream.off("drain", go), stream.off("close", go), ok());
          stream.on("drain", go);
          stream.on("close", go);
        });
      }
    }
    if (!stream.destroyed) stream.end();
  } finally {
    reader.cancel().catch(() => {});
  }
}

export interface H2Options {
  /** The connection's remote address, as Deno's engine gives it to handlers. */
  remoteAddr: Deno.Addr;
  /** Aborts when the connection is to be cut (api/conn.ts `Conn.signal`). */
  signal: AbortSignal;
  /**
   * The unary core of a route path (api/unary.ts) and the connection's count of requests in
   * flight: a Connect unary call is then answered with the core, without a Request or Response.
   */
  unary?: {
    coreOf: (path: string) => UnaryCore | undefined;
    conn: Conn;
    /** The longest pause in a body being read: the connection is cut, as a route's body is. */
    idleMs: number;
  };
}

/**
 * The body size of a call `core` takes (a declared length within its limit: nghttp2 holds the
 * DATA frames to it, a stream error else), or null: the route answers it. Synchronous: the
 * route's body stream must be on the stream before the next event.
 */
function unarySize(core: UnaryCore, headers: Headers): number | null {
  // accepts() held a Content-Length, when there is one, to the method's limit.
  const cl = headers.get("content-length");
  return cl === null || core.accepts(headers) === null ? null : Number(cl);
}

/**
 * A Connect unary call on `stream` answered by `core` (api/unary.ts), as its route would answer
 * it, without the fetch Request, body stream and Response a route needs: false when the core
 * does not take it (its body read whole is then in `body.read`), true once it is answered.
 */
async function unaryStream(
  stream: http2.ServerHttp2Stream,
  core: UnaryCore,
  headers: Headers,
  size: number,
  url: string,
  o: NonNullable<H2Options["unary"]>,
  body: { read?: Uint8Array<ArrayBuffer> },
): Promise<boolean> {
  const conn = o.conn;
  // Nothing is awaited before the body's listeners are on: a stream whose end came with its
  // headers would end unseen.
  conn.requestStarted();
  const ac = new AbortController();
  stream.once("close", () => ac.abort(REQUEST_ENDED));
  try {
    // Held as it arrives, never by the declared length alone: a client's word for a size costs
    // it nothing (a hundred streams each declaring the limit would be that much memory).
    const chunks: Uint8Array[] = [];
    let got = 0;
    const idle = new Deadline(o.idleMs, () => conn.cut()); // closes the session: "close" below
    idle.start();
    const whole = await new Promise<boolean>((ok) => {
      stream.on("data", (c: Uint8Array) => {
        idle.start();
        if (got + c.byteLength > size) return ok(false);
        chunks.push(c);
        got += c.byteLength;
      });
      stream.once("end", () => ok(got === size));
      stream.once("close", () => ok(false));
    }).finally(() => idle.stop());
    if (!whole) {
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR);
      return true;
    }
    const bytes = new Uint8Array(size);
    for (let at = 0, i = 0; i < chunks.length; at += chunks[i++].byteLength) {
      bytes.set(chunks[i], at);
    }
    const a = await core.answer({ headers, body: bytes, signal: ac.signal, url });
    if (a === null) {
      body.read = bytes;
      return false;
    }
    if (stream.destroyed) return true;
    const out: http2.OutgoingHttpHeaders = { ":status": a.status };
    a.headers.forEach((v, k) => {
      if (!HOP.has(k)) out[k] = v;
    });
    stream.respond(out, { endStream: a.body.length === 0 });
    if (a.body.length > 0) stream.end(a.body);
    return true;
  } finally {
    conn.requestEnded();
  }
}

/**
 * Serves one HTTP/2 connection (`first`: its bytes read so far) with `handler`, as Deno's
 * serveHttpOnConnection serves one with its own engine: `finished` settles when the connection
 * is closed, `shutdown` lets the streams in flight end (GOAWAY) and closes it.
 */
export function serveH2OnConnection(
  conn: ByteConn,
  first: Uint8Array,
  handler: Deno.ServeHandler,
  onError: (e: unknown) => Response,
  o: H2Options,
): HttpConnServer {
  const server = http2.createServer({ settings: SETTINGS });
  let session: http2.ServerHttp2Session | undefined;
  let closeAfter = false;
  const filter = new GoawayFilter(0);
  const socket = duplexOf(conn, first, (b) => filter.push(b));
  const finished = new Promise<void>((resolve) => {
    let done = false;
    const end = () => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve();
    };
    socket.on("close", end);
    socket.on("error", (e) => (log.debug(`h2: socket: ${e.message}`), end()));
    server.on("session", (s) => {
      session = s;
      s.on("error", (e) => log.debug(`h2: session: ${e.message}`));
      s.on("close", end);
    });
    const cut = () => {
      session?.destroy();
      end();
    };
    if (o.signal.aborted) cut();
    else o.signal.addEventListener("abort", cut, { once: true });
  });
  server.on("sessionError", (e) => log.debug(`h2: session: ${e.message}`));
  server.on("stream", (stream, headers) => {
    stream.on("error", (e) => log.debug(`h2: stream: ${e.message}`));
    serveStream(stream, headers).catch((e) => {
      log.debug(`h2: ${(e as Error).message}`);
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    });
  });

  const serveStream = async (
    stream: http2.ServerHttp2Stream,
    h: http2.IncomingHttpHeaders,
  ): Promise<void> => {
    const method = String(h[":method"] ?? "GET");
    const headers = new Headers();
    for (const [k, v] of Object.entries(h)) {
      if (k.startsWith(":") || v === undefined) continue;
      for (const one of Array.isArray(v) ? v : [v]) headers.append(k, one);
    }
    // A Connect unary call: answered by its core, unless the core leaves it to the route.
    const path = String(h[":path"] ?? "/");
    const core = o.unary && method === "POST" && UNARY_PATH.test(path)
      ? o.unary.coreOf(path)
      : undefined;
    const read: { read?: Uint8Array<ArrayBuffer> } = {};
    const url = `http://${h[":authority"] ?? "acond"}${path}`;
    const size = core ? unarySize(core, headers) : null;
    if (
      size !== null && await unaryStream(stream, core!, headers, size, url, o.unary!, read)
    ) {
      return;
    }
    const ac = new AbortController();
    let completed!: { ok: () => void; fail: (e: Error) => void };
    const done = new Promise<void>((ok, fail) => (completed = { ok, fail }));
    done.catch(() => {});
    stream.on("close", () => {
      if (stream.rstCode === http2.constants.NGHTTP2_NO_ERROR) completed.ok();
      else completed.fail(new Error(`stream reset (${stream.rstCode})`));
      ac.abort(REQUEST_ENDED);
    });
    let req: Request;
    try {
      const init: RequestInit & { duplex?: string } = { method, headers, signal: ac.signal };
      if (read.read) init.body = read.read; // read whole by unaryStream
      else if (method !== "GET" && method !== "HEAD") {
        init.body = bodyOf(stream);
        init.duplex = "half";
      }
      req = new Request(url, init);
    } catch (e) {
      await respond(
        stream,
        new Response(`bad request: ${(e as Error).message}\n`, { status: 400 }),
      );
      return;
    }
    let res: Response;
    try {
      res = await handler(req, { remoteAddr: o.remoteAddr, completed: done });
    } catch (e) {
      res = onError(e);
    }
    if (res.headers.get("connection")?.toLowerCase() === "close") closeAfter = true;
    try {
      await respond(stream, res);
    } finally {
      // What the handler left of the body is dropped (see bodyOf's cancel).
      req.body?.cancel().catch(() => {});
    }
    if (closeAfter) session?.close();
  };

  server.emit("connection", socket);
  return {
    finished,
    shutdown() {
      if (session && !session.closed) session.close();
      else socket.destroy();
      return finished;
    },
  };
}
