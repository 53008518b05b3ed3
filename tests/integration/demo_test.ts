/** The README's worked example (scripts/demo) runs as written against a real dev daemon. */
import { assertEquals, assertMatch } from "../helpers/assert.ts";
import { startDaemon, TOP } from "../helpers/daemon.ts";

Deno.test("scripts/demo: keys, image, curl calls, Exec and a verified report", async () => {
  const d = await startDaemon();
  try {
    const out = await new Deno.Command(`${TOP}/scripts/demo`, {
      args: [d.socket],
      stdin: "null",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr) + text);
    assertMatch(text, /"imageId":"sha384\/[0-9a-f]{96}\/[0-9a-f]{96}"/);
    assertMatch(text, /^hello from 0 in \/$/m);
    assertMatch(text, /^verification: OK$/m);
  } finally {
    await d.stop();
  }
});

Deno.test("scripts/demo says that it finalizes; with --no-finalize the daemon stays open", async () => {
  const d = await startDaemon();
  try {
    const run = (args: string[]) =>
      new Deno.Command(`${TOP}/scripts/demo`, { args, stdin: "null" }).output();
    const out = await run(["--no-finalize", d.socket]);
    const dec = new TextDecoder();
    assertEquals(out.code, 0, dec.decode(out.stderr) + dec.decode(out.stdout));
    assertMatch(dec.decode(out.stdout), /^verification: OK$/m);
    assertEquals((await d.client().health({})).finalized, false);
    const fin = await run([d.socket]); // the same image again, then Finalize
    assertMatch(
      dec.decode(fin.stderr),
      /^demo: this finalizes acond at .*--no-finalize to keep it open$/m,
    );
    assertEquals((await d.client().health({})).finalized, true);
  } finally {
    await d.stop();
  }
});
