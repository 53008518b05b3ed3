/**
 * What a stream holds is freed when its signal aborts, even while the stream is parked at a
 * yield that nothing resumes (its client left; Connect does not pull it again): the EventBus
 * subscription of a Watch, the /dev/kmsg descriptor of a KernelLog (a FIFO stands in for it).
 */
import { assertEquals } from "../helpers/assert.ts";
import { EventBus } from "../../src/events.ts";
import { kernelLogLines } from "../../src/kernel_log.ts";

function fifoFds(path: string): number {
  let n = 0;
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${e.name}`) === path) n++;
    } catch { /* closed meanwhile */ }
  }
  return n;
}

Deno.test("Watch: an aborted stream parked at a yield unsubscribes at once", async () => {
  const bus = new EventBus();
  const ac = new AbortController();
  const it = bus.stream(ac.signal);
  const first = it.next();
  bus.emit({ kind: "finalized" });
  bus.emit({ kind: "finalized" });
  assertEquals((await first).value?.kind, "finalized"); // parked at the yield now
  assertEquals(bus.subscribers, 1);
  ac.abort(); // nothing calls next() or return() again
  assertEquals(bus.subscribers, 0);
  bus.emit({ kind: "finalized" }); // not queued for a stream nobody reads
});

Deno.test("KernelLog: an aborted follower parked at a yield closes its descriptor at once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acond-kmsg-" });
  const path = `${dir}/kmsg`;
  const mk = await new Deno.Command("mkfifo", { args: [path] }).output();
  assertEquals(mk.success, true);
  // A writer keeps the FIFO open (reads then give EAGAIN, not EOF).
  const writer = Deno.openSync(path, { read: true, write: true });
  try {
    const ac = new AbortController();
    const it = kernelLogLines(true, ac.signal, path);
    const first = it.next();
    writer.writeSync(new TextEncoder().encode("6,1,1000000,-;hello\n"));
    assertEquals((await first).value, "[    1.000000] hello");
    assertEquals(fifoFds(path), 2); // ours and the writer's
    ac.abort(); // parked at the yield: nothing resumes it
    assertEquals(fifoFds(path), 1);
  } finally {
    writer.close();
    await Deno.remove(dir, { recursive: true });
  }
});
