/**
 * api/h1_unary.ts over a real Unix socket and the real listener (api/conn_limits.ts): every
 * unary case of tests/helpers/unary_cases.ts answered here is answered as Deno's engine answers
 * it (status, headers, body bytes), keep-alive and pipelined requests are answered in order, a
 * request this path does not take hands the connection to the engine with its bytes (and what
 * followed), and hostile clients (a head that never ends, a body that stalls, a flood of heads,
 * a client that goes away) are bounded.
 */
import { assert, assertEquals } from "../../helpers/assert.ts";
import { buildRoutes, type Handlers, mergeHandlers } from "../../../src/api/router.ts";
import { create, toBinary } from "@bufbuild/protobuf";
import { WriteBlobRequestSchema } from "../../../src/gen/acon_pb.ts";
import { handlerFor } from "../../../src/api/server.ts";
import {
  type ConnLimits,
  DEFAULT_CONN_LIMITS,
  serveListener,
} from "../../../src/api/conn_limits.ts";
import { DescriptorBudget } from "../../../src/api/fd_budget.ts";
import { coreOf, type UnaryCore } from "../../../src/api/unary.ts";
import { answerBytes, mayBeUnary } from "../../../src/api/h1_unary.ts";
import { MAX_HEAD } from "../../../src/api/h1_head.ts";
import { streamAddBlobRoute } from "../../../src/api/addblob_stream.ts";
import { budgetAddBlob } from "../../../src/api/bodygate.ts";
import { type Case, CASES, handlers, MAX, type Seen } from "../../helpers/unary_cases.ts";
import { post, type RawAnswer, RawHttp } from "../../helpers/rawhttp.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const P = "/acon.grpc.AconService/";

interface Served {
  path: string;
  /** Calls this path answered (not handed to the engine). */
  answered: number;
  seen: Seen;
}

interface ServerOptions {
  limits?: Partial<ConnLimits>;
  /** The handlers (default: tests/helpers/unary_cases.ts's, recording into `seen`). */
  handlers?: Handlers;
  readMaxBytes?: number;
}

async function withServer(fn: (s: Served) => Promise<void>, o: ServerOptions = {}): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "acond-h1u-" });
  const s: Served = { path: `${dir}/s`, answered: 0, seen: [] };
  const routes = buildRoutes(o.handlers ?? handlers(s.seen), o.readMaxBytes ?? MAX);
  const spy = (core: UnaryCore | undefined): UnaryCore | undefined =>
    core && {
      accepts: (h) => core.accepts(h),
      answer: async (c) => {
        const a = await core.answer(c);
        if (a) s.answered++;
        return a;
      },
    };
  const listener = Deno.listen({ transport: "unix", path: s.path });
  const served = serveListener(
    listener,
    handlerFor(routes),
    () => new Response("internal error\n", { status: 500 }),
    { ...DEFAULT_CONN_LIMITS, ...o.limits },
    new DescriptorBudget(),
    "test",
    { unary: (p) => spy(coreOf(routes.get(p))) },
  );
  try {
    await fn(s);
  } finally {
    await served.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}

/** A case as the bytes of one HTTP/1.1 request; `extra`: more header lines. */
function bytesOf(c: Case, extra: string[] = []): Uint8Array {
  const { url, method = "POST", headers = {}, body } = c.init;
  const target = url ? new URL(url).pathname + new URL(url).search : P + c.method;
  const b = body === undefined || body === null
    ? new Uint8Array(0)
    : typeof body === "string"
    ? enc.encode(body)
    : body as Uint8Array;
  const lines = [`${method} ${target} HTTP/1.1`, "host: localhost"];
  for (const [k, v] of Object.entries(headers as Record<string, string>)) lines.push(`${k}: ${v}`);
  if (method !== "GET") lines.push(`content-length: ${b.length}`);
  const head = enc.encode([...lines, ...extra].join("\r\n") + "\r\n\r\n");
  const out = new Uint8Array(head.length + b.length);
  out.set(head);
  out.set(b, head.length);
  return out;
}

