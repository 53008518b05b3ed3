/**
 * The API's connections, accepted one by one (Deno.serve counts none and dies on EMFILE): each
 * listener holds at most `maxConnections`, a connection must deliver a request's headers within
 * `headerTimeoutMs` of its accept (or of the end of its last request), a request body may not
 * pause longer than `bodyIdleTimeoutMs`, and a share of the process's descriptors is always kept
 * free (`DescriptorBudget`) so that reaping, container starts, the container socket and the next
 * accept still work when clients hold every connection they may. When a listener is full, the
 * oldest connection with no request in flight makes room for the new one (a flood of half-open
 * connections cannot lock out a client that talks); when none is idle, the new one is closed.
 * An accept that fails (EMFILE, ENFILE, ENOBUFS) is logged and retried after a pause: the
 * listener never ends on it. Each connection is served through the same handler by one of two
 * engines: HTTP/1.1 by Deno's own (`serveHttpOnConnection`, what Deno.serve runs per listener;
 * api/bridge.ts when its first bytes were read), HTTP/2 (h2c's preface, or ALPN h2 on TLS) by
 * the runtime's node:http2 (api/h2.ts), which sends the trailers native gRPC needs. Two kinds of
 * plain HTTP/1.1 request are served here instead, not copied through the bridge: Connect unary
 * calls (api/h1_unary.ts), until the first request on the connection that is not one, and a
 * layer upload PUT (api/h1_put.ts, `servePut`), whose body is read from the socket into the
 * upload's memory.
 *
 * A host-facing listener's peer guard (api/peer.ts) runs once per connection, right after its
 * accept and before any protocol engine reads a byte of it: a refused peer (a container) is
 * answered by Deno's engine with `refused`'s 403 only, so node:http2, whose nghttp2 can abort
 * the process, only ever parses the host's bytes (docs/architecture.md, "The rules"). `admit` is where a connection
 * is let in by count and descriptors; the descriptor budget is api/fd_budget.ts, one
 * connection's deadlines api/conn.ts.
 */
import { log } from "../util/log.ts";
import { Bridge, FDS_PER_BRIDGE, splice } from "./bridge.ts";
import { BodyStalledError, Conn, guardBody, type HttpConnServer, REQUEST_ENDED } from "./conn.ts";
import {
  answerAndClose,
  mayBePut,
  parsePutHead,
  putBody,
  type PutHead,
  readPutHead,
} from "./h1_put.ts";
import { mayBeUnary, serveUnaryH1 } from "./h1_unary.ts";
import type { UnaryCore } from "./unary.ts";
import { BLOB_STREAM_PREFIX } from "./wire.ts";
import { H2_PREFACE, prefaceSoFar } from "./h2_preface.ts";
import type { DescriptorBudget } from "./fd_budget.ts";
import type { PeerGuard } from "./peer.ts";
import type { ByteConn } from "./byteconn.ts";
import type { TlsCert } from "./tls_accept.ts";

export interface ConnLimits {
  /** Most connections one listener holds at once. */
  maxConnections: number;
  /** From accept, or the end of the previous request, to the next request's complete headers. */
  headerTimeoutMs: number;
  /** Longest pause in a request body while the server waits for it. */
  bodyIdleTimeoutMs: number;
  /** How long shutdown lets requests in flight finish before their connections are cut. */
  shutdownGraceMs: number;
}

export const DEFAULT_CONN_LIMITS: ConnLimits = {
  maxConnections: 256,
  headerTimeoutMs: 10_000,
  bodyIdleTimeoutMs: 30_000,
  shutdownGraceMs: 1000,
};

type ServeOnConnection = (
  conn: Deno.Conn,
  signal: AbortSignal,
  handler: Deno.ServeHandler,
  onError: (e: unknown) => Response,
  onListen: () => void,
) => HttpConnServer;

