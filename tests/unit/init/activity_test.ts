/**
 * init/activity.ts and init/phases.ts: the shared route table wrapped in place (listeners already
 * serving it count too), the first request logged once, and the phase clock.
 */
import { assertEquals, assertMatch } from "../../helpers/assert.ts";
import { watchActivity } from "../../../src/init/activity.ts";
import { BootPhases } from "../../../src/init/phases.ts";
import type { PowerDown } from "../../../src/init/shutdown.ts";
import type { Route } from "../../../src/api/server.ts";
import { addLogSink } from "../../../src/util/log.ts";

const lines: string[] = [];
addLogSink((_level, line) => lines.push(line));

Deno.test("every route counts as activity; the first request is logged once", async () => {
  const routes = new Map<string, Route>([
    ["/acon.grpc.AconService/Health", () => Promise.resolve(new Response("h"))],
    ["/acon.grpc.AconService/blobs/", () => Promise.resolve(new Response("b"))],
  ]);
  const before = routes.get("/acon.grpc.AconService/Health");
  const power = { run: () => Promise.resolve() } as unknown as PowerDown;
  const idle = watchActivity(routes, 0, power); // 0: the timer is off, the wrapping is not
  try {
    assertEquals(routes.size, 2);
    const health = routes.get("/acon.grpc.AconService/Health")!;
    assertEquals(health === before, false, "wrapped in place");
    lines.length = 0;
    assertEquals(await (await health(new Request("http://a/"))).text(), "h");
    const blob = routes.get("/acon.grpc.AconService/blobs/")!;
    assertEquals(await (await blob(new Request("http://a/", { method: "PUT" }))).text(), "b");
    const first = lines.filter((l) => l.includes("first request"));
    assertEquals(first.length, 1, lines.join("\n"));
    assertMatch(first[0], /first request \(Health\) answered at \d+ ms, in \d+ ms/);
  } finally {
    idle.stop();
  }
});

Deno.test("boot phases: load first, then each phase's own time, in order", async () => {
  const p = new BootPhases();
  await new Promise((r) => setTimeout(r, 20));
  p.mark("early");
  p.mark("modules");
  assertEquals(p.done.map((s) => s.split(" ")[0]), ["load", "early", "modules"]);
  assertEquals(Number(p.done[1].split(" ")[1]) >= 19, true, p.done.join(", "));
});
