/** Connection to acond for aconctl: --socket PATH, --tcp HOST:PORT, or ACON_ADDR. */
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AconService } from "../gen/acon_pb.ts";

export type AconClient = Client<typeof AconService>;

export const DEFAULT_ADDR = "unix:/run/acond/acond.sock";

/** `unix:/path`, `/path` (a socket), `tcp:host:port` or `host:port`. */
export function resolveAddr(socket?: string, tcp?: string, env?: string): string {
  if (socket) return `unix:${socket}`;
  if (tcp) return `tcp:${tcp.replace(/^tcp:/, "")}`;
  if (env) {
    if (env.startsWith("unix:") || env.startsWith("tcp:")) return env;
    return env.startsWith("/") ? `unix:${env}` : `tcp:${env}`;
  }
  return DEFAULT_ADDR;
}

/** Plain HTTP to the same daemon (the raw blob stream, src/api/blobstream.ts). */
export interface RawHttp {
  baseUrl: string;
  fetch: typeof fetch;
}

const rawHttp = new WeakMap<AconClient, RawHttp>();

/** How to reach, with plain HTTP, the daemon a client made by connect() talks to. */
export function rawHttpOf(client: AconClient): RawHttp | undefined {
  return rawHttp.get(client);
}

export function connect(addr: string): AconClient {
  let fetchImpl: typeof fetch = fetch;
  let baseUrl = "http://localhost";
  if (addr.startsWith("unix:")) {
    const client = Deno.createHttpClient({ proxy: { transport: "unix", path: addr.slice(5) } });
    fetchImpl = (input, init) => fetch(input, { ...init, client });
  } else {
    baseUrl = `http://${addr.slice(4)}`;
  }
  const client = createClient(
    AconService,
    createConnectTransport({ baseUrl, fetch: fetchImpl, useBinaryFormat: true }),
  );
  rawHttp.set(client, { baseUrl, fetch: fetchImpl });
  return client;
}
