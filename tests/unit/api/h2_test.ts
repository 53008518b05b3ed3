/**
 * api/h2.ts and the engine choice in api/conn_limits.ts: the HTTP/2 preface test, the GOAWAY
 * filter (Deno 2.9.6's node:http2 aborts the process on a client's GOAWAY), and one listener
 * through serveListener that serves HTTP/2 with trailers and HTTP/1.1 alike, over plain TCP
 * (the preface tells) and over TLS (Deno.listenTls with a self-signed openssl certificate: ALPN
 * tells), checked with curl.
 */
import { assert, assertEquals, assertMatch } from "../../helpers/assert.ts";
import { GoawayFilter, H2_PREFACE, prefaceSoFar } from "../../../src/api/h2.ts";
import { DEFAULT_CONN_LIMITS, serveListener } from "../../../src/api/conn_limits.ts";
import { DescriptorBudget } from "../../../src/api/fd_budget.ts";
import { TrailedResponse } from "../../../src/api/trailers.ts";
import type { TlsCert } from "../../../src/api/tls_accept.ts";

Deno.test("prefaceSoFar: HTTP/2's preface, a prefix of it, or anything else", () => {
  assertEquals(prefaceSoFar(H2_PREFACE), "h2");
  assertEquals(prefaceSoFar(H2_PREFACE.subarray(0, 3)), "maybe");
  assertEquals(prefaceSoFar(new TextEncoder().encode("POST / HTTP/1.1\r\n")), "no");
  assertEquals(prefaceSoFar(new TextEncoder().encode("PRI * HTTP/1.1")), "no");
});

Deno.test("GoawayFilter: GOAWAY frames are taken out, every other byte passes, split anywhere", () => {
  const frame = (type: number, payload: number[]) => [
    0,
    0,
    payload.length,
    type,
    0,
    0,
    0,
    0,
    1,
    ...payload,
  ];
  const settings = frame(4, []);
  const headers = frame(1, [1, 2, 3]);
  const goaway = frame(7, [0, 0, 0, 0, 0, 0, 0, 0]);
  const data = frame(0, [9, 9]);
  const all = new Uint8Array([...H2_PREFACE, ...settings, ...goaway, ...headers, ...data]);
  const want = [...H2_PREFACE, ...settings, ...headers, ...data];
  for (const step of [1, 2, 5, 9, 10, 1000]) {
    const f = new GoawayFilter(0);
    const out: number[] = [];
    for (let i = 0; i < all.length; i += step) out.push(...f.push(all.subarray(i, i + step)));
    assertEquals(out, want, `chunks of ${step}`);
  }
});

async function curl(args: string[]): Promise<{ out: string; err: string }> {
  const r = await new Deno.Command("curl", { args: ["-sS", "-v", ...args], stderr: "piped" })
    .output();
  const d = new TextDecoder();
  return { out: d.decode(r.stdout), err: d.decode(r.stderr) };
}

/** A handler whose answer carries a trailer (as the gRPC routes' do), and the engine's name. */
const handler: Deno.ServeHandler = async (req) => {
  await req.body?.cancel();
  return new TrailedResponse("body\n", { status: 200 }, new Headers({ "x-trailer": "yes" }));
};

/** A self-signed openssl certificate for localhost and 127.0.0.1: dir/cert.pem, dir/key.pem. */
async function makeCert(dir: string): Promise<void> {
  const gen = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-days",
      "1",
      "-keyout",
      `${dir}/key.pem`,
      "-out",
      `${dir}/cert.pem`,
    ],
    stderr: "piped",
  }).output();
  assert(gen.success, new TextDecoder().decode(gen.stderr));
}

async function serveAndCall(
  listener: Deno.Listener,
  calls: (base: string) => Promise<void>,
  o: { tls?: TlsCert; handler?: Deno.ServeHandler; headerTimeoutMs?: number } = {},
) {
  const s = serveListener(
    listener,
    o.handler ?? handler,
    () => new Response("error", { status: 500 }),
    { ...DEFAULT_CONN_LIMITS, headerTimeoutMs: o.headerTimeoutMs ?? 10_000 },
    new DescriptorBudget(),
    "test",
    { tls: o.tls },
  );
  try {
    await calls(`${(listener.addr as Deno.NetAddr).port}`);
  } finally {
    await s.shutdown();
  }
}

Deno.test("one listener: h2c (trailers sent) and HTTP/1.1 (Deno's engine, no trailers)", async () => {
  await serveAndCall(Deno.listen({ hostname: "127.0.0.1", port: 0 }), async (port) => {
    const h2 = await curl(["--http2-prior-knowledge", `http://127.0.0.1:${port}/x`]);
    assertEquals(h2.out, "body\n");
    assertMatch(h2.err, /< HTTP\/2 200/);
    assertMatch(h2.err, /< x-trailer: yes/);
    const h1 = await curl(["--http1.1", `http://127.0.0.1:${port}/x`]);
    assertEquals(h1.out, "body\n");
    assertMatch(h1.err, /< HTTP\/1.1 200/);
  });
});

