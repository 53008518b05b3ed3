/**
 * One set of requests over every transport of the API, with identical answers: Connect JSON
 * Health (fetch), a binary Connect call (connect-es), an unknown RPC (404) and the raw layer PUT
 * (the `…/blobs/` prefix route, api/blobstream.ts: its own JSON answer for an unknown upload, not
 * the router's 404). The real dist/acond in dev mode serves its Unix socket, TCP and, where this
 * machine has /dev/vsock, vsock (`--vsock PORT`).
 *
 * vsock is reached over loopback (CID 1) when the host kernel has a loopback transport
 * (vsock_loopback). Where it has none (a guest kernel with only virtio's transport: connecting to
 * CID 1 times out), the vsock listener cannot be called from here; the test then says so in its
 * step name and covers vsock by serving it through serveVsock over a loopback TCP socket (a
 * stand-in for Deno.listen), on the route table of a daemon run in this process
 * (src/daemon.ts's startDaemon, dev platform, TEE sim: the code dist/acond runs).
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { assertEquals, assertOk } from "../helpers/assert.ts";
import { startDaemon } from "../helpers/daemon.ts";
import { AconService } from "../../src/gen/acon_pb.ts";
import { startDaemon as startInProcess } from "../../src/daemon.ts";
import { serveVsock } from "../../src/api/server.ts";
import type { PeerGuard } from "../../src/api/peer.ts";

const API = "/acon.grpc.AconService";

interface Transport {
  name: string;
  baseUrl: string;
  fetch: typeof fetch;
  close(): void | Promise<void>;
}

function freeTcpPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

function viaClient(name: string, baseUrl: string, client: Deno.HttpClient): Transport {
  return {
    name,
    baseUrl,
    fetch: (input, init) => fetch(input, { ...init, client }),
    close: () => client.close(),
  };
}

/** Whether the daemon's vsock listener answers over loopback (CID 1) within a few seconds. */
async function vsockLoopback(port: number): Promise<Transport | null> {
  const t = viaClient(
    `vsock (loopback CID 1, port ${port})`,
    "http://localhost",
    Deno.createHttpClient({ proxy: { transport: "vsock", cid: 1, port } }),
  );
  try {
    const r = await t.fetch(`${t.baseUrl}${API}/Health`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
      signal: AbortSignal.timeout(5000),
    });
    await r.body?.cancel();
    if (r.ok) return t;
  } catch { /* no loopback transport: connect times out or is refused */ }
  t.close();
  return null;
}

/**
 * vsock without a kernel to carry it (see the header): serveVsock runs with a stand-in for
 * Deno.listen that records the options and listens on loopback TCP instead; requests go over
 * that socket through serveVsock's accept loop, its TLS (terminated in-process, as on vsock,
 * with the daemon's attested certificate) and handler.
 */
