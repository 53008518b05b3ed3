/**
 * acond as PID 1 under QEMU: boot, serve, survive faults, power off cleanly; never a kernel panic
 * (pvpanic turns one into QEMU exit status 1).
 */
import { assertEquals, assertMatch, assertOk } from "../helpers/assert.ts";
import { boot, ensureImage, TOP } from "./qemu.ts";
import { makeSigner } from "../helpers/pki.ts";
import { baseManifest, expectedImageId, signedManifest } from "../helpers/image.ts";
import { verifyReport } from "../../src/attest/verify.ts";

const noPanic = (serial: string) => assertOk(!/Kernel panic/.test(serial), serial);

Deno.test("boot → Health (pid1) → AddManifest → Report verifies → KernelLog → Shutdown → exit 0", async () => {
  const vm = await boot();
  try {
    await vm.waitReady();
    const h = await vm.client.health({});
    assertEquals([h.pid1, h.tee], [true, "sim"]);
    // A signed image over the forwarded TCP port, then a sim Report that names it and verifies.
    const signer = await makeSigner("ec-p384");
    const m = await signedManifest(signer, baseManifest());
    const id = (await vm.client.addManifest(m)).imageId;
    assertEquals(id, await expectedImageId(signer, m.manifest));
    const nonce = { lo: 7n, hi: 9n };
    const rep = await vm.client.report({ nonceLo: nonce.lo, nonceHi: nonce.hi, requestType: 0 });
    const v = verifyReport({
      data: rep.data,
      rtmr3Log: rep.mrlog[3].logs,
      attestationData: rep.attestationData,
      nonce,
      allowSim: true,
      simPublicKey: rep.simPublicKey,
    });
    assertEquals(v.errors, []);
    assertEquals([v.ok, v.images, v.boot?.tee], [true, [id], "sim"]);
    assertMatch(rep.mrlog[3].logs[1], /"pid1":true/);
    // A new boot's state root: no recovery scan; the ready line says where the boot's time went.
    assertMatch(vm.serial(), /state root \/run\/acond is new with this boot: nothing to recover/);
    assertMatch(
      vm.serial(),
      /ms per phase: load \d+, early \d+ \(mounts \d+, kmsg \d+, cmdline \d+\), .*daemon \d+ \(tee \d+, recover \d+, cgroups \d+, measure \d+, routes \d+, unix \d+\), listeners \d+ \(idle timer \d+\)/,
    );
    // A request the handler rejects fails that request only.
    const bad = await vm.post("AddManifest", "{not json");
    assertEquals(bad.status >= 400 && bad.status < 500, true, bad.text);
    // The kernel log carries acond's own records and the kernel's.
    const lines: string[] = [];
    for await (const l of vm.client.kernelLog({ follow: false })) lines.push(l.line);
    assertOk(lines.some((l) => /acond: acond ready as PID 1/.test(l)), lines.join("\n"));
    assertOk(lines.some((l) => /Linux version/.test(l)), "kernel banner missing");
    // Following: the backlog, then new records as they come (the power-off line below).
    const followed: string[] = [];
    const follower = (async () => {
      try {
        for await (const l of vm.client.kernelLog({ follow: true })) followed.push(l.line);
      } catch { /* the VM went away */ }
    })();
    while (followed.length < lines.length) await new Promise((r) => setTimeout(r, 100));
    assertEquals((await vm.client.health({})).pid1, true);
    await vm.client.shutdown({ graceSeconds: 1n });
    assertEquals(await vm.waitExit(), 0);
    await follower;
    assertOk(
      followed.some((l) => /acond: poweroff: Shutdown RPC/.test(l)),
      `${followed.length}/${lines.length}: ${followed.slice(-5).join("\n")}`,
    );
    assertMatch(vm.serial(), /acond\[info\] poweroff: Shutdown RPC[\s\S]*reboot: Power down/);
    noPanic(vm.serial());
  } finally {
    await vm.kill();
  }
});

