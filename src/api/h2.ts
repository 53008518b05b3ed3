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
import { type HttpConnServer, REQUEST_ENDED } from "./conn.ts";
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
      if (method !== "GET" && method !== "HEAD") {
        init.body = bodyOf(stream);
        init.duplex = "half";
      }
      req = new Request(`http://${h[":authority"] ?? "acond"}${h[":path"] ?? "/"}`, init);
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
