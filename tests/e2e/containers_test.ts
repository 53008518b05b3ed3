/**
 * Containers under the real PID-1 boot (QEMU, initramfs), driven from the host over the forwarded
 * TCP port: push a signed busybox image, Start, Exec, isolation from the TD's own tree, a crashing
 * container, a sim Report that verifies, then Shutdown with a container still running → QEMU
 * exits 0 on its own (never a kernel panic: pvpanic would make it exit 1).
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { boot, ensureImage } from "./qemu.ts";
import { verifyReport } from "../../src/attest/verify.ts";
import { makeSigner } from "../helpers/pki.ts";
import { baseManifest, signedManifest } from "../helpers/image.ts";
import { buildRootfs, sha384hex, tarOf } from "../helpers/busybox.ts";
import { NO_LIBCRYPTO } from "../../src/image/upload/hasher.ts";

const dec = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("PID 1: push an image, Start, Exec, isolation, a crash, Report, Shutdown → exit 0", async () => {
  await ensureImage();
  const vm = await boot();
  try {
    await vm.waitReady();
    const src = await Deno.makeTempDir();
    await buildRootfs(src);
    // A real crash: a fault's SIGSEGV is forced even on a PID namespace's init, whereas a signal
    // sent from inside (kill -SEGV $$) is ignored by the kernel for an init without a handler.
    await Deno.writeTextFile(`${src}/crash.c`, "int main(void) { return *(volatile int *)0; }\n");
    const cc = await new Deno.Command("gcc", {
      args: ["-static", "-O0", "-o", `${src}/bin/crash`, `${src}/crash.c`],
    }).output();
    assert(cc.success, new TextDecoder().decode(cc.stderr));
    await Deno.remove(`${src}/crash.c`);
    const tar = await tarOf(src);
    await Deno.remove(src, { recursive: true });
    const m = baseManifest({
      layers: [`sha384/${await sha384hex(tar)}`],
      entrypoint: ["/bin/sleep", "1000"],
      env: ["PATH=/bin"],
      signals: [9],
    });
    const r = await vm.client.addManifest(await signedManifest(await makeSigner("ec-p384"), m));
    await vm.client.addBlob({ alg: 2, data: tar });
    const id = (await vm.client.start({ imageId: r.imageId })).containerId;
    const i = (await vm.client.inspect({ containerId: id })).info[0];
    assertEquals(i.running, true);
    // Climbing above "/" stays in the image.
    const x = await vm.client.exec({
      containerId: id,
      command: "Sh",
      arguments: [
        "id -u; cat /proc/1/comm; ls /; cd /../../..; ls; ls /app 2>&1; " +
        "test -S /shared/acon.sock && echo attestation-socket; cat /proc/self/mountinfo >&2",
      ],
      envs: ["PATH=/bin"],
      timeout: 20n,
    });
    const out = dec(x.stdout);
    const lines = out.trim().split("\n");
    assertEquals(lines[0], "0");
    assertEquals(lines[1], "sleep");
    assertMatch(out, /lib\n/);
    // No path shows the initramfs (its /app, /init).
    assert(!/^app$/m.test(out) && !/^init$/m.test(out), out);
    assertMatch(out, /\/app: No such file or directory/);
    // Its attestation socket is there (bound with the first container Start, not at boot).
    assertMatch(out, /^attestation-socket$/m);
    // The only mount at "/" is the container's overlay (pivot_root detached the TD's root, or the
    // fallback stacked the overlay on it).
    const roots = dec(x.stderr).split("\n").filter((l) => l.split(" ")[4] === "/");
    assert(roots.length >= 1 && roots.every((l) => / - overlay /.test(l) || / - rootfs /.test(l)));
    assertMatch(roots[roots.length - 1], / - overlay /);

    // A container that crashes (SIGSEGV) is reaped with its signal; PID 1 goes on serving.
    const crash = await vm.client.addManifest(
      await signedManifest(
        await makeSigner("ec-p384"),
        baseManifest({
          layers: m.layers,
          entrypoint: ["/bin/crash"],
          env: ["PATH=/bin"],
          signals: [9],
        }),
      ),
    );
    const cid = (await vm.client.start({ imageId: crash.imageId })).containerId;
    let ci = (await vm.client.inspect({ containerId: cid })).info[0];
    for (let t = 0; ci.running && t < 100; t++) {
      await new Promise((r) => setTimeout(r, 100));
      ci = (await vm.client.inspect({ containerId: cid })).info[0];
    }
    assertEquals([ci.running, ci.exitSignal, ci.wstatus], [false, true, 11]);
    assertEquals((await vm.client.health({})).pid1, true);

    // A sim Report names both images and verifies against its nonce.
    const rep = await vm.client.report({ nonceLo: 3n, nonceHi: 4n, requestType: 0 });
    const v = verifyReport({
      data: rep.data,
      rtmr3Log: rep.mrlog[3].logs,
      attestationData: rep.attestationData,
      nonce: { lo: 3n, hi: 4n },
      allowSim: true,
      simPublicKey: rep.simPublicKey,
    });
    assertEquals(v.errors, []);
    assertEquals(new Set(v.images), new Set([r.imageId, crash.imageId]));

    // Shutdown with the first container still running: it is stopped, then the VM powers off.
    await vm.client.shutdown({ graceSeconds: 2n });
    assertEquals(await vm.waitExit(), 0);
    assert(!/Kernel panic/.test(vm.serial()), "kernel panic");
    // The layers were hashed by libcrypto (ffi/digest.c), not the slower fallback.
    assert(!vm.serial().includes(NO_LIBCRYPTO), "the VM's shim could not open libcrypto");
  } catch (e) {
    console.error(vm.serial().split("\n").slice(-40).join("\n"));
    throw e;
  } finally {
    await vm.kill();
  }
});
