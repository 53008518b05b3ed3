/** scripts/initramfs: reproducible output, the promised layout, the modules in dependency order. */
import { assertEquals, assertMatch, assertOk } from "../helpers/assert.ts";
import { TOP } from "./qemu.ts";

async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, env, cwd: TOP, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) throw new Error(`${cmd} failed:\n${new TextDecoder().decode(out.stderr)}`);
  return text;
}

Deno.test("two packs of the same inputs are byte-identical; the layout is as documented", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acond-initramfs-" });
  try {
    await run("scripts/initramfs", [], { OUT: `${dir}/a.cpio.lz4` });
    await run("scripts/initramfs", [], { OUT: `${dir}/b.cpio.lz4` });
    const [a, b] = await Promise.all(
      ["a", "b"].map(async (n) => (await run("sha256sum", [`${dir}/${n}.cpio.lz4`])).split(" ")[0]),
    );
    assertEquals(a, b);
    const listing = await run("sh", ["-c", `lz4 -dc ${dir}/a.cpio.lz4 | cpio -itv --quiet`]);
    const lines = listing.trim().split("\n");
    const names = lines.map((l) => l.split(/\s+/).at(-1)!);
    assertEquals([...names].sort(), names.slice().sort()); // sorted entries
    for (
      const p of [
        "init",
        "bin/deno",
        "app/acond.js",
        "app/libacond_shim.so",
        "lib/modules/acond/order",
        "lib64/ld-linux-x86-64.so.2",
        "lib/x86_64-linux-gnu/libcrypto.so.3", // the shim's digests (ffi/digest.c)
        "proc",
        "dev",
        "run",
        "shared",
      ]
    ) {
      assertOk(names.includes(p), `${p} missing from:\n${listing}`);
    }
    // Fixed owners and one mtime for every entry.
    assertOk(lines.every((l) => /^\S+\s+\d+\s+root\s+root\s/.test(l)), listing);
    assertEquals(new Set(lines.map((l) => l.split(/\s+/).slice(5, 8).join(" "))).size, 1);
    const order = (await run("sh", [
      "-c",
      `cd ${dir} && lz4 -dc a.cpio.lz4 | cpio -i --quiet --to-stdout lib/modules/acond/order`,
    ]))
      .trim().split("\n").map((l) => l.split(" "));
    const files = order.map(([f]) => f);
    const phase = Object.fromEntries(order);
    assertOk(files.indexOf("failover.ko.xz") < files.indexOf("virtio_net.ko.xz"), files.join(" "));
    assertOk(files.indexOf("tsm.ko.xz") < files.indexOf("tdx-guest.ko.xz"), files.join(" "));
    assertEquals(
      ["virtio_net.ko.xz", "tdx-guest.ko.xz", "overlay.ko.xz"].map((f) => phase[f]),
      ["boot", "tee", "after"],
    );
    assertMatch(await Deno.readTextFile(`${TOP}/dist/vmlinuz.version`), /^6\.12\.\S+-cloud-amd64 /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