async function vsockHandler(port: number): Promise<Transport> {
  const dir = await Deno.makeTempDir({ prefix: "acond-test-" });
  const daemon = await startInProcess({
    root: `${dir}/root`,
    socket: `${dir}/acond.sock`,
    // A TCP listener makes the daemon make its attested certificate, which vsock serves too.
    tcp: { hostname: "127.0.0.1", port: 0 },
    tee: "sim",
    minHash: "sha384",
    pid1: false,
    maxRequestBytes: 64 << 20,
    logLevel: "warn",
  });
  const cert = await daemon.tls;
  assertOk(cert !== null, "the daemon made its attested certificate");
  let options: unknown;
  let tcp: Deno.Listener | undefined;
  const real = Deno.listen;
  (Deno as { listen: unknown }).listen = (o: unknown) => {
    options = o;
    return tcp = real({ hostname: "127.0.0.1", port: 0 });
  };
  let listener;
  try {
    // The stand-in's peers arrive over TCP; to the vsock guard they are the host (CID 2), which
    // it lets through (a container's vsock peer is refused: tests/unit/api/peer_test.ts).
    const guard: PeerGuard = (_remote, local) =>
      daemon.peerGuards.vsock({ transport: "vsock", cid: 2, port: 1024 }, local);
    listener = serveVsock(port, daemon.routes, guard, daemon.serveConfig, cert);
  } finally {
    (Deno as { listen: unknown }).listen = real;
  }
  assertEquals(options, { transport: "vsock", cid: -1, port });
  const client = Deno.createHttpClient({ caCerts: [cert.certPem] });
  const tcpPort = (tcp!.addr as Deno.NetAddr).port;
  return {
    name: "vsock (no vsock loopback here: serveVsock's accept loop and TLS over a TCP stand-in)",
    baseUrl: `https://localhost:${tcpPort}`,
    fetch: (input, init) => fetch(input, { ...init, client }),
    async close() {
      client.close();
      await listener.shutdown();
      await daemon.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** What a transport answered, minus the one thing that differs between calls (uptime). */
async function answers(t: Transport): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const text = async (r: Response) => ({
    status: r.status,
    type: r.headers.get("content-type"),
    body: await r.text(),
  });
  const post = (method: string, body: string) =>
    t.fetch(`${t.baseUrl}${API}/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });

  const health = await text(await post("Health", "{}"));
  const { uptimeMs, ...rest } = JSON.parse(health.body);
  assertOk(typeof uptimeMs === "string", `${t.name}: Health JSON has uptimeMs`);
  out.healthJson = { ...health, body: rest };

  const client = createClient(
    AconService,
    createConnectTransport({ baseUrl: t.baseUrl, fetch: t.fetch, useBinaryFormat: true }),
  );
  const { uptimeMs: _up, ...binary } = await client.health({});
  out.healthBinary = binary;

  out.unknown = await text(await post("NoSuchMethod", "{}"));

  const put = await t.fetch(`${t.baseUrl}${API}/blobs/${"0".repeat(32)}`, {
    method: "PUT",
    body: new Uint8Array(16),
  });
  out.blobPut = await text(put);
  return out;
}

Deno.test("the same requests get the same answers over unix, TCP and vsock", async (t) => {
  const tcpPort = freeTcpPort();
  // vsock ports are their own space; a random high one keeps parallel runs apart.
  const vsockPort = 20000 + Math.floor(Math.random() * 40000);
  let hasVsock = false;
  try {
    hasVsock = Deno.statSync("/dev/vsock").isCharDevice === true;
  } catch { /* no vsock at all */ }
  // Plain HTTP on TCP (--tls off): connect-es's fetch transports cannot pin the attested
  // certificate (tests/integration/attested_tls_test.ts covers TLS).
  const args = [
    "--tcp",
    `127.0.0.1:${tcpPort}`,
    "--tls",
    "off",
    ...(hasVsock ? ["--vsock", `${vsockPort}`] : []),
  ];
  const d = await startDaemon({ args });
  const transports: Transport[] = [];
  try {
    transports.push(
      viaClient(
        "unix",
        "http://localhost",
        Deno.createHttpClient({ proxy: { transport: "unix", path: d.socket } }),
      ),
      {
        name: "tcp",
        baseUrl: `http://127.0.0.1:${tcpPort}`,
        fetch: (input, init) => fetch(input, init),
        close: () => {},
      },
    );
    if (hasVsock) assertOk(d.stderr().includes(`serving on vsock:${vsockPort}`), d.stderr());
    transports.push(
      (hasVsock ? await vsockLoopback(vsockPort) : null) ?? await vsockHandler(vsockPort),
    );

    let reference: Record<string, unknown> | null = null;
    for (const tr of transports) {
      await t.step(tr.name, async () => {
        const a = await answers(tr);
        const health = a.healthJson as { status: number; body: Record<string, unknown> };
        assertEquals(health.status, 200);
        assertEquals(health.body.tee, "sim");
        assertEquals((a.healthBinary as { tee: string }).tee, "sim");
        assertEquals(a.unknown, {
          status: 404,
          type: "text/plain",
          body: `no such RPC: ${API}/NoSuchMethod\n`,
        });
        // The blob route answered (its JSON error), not the router's 404 for a path it lacks.
        assertEquals(a.blobPut, {
          status: 404,
          type: "application/json",
          body: JSON.stringify({ code: "not_found", message: "Unknown or expired upload id" }),
        });
        if (reference) assertEquals(a, reference, `${tr.name} answers as ${transports[0].name}`);
        else reference = a;
      });
    }
  } finally {
    for (const tr of transports) await tr.close();
    await d.stop();
  }
});
