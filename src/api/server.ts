/**
 * Serves the API: Connect (JSON and binary) and gRPC-web over HTTP/1.1 and h2c, on a Unix socket
 * (mode 0600), on TCP and on vsock. Every listener serves the same route table through the same
 * handler (`handlerFor`) and error answer (`onError`): what one transport answers, they all
 * answer. Connections are accepted and bounded by api/conn_limits.ts (caps, header and body
 * deadlines, a reserve of descriptors). Routes are exact paths (one per RPC), or prefixes when
 * the key ends with "/" (the raw blob stream, api/blobstream.ts). TCP and vsock serve the host
 * only: their peer guard (api/peer.ts) refuses every other peer (a container) at accept, before
 * any protocol engine or route sees its bytes. Who keeps listeners up is not this file's business (PID 1: init/listeners.ts).
 */
import { log } from "../util/log.ts";
import type { PeerGuard } from "./peer.ts";
import { type ConnLimits, DEFAULT_CONN_LIMITS, serveListener } from "./conn_limits.ts";
import { DescriptorBudget } from "./fd_budget.ts";
import type { TlsCert } from "./tls_accept.ts";
import { coreOf } from "./unary.ts";

export type Route = (req: Request) => Promise<Response>;

export interface Listener {
  readonly addr: string;
  shutdown(): Promise<void>;
  readonly finished: Promise<void>;
}

/** What every listener of one daemon shares: its limits and the process's descriptors. */
export interface ServeConfig {
  limits: ConnLimits;
  budget: DescriptorBudget;
}

/** One daemon's serving configuration: the limits given over the defaults, this process's budget. */
export function serveConfig(limits: Partial<ConnLimits> = {}): ServeConfig {
  return { limits: { ...DEFAULT_CONN_LIMITS, ...limits }, budget: new DescriptorBudget() };
}

/** A listener serving `routes` within its limits; TCP and vsock ones behind their peer guard. */
function served(
  addr: string,
  listener: Deno.Listener,
  routes: Map<string, Route>,
  c: ServeConfig,
  o: { guard?: PeerGuard; tls?: TlsCert; onShutdown?: () => Promise<void> } = {},
): Listener {
  const peers = o.guard ? { guard: o.guard, refused } : undefined;
  const s = serveListener(listener, handlerFor(routes), onError, c.limits, c.budget, addr, {
    peers,
    tls: o.tls,
    unary: (path) => coreOf(routes.get(path)),
  });
  return {
    addr,
    finished: s.finished,
    async shutdown() {
      await s.shutdown();
      await o.onShutdown?.();
    },
  };
}

/** The route of the longest "…/" key that `path` starts with (a handful: a scan is fine). */
function byPrefix(routes: Map<string, Route>, path: string): Route | undefined {
  let best: string | undefined;
  for (const k of routes.keys()) {
    if (k.endsWith("/") && path.startsWith(k) && k.length > (best?.length ?? 0)) best = k;
  }
  return best === undefined ? undefined : routes.get(best);
}

/**
 * The one request handler of every listener: the exact route, else the longest prefix route,
 * else 404 (native gRPC: UNIMPLEMENTED). Exported for tests that call a route table as a listener would.
 */
export function handlerFor(routes: Map<string, Route>): Deno.ServeHandler {
  return async (req) => {
    let path: string;
    try {
      path = new URL(req.url).pathname;
    } catch {
      return new Response("bad request URL\n", { status: 400 });
    }
    const route = routes.get(path) ?? byPrefix(routes, path);
    if (
      !route && /^application\/grpc(\+proto)?(;|$)/i.test(req.headers.get("content-type") ?? "")
    ) {
      // Native gRPC's form: a trailers-only answer, UNIMPLEMENTED (12).
      await req.body?.cancel().catch(() => {});
      return new Response(null, {
        headers: {
          "content-type": "application/grpc",
          "grpc-status": "12",
          "grpc-message": encodeURIComponent(`no such RPC: ${path}`),
        },
      });
    }
    if (!route) {
      return new Response(`no such RPC: ${path}\n`, {
        status: 404,
        headers: { "content-type": "text/plain" },
      });
    }
    try {
      return await route(req);
    } catch (e) {
      // connect's handler turns handler errors into responses; reaching here means transport trouble.
      log.warn(`${path}: ${e instanceof Error ? e.message : String(e)}`);
      return new Response("internal error\n", { status: 500 });
    }
  };
}

/**
 * The answer to every request of a peer that a host-facing listener's guard (api/peer.ts)
 * refused at accept (api/conn_limits.ts): 403 permission_denied, the connection closed after
 * it; no route runs.
 */
