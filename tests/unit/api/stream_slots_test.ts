/** Per-RPC caps on open streams: refused past the cap, slots back however a stream ends. */
import { assertEquals, assertRejects } from "../../helpers/assert.ts";
import { StreamSlots } from "../../../src/api/stream_slots.ts";
import { AcondError } from "../../../src/errors.ts";

async function* forever(): AsyncGenerator<number> {
  for (let i = 0;; i++) {
    yield i;
    await new Promise((r) => setTimeout(r, 1));
  }
}

Deno.test("a stream past its RPC's cap is refused with resource_exhausted, before it takes anything", async () => {
  const slots = new StreamSlots("KernelLog", 2);
  const acs = [new AbortController(), new AbortController()];
  const open = acs.map((ac) => slots.hold(ac.signal, forever));
  for (const s of open) assertEquals((await s.next()).value, 0);
  assertEquals(slots.open, 2);
  let started = false;
  const third = slots.hold(new AbortController().signal, () => {
    started = true;
    return forever();
  });
  await assertRejects(
    () => third.next(),
    (e) =>
      e instanceof AcondError && e.code === "resource_exhausted" &&
      e.message.includes("too many KernelLog streams open (2"),
  );
  assertEquals(started, false, "the refused stream's source never ran");
  assertEquals(slots.open, 2);
  for (const ac of acs) ac.abort();
});

Deno.test("a slot comes back when the client leaves a stream parked at a yield (abort, no return())", async () => {
  const slots = new StreamSlots("Watch", 1);
  const ac = new AbortController();
  const s = slots.hold(ac.signal, forever);
  await s.next(); // parked at the yield; nothing resumes it
  assertEquals(slots.open, 1);
  ac.abort();
  assertEquals(slots.open, 0);
  const again = slots.hold(new AbortController().signal, forever);
  assertEquals((await again.next()).done, false);
  await again.return(undefined);
  assertEquals(slots.open, 0, "return() gives the slot back");
});

Deno.test("a slot comes back when the stream ends or fails, and is given back once", async () => {
  const slots = new StreamSlots("Logs", 1);
  async function* two() {
    yield 1;
    yield 2;
  }
  const ac = new AbortController();
  const got: number[] = [];
  for await (const v of slots.hold(ac.signal, two)) got.push(v);
  assertEquals(got, [1, 2]);
  assertEquals(slots.open, 0);
  ac.abort(); // after the end: no double give-back
  assertEquals(slots.open, 0);
  async function* boom(): AsyncGenerator<number> {
    yield 1;
    throw new Error("source failed");
  }
  await assertRejects(async () => {
    for await (const _ of slots.hold(new AbortController().signal, boom)) { /* read */ }
  });
  assertEquals(slots.open, 0);
});
