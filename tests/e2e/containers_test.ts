/**
 * Containers under the real PID-1 boot (QEMU, initramfs): the namespace root there is the initial
 * rootfs, which pivot_root cannot move, so this exercises the stacked-root fallback of ffi/proc.c
 * and checks that the TD's tree is unreachable from inside.
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { boot, ensureImage } from "../e2e/qemu.ts";
import { makeSigner } from "../helpers/pki.ts";
import { baseManifest, signedManifest } from "../helpers/image.ts";
import { buildRootfs, sha384hex, tarOf } from "../helpers/busybox.ts";

const dec = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("PID 1 on an initramfs: Start, Exec, root isolation", async () => {
  await ensureImage();
  const vm = await boot();
  try {
    const src = await Deno.makeTempDir();
    await buildRootfs(src);
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
        "id -u; cat /proc/1/comm; ls /; cd /../../..; ls; ls /app 2>&1; cat /proc/self/mountinfo >&2",
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
    // The only mount at "/" is the container's overlay (pivot_root detached the TD's root, or the
    // fallback stacked the overlay on it).
    const roots = dec(x.stderr).split("\n").filter((l) => l.split(" ")[4] === "/");
    assert(roots.length >= 1 && roots.every((l) => / - overlay /.test(l) || / - rootfs /.test(l)));
    assertMatch(roots[roots.length - 1], / - overlay /);
    await vm.client.kill({ containerId: id, signalNum: 9 });
  } catch (e) {
    console.error(vm.serial().split("\n").slice(-40).join("\n"));
    throw e;
  } finally {
    await vm.kill();
  }
});
