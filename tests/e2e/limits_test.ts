/**
 * Resource limits under the real PID-1 boot (QEMU): cgroup2 mounted by acond with the pids and
 * memory controllers, limits from the kernel command line. A container whose entry point is a
 * fork bomb hits its pids limit while another container still Starts and Execs; a memory hog is
 * OOM-killed; Inspect and Watch show both; the boot event records the limits as enforced. With
 * its descriptors nearly all in use, a flood of connections neither ends PID 1 nor stops reaping.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { boot, ensureImage, pushBusybox } from "./qemu.ts";
import { type Event, Event_Kind } from "../../src/gen/acon_pb.ts";
import { parseBootEvent } from "../../src/attest/bootevent.ts";

const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("PID 1: a fork bomb hits its pids limit, others still Start and Exec; a memory hog is OOM-killed", async () => {
  await ensureImage();
  const vm = await boot(["acond.pids_max=64", "acond.memory_max=64"]);
  const watch = new AbortController();
  try {
    await vm.waitReady();
    let n = 0;
    const image = (entrypoint: string[]) =>
      pushBusybox(vm.client, {
        entrypoint,
        signals: [9],
        aliases: { self: { ".": [`limits${n++}:1`] } },
      });
    const events: Event[] = [];
    void (async () => {
      for await (const e of vm.client.watch({}, { signal: watch.signal })) events.push(e);
    })().catch(() => {});
    const until = async (what: string, f: () => boolean) => {
      console.log(`waiting for ${what}`);
      for (let t = 0; !f(); t++) {
        if (t > 600) throw new Error(`timed out waiting for ${what}`);
        await sleep(100);
      }
    };

    // The fork bomb: background shells forking sleeps without end; the init stays (exec).
    const bomb = (await vm.client.start({
      imageId: await image([
        "/bin/sh",
        "-c",
        "b() { while :; do sleep 1000 & done; }; b & b & b & exec sleep 100000",
      ]),
    })).containerId;
    await until(
      "the pids-limit event",
      () =>
        events.some((e) => e.kind === Event_Kind.CONTAINER_PIDS_LIMIT && e.containerId === bomb),
    );
    const bi = (await vm.client.inspect({ containerId: bomb })).info[0];
    assertEquals([bi.running, bi.pidsLimit, bi.memoryLimit], [true, 64n, 64n << 20n]);
    assert(bi.pidsLimitHits > 0n, `pids limit hits ${bi.pidsLimitHits}`);

    // Meanwhile another container Starts and Execs (forking inside its own limit).
    const other = (await vm.client.start({ imageId: await image(["/bin/sleep", "1000"]) }))
      .containerId;
    const x = await vm.client.exec({
      containerId: other,
      command: "Sh",
      arguments: ["for i in 1 2 3 4 5; do /bin/true; done; echo ok; cat /proc/self/cgroup"],
      envs: ["PATH=/bin"],
      timeout: 60n,
    });
    assertEquals(dec(x.stdout), `ok\n0::/acond/containers/${other}\n`);

    // A memory hog: its shell doubles a string until the OOM killer ends the container.
    const hog = (await vm.client.start({
      imageId: await image(["/bin/sh", "-c", "x=a; while :; do x=$x$x; done"]),
    })).containerId;
    await until(
      "the hog's exit",
      () => events.some((e) => e.kind === Event_Kind.CONTAINER_EXITED && e.containerId === hog),
    );
    const hogEvents = events.filter((e) => e.containerId === hog).map((e) => e.kind);
    assertEquals(hogEvents, [
      Event_Kind.CONTAINER_STARTED,
      Event_Kind.CONTAINER_OOM,
      Event_Kind.CONTAINER_EXITED,
    ]);
    const hi = (await vm.client.inspect({ containerId: hog })).info[0];
    assertEquals([hi.running, hi.exitSignal, hi.wstatus], [false, true, 9]);
    assert(hi.oomKills > 0n, `oom kills ${hi.oomKills}`);

    // The daemon still serves, and its boot event says the limits are enforced.
    assertEquals((await vm.client.health({})).pid1, true);
    const lines = (await vm.client.getEventLog({})).lines;
    const b = parseBootEvent(lines.find((l) => l.startsWith("acond Boot "))!);
    assertEquals(b?.limits, {
      memoryMax: 64 << 20,
      pidsMax: 64,
      reserveMemory: 128 << 20,
      reservePids: 512,
      enforced: ["memory", "pids"],
    });
    watch.abort();
    await vm.client.shutdown({ graceSeconds: 2n });
    assertEquals(await vm.waitExit(), 0);
  } catch (e) {
    console.error(vm.serial().split("\n").slice(-60).join("\n"));
    throw e;
  } finally {
    watch.abort();
    await vm.kill();
  }
});

Deno.test("PID 1: descriptors run short (acond.test_fault=fds): 300 silent connections are refused, reaping goes on, the API comes back", async () => {
  await ensureImage();
  const vm = await boot(["acond.test_fault=fds", "acond.header_timeout=3"]);
  const flood: Deno.Conn[] = [];
  try {
    await vm.waitReady();
    await vm.waitSerial(/test fault fds: holding \d+ descriptors of \d+; \d+ left/);
    console.log(vm.serial().match(/test fault fds: .*/)?.[0]);
    // A container that exits while the flood holds every descriptor the budget gives out.
    const imageId = await pushBusybox(vm.client, { entrypoint: ["/bin/sleep", "4"] });
    const id = (await vm.client.start({ imageId })).containerId;

    for (let i = 0; i < 300; i++) {
      flood.push(await Deno.connect({ hostname: "127.0.0.1", port: vm.port }));
    }
    await vm.waitSerial(/too few free descriptors; refusing new ones/, 60_000);
    // The flood is still open on this side; the connections acond took are cut after
    // acond.header_timeout, the others were closed at accept: the API answers again.
    await vm.waitReady(60_000);
    const info = (await vm.client.inspect({ containerId: id })).info[0];
    assertEquals([info.running, info.exitSignal, info.wstatus], [false, false, 0]);
    assertEquals((await vm.client.health({})).pid1, true);
    await vm.client.shutdown({ graceSeconds: 2n });
    assertEquals(await vm.waitExit(), 0);
  } catch (e) {
    console.error(vm.serial().split("\n").slice(-60).join("\n"));
    throw e;
  } finally {
    for (const c of flood) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await vm.kill();
  }
});
