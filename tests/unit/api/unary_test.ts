/**
 * api/unary.ts answers as connect-es's own Connect unary handler does: every request below is sent
 * to the routes built with the fast path and to routes built without it (`fast: false`, every call
 * through connect-es), and the two answers must be the same (status, headers, body bytes); what
 * each handler saw must be the same too. Cases: JSON and binary, handler errors (Connect codes,
 * metadata, a plain throw), response headers and trailers set by the handler, bodies that do not
 * parse or are too large, and requests the fast path leaves to connect-es (GET, a stream
 * content-type, a timeout, compression, the malformed mark smuggled by a client, an unknown type).
 */
import { assert, assertEquals } from "../../helpers/assert.ts";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { create, toBinary } from "@bufbuild/protobuf";
import { buildRoutes, type Handlers, mergeHandlers } from "../../../src/api/router.ts";
import { InspectRequestSchema } from "../../../src/gen/acon_pb.ts";

const BASE = "http://x/acon.grpc.AconService/";
const MAX = 4096;

/** What the handlers saw, per build. */
type Seen = string[];

function handlers(seen: Seen): Handlers {
  return mergeHandlers([{
    health: (_req: unknown, ctx: HandlerContext) => {
      seen.push(`health ${ctx.requestHeader.get("x-probe") ?? "-"} ${ctx.protocolName}`);
      ctx.responseHeader.set("x-answer", "yes");
      ctx.responseTrailer.set("x-trailer", "t");
      return { version: "1.2.3" };
    },
    inspect: (req: { containerId: number }) => {
      seen.push(`inspect ${req.containerId}`);
      if (req.containerId === 7) {
        throw new ConnectError("no container 7", Code.NotFound, { "x-why": "gone" });
      }
      if (req.containerId === 8) throw new Error("a bug");
      return { info: [] };
    },
    getManifest: () => {
      throw new ConnectError("wire", Code.PermissionDenied);
    },
  }]);
}

interface Case {
  name: string;
  method: string;
  init: RequestInit & { url?: string };
}

const json = (method: string, body: string, headers: Record<string, string> = {}): Case => ({
  name: `${method} json ${body.slice(0, 30)} ${JSON.stringify(headers)}`,
  method,
  init: { method: "POST", headers: { "content-type": "application/json", ...headers }, body },
});

const bin = (method: string, body: Uint8Array, headers: Record<string, string> = {}): Case => ({
  name: `${method} binary ${body.length} B ${JSON.stringify(headers)}`,
  method,
  init: {
    method: "POST",
    headers: { "content-type": "application/proto", ...headers },
    body: body as Uint8Array<ArrayBuffer>,
  },
});

const inspect = (id: number) =>
  toBinary(InspectRequestSchema, create(InspectRequestSchema, { containerId: id }));

const CASES: Case[] = [
  json("Health", "{}"),
  json("Health", "{}", { "x-probe": "p1" }),
  json("Health", "", {}),
  json("Health", "{}", { "content-type": "application/json; charset=utf-8" }),
  bin("Health", new Uint8Array(0)),
  json("Inspect", '{"containerId": 3}'),
  json("Inspect", '{"containerId": 7}'),
  json("Inspect", '{"containerId": 8}'),
  json("Inspect", '{"containerId": "x"}'),
  json("Inspect", '{"noSuchField": 1}'),
  json("Inspect", "{not json"),
  json("Inspect", `{"containerId": 1, "pad": "${"a".repeat(MAX)}"}`),
  bin("Inspect", inspect(3)),
  bin("Inspect", inspect(7)),
  bin("Inspect", new Uint8Array([0x08])), // truncated varint: malformed
  bin("Inspect", new Uint8Array([0xff, 0xff, 0xff])),
  bin("Inspect", new Uint8Array(MAX + 10)),
  json("GetManifest", "{}"),
  json("Reboot", "{}"), // no implementation: unimplemented
  // Left to connect-es.
  json("Health", "{}", { "connect-timeout-ms": "5000" }),
  json("Health", "{}", { "connect-timeout-ms": "bogus" }),
  json("Health", "{}", { "content-encoding": "gzip" }),
  json("Health", "{}", { "content-encoding": "identity" }),
  json("Health", "{}", { "x-acond-malformed": "smuggled" }),
  json("Inspect", '{"containerId": 3}', { "x-acond-malformed": "smuggled" }),
  json("Health", "{}", { "content-type": "application/connect+json" }),
  json("Health", "{}", { "content-type": "text/plain" }),
  json("Health", "{}", { "connect-protocol-version": "1" }),
  json("Health", "{}", { "accept-encoding": "gzip" }),
  {
    name: "GET Health",
    method: "Health",
    init: { method: "GET", url: `${BASE}Health?encoding=json&message=%7B%7D` },
  },
  { name: "PUT Health", method: "Health", init: { method: "PUT", body: "{}" } },
];

async function answer(routes: ReturnType<typeof buildRoutes>, c: Case) {
  const { url, ...init } = c.init;
  const res = await routes.get(`/acon.grpc.AconService/${c.method}`)!(
    new Request(url ?? BASE + c.method, init),
  );
  const headers = [...res.headers].filter(([k]) => k !== "date").sort();
  return { status: res.status, headers, body: new Uint8Array(await res.arrayBuffer()) };
}

Deno.test("unary fast path: every answer is connect-es's own, byte for byte", async () => {
  const seenFast: Seen = [], seenFull: Seen = [];
  const fast = buildRoutes(handlers(seenFast), MAX);
  const full = buildRoutes(handlers(seenFull), MAX, undefined, { fast: false });
  for (const c of CASES) {
    const a = await answer(fast, c);
    const b = await answer(full, c);
    assertEquals(a.status, b.status, c.name);
    assertEquals(a.headers, b.headers, c.name);
    assertEquals(new TextDecoder().decode(a.body), new TextDecoder().decode(b.body), c.name);
    assertEquals(seenFast, seenFull, c.name);
  }
  // The cases do reach the handlers, and do fail where they should.
  assert(seenFast.includes("health p1 connect"), seenFast.join());
  assert(seenFast.includes("inspect 7"));
  assertEquals(seenFast.filter((s) => s.startsWith("inspect 3")).length, 3);
});

Deno.test("unary fast path: a body that breaks off, or one longer than its Content-Length, is answered as connect-es does", async () => {
  const broken = () =>
    new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode('{"contai'));
        c.error(new Error("connection reset"));
      },
    });
  const seenFast: Seen = [], seenFull: Seen = [];
  const fast = buildRoutes(handlers(seenFast), MAX);
  const full = buildRoutes(handlers(seenFull), MAX, undefined, { fast: false });
  for (const routes of [fast, full]) {
    const res = await routes.get("/acon.grpc.AconService/Inspect")!(
      new Request(`${BASE}Inspect`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: broken(),
        duplex: "half",
      } as RequestInit),
    );
    (routes === fast ? seenFast : seenFull).push(`${res.status} ${await res.text()}`);
  }
  assertEquals(seenFast, seenFull);
  assert(!seenFast[0].startsWith("200"), seenFast[0]);
});