/** What two answers must share: status, headers but the per-answer ones, body. */
function comparable(a: RawAnswer, framing = true) {
  const skip = new Set(["date", "connection", "keep-alive"]);
  // HTTP/2 frames a body itself: node:http2 sends no content-length where hyper sends 0.
  if (!framing) skip.add("content-length");
  return {
    status: a.status,
    headers: a.headers.filter(([k]) => !skip.has(k)).sort(),
    body: dec.decode(a.body),
  };
}

async function exchange(path: string, bytes: Uint8Array): Promise<RawAnswer> {
  const c = await RawHttp.unix(path);
  try {
    await c.send(bytes);
    const a = await c.answer();
    assert(a !== null, "no answer");
    return a;
  } finally {
    c.close();
  }
}

/** The calls the handlers saw (not the context lines and the ends that Health records too). */
const calls = (seen: Seen) => seen.filter((x) => !x.startsWith("context ") && x !== "health ended");

/** An option the engine ignores and this path does not take: forces the engine. */
const ENGINE = "connection: keep-alive, x-engine";

Deno.test("h1 unary: every case answered here is answered as Deno's engine answers it", () =>
  withServer(async (s) => {
    const ours: string[] = [];
    for (const c of CASES) {
      // The engine compresses for a client that accepts it; this path never does.
      if (JSON.stringify(c.init.headers ?? {}).includes("accept-encoding")) continue;
      const before = s.answered;
      const a = await exchange(s.path, bytesOf(c));
      if (s.answered > before) ours.push(c.name);
      const engineBefore = s.answered;
      const b = await exchange(s.path, bytesOf(c, [ENGINE]));
      assertEquals(s.answered, engineBefore, `${c.name}: the engine answered it`);
      assertEquals(comparable(a), comparable(b), c.name);
    }
    // Calls that parse are this path's, errors included; what connect-es alone handles is not.
    const here = (m: string, part: string) => ours.some((n) => n.startsWith(m) && n.includes(part));
    for (const [m, part] of [["Health", "{}"], ["Inspect", '"containerId": 7'], ["Inspect", "8"]]) {
      assert(here(`${m} json`, part), `${m} ${part} answered here: ${ours.join(" | ")}`);
    }
    assert(here("Inspect binary", ""), "a binary call answered here");
    for (
      const part of [
        "connect-timeout-ms",
        'content-encoding":"gzip',
        "x-acond-malformed",
        "{not json",
      ]
    ) {
      assert(!here("", part), `${part} left to the engine: ${ours.join(" | ")}`);
    }
    assert(!ours.includes("GET Health") && !ours.includes("PUT Health"));
    assert(ours.length >= 12, `answered here: ${ours.length}`);
    assert(s.seen.includes("health p1 connect"), s.seen.join());
  }));

Deno.test("h1 unary: keep-alive and pipelined requests are answered in order on one connection", () =>
  withServer(async (s) => {
    const c = await RawHttp.unix(s.path);
    try {
      await c.send(post(`${P}Health`, "{}", ["x-probe: one"]));
      assertEquals((await c.answer())?.status, 200);
      // Three at once, split mid-head from the next write.
      const three = [
        post(`${P}Inspect`, '{"containerId": 3}'),
        post(`${P}Inspect`, '{"containerId": 7}'),
        post(`${P}Health`, "{}", ["x-probe: three"]),
      ];
      const all = new Uint8Array(three.reduce((n, b) => n + b.length, 0));
      let at = 0;
      for (const b of three) (all.set(b, at), at += b.length);
      await c.send(all.subarray(0, 50));
      await new Promise((r) => setTimeout(r, 20));
      await c.send(all.subarray(50));
      const got = [await c.answer(), await c.answer(), await c.answer()];
      assertEquals(got.map((a) => a?.status), [200, 404, 200]);
      assert(dec.decode(got[1]!.body).includes("no container 7"));
      assertEquals(s.answered, 4);
      assertEquals(calls(s.seen), [
        "health one connect",
        "inspect 3",
        "inspect 7",
        "health three connect",
      ]);
    } finally {
      c.close();
    }
  }));