Deno.test("one TLS listener (self-signed openssl certificate): ALPN h2 gets trailers, http/1.1 is served too", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acond-tls-" });
  try {
    await makeCert(dir);
    const listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: await Deno.readTextFile(`${dir}/cert.pem`),
      key: await Deno.readTextFile(`${dir}/key.pem`),
      alpnProtocols: ["h2", "http/1.1"],
    });
    await serveAndCall(listener, async (port) => {
      // A client that fails the handshake (plain HTTP to the TLS port) only loses its connection.
      const plain = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
      await plain.write(new TextEncoder().encode("GET /x HTTP/1.1\r\nHost: x\r\n\r\n"));
      try {
        while ((await plain.read(new Uint8Array(1024))) !== null) { /* until closed */ }
      } catch { /* reset */ }
      plain.close();
      const url = `https://127.0.0.1:${port}/x`;
      const h2 = await curl(["--http2", "--cacert", `${dir}/cert.pem`, url]);
      assertEquals(h2.out, "body\n");
      assertMatch(h2.err, /ALPN.*h2/);
      assertMatch(h2.err, /< HTTP\/2 200/);
      assertMatch(h2.err, /< x-trailer: yes/);
      const h1 = await curl(["--http1.1", "--cacert", `${dir}/cert.pem`, url]);
      assertEquals(h1.out, "body\n");
      assertMatch(h1.err, /< HTTP\/1.1 200/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Whether the server closes `conn` within `ms` (a bound on the wait, not a timing claim). */
async function closedWithin(conn: Deno.Conn, ms: number): Promise<boolean> {
  const buf = new Uint8Array(4096);
  const timer = setTimeout(() => conn.close(), ms);
  try {
    while ((await conn.read(buf)) !== null) { /* the server's SETTINGS and GOAWAY */ }
    return true;
  } catch {
    return false; // closed by the timer
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

Deno.test("an HTTP/2 connection that sends no request within the header deadline is cut", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const s = serveListener(
    listener,
    handler,
    () => new Response("error", { status: 500 }),
    { ...DEFAULT_CONN_LIMITS, headerTimeoutMs: 300 },
    new DescriptorBudget(),
    "test",
  );
  try {
    const port = (listener.addr as Deno.NetAddr).port;
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    await c.write(new Uint8Array([...H2_PREFACE, 0, 0, 0, 4, 0, 0, 0, 0, 0]));
    assert(await closedWithin(c, 20_000), "the silent HTTP/2 connection was not cut");
  } finally {
    await s.shutdown();
  }
});

Deno.test("TLS terminated in-process (the vsock listener's path, here on TCP): h2 with trailers, http/1.1 through the bridge, 8 MiB bodies both ways, bad clients cut", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acond-tls-" });
  try {
    await makeCert(dir);
    const tls = {
      certPem: await Deno.readTextFile(`${dir}/cert.pem`),
      keyPem: await Deno.readTextFile(`${dir}/key.pem`),
    };
    // /echo answers the SHA-256 of what it got, then as much data back; others as `handler`.
    const echo: Deno.ServeHandler = async (req) => {
      if (!req.url.endsWith("/echo")) return handler(req, {} as Deno.ServeHandlerInfo);
      const body = new Uint8Array(await req.arrayBuffer());
      const hex = [...new Uint8Array(await crypto.subtle.digest("SHA-256", body))]
        .map((b) => b.toString(16).padStart(2, "0")).join("");
      return new Response(body, { headers: { "x-sha256": hex } });
    };
    const big = new Uint8Array(8 << 20).map((_, i) => (i * 7919) & 0xff);
    await Deno.writeFile(`${dir}/big`, big);
    const bigSha = [...new Uint8Array(await crypto.subtle.digest("SHA-256", big))]
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    await serveAndCall(listener, async (port) => {
      const url = `https://127.0.0.1:${port}`;
      const h2 = await curl(["--http2", "--cacert", `${dir}/cert.pem`, `${url}/x`]);
      assertEquals(h2.out, "body\n");
      assertMatch(h2.err, /ALPN.*h2/);
      assertMatch(h2.err, /< HTTP\/2 200/);
      assertMatch(h2.err, /< x-trailer: yes/);
      const h1 = await curl(["--http1.1", "--cacert", `${dir}/cert.pem`, `${url}/x`]);
      assertEquals(h1.out, "body\n");
      assertMatch(h1.err, /< HTTP\/1.1 200/);
      for (const v of ["--http1.1", "--http2"]) {
        const r = await new Deno.Command("curl", {
          args: [
            "-sS",
            v,
            "--cacert",
            `${dir}/cert.pem`,
            "--data-binary",
            `@${dir}/big`,
            "-D",
            "-",
            "-o",
            `${dir}/back`,
            `${url}/echo`,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        const head = new TextDecoder().decode(r.stdout);
        assert(r.success, new TextDecoder().decode(r.stderr));
        assertMatch(head, new RegExp(`x-sha256: ${bigSha}`), `${v}: what the server got`);
        assertEquals(await Deno.readFile(`${dir}/back`), big, `${v}: what came back`);
      }
      // Plain HTTP to the TLS port, TLS 1.1 only, and a client that never starts its handshake:
      // each loses its connection (the last at the header deadline); the listener goes on.
      const plain = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
      await plain.write(new TextEncoder().encode("GET /x HTTP/1.1\r\nHost: x\r\n\r\n"));
      assert(await closedWithin(plain, 20_000), "plain HTTP on the TLS port not closed");
      const old = await curl(["--tlsv1.0", "--tls-max", "1.1", "-k", `${url}/x`]);
      assertEquals(old.out, "");
      const silent = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
      assert(await closedWithin(silent, 20_000), "a silent client was not cut");
      assertEquals(
        (await curl(["--http2", "--cacert", `${dir}/cert.pem`, `${url}/x`])).out,
        "body\n",
      );
    }, { tls, handler: echo, headerTimeoutMs: 500 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
