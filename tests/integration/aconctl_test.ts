import { assertEquals, assertMatch } from "../helpers/assert.ts";
import { startDaemon, TOP } from "../helpers/daemon.ts";

async function aconctl(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(`${TOP}/dist/aconctl`, { args, env, stdin: "null" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("aconctl health works by --socket and by ACON_ADDR; errors are clear", async () => {
  const d = await startDaemon();
  try {
    const a = await aconctl(["--socket", d.socket, "health"]);
    assertEquals(a.code, 0, a.stderr);
    assertEquals(JSON.parse(a.stdout).tee, "sim");
    const b = await aconctl(["health"], { ACON_ADDR: `unix:${d.socket}` });
    assertEquals(b.code, 0, b.stderr);
    const bad = await aconctl(["--socket", `${d.dir}/nope.sock`, "health"]);
    assertEquals(bad.code, 3);
    assertMatch(
      bad.stderr,
      /^aconctl health: no socket at .*\/nope\.sock \(is acond running\?\)\n$/,
    );
    const usage = await aconctl(["--socket", d.socket, "start"]);
    assertEquals(usage.code, 2);
    assertMatch(usage.stderr, /usage: aconctl start IMAGE_ID/);
    // Power actions belong to PID 1: in dev mode they are refused with a clear reason.
    for (const cmd of ["shutdown", "reboot"]) {
      const p = await aconctl(["--socket", d.socket, cmd, "--grace", "1"]);
      assertEquals(p.code, 1, cmd);
      assertMatch(p.stderr, /only available when acond is PID 1 \[failed_precondition\]/);
    }
    const unknown = await aconctl(["frobnicate"]);
    assertEquals(unknown.code, 2);
  } finally {
    await d.stop();
  }
});

Deno.test("dist/aconctl verify-quote: the bundled client verifies a real quote (npm deps bundled)", async () => {
  const data = `${TOP}/tests/data/dcap`;
  const ok = await aconctl([
    "verify-quote",
    `${data}/tdx_quote`,
    "--collateral",
    `${data}/tdx_quote_collateral.json`,
    "--at",
    "2025-06-20T00:00:00Z",
  ]);
  assertEquals(ok.code, 0, ok.stdout + ok.stderr);
  assertMatch(ok.stdout, /DCAP: OK/);
  assertMatch(ok.stdout, /TCB status: +UpToDate/);
});