Deno.test("h1 unary: a request this path does not take hands the connection, with what followed, to the engine", () =>
  withServer(async (s) => {
    const c = await RawHttp.unix(s.path);
    try {
      await c.send(post(`${P}Health`, "{}"));
      assertEquals((await c.answer())?.status, 200);
      // A chunked body (the engine's), then a plain one right behind it: both the engine's now.
      const chunked = `POST ${P}Inspect HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n` +
        `transfer-encoding: chunked\r\n\r\n8\r\n{"contai\r\na\r\nnerId": 3}\r\n0\r\n\r\n`;
      await c.send(enc.encode(chunked));
      await c.send(post(`${P}Inspect`, '{"containerId": 9}'));
      const a = await c.answer();
      const b = await c.answer();
      assertEquals([a?.status, b?.status], [200, 200]);
      assertEquals(s.answered, 1, "only the first was answered here");
      assertEquals(calls(s.seen), ["health - connect", "inspect 3", "inspect 9"]);
    } finally {
      c.close();
    }
    // Heads this path leaves alone, each on its own connection: the engine's answer comes back.
    const odd: [string, string][] = [
      ["GET", `GET ${P}Health HTTP/1.1\r\nhost: x\r\n\r\n`],
      [
        "Expect",
        `POST ${P}Health HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n` +
        `expect: 100-continue\r\ncontent-length: 2\r\n\r\n{}`,
      ],
      [
        "two lengths",
        `POST ${P}Health HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n` +
        `content-length: 2\r\ncontent-length: 2\r\n\r\n{}`,
      ],
      [
        "dot segment",
        `POST /acon.grpc.AconService/../acon.grpc.AconService/Health HTTP/1.1\r\n` +
        `host: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}`,
      ],
      ["unknown route", `POST ${P}NoSuch HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n`],
      [
        "over the read limit",
        `POST ${P}Health HTTP/1.1\r\nhost: x\r\n` +
        `content-type: application/json\r\ncontent-length: ${MAX + 1}\r\n\r\n${
          "x".repeat(MAX + 1)
        }`,
      ],
      [
        "upgrade",
        `POST ${P}Health HTTP/1.1\r\nhost: x\r\nupgrade: h2c\r\nconnection: upgrade\r\n` +
        `content-type: application/json\r\ncontent-length: 2\r\n\r\n{}`,
      ],
    ];
    for (const [name, req] of odd) {
      const before: number = s.answered;
      const a = await exchange(s.path, enc.encode(req));
      assertEquals(s.answered, before, `${name}: not answered here`);
      assert(a.status >= 200, name);
    }
    // Bare LF line ends: whatever the engine answers, this path did not.
    const c2 = await RawHttp.unix(s.path);
    await c2.send(`POST ${P}Health HTTP/1.1\nhost: x\ncontent-length: 2\n\n{}`);
    await c2.answer();
    c2.close();
    assertEquals(s.answered, 1);
  }));

Deno.test("h1 unary: connection close is honoured; a graceful shutdown ends idle keep-alive connections", async () => {
  await withServer(async (s) => {
    const c = await RawHttp.unix(s.path);
    await c.send(post(`${P}Health`, "{}", ["connection: close"]));
    const a = await c.answer();
    assertEquals(a?.headers.find(([k]) => k === "connection")?.[1], "close");
    assert(await c.closedWithin(2000), "closed after the answer");
    c.close();
  });
  // Shutdown (withServer's end) with a keep-alive connection idle: it is closed, promptly.
  let idle: RawHttp | undefined;
  const t0 = Date.now();
  await withServer(async (s) => {
    idle = await RawHttp.unix(s.path);
    await idle.send(post(`${P}Health`, "{}"));
    assertEquals((await idle.answer())?.status, 200);
  });
  assert(Date.now() - t0 < DEFAULT_CONN_LIMITS.shutdownGraceMs + 1500, "shutdown waited");
  assert(await idle!.closedWithin(1000));
  idle!.close();
});

