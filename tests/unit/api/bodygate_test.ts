/**
 * api/bodygate.ts: unary bodies held at once are bounded (issue 10 item 11: six concurrent 60 MB
 * AddBlobs held about 1 GB). Over the budget a request is answered at once, unread, with
 * `unavailable` in its protocol; the budget comes back when the answer is ready, even on failure.
 */
import { assert, assertEquals, assertMatch } from "../../helpers/assert.ts";
import { BodyBudget, budgetAddBlob, budgeted } from "../../../src/api/bodygate.ts";
import type { Route } from "../../../src/api/server.ts";

const MB = 1 << 20;

Deno.test("budgeted: bodies over the budget are refused with unavailable until one is answered", async () => {
  const budget = new BodyBudget(120 * MB);
  const releases: (() => void)[] = [];
  let ran = 0;
  const slow: Route = () => {
    ran++;
    return new Promise((r) => releases.push(() => r(new Response("{}"))));
  };
  const route = budgeted(slow, budget, 64 * MB);
  const post = (len: number, type = "application/proto") =>
    route(
      new Request("http://acond/acon.grpc.AconService/AddBlob", {
        method: "POST",
        headers: { "content-type": type, "content-length": String(len) },
        body: "x",
      }),
    );
  const a = post(60 * MB), b = post(60 * MB); // 120 MB: both fit
  const c = await post(60 * MB);
  assertEquals(c.status, 503);
  const body = await c.json();
  assertEquals(body.code, "unavailable");
  assertMatch(
    body.message,
    /^Too many large requests at once \(125829120 of 125829120 .*BeginBlob/,
  );
  const g = await post(60 * MB, "application/grpc-web+proto");
  assertEquals([g.status, g.headers.get("grpc-status")], [200, "14"]);
  assertEquals(ran, 2);
  // While the budget is full even a small body waits its turn.
  assertEquals((await post(1)).status, 503);
  releases.shift()!();
  assertEquals((await a).status, 200);
  assertEquals(budget.used, 60 * MB);
  const d = post(60 * MB);
  assertEquals(ran, 3);
  releases.shift()!();
  releases.shift()!();
  await b;
  await d;
  assertEquals(budget.used, 0);
  // A body of unknown length counts as the largest; a failing route gives its share back.
  const failing = budgeted(() => Promise.reject(new Error("boom")), budget, 64 * MB);
  const r = await failing(new Request("http://acond/x", { method: "POST", body: "x" }))
    .catch((e) => e);
  assert(r instanceof Error);
  assertEquals(budget.used, 0);
  // One body alone always fits, whatever its size.
  const tiny = new BodyBudget(1);
  assert(tiny.tryTake(64 * MB));
  assert(!tiny.tryTake(1));
});

Deno.test("budgetAddBlob wraps the AddBlob route only, with two of --max-request", async () => {
  const hold: (() => void)[] = [];
  const held: Route = () => new Promise((r) => hold.push(() => r(new Response("{}"))));
  const other: Route = () => Promise.resolve(new Response("other"));
  const routes = new Map<string, Route>([
    ["/acon.grpc.AconService/AddBlob", held],
    ["/acon.grpc.AconService/Health", other],
  ]);
  budgetAddBlob(routes, 10 * MB);
  const add = (len: number) =>
    routes.get("/acon.grpc.AconService/AddBlob")!(
      new Request("http://acond/acon.grpc.AconService/AddBlob", {
        method: "POST",
        headers: { "content-length": String(len), "content-type": "application/json" },
        body: "x",
      }),
    );
  const p = [add(10 * MB), add(10 * MB)];
  assertEquals((await add(10 * MB)).status, 503);
  assertEquals(
    await (await routes.get("/acon.grpc.AconService/Health")!(new Request("http://a/")))
      .text(),
    "other",
  );
  for (const h of hold) h();
  await Promise.all(p);
});
