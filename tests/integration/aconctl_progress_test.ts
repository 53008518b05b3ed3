/**
 * aconctl push's progress line, seen as a user sees it: in a terminal (a tmux pane), a layer
 * upload slowed with --limit-rate draws a bar with bytes, rate and ETA on one line; with stderr
 * not a terminal there is none.
 */
import { assertEquals, assertMatch } from "../helpers/assert.ts";
import { startDaemon, TOP } from "../helpers/daemon.ts";
import { makeSigner } from "../helpers/pki.ts";
import { baseManifest, signedManifest } from "../helpers/image.ts";
import { buildRootfs, sha384hex, tarOf } from "../helpers/busybox.ts";
import { startTmux, waitForFile } from "../helpers/tmux.ts";
import { aconctl } from "../helpers/aconctl.ts";

Deno.test("aconctl push on a terminal: a progress line with bytes, rate and ETA; none off a terminal", async () => {
  const d = await startDaemon();
  const dir = await Deno.makeTempDir({ prefix: "acond-progress-" });
  try {
    const root = `${dir}/root`;
    await buildRootfs(root);
    // 6 MiB that do not compress, so the upload at 2 MiB/s lasts a few seconds.
    await Deno.writeFile(`${root}/blob`, crypto.getRandomValues(new Uint8Array(65536)));
    const chunk = await Deno.readFile(`${root}/blob`);
    const big = new Uint8Array(6 << 20);
    for (let o = 0; o < big.length; o += chunk.length) big.set(chunk.map((b) => b ^ (o >> 16)), o);
    await Deno.writeFile(`${root}/blob`, big);
    const tar = await tarOf(root);
    await Deno.writeFile(`${dir}/layer.tar`, tar);
    const write = async (tag: string, m: Record<string, unknown>) => {
      const s = await signedManifest(await makeSigner("ec-p384"), m);
      await Deno.writeTextFile(`${dir}/${tag}.json`, s.manifest);
      await Deno.writeFile(`${dir}/${tag}.sig`, s.signature);
      await Deno.writeFile(`${dir}/${tag}.der`, s.certificate);
    };
    await write("a", baseManifest({ layers: [`sha384/${await sha384hex(tar)}`] }));

    const cmd = `${TOP}/dist/aconctl --socket ${d.socket} push ${dir}/a.json ${dir}/a.sig ` +
      `${dir}/a.der ${dir}/layer.tar --limit-rate 2m; echo $? > ${dir}/rc; exec sleep 1000`;
    const t = await startTmux(cmd, { rows: 10, cols: 140 });
    try {
      const m = await t.waitFor(
        /sha384\/[0-9a-f]{12}… \[#*-+\] +\d+% {2}[\d.]+ MiB\/[\d.]+ MiB {2}[\d.]+ MiB\/s {2}ETA \d\d:\d\d/,
        60_000,
      );
      assertMatch(m[0], /ETA/);
      assertEquals((await waitForFile(`${dir}/rc`, 60_000)).trim(), "0");
      assertMatch(await t.screen(), /\[#{20}\] 100%/);
    } finally {
      await t.kill();
    }

    // Another layer (acond has the first) with stderr a pipe: uploaded, no progress line at all.
    await Deno.writeTextFile(`${root}/other`, "another layer\n");
    const tar2 = await tarOf(root);
    await Deno.writeFile(`${dir}/layer.tar`, tar2);
    await write("b", baseManifest({ layers: [`sha384/${await sha384hex(tar2)}`] }));
    const r = await aconctl(
      "--json",
      "--socket",
      d.socket,
      "push",
      `${dir}/b.json`,
      `${dir}/b.sig`,
      `${dir}/b.der`,
      `${dir}/layer.tar`,
    );
    assertEquals(r.code, 0, r.out);
    assertEquals(/ETA|\[#/.test(r.out), false, r.out);
    // It did upload that layer: push --json says what it sent of each.
    assertMatch(r.out, new RegExp(`"sent": ?${tar2.length}\\b`));
  } finally {
    await d.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
