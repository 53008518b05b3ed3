/** Connection to acond for aconctl: --socket PATH, --tcp HOST:PORT, or ACON_ADDR. */
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AconService } from "../gen/acon_pb.ts";

export type AconClient = Client<typeof AconService>;

export const DEFAULT_ADDR = "unix:/run/acond/acond.sock";

/**
 * The address, normalised to `unix:PATH` or `tcp:HOST:PORT`, from --socket, --tcp or ACON_ADDR
 * (`unix:PATH`, `/PATH`, `tcp:HOST:PORT`, `http://HOST:PORT[/]`, `HOST:PORT`).
 */
export function resolveAddr(socket?: string, tcp?: string, env?: string): string {
  if (socket) return `unix:${socket}`;
  if (tcp) return `tcp:${tcp.replace(/^tcp:/, "")}`;
  if (env) return parseAddr(env);
  return DEFAULT_ADDR;
}

export class AddrError extends Error {}

/** One ACON_ADDR value, normalised; AddrError when it is none of the accepted forms. */
export function parseAddr(text: string): string {
  const t = text.trim();
  const bad = () =>
    new AddrError(
      `ACON_ADDR "${text}" is not an address: give unix:PATH, tcp:HOST:PORT or http://HOST:PORT`,
    );
  if (t.startsWith("unix:")) {
    if (t.length === 5) throw bad();
    return t;
  }
  if (t.startsWith("/")) return `unix:${t}`;
  let hostPort = t;
  if (/^https?:\/\//i.test(t)) {
    // http:// and https:// name the same TCP listener: aconctl always tries attested TLS.
    let u: URL;
    try {
      u = new URL(t);
    } catch {
      throw bad();
    }
    if (u.pathname !== "/" || u.search || !u.port) throw bad();
    hostPort = u.host;
  } else if (t.startsWith("tcp:")) hostPort = t.slice(4);
  if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/.test(hostPort)) throw bad();
  const port = Number(hostPort.slice(hostPort.lastIndexOf(":") + 1));
  if (port < 1 || port > 65535) throw bad();
  return `tcp:${hostPort}`;
}

/** The URL the Connect requests go to for an address (what error messages name). */
export function urlOf(addr: string): string {
  return addr.startsWith("unix:") ? `http://localhost (over ${addr})` : `http://${addr.slice(4)}`;
}

/**
 * What a failed call says about the connection, or undefined when the daemon answered: "no socket
 * at PATH", "connection refused at HOST:PORT", "not acond: HTTP 404 at URL".
 */
export function describeConnectionError(addr: string, e: unknown): string | undefined {
  const cause = (e as { cause?: unknown })?.cause;
  const code = (e as { code?: number })?.code;
  const raw = String((e as { rawMessage?: string })?.rawMessage ?? (e as Error)?.message ?? "");
  const where = addr.slice(addr.indexOf(":") + 1);
  // node:tls's (cli/tls.ts: the attested TLS connection) way to say it.
  if ((e as { code?: unknown })?.code === "ECONNREFUSED") return `connection refused at ${where}`;
  if (cause instanceof TypeError || e instanceof TypeError) {
    // fetch's TypeError says "fetch failed"; what happened is in its causes.
    const parts: string[] = [];
    for (let x: unknown = cause ?? e, n = 0; x instanceof Error && n < 5; x = x.cause, n++) {
      parts.push(x.message);
    }
    const msg = parts.join(": ");
    if (addr.startsWith("unix:")) {
      let exists = true;
      try {
        Deno.statSync(where);
      } catch (err) {
        exists = !(err instanceof Deno.errors.NotFound);
      }
      if (!exists || /No such file|os error 2\b/i.test(msg)) {
        return `no socket at ${where} (is acond running?)`;
      }
      if (/refused|os error 111/i.test(msg)) {
        return `connection refused at ${where} (a socket file, but nothing listens on it)`;
      }
      if (/denied|os error 13/i.test(msg)) return `permission denied opening ${where}`;
      return `cannot reach acond at ${addr}: ${msg}`;
    }
    if (/refused|os error 111/i.test(msg)) return `connection refused at ${where}`;
    return `cannot reach acond at ${addr}: ${msg}`;
  }
  // An HTTP answer that is not Connect: Connect maps 404 to unimplemented, with "HTTP 404" text.
  const http = /HTTP (\d{3})/.exec(raw);
  if (http && (code === 12 || code === 2 || code === 14 || code === 13)) {
    return `not acond: HTTP ${http[1]} at ${urlOf(addr)}`;
  }
  return undefined;
}

/** Plain HTTP to the same daemon (the raw blob stream, src/api/blobstream.ts). */
export interface RawHttp {
  /** The address connect() was given (`unix:PATH`, `tcp:HOST:PORT`). */
  addr: string;
  baseUrl: string;
  fetch: typeof fetch;
  /** A new connection to the same daemon, for a request written by hand (./raw_put.ts). */
  dial(): Promise<Deno.Conn>;
  /** The Host header for it. */
  host: string;
}

const rawHttp = new WeakMap<AconClient, RawHttp>();

/** How to reach, with plain HTTP, the daemon a client made by connect() talks to. */
export function rawHttpOf(client: AconClient): RawHttp | undefined {
  return rawHttp.get(client);
}

/**
 * A client for `addr`. A `tcp:` address goes through `via` (cli/tls.ts: the forwarder that
 * verifies the attested certificate before anything is sent).
 */
export function connect(addr: string, via?: { socketPath: string }): AconClient {
  let fetchImpl: typeof fetch = fetch;
  let baseUrl = "http://localhost";
  let host = "localhost";
  let dial: () => Promise<Deno.Conn>;
  const path = addr.startsWith("unix:") ? addr.slice(5) : via?.socketPath;
  if (path !== undefined) {
    const client = Deno.createHttpClient({ proxy: { transport: "unix", path } });
    fetchImpl = (input, init) => fetch(input, { ...init, client });
    dial = () => Deno.connect({ transport: "unix", path });
  } else {
    host = addr.slice(4);
    baseUrl = `http://${host}`;
    const colon = host.lastIndexOf(":");
    const hostname = host.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
    const port = Number(host.slice(colon + 1));
    dial = () => Deno.connect({ transport: "tcp", hostname, port });
  }
  const client = createClient(
    AconService,
    createConnectTransport({ baseUrl, fetch: fetchImpl, useBinaryFormat: true }),
  );
  rawHttp.set(client, { addr, baseUrl, fetch: fetchImpl, dial, host });
  return client;
}
