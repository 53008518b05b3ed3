import { assertEquals, assertMatch, assertThrows } from "../../helpers/assert.ts";
import { IdleTimer } from "../../../src/init/idle.ts";
import { ListenerSupervisor } from "../../../src/init/listeners.ts";
import { formatKmsgRecord } from "../../../src/kernel_log.ts";
import {
  DEFAULT_GRACE_MS,
  graceFromSeconds,
  MAX_GRACE_MS,
  requestPower,
} from "../../../src/power.ts";
import { prefixMask } from "../../../src/sys/init.ts";
import type { Listener } from "../../../src/api/server.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("idle timer fires after the timeout with nothing going on", async () => {
  let fired = 0;
  const t = new IdleTimer(30, () => false, () => fired++);
  await sleep(80);
  assertEquals(fired, 1);
  t.stop();
});

Deno.test("idle timer: requests restart the countdown (ACON disarmed it for good)", async () => {
  let fired = 0;
  const t = new IdleTimer(60, () => false, () => fired++);
  for (let i = 0; i < 4; i++) {
    await sleep(30);
    t.begin();
    t.end();
  }
  assertEquals(fired, 0);
  await sleep(120); // no more requests: it fires, once
  assertEquals(fired, 1);
  t.stop();
});

Deno.test("idle timer waits while a request is in flight or something runs", async () => {
  let fired = 0;
  let busy = true;
  const t = new IdleTimer(20, () => busy, () => fired++);
  await sleep(70);
  assertEquals(fired, 0);
  busy = false;
  t.begin();
  await sleep(70);
  assertEquals(fired, 0); // in flight
  t.end();
  await sleep(70);
  assertEquals(fired, 1);
  t.stop();
});

Deno.test("idle timer 0 disables it", async () => {
  let fired = 0;
  const t = new IdleTimer(0, () => false, () => fired++);
  await sleep(30);
  assertEquals(fired, 0);
  t.stop();
});

function fakeListener(name: string): Listener & { die(): void } {
  let die!: () => void;
  const finished = new Promise<void>((r) => (die = r));
  return { addr: name, finished, shutdown: () => (die(), Promise.resolve()), die };
}

Deno.test("a listener that dies is started again; stop() ends supervision", async () => {
  const started: (Listener & { die(): void })[] = [];
  const sup = new ListenerSupervisor(5, 20);
  await sup.add({
    name: "t",
    start: () => {
      const l = fakeListener(`t${started.length}`);
      started.push(l);
      return l;
    },
  });
  assertEquals(started.length, 1);
  started[0].die();
  await sleep(40);
  assertEquals([started.length, sup.restarts], [2, 1]);
  assertEquals(sup.listeners.map((l) => l.addr), ["t1"]);
  await sup.stop();
  await sleep(40);
  assertEquals(started.length, 2); // no restart after stop
});

Deno.test("a listener that cannot start is retried with back-off", async () => {
  let attempts = 0;
  const sup = new ListenerSupervisor(5, 10);
  await sup.add({
    name: "flaky",
    start: () => {
      if (++attempts < 3) throw new Error("address in use");
      return fakeListener("ok");
    },
  });
  await sleep(60);
  assertEquals(attempts, 3);
  assertEquals(sup.listeners.map((l) => l.addr), ["ok"]);
  await sup.stop();
});

Deno.test("kmsg records become printable lines", () => {
  assertEquals(
    formatKmsgRecord("6,1234,5123456,-;acond: ready\n SUBSYSTEM=x\n"),
    "[    5.123456] acond: ready",
  );
  assertEquals(formatKmsgRecord("garbage"), "garbage");
});

Deno.test("power requests need a controller; grace is bounded", async () => {
  assertThrows(() => requestPower(null, "poweroff", 1, "t"), /only available when acond is PID 1/);
  const calls: unknown[] = [];
  requestPower((k, g, r) => calls.push([k, g, r]), "reboot", 2000, "Reboot RPC");
  assertEquals(calls, []); // after the response, not during the request
  await sleep(80);
  assertEquals(calls, [["reboot", 2000, "Reboot RPC"]]);
  assertEquals(graceFromSeconds(0n), DEFAULT_GRACE_MS);
  assertEquals(graceFromSeconds(3n), 3000);
  assertEquals(graceFromSeconds(10_000_000n), MAX_GRACE_MS);
});

Deno.test("prefix lengths become netmasks", () => {
  assertEquals(prefixMask(24), "255.255.255.0");
  assertEquals(prefixMask(0), "0.0.0.0");
  assertEquals(prefixMask(32), "255.255.255.255");
  assertMatch(prefixMask(17), /^255\.255\.128\.0$/);
});
