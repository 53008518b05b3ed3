/**
 * Starts the real dist/acond in dev mode on a temporary root and socket, and gives tests real
 * clients for it: curl (Connect JSON) and connect-es (Connect JSON, binary, gRPC-web).
 */
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { AconService } from "../../src/gen/acon_pb.ts";
import { recoverRoot } from "../../src/container/recover.ts";
import { linuxSys } from "../../src/sys/linux.ts";
import { Layout } from "../../src/layout.ts";

export const TOP = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
export const ACOND = `${TOP}/dist/acond`;

export type AconClient = Client<typeof AconService>;
export type TransportKind = "connect-json" | "connect-binary" | "grpc-web";

export interface DevDaemon {
  root: string;
  socket: string;
  dir: string;
  proc: Deno.ChildProcess;
  client(kind?: TransportKind): AconClient;
  /** POSTs a Connect JSON body with curl over the socket; returns HTTP status and parsed body. */
  curl(method: string, body: unknown): Promise<{ status: number; body: unknown; raw: string }>;
  /** What the daemon wrote to stderr so far. */
  stderr(): string;
  stop(): Promise<void>;
  /** kill -9 of the daemon: nothing of its own shutdown runs; the root and its dir stay. */
  crash(): Promise<void>;
}

export interface DaemonOptions {
  args?: string[];
  env?: Record<string, string>;
  /**
   * Runs on this directory (root/ and acond.sock inside; an earlier daemon's, or made if absent)
   * instead of a new one, and leaves it in place on stop(): for restarting on the same root.
   */
  dir?: string;
}

export async function startDaemon(o: DaemonOptions = {}): Promise<DevDaemon> {
  const dir = o.dir ?? await Deno.makeTempDir({ prefix: "acond-test-" });
  const root = `${dir}/root`;
  const socket = `${dir}/acond.sock`;
  const proc = new Deno.Command(ACOND, {
    args: ["--dev", "--root", root, "--socket", socket, "--tee", "sim", ...(o.args ?? [])],
    env: o.env,
    stdout: "null",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  let log = "";
  const pump = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of proc.stderr) log += dec.decode(chunk, { stream: true });
  })();
  const httpClient = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
  const unixFetch: typeof fetch = (input, init) => fetch(input, { ...init, client: httpClient });
  const transports: Record<TransportKind, Transport> = {
    "connect-json": createConnectTransport({ baseUrl: "http://localhost", fetch: unixFetch }),
    "connect-binary": createConnectTransport({
      baseUrl: "http://localhost",
      fetch: unixFetch,
      useBinaryFormat: true,
    }),
    "grpc-web": createGrpcWebTransport({ baseUrl: "http://localhost", fetch: unixFetch }),
  };
  const d: DevDaemon = {
    root,
    socket,
    dir,
    proc,
    client: (kind = "connect-binary") => createClient(AconService, transports[kind]),
    async curl(method, body) {
      const out = await new Deno.Command("curl", {
        args: [
          "-sS",
          "--unix-socket",
          socket,
          "-H",
          "Content-Type: application/json",
          "--data-binary",
          "@-",
          "-w",
          "\n%{http_code}",
          `http://localhost/acon.grpc.AconService/${method}`,
        ],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const w = out.stdin.getWriter();
      await w.write(
        new TextEncoder().encode(typeof body === "string" ? body : JSON.stringify(body)),
      );
      await w.close();
      const r = await out.output();
      const text = new TextDecoder().decode(r.stdout);
      const nl = text.lastIndexOf("\n");
      const raw = text.slice(0, nl);
      let parsed: unknown = raw;
      try {
        parsed = JSON.parse(raw);
      } catch { /* not JSON */ }
      return { status: Number(text.slice(nl + 1)), body: parsed, raw };
    },
    stderr: () => log,
    async crash() {
      try {
        proc.kill("SIGKILL");
      } catch { /* already gone */ }
      await proc.status;
      await pump;
      httpClient.close();
    },
    async stop() {
      try {
        proc.kill("SIGTERM");
      } catch { /* already gone */ }
      // Generous: stopping containers whose init ignores SIGTERM takes the 2 s grace period and
      // more on a loaded machine; the tests assert what shutdown leaves, not how fast it is.
      let killed = false;
      const timer = setTimeout(() => {
        killed = true;
        try {
          proc.kill("SIGKILL");
        } catch { /* gone */ }
      }, 15000);
      await proc.status;
      clearTimeout(timer);
      await pump;
      httpClient.close();
      // A daemon killed before its shutdown ended leaves its containers running and their roots
      // mounted: clean up as a restarted daemon would, so no test leaves them on the machine.
      if (killed) {
        console.error(`acond did not stop within 15 s of SIGTERM; killed\n${log.slice(-3000)}`);
        await recoverRoot(linuxSys, new Layout(root), {
          procRoot: "/proc",
          sharedDir: `${root}/shared`,
        }).catch((e) => console.error(`clean-up of ${root}: ${e}`));
      }
      if (!o.dir) await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
  // Wait until Health answers (the daemon binds its socket only when ready).
  const deadline = Date.now() + 15000;
  for (;;) {
    try {
      await d.client().health({});
      return d;
    } catch (e) {
      if (Date.now() > deadline) {
        await d.stop();
        throw new Error(`acond did not come up: ${(e as Error).message}\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
