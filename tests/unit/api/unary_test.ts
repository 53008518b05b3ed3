/**
 * api/unary.ts answers as connect-es's own Connect unary handler does: every request of
 * tests/helpers/unary_cases.ts is sent to the routes built with the fast path and to routes built
 * without it (`fast: false`, every call through connect-es), and the two answers must be the same
 * (status, headers, body bytes); what each handler saw must be the same too.
 */
import { assert, assertEquals } from "../../helpers/assert.ts";
import { buildRoutes } from "../../../src/api/router.ts";
import { BASE, type Case, CASES, handlers, MAX, type Seen } from "../../helpers/unary_cases.ts";

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
  assert(seenFast.includes("health ended"), "a call's signal aborts when it is over");
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
