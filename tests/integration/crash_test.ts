/**
 * After a crash (kill -9 of the dev daemon), a new daemon on the same root hands nothing of the
 * old containers to new ones: no old process, no old mount, no old upper directory, no staging
 * left (issue 10). The real dist/acond --dev, as root.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { image, info, sh, world } from "../helpers/containers.ts";
import { startDaemon } from "../helpers/daemon.ts";

const mountsUnder = async (dir: string) =>
  (await Deno.readTextFile("/proc/self/mountinfo")).split("\n").map((l) => l.split(" ")[4])
    .filter((m) => m?.startsWith(dir + "/"));

const alive = (pid: number) => {
  try {
    return !/^State:\s+Z/m.test(Deno.readTextFileSync(`/proc/${pid}/status`));
  } catch {
    return false;
  }
};

Deno.test("kill -9, restart on the same root: a new container sees nothing of an old one", async () => {
  const w = await world();
  let oldPid = 0;
  let d2: Awaited<ReturnType<typeof startDaemon>> | null = null;
  try {
    const first = await image(w, { writableFS: true });
    const old = (await w.c.start({ imageId: first })).containerId;
    assertEquals(
      (await sh(w, old, "echo secret > /left-behind && cat /left-behind")).out,
      "secret\n",
    );
    oldPid = (await info(w, old)).pid;
    await Deno.mkdir(`${w.d.root}/tmp/staging-left`, { recursive: true });
    await w.d.crash();
    assert(alive(oldPid), "the old init outlives a killed daemon (the case this test is about)");
    assertEquals((await mountsUnder(`${w.d.root}/containers`)).length, 1);

    d2 = await startDaemon({ dir: w.d.dir });
    const w2 = { ...w, d: d2, c: d2.client(), seq: 100 };
    const other = await image(w2, { writableFS: true, workingDir: "/root" }); // another image
    const id = (await w2.c.start({ imageId: other })).containerId;
    const r = await sh(w2, id, "cat /left-behind 2>&1; ls /");
    assert(!r.out.includes("secret"), `the new container reads the old one's file: ${r.out}`);
    assert(/No such file/.test(r.out), r.out);
    assert(!alive(oldPid), "the old container's init still runs");
    assertEquals((await mountsUnder(`${w.d.root}/containers`)).length, 1, "an old mount remains");
    assertEquals([...Deno.readDirSync(`${w.d.root}/tmp`)].map((e) => e.name), []);
    await w2.c.kill({ containerId: id, signalNum: 9 });
  } finally {
    if (oldPid && alive(oldPid)) Deno.kill(oldPid, "SIGKILL");
    if (d2) {
      await d2.stop();
      await Deno.remove(d2.dir, { recursive: true }).catch(() => {});
    } else await w.d.stop().catch(() => {});
  }
});
