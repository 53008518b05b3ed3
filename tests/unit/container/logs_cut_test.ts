/**
 * A following Logs stream whose client cut it (its signal aborts) frees what it held at once:
 * the waiter it parked on the container's log ring and the abort listener it put on the signal,
 * whether it was parked waiting for output or at a yield that nothing resumes (Connect does not
 * pull a stream whose client left). Over the real ContainerService on the fake kernel.
 */
import { assertEquals } from "../../helpers/assert.ts";
import { harness } from "../../fakes/containers.ts";

/** An AbortSignal whose abort listeners are counted (added minus removed). */
function countedSignal(): { ac: AbortController; signal: AbortSignal; listeners: () => number } {
  const ac = new AbortController();
  const signal = ac.signal;
  let n = 0;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((type: string, l: EventListener, o?: AddEventListenerOptions) => {
    if (type === "abort") n++;
    add(type, l, o);
  }) as typeof signal.addEventListener;
  signal.removeEventListener = ((type: string, l: EventListener, o?: EventListenerOptions) => {
    if (type === "abort") n--;
    remove(type, l, o);
  }) as typeof signal.removeEventListener;
  return { ac, signal, listeners: () => n };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("Logs follow cut while waiting for output: no waiter, no listener left", async () => {
  const h = harness();
  const id = await h.svc.start(h.image({ logFDs: [1, 2] }), []);
  await h.settle();
  for (let i = 0; i < 10; i++) {
    const s = countedSignal();
    const it = h.svc.logs(id, false, true, s.signal);
    const next = it.next(); // nothing printed: parks on the ring
    await tick();
    assertEquals(h.svc.logWaiters(id), 1);
    assertEquals(s.listeners(), 1);
    s.ac.abort(); // the client left
    await tick();
    assertEquals(h.svc.logWaiters(id), 0, `stream ${i}: a waiter left on the ring`);
    assertEquals(s.listeners(), 0, `stream ${i}: an abort listener left on the signal`);
    assertEquals((await next).done, true);
  }
  h.svc.kill(id, 9);
  await h.settle();
});

Deno.test("Logs follow cut while parked at a yield (never resumed): nothing left on the ring", async () => {
  const h = harness();
  const id = await h.svc.start(h.image({ logFDs: [1, 2] }), []);
  await h.settle();
  const init = h.sys.alive().find((p) => p.target === "container")!;
  const s = countedSignal();
  const it = h.svc.logs(id, false, true, s.signal);
  const first = it.next();
  h.sys.print(init, 1, "one\n");
  await h.settle();
  assertEquals(new TextDecoder().decode((await first).value!.data), "one\n");
  // Parked at the yield; the client leaves and nothing calls next() or return() again.
  s.ac.abort();
  h.sys.print(init, 1, "two\n"); // more output: nobody is woken for it
  await h.settle();
  assertEquals(h.svc.logWaiters(id), 0);
  assertEquals(s.listeners(), 0);
  h.svc.kill(id, 9);
  await h.settle();
});
