/**
 * init/activity.ts and init/phases.ts: the shared route table wrapped in place (listeners already
 * serving it count too, and calls answered by a unary core), the first request logged once, and
 * the phase clock.
 */
import { assertEquals, assertMatch } from "../../helpers/assert.ts";
import { watchActivity } from "../../../src/init/activity.ts";
import { BootPhases } from "../../../src/init/phases.ts";
import type { PowerDown } from "../../../src/init/shutdown.ts";
import type { Route } from "../../../src/api/server.ts";
import { addLogSink } from "../../../src/util/log.ts";
import { coreOf, type UnaryAnswer, type UnaryCore, withCore } from "../../../src/api/unary.ts";

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

Deno.test("boot phases: a phase's steps are reported with it, each its own time, and end with it", async () => {
  const p = new BootPhases();
  p.mark("early");
  p.step("tee");
  await new Promise((r) => setTimeout(r, 20));
  p.step("recover");
  p.mark("daemon");
  p.mark("listeners");
  const daemon = /^daemon (\d+) \(tee (\d+), recover (\d+)\)$/.exec(p.done[2]);
  assertEquals(daemon !== null, true, p.done.join(", "));
  assertEquals(Number(daemon![3]) >= 19 && Number(daemon![2]) < Number(daemon![3]), true);
  assertEquals(Number(daemon![1]) >= Number(daemon![2]) + Number(daemon![3]) - 1, true);
  assertMatch(p.done[3], /^listeners \d+$/);
});

Deno.test("a unary core stays on its wrapped route, and a call answered by it counts as activity", async () => {
  const answer: UnaryAnswer = { status: 200, headers: new Headers(), body: new Uint8Array([1]) };
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const core: UnaryCore = {
    accepts: () => ({ maxBody: 10 }),
    answer: async () => (await gate, answer),
  };
  const plain: Route = () => Promise.resolve(new Response("p"));
  const routes = new Map<string, Route>([
    ["/acon.grpc.AconService/Health", withCore(() => Promise.resolve(new Response("h")), core)],
    ["/acon.grpc.AconService/AddBlob", plain],
  ]);
  let powered = 0;
  const power = { run: () => (powered++, Promise.resolve()) } as unknown as PowerDown;
  const idle = watchActivity(routes, 0.2, power); // 0.2 s idle: power off
  try {
    const wrapped = coreOf(routes.get("/acon.grpc.AconService/Health"));
    assertEquals(wrapped !== undefined && wrapped !== core, true, "the core is wrapped too");
    assertEquals(coreOf(routes.get("/acon.grpc.AconService/AddBlob")), undefined);
    lines.length = 0;
    const call = wrapped!.answer({
      headers: new Headers(),
      body: new Uint8Array(0),
      signal: new AbortController().signal,
      url: "http://a/",
    });
    // The call is in flight past the idle timeout: no power-off while it runs.
    await new Promise((r) => setTimeout(r, 500));
    assertEquals(powered, 0, "in flight: not idle");
    release();
    assertEquals(await call, answer);
    assertMatch(lines.find((l) => l.includes("first request")) ?? "", /first request \(Health\)/);
    await new Promise((r) => setTimeout(r, 500));
    assertEquals(powered, 1, "idle after the call");
  } finally {
    idle.stop();
  }
});
