/** The console's terminal settings (src/sys/tty.ts) on a real pty, checked with stty. */
import { assertEquals, assertMatch, assertOk, assertThrows } from "../../helpers/assert.ts";
import { ttyRaw, ttyRestore, ttySave, ttyWinsize } from "../../../src/sys/tty.ts";
import { close, openPty, pipe } from "../../../src/sys/proc.ts";
import { SysError } from "../../../src/sys/errors.ts";

async function stty(path: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("stty", { args: ["-F", path, ...args], stdout: "piped" })
    .output();
  assertOk(out.success, `stty ${args.join(" ")}`);
  return new TextDecoder().decode(out.stdout);
}

Deno.test("tty: raw with and without output processing, restored exactly", async () => {
  const pty = openPty();
  try {
    const before = await stty(pty.name, "-a");
    assertMatch(before, /\bicanon\b/);
    const saved = ttySave(pty.slave);
    ttyRaw(pty.slave, saved, true);
    let now = await stty(pty.name, "-a");
    assertMatch(now, /-icanon/);
    assertMatch(now, /-echo\b/);
    assertMatch(now, /-isig/);
    assertMatch(now, /\bopost\b/);
    assertMatch(now, /\bonlcr\b/);
    ttyRaw(pty.slave, saved, false);
    now = await stty(pty.name, "-a");
    assertMatch(now, /-opost/);
    ttyRestore(pty.slave, saved);
    assertEquals(await stty(pty.name, "-a"), before);
  } finally {
    close(pty.master);
    close(pty.slave);
  }
});

Deno.test("tty: the window size, and none (0x0) as null", async () => {
  const pty = openPty();
  try {
    assertEquals(ttyWinsize(pty.slave), null);
    await stty(pty.name, "rows", "30", "cols", "100");
    assertEquals(ttyWinsize(pty.slave), { rows: 30, cols: 100 });
    assertEquals(ttyWinsize(pty.master), { rows: 30, cols: 100 });
  } finally {
    close(pty.master);
    close(pty.slave);
  }
});

Deno.test("tty: a descriptor that is not a terminal is ENOTTY", () => {
  const [r, w] = pipe();
  try {
    assertThrows(
      () => ttySave(r),
      (e: unknown) => e instanceof SysError && e.errnoName === "ENOTTY",
    );
    assertThrows(() => ttyWinsize(w), /ENOTTY/);
  } finally {
    close(r);
    close(w);
  }
});