/** Deno's per-connection HTTP server (HTTP/1.1 and h2c), as Deno.serve runs it per listener. */
function serveOnConnection(): ServeOnConnection {
  const internal = (Deno as unknown as Record<symbol, Record<string, unknown>>)[
    (Deno as unknown as { internal: symbol }).internal
  ];
  const fn = internal?.serveHttpOnConnection;
  if (typeof fn !== "function") {
    throw new Error("this Deno has no serveHttpOnConnection; acond needs the pinned Deno");
  }
  return fn as ServeOnConnection;
}

export interface ServedListener {
  readonly finished: Promise<void>;
  /** Connections open now (tests, Health). */
  readonly connections: number;
  /** Stops accepting; requests in flight get `shutdownGraceMs`, then connections are cut. */
  shutdown(): Promise<void>;
}

let nextConnId = 1;

/**
 * Accepts on `listener` and serves each admitted connection with `handler`. `onError` answers
 * what the handler throws (as Deno.serve's option).
 */
export function serveListener(
  listener: Deno.Listener,
  handler: Deno.ServeHandler,
  onError: (e: unknown) => Response,
  limits: ConnLimits,
  budget: DescriptorBudget,
  name: string,
  o: {
    /** Host-facing listeners: the peer check, and the answer to a refused peer. */
    peers?: { guard: PeerGuard; refused: (why: string) => Deno.ServeHandler };
    /** TLS terminated here, on each accepted connection (api/tls_accept.ts: vsock). */
    tls?: TlsCert;
    /** The unary core of a route path: plain HTTP/1.1 unary calls are answered here with it. */
    unary?: (path: string) => UnaryCore | undefined;
  } = {},
): ServedListener {
  const peers = o.peers;
  const serveConn = serveOnConnection();
  const conns = new Set<Conn>(); // insertion order: oldest first
  let stopping = false;
  let refusedSince = 0;
  /** Cut by `admit` to make room; their descriptors are not closed yet. */
  const releasing = new Set<Conn>();

  /**
   * Whether `conn` may be served. Too few free descriptors: no. A full listener makes room by
   * cutting its oldest idle connection (which counts until Deno has closed it); none idle: no.
   */
  const admit = (_conn: Deno.Conn): boolean => {
    // Connections cut to make room still hold their descriptors until Deno has closed them
    // (within a task or so): counting them would refuse a client that talks during a flood.
    if (!budget.roomForOne(fdsOf(releasing))) return false;
    return makeRoom(1, (n) => conns.size >= limits.maxConnections || n > 0);
  };

  /**
   * Cuts the oldest idle connections (never `self`) while `over(descriptors over the cap)`:
   * descriptors, not only connections, are capped: a bridged one holds three (api/bridge.ts),
   * asked for when its protocol is known (`serve`); until then it holds its own.
   */
  const makeRoom = (fds: number, over: (excess: number) => boolean, self?: Conn): boolean => {
    const cap = budget.capFor(limits.maxConnections * MAX_FDS);
    while (over(fdsOf(conns) + fds - cap)) {
      const idle = [...conns].find((c) => c !== self && c.inFlight === 0 && !c.done && !c.cutting);
      if (!idle) return false;
      idle.cut();
      conns.delete(idle);
      releasing.add(idle);
    }
    return true;
  };

  const bridge = new Bridge();

  const serve = (raw: Deno.Conn) => {
    const c = new Conn(nextConnId++, limits.headerTimeoutMs);
    conns.add(c);
    // The client's address, whichever engine serves it (a bridged one's is the private pair's).
    const remoteAddr = raw.remoteAddr;
    // Aborted when a bridged connection's client is gone: every request on it ends (see below).
    const clientGone = new AbortController();
    // `guarded`: the body bounds its own pauses (api/h1_put.ts).
    const perConnWith = (handler: Deno.ServeHandler, guarded = false): Deno.ServeHandler =>
    async (
      req,
      info,
    ) => {
      c.requestStarted();
      // The request's own signal, which the handler (Connect's context.signal) sees: it aborts
      // when the client goes (Deno rejects `completed`) and when the response is done, so a
      // stream whose client left ends and frees what it holds even if it never writes again.
      const ac = new AbortController();
      let ended = false;
      const end = () => {
        if (ended) return;
        ended = true;
        ac.abort(REQUEST_ENDED);
        c.requestEnded();
      };
      info.completed.then(end, end); // settles when the response is out or the client is gone
      // A client gone before the response started (a Watch with no event yet: Connect answers
      // with its first message) is seen only by the request's own signal.
      if (req.signal.aborted || clientGone.signal.aborted) ac.abort(REQUEST_ENDED);
      else {
        req.signal.addEventListener("abort", () => ac.abort(REQUEST_ENDED), { once: true });
        clientGone.signal.addEventListener("abort", () => ac.abort(REQUEST_ENDED), {
          once: true,
          signal: ac.signal,
        });
      }
      try {
        const body = req.body && !guarded
          ? guardBody(req.body, limits.bodyIdleTimeoutMs, () => c.cut())
          : req.body;
        const init: RequestInit & { duplex?: string } = { signal: ac.signal };
        if (body) Object.assign(init, { body, duplex: "half" });
        return await handler(new Request(req, init), { remoteAddr, completed: info.completed });
      } catch (e) {
        end();
        throw e;
      }
    };
    const perConn = perConnWith(handler);
    const gone = (why: unknown) => {
      if (why !== null) {
        log.warn(`${name}: cannot serve a connection: ${(why as Error)?.message ?? why}`);
      }
      conns.delete(c);
      releasing.delete(c);
      c.ended();
      try {
        raw.close();
      } catch { /* taken or gone */ }
    };
    /** `server` serves the connection; `after`: what else must end before it is gone. */
    const started = (server: HttpConnServer, after?: () => Promise<void>) => {
      c.server = server;
      server.finished.catch((e) => log.debug(`${name}: connection ${c.id}: ${e}`)).finally(
        async () => {
          c.ended(); // the engine is done with its socket: no more cuts reach it
          await after?.();
          conns.delete(c);
          releasing.delete(c);
        },
      );
    };
    // Which engine: HTTP/2 (the preface, or ALPN h2) goes to node:http2, which sends trailers
    // (native gRPC); HTTP/1.1 stays on Deno's engine (bridged when its first bytes were read).
    // Bounded by the connection's header deadline (its cut closes the socket).
    const cutEarly = () => {
      try {
        raw.close();
      } catch { /* closed */ }
    };
    c.signal.addEventListener("abort", cutEarly, { once: true });
    (async () => {
      // The peer first, before any engine reads its bytes; a refused one gets only the 403.
      const why = peers ? await verdict(peers.guard, raw) : null;
      if (c.signal.aborted) return gone(null);
      if (why !== null) {
        c.signal.removeEventListener("abort", cutEarly);
        return started(serveConn(raw, c.signal, perConnWith(peers!.refused(why)), onError, noop));
      }
      // What carries the requests: the socket, or the TLS session made on it here.
      let conn: ByteConn = raw;
      let p: Protocol | null;
      if (o.tls) {
        const { acceptTls } = await tlsEngine();
        const t = await acceptTls(raw, o.tls, c.signal).catch((e) => {
          log.debug(`${name}: connection ${c.id}: ${(e as Error).message}`);
          return null;
        });
        if (t) conn = t.conn;
        p = t && { h2: t.alpn === "h2", first: new Uint8Array(0) };
      } else p = await protocolOf(raw);
      c.signal.removeEventListener("abort", cutEarly);
      if (c.signal.aborted || p === null) return gone(null); // left (or cut) before a word
      if (p.h2) {
        const { serveH2OnConnection } = await h2Engine();
        if (c.signal.aborted) return gone(null);
        return started(
          serveH2OnConnection(conn, p.first, perConn, onError, {
            remoteAddr,
            signal: c.signal,
            unary: o.unary && { coreOf: o.unary, conn: c, idleMs: limits.bodyIdleTimeoutMs },
          }),
        );
      }
      if (conn === raw && p.first.length === 0) {
        return started(serveConn(raw, c.signal, perConn, onError, noop));
      }
      // Connect unary calls are answered here until a request is not one (api/h1_unary.ts).
      if (conn === raw && o.unary && mayBeUnary(p.first)) {
        let stopping = false;
        c.signal.addEventListener("abort", cutEarly, { once: true });
        const own = serveUnaryH1(raw, p.first, c, {
          coreOf: o.unary,
          idleMs: limits.bodyIdleTimeoutMs,
          stopping: () => stopping,
        });
        c.server = {
          finished: own.then(() => {}, () => {}),
          async shutdown() {
            stopping = true;
            if (c.inFlight === 0) cutEarly(); // waiting for a head: nothing to finish
            await own;
          },
        };
        const end = await own;
        c.signal.removeEventListener("abort", cutEarly);
        if (end.closed || c.signal.aborted) return gone(null);
        p = { h2: false, first: end.rest };
      }
      // A streamed layer upload is read from the socket here, not copied through the bridge.
      if (conn === raw && mayBePut(p.first)) {
        c.signal.addEventListener("abort", cutEarly, { once: true });
        const got = await readPutHead(raw, p.first);
        c.signal.removeEventListener("abort", cutEarly);
        if (c.signal.aborted) return gone(null);
        const head = got.end < 0
          ? null
          : parsePutHead(got.bytes.subarray(0, got.end), BLOB_STREAM_PREFIX);
        if (head) {
          return started(
            servePut(
              raw,
              head,
              got.bytes.slice(got.end),
              c,
              perConnWith(handler, true),
              remoteAddr,
              limits,
              onError,
            ),
          );
        }
        p = { h2: false, first: got.bytes.slice() };
      }
      // HTTP/1.1 after its first bytes: Deno's engine through a private pair, two descriptors
      // more. When they are not there, the connection is closed as at a full accept.
      if (
        !budget.roomForOne(fdsOf(releasing), FDS_PER_BRIDGE) ||
        !makeRoom(FDS_PER_BRIDGE, (n) => n > 0, c)
      ) {
        log.debug(`${name}: connection ${c.id}: no descriptors for its bridge; closed`);
        return gone(null);
      }
      c.fds = MAX_FDS;
      const { outer, inner } = await bridge.pair();
      const spliced = splice(conn, p.first, outer, bridge.big, () => clientGone.abort());
      // When the engine is done its socket is closed: the splice copies what is left of the
      // answer, sees the end and closes the client's socket.
      started(serveConn(inner, c.signal, perConn, onError, noop), () => spliced);
    })().catch(gone);
  };

  const finished = (async () => {
    for (;;) {
      let raw: Deno.Conn;
      try {
        raw = await listener.accept();
      } catch (e) {
        if (stopping || e instanceof Deno.errors.BadResource) return;
        // EMFILE/ENFILE and the like: nothing to accept with; wait for descriptors to free up.
        const now = Date.now();
        if (now - refusedSince > 10_000) {
          log.warn(`${name}: accept: ${(e as Error).message}; retrying`);
          refusedSince = now;
        }
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      if (stopping || !admit(raw)) {
        const now = Date.now();
        if (!stopping && now - refusedSince > 10_000) {
          log.warn(
            `${name}: ${conns.size} connections holding ${fdsOf(conns)} descriptors (cap ${
              budget.capFor(limits.maxConnections * MAX_FDS)
            }) or too few free descriptors; refusing new ones`,
          );
          refusedSince = now;
        }
        try {
          raw.close();
        } catch { /* gone */ }
        continue;
      }
      // Answers are small and often written in pieces (headers, body, trailers): Nagle's
      // algorithm would hold each piece back for the client's delayed ACK.
      if (raw.remoteAddr.transport === "tcp") {
        try {
          (raw as Deno.TcpConn).setNoDelay(true);
        } catch { /* gone already */ }
      }
      serve(raw);
    }
  })();

  return {
    finished,
    get connections() {
      return conns.size;
    },
    async shutdown() {
      stopping = true;
      try {
        listener.close();
      } catch { /* already closed */ }
      const open = [...conns];
      // Graceful: idle connections close now, the others when their request ends...
      const graceful = Promise.all(open.map((c) => c.server?.shutdown().catch(() => {})));
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        graceful,
        new Promise((r) => (timer = setTimeout(r, limits.shutdownGraceMs))),
      ]);
      clearTimeout(timer);
      // ...or are cut when the grace is over (from a task of its own: see Conn.cut).
      await new Promise((r) => setTimeout(r, 0));
      for (const c of open) c.cut();
      await Promise.all(open.map((c) => c.server?.finished.catch(() => {})));
      await finished;
      bridge.close();
    },
  };
}