Deno.test("h1 unary: hostile clients are bounded (a head that never ends, a stalled body, an idle connection)", () =>
  withServer(async (s) => {
    // A head longer than MAX_HEAD: the engine's to refuse; never answered here.
    const long = await RawHttp.unix(s.path);
    await long.send(`POST ${P}Health HTTP/1.1\r\nx-pad: ${"a".repeat(MAX_HEAD)}\r\n\r\n`);
    const la = await long.answer();
    assert(la === null || la.status >= 400, `long head: ${la?.status}`);
    long.close();
    // A body that stops short of its Content-Length: cut after the idle deadline.
    const stalled = await RawHttp.unix(s.path);
    const t0 = Date.now();
    await stalled.send(post(`${P}Inspect`, '{"containerId": 3}').slice(0, -4));
    assert(await stalled.closedWithin(5000), "a stalled body is cut");
    assert(Date.now() - t0 >= 250, "not before its deadline");
    stalled.close();
    // Served once, then silent: cut at the header deadline.
    const quiet = await RawHttp.unix(s.path);
    await quiet.send(post(`${P}Health`, "{}"));
    assertEquals((await quiet.answer())?.status, 200);
    assert(await quiet.closedWithin(5000), "an idle keep-alive connection is cut");
    quiet.close();
    // A client that sends and leaves: the daemon goes on.
    for (let i = 0; i < 20; i++) {
      const gone = await RawHttp.unix(s.path);
      await gone.send(post(`${P}Health`, "{}"));
      gone.close();
    }
    assertEquals((await exchange(s.path, post(`${P}Health`, "{}"))).status, 200);
    assertEquals(s.seen.filter((x) => x.startsWith("inspect")), [], "the stalled call never ran");
  }, { limits: { bodyIdleTimeoutMs: 300, headerTimeoutMs: 600 } }));

Deno.test("h1 unary: answerBytes frames the answer; mayBeUnary", () => {
  const a = dec.decode(
    answerBytes({
      status: 404,
      headers: new Headers({ "content-type": "application/json", "content-length": "99" }),
      body: enc.encode("{}"),
    }, true),
  );
  assert(a.startsWith("HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n"), a);
  assert(a.includes("\r\ncontent-length: 2\r\n"), "the body's own length, once");
  assertEquals(a.match(/content-length/g)?.length, 1);
  assert(a.endsWith("connection: close\r\n\r\n{}"), a);
  assert(mayBeUnary(enc.encode("PO")));
  assert(!mayBeUnary(enc.encode("PUT /")));
});