export function refused(why: string): Deno.ServeHandler {
  return async (req, info) => {
    const from = info.remoteAddr?.transport === "vsock"
      ? `vsock:${info.remoteAddr.cid}:${info.remoteAddr.port}`
      : `${(info.remoteAddr as Deno.NetAddr)?.hostname}:${(info.remoteAddr as Deno.NetAddr)?.port}`;
    log.warn(`refused ${req.method} ${new URL(req.url).pathname} from ${from}: ${why}`);
    await req.body?.cancel().catch(() => {});
    const message = `Refused: ${why}. The host API serves the host only; ` +
      "containers use /shared/acon.sock";
    return new Response(JSON.stringify({ code: "permission_denied", message }) + "\n", {
      status: 403,
      headers: { "content-type": "application/json", connection: "close" },
    });
  };
}

function onError(e: unknown): Response {
  log.warn(`serve: ${e instanceof Error ? e.message : String(e)}`);
  return new Response("internal error\n", { status: 500 });
}

/**
 * Binds the socket in a fresh 0700 directory next to the target, sets mode 0600, then renames it
 * over the target: no window in which the socket is reachable with looser permissions, and a stale
 * socket from a dead daemon is replaced atomically. A live one is refused.
 */
export async function serveUnix(
  path: string,
  routes: Map<string, Route>,
  config: ServeConfig,
): Promise<Listener> {
  // Synchronous file steps: a handful of calls at start-up, each cheaper without the hand-off to
  // a helper thread (which costs under emulation).
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  Deno.mkdirSync(dir, { recursive: true, mode: 0o755 });
  try {
    const st = Deno.lstatSync(path);
    if (!st.isSocket) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
    try {
      const c = await Deno.connect({ transport: "unix", path });
      c.close();
      throw new Error(`another server is listening on ${path}`);
    } catch (e) {
      if (!(e instanceof Deno.errors.ConnectionRefused)) throw e;
      // stale: replaced by the rename below
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const tmpDir = Deno.makeTempDirSync({ dir, prefix: ".acond-bind-" });
  Deno.chmodSync(tmpDir, 0o700);
  const tmpPath = `${tmpDir}/s`;
  let listener: Deno.Listener;
  try {
    listener = Deno.listen({ transport: "unix", path: tmpPath });
    try {
      Deno.chmodSync(tmpPath, 0o600);
      Deno.renameSync(tmpPath, path);
    } catch (e) {
      listener.close();
      throw e;
    }
  } finally {
    try {
      Deno.removeSync(tmpDir, { recursive: true });
    } catch { /* already gone */ }
  }
  log.info(`serving on unix:${path}`);
  return served(`unix:${path}`, listener, routes, config, {
    onShutdown: async () => {
      await Deno.remove(path).catch(() => {});
    },
  });
}

/** TLS of a TCP or vsock listener: the attested certificate and its key, PEM (attest/ratls/identity.ts). */
export type { TlsCert };

/** TCP: TLS 1.2+ with ALPN h2 and http/1.1 when `tls` is given (acond.tls=off: plain HTTP). */
export function serveTcp(
  hostname: string,
  port: number,
  routes: Map<string, Route>,
  guard: PeerGuard,
  config: ServeConfig,
  tls?: TlsCert,
): Listener {
  const listener = tls
    ? Deno.listenTls({
      hostname,
      port,
      cert: tls.certPem,
      key: tls.keyPem,
      alpnProtocols: ["h2", "http/1.1"],
    })
    : Deno.listen({ hostname, port });
  const a = listener.addr as Deno.NetAddr;
  log.info(
    `serving on tcp:${a.hostname}:${a.port}${tls ? " (TLS)" : " (plain HTTP: acond.tls=off)"}`,
  );
  return served(`tcp:${a.hostname}:${a.port}`, listener, routes, config, { guard });
}

/**
 * The API on vsock (any local CID), for hosts that reach the guest through virtio-vsock. Needs
 * Deno's `--unstable-vsock` (both launchers pass it) and a vsock transport in the kernel. With
 * `tls` (the TCP listener's attested certificate) TLS is terminated in-process
 * (api/tls_accept.ts): Deno's TLS server is TCP only.
 */
export function serveVsock(
  port: number,
  routes: Map<string, Route>,
  guard: PeerGuard,
  config: ServeConfig,
  tls?: TlsCert,
): Listener {
  const listener = Deno.listen({ transport: "vsock", cid: -1, port });
  log.info(`serving on vsock:${port}${tls ? " (TLS)" : " (plain HTTP: acond.tls=off)"}`);
  return served(`vsock:${port}`, listener, routes, config, { guard, tls });
}