const noop = () => {};

/**
 * Serves one streamed upload read straight from the socket (api/h1_put.ts) through `handler`
 * (the connection's, its body already bounded), then closes the connection. A cut (the
 * connection's signal) closes the socket, which ends the body and the answer.
 */
function servePut(
  raw: Deno.Conn,
  head: PutHead,
  rest: Uint8Array,
  c: Conn,
  handler: Deno.ServeHandler,
  remoteAddr: Deno.Addr,
  limits: ConnLimits,
  onError: (e: unknown) => Response,
): HttpConnServer {
  const close = () => {
    try {
      raw.close();
    } catch { /* closed */ }
  };
  c.signal.addEventListener("abort", close, { once: true });
  let answered!: () => void;
  const completed = new Promise<void>((r) => answered = r);
  const body = putBody(raw, rest, head, {
    ms: limits.bodyIdleTimeoutMs,
    onStall: () => c.cut(),
    error: () =>
      new BodyStalledError(`request body stalled for more than ${limits.bodyIdleTimeoutMs} ms`),
  });
  const req = new Request(`http://localhost${head.target}`, {
    method: "PUT",
    headers: head.headers,
    body,
    duplex: "half",
  } as RequestInit);
  const finished = (async () => {
    try {
      let res: Response;
      try {
        res = await handler(req, { remoteAddr, completed });
      } catch (e) {
        res = onError(e);
      }
      await answerAndClose(raw, res);
    } finally {
      answered();
      c.signal.removeEventListener("abort", close);
      close();
    }
  })();
  return { finished, shutdown: () => finished.catch(() => {}) };
}