/** One request over h2c (curl, prior knowledge) on the Unix socket: status, headers, body. */
async function h2c(path: string, c: Case): Promise<RawAnswer> {
  const { url, method = "POST", headers = {}, body } = c.init;
  const target = url ? new URL(url).pathname + new URL(url).search : P + c.method;
  const dir = await Deno.makeTempDir();
  try {
    const args = ["-s", "--http2-prior-knowledge", "--unix-socket", path, "-X", method];
    args.push("-D", `${dir}/head`, "-o", `${dir}/body`);
    for (const [k, v] of Object.entries(headers as Record<string, string>)) {
      args.push("-H", `${k}: ${v}`);
    }
    if (body !== undefined && body !== null) {
      await Deno.writeFile(
        `${dir}/req`,
        typeof body === "string" ? enc.encode(body) : body as Uint8Array,
      );
      args.push("--data-binary", `@${dir}/req`);
    }
    args.push(`http://localhost${target}`);
    const out = await new Deno.Command("curl", { args }).output();
    assert(out.success, `curl: ${dec.decode(out.stderr)}`);
    const lines = (await Deno.readTextFile(`${dir}/head`)).split("\r\n").filter((l) => l !== "");
    const status = Number(/^HTTP\/2 (\d{3})/.exec(lines[0])?.[1]);
    const hs = lines.slice(1).map((l) => {
      const i = l.indexOf(":");
      return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()] as [string, string];
    });
    return { status, headers: hs, body: await Deno.readFile(`${dir}/body`) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("h2c unary: every case answered by the core is answered as the route answers it", () =>
  withServer(async (s) => {
    const ours: string[] = [];
    for (const c of CASES) {
      if (JSON.stringify(c.init.headers ?? {}).includes("accept-encoding")) continue;
      const before = s.answered;
      const a = await h2c(s.path, c);
      if (s.answered > before) ours.push(c.name);
      // The route's answer: over HTTP/1.1 through Deno's engine.
      const engineBefore = s.answered;
      const b = await exchange(s.path, bytesOf(c, [ENGINE]));
      assertEquals(s.answered, engineBefore);
      assertEquals(comparable(a, false), comparable(b, false), c.name);
    }
    assert(ours.some((n) => n.startsWith("Health json {}")), ours.join(" | "));
    assert(ours.some((n) => n.startsWith("Inspect binary")), ours.join(" | "));
    assert(!ours.some((n) => n.includes("connect-timeout-ms") || n.includes("{not json")));
    assert(ours.length >= 12, `answered by the core: ${ours.length}`);
  }));

Deno.test("AddBlob keeps its own route (the body budget, the streamed extraction): no core answers it", () => {
  const routes = buildRoutes(handlers([]), MAX);
  assert(coreOf(routes.get(`${P}AddBlob`)) !== undefined, "built with a core");
  streamAddBlobRoute(routes, () => Promise.reject(new Error("not here")), {
    readMaxBytes: MAX,
    idleMs: 1000,
  });
  budgetAddBlob(routes, MAX);
  assertEquals(coreOf(routes.get(`${P}AddBlob`)), undefined);
  assert(coreOf(routes.get(`${P}WriteBlob`)) !== undefined);
  assert(coreOf(routes.get(`${P}Health`)) !== undefined);
});

Deno.test("h1 unary: large bodies (WriteBlob chunks) pipelined on one connection each keep their own bytes", () => {
  const kept: Uint8Array[] = [];
  const writeBlob = async (req: { data: Uint8Array }) => {
    kept.push(req.data); // a view into the request body, used after the answer (as uploads do)
    await new Promise((r) => setTimeout(r, 5));
    return {};
  };
  return withServer(async (s) => {
    // Sizes that make the buffer grow with room to spare, so that later reads land after a large
    // body and a later compaction would move bytes over it.
    const sizes = [20_000, 50_000, 70_000, 100_000, 65_536, 300_000, 100];
    const chunk = (i: number) => {
      const d = new Uint8Array(sizes[i]);
      for (let j = 0; j < d.length; j++) d[j] = (i * 37 + j * 13) & 0xff;
      return d;
    };
    const reqs = sizes.map((_, i) =>
      post(
        `${P}WriteBlob`,
        toBinary(WriteBlobRequestSchema, create(WriteBlobRequestSchema, { data: chunk(i) })),
        ["content-type: application/proto"],
      )
    );
    const all = new Uint8Array(reqs.reduce((n, r) => n + r.length, 0));
    let at = 0;
    for (const r of reqs) (all.set(r, at), at += r.length);
    const c = await RawHttp.unix(s.path);
    await c.send(all);
    for (let i = 0; i < sizes.length; i++) assertEquals((await c.answer())?.status, 200);
    c.close();
    assertEquals(s.answered, sizes.length, "all answered here");
    assertEquals(kept.length, sizes.length);
    for (let i = 0; i < sizes.length; i++) assertEquals(kept[i], chunk(i), `chunk ${i}`);
  }, { handlers: mergeHandlers([{ writeBlob }]), readMaxBytes: 1 << 20 });
});

Deno.test("h1 and h2c unary: a declared Content-Length reserves no memory before its bytes come", () => {
  const limit = 64 << 20;
  return withServer(async (s) => {
    const conns: RawHttp[] = [];
    const curls: Deno.ChildProcess[] = [];
    try {
      const before = Deno.memoryUsage().external;
      const head = `POST ${P}Health HTTP/1.1\r\nhost: x\r\ncontent-type: application/proto\r\n` +
        `content-length: ${limit - 1}\r\n\r\n`;
      for (let i = 0; i < 16; i++) {
        const c = await RawHttp.unix(s.path);
        await c.send(head);
        conns.push(c);
      }
      // h2c: curl declares the length and sends the body slowly (1 KiB/s).
      for (let i = 0; i < 4; i++) {
        const big = `${s.path}.big${i}`;
        await Deno.writeFile(big, new Uint8Array(0));
        await Deno.truncate(big, limit - 1); // sparse: no buffer of that size here
        curls.push(
          new Deno.Command("curl", {
            args: [
              "-s",
              "--http2-prior-knowledge",
              "--unix-socket",
              s.path,
              "--limit-rate",
              "1K",
              "-H",
              "content-type: application/proto",
              "--data-binary",
              `@${big}`,
              `http://localhost${P}Health`,
            ],
            stdout: "null",
            stderr: "null",
          }).spawn(),
        );
      }
      await new Promise((r) => setTimeout(r, 1500));
      const grown = Deno.memoryUsage().external - before;
      assert(grown < 64 << 20, `external memory grew by ${(grown / 2 ** 20).toFixed(0)} MiB`);
    } finally {
      for (const c of conns) c.close();
      for (const p of curls) {
        try {
          p.kill();
        } catch { /* gone */ }
        await p.status;
      }
    }
  }, { handlers: handlers([]), readMaxBytes: limit });
});

/** An HTTP/2 frame: 9-byte header (length, type, flags, stream id), then the payload. */
function h2Frame(type: number, flags: number, stream: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(9 + payload.length);
  f.set([payload.length >> 16, (payload.length >> 8) & 0xff, payload.length & 0xff, type, flags]);
  new DataView(f.buffer).setUint32(5, stream);
  f.set(payload, 9);
  return f;
}

/** An HPACK block of literal fields, never indexed, no Huffman (RFC 7541 §6.2.2). */
function hpack(fields: [string, string][]): Uint8Array {
  const out: number[] = [];
  for (const [k, v] of fields) {
    out.push(0x00, k.length, ...enc.encode(k), v.length, ...enc.encode(v));
  }
  return new Uint8Array(out);
}

Deno.test("h2c unary: a body that stalls is cut after the idle deadline, and its call never runs", () =>
  withServer(async (s) => {
    // Frames by hand: the client must keep its stream open and see the connection go.
    const c = await Deno.connect({ transport: "unix", path: s.path });
    const t0 = Date.now();
    const headers = hpack([
      [":method", "POST"],
      [":scheme", "http"],
      [":path", `${P}Inspect`],
      [":authority", "localhost"],
      ["content-type", "application/json"],
      ["content-length", "100"],
    ]);
    const bytes = [
      enc.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
      h2Frame(0x4, 0, 0, new Uint8Array(0)), // SETTINGS
      h2Frame(0x1, 0x4, 1, headers), // HEADERS, END_HEADERS
      h2Frame(0x0, 0, 1, enc.encode('{"containerId": 3')), // DATA, the stream stays open
    ];
    for (const b of bytes) await c.write(b);
    const buf = new Uint8Array(4096);
    let closed = false;
    const deadline = setTimeout(() => c.close(), 5000);
    try {
      while ((await c.read(buf).catch(() => null)) !== null) { /* the server's frames */ }
      closed = Date.now() - t0 < 5000;
    } finally {
      clearTimeout(deadline);
      try {
        c.close();
      } catch { /* closed */ }
    }
    assert(closed, "the stalled stream's connection was cut");
    assert(Date.now() - t0 >= 250, "not before its deadline");
    assertEquals(calls(s.seen), [], "the call never ran");
    assertEquals((await exchange(s.path, post(`${P}Health`, "{}"))).status, 200);
  }, { limits: { bodyIdleTimeoutMs: 300 } }));