Deno.test("faults: uncaught exception, unhandled rejection, dead listener, bad cmdline → still serving; ctrl-alt-del reboots", async () => {
  const vm = await boot(["acond.test_fault=throw,reject,listener", "acond.timeout=x"]);
  try {
    await vm.waitSerial(/listener tcp \(tcp:0\.0\.0\.0:1025\) ended; restarting/, 120_000);
    await vm.waitReady(); // the TCP listener came back
    await vm.waitSerial(/unhandled rejection: Error: injected/);
    const s = vm.serial();
    assertMatch(s, /uncaught exception: Error: injected uncaught exception/);
    assertMatch(s, /invalid kernel cmdline parameter acond\.timeout="x".*default 180/);
    assertEquals((await vm.client.health({})).pid1, true);
    // Every line reached the kernel log too (no /dev/kmsg rate limiting dropped them).
    const klog: string[] = [];
    for await (const l of vm.client.kernelLog({ follow: false })) klog.push(l.line);
    for (
      const re of [
        /acond: uncaught exception: Error: injected/,
        /acond: unhandled rejection/,
        /acond: invalid kernel cmdline/,
        /acond: acond ready/,
      ]
    ) {
      assertOk(klog.some((l) => re.test(l)), `${re} not in the kernel log`);
    }
    await vm.sendKey("ctrl-alt-delete");
    assertEquals(await vm.waitExit(), 0); // -no-reboot: a reboot ends QEMU with 0
    assertMatch(vm.serial(), /SIGINT received[\s\S]*rebooting[\s\S]*reboot: Restarting system/);
    noPanic(vm.serial());
  } finally {
    await vm.kill();
  }
});

Deno.test("SIGTERM to PID 1 → graceful power-off, QEMU exits 0", async () => {
  const vm = await boot(["acond.test_fault=sigterm"]);
  try {
    assertEquals(await vm.waitExit(120_000), 0);
    assertMatch(vm.serial(), /poweroff: SIGTERM received[\s\S]*reboot: Power down/);
    noPanic(vm.serial());
  } finally {
    await vm.kill();
  }
});

Deno.test("acond.timeout: no request for that long → graceful power-off, QEMU exits 0", async () => {
  const vm = await boot(["acond.timeout=3"]);
  try {
    assertEquals(await vm.waitExit(120_000), 0);
    assertMatch(
      vm.serial(),
      /idle timeout 3;[\s\S]*poweroff: idle for 3 s[\s\S]*reboot: Power down/,
    );
    noPanic(vm.serial());
  } finally {
    await vm.kill();
  }
});

Deno.test("a broken image (the boot code throws while loading) → logged, clean power-off, no panic", async () => {
  await ensureImage();
  const dir = await Deno.makeTempDir({ prefix: "acond-broken-" });
  try {
    // The packed image with acond's boot chunk made to throw when it is evaluated. Unpacked from
    // dist/ (replaced by a rename, so always whole), never copied from build/initramfs/root:
    // parallel test files repack that tree at any moment (packImage, ensureImage).
    const sh = (cmd: string) =>
      new Deno.Command("sh", { args: ["-c", cmd], stderr: "inherit" }).outputSync();
    assertOk(
      sh(
        `mkdir ${dir}/root && lz4 -dc ${TOP}/dist/initramfs.cpio.lz4 | (cd ${dir}/root && cpio -idm --quiet)`,
      ).success,
    );
    const app = `${dir}/root/app`;
    const chunk = [...Deno.readDirSync(app)].find((e) => /^pid1-.*\.js$/.test(e.name))!.name;
    const js = Deno.readTextFileSync(`${app}/${chunk}`);
    Deno.writeTextFileSync(`${app}/${chunk}`, `throw new Error("broken image (test)");\n${js}`);
    assertOk(
      sh(
        `cd ${dir}/root && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet | lz4 -l -q -c > ${dir}/broken.cpio.lz4`,
      ).success,
    );
    const vm = await boot([], { initrd: `${dir}/broken.cpio.lz4` });
    try {
      assertEquals(await vm.waitExit(120_000), 0);
      assertMatch(vm.serial(), /acond: fatal: Error: broken image \(test\)[\s\S]*powering off/);
      assertMatch(vm.serial(), /reboot: Power down/);
      noPanic(vm.serial());
    } finally {
      await vm.kill();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