// node:http2 and node:tls are loaded with the first connection that needs them, not at boot
// (each costs about 0.1 s natively, far more under emulation: docs/boot.md).
const h2Engine = () => import("./h2.ts");
const tlsEngine = () => import("./tls_accept.ts");

/** The guard's answer for `raw`'s peer; a guard that fails refuses (fail closed). */
async function verdict(guard: PeerGuard, raw: Deno.Conn): Promise<string | null> {
  try {
    return await guard(raw.remoteAddr, raw.localAddr);
  } catch (e) {
    return `peer check failed: ${(e as Error).message}`;
  }
}

/** The most descriptors one connection holds (its own, and a bridge's). */
const MAX_FDS = 1 + FDS_PER_BRIDGE;

function fdsOf(conns: Iterable<Conn>): number {
  let n = 0;
  for (const c of conns) n += c.fds;
  return n;
}

/**
 * Whether `raw` speaks HTTP/2 and what was read to tell: ALPN on TLS (nothing read), else the
 * first bytes against the HTTP/2 preface. null: the client left (or failed its TLS handshake,
 * or reset the connection) before saying; that is the client's business, logged at debug only.
 */
interface Protocol {
  h2: boolean;
  /** What was read to tell. */
  first: Uint8Array;
}

async function protocolOf(raw: Deno.Conn): Promise<Protocol | null> {
  try {
    if ("handshake" in raw && typeof raw.handshake === "function") {
      const hs = await (raw as Deno.TlsConn).handshake();
      return { h2: hs.alpnProtocol === "h2", first: new Uint8Array(0) };
    }
    const buf = new Uint8Array(H2_PREFACE.length);
    let got = 0;
    for (;;) {
      const n = await raw.read(buf.subarray(got));
      if (n === null) return null;
      got += n;
      const v = prefaceSoFar(buf.subarray(0, got));
      if (v !== "maybe") return { h2: v === "h2", first: buf.slice(0, got) };
    }
  } catch (e) {
    log.debug(`connection closed before its first request: ${(e as Error).message}`);
    return null;
  }
}
