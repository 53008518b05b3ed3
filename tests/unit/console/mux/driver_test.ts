/**
 * The console multiplexer's driver on a real terminal: the console is a pty's slave (opened by
 * path, as --console opens it), the test types on the master like a user and reads what the
 * console shows; the hub is the recording fake.
 */
import { assertEquals, assertMatch, assertOk } from "../../../helpers/assert.ts";
import { FakeHub } from "../../../fakes/hub.ts";
import { startConsole } from "../../../../src/console/mux/mod.ts";
import { linuxSys } from "../../../../src/sys/linux.ts";
import { Poller } from "../../../../src/proc/poller.ts";
import { Reaper } from "../../../../src/proc/reaper.ts";

const enc = new TextEncoder(), dec = new TextDecoder();

async function stty(path: string): Promise<string> {
  const o = await new Deno.Command("stty", { args: ["-F", path, "-a"], stdout: "piped" }).output();
  return dec.decode(o.stdout);
}

function resizePty(master: number, rows: number, cols: number) {
  // The test has no TIOCSWINSZ of its own: stty on the slave's path does it.
  void master;
  void rows;
  void cols;
}

async function setup() {
  const pty = linuxSys.openPty();
  linuxSys.setNonblock(pty.master);
  const hub = new FakeHub();
  // Never started: a waitpid(-1) reaper would take other tests' children (the debug shell's
  // real process is tested against the dev daemon: tests/integration/console_test.ts).
  const reaper = new Reaper(linuxSys, { pollMs: 0 });
  const before = await stty(pty.name);
  // The pane's size as a terminal emulator would set it.
  await new Deno.Command("stty", { args: ["-F", pty.name, "rows", "33", "cols", "111"] }).output();
  const mux = startConsole({
    path: pty.name,
    hub,
    sys: linuxSys,
    fds: new Poller(),
    reaper,
    debugShell: false,
    consoleIsStderr: false,
    pid1: false,
    resizePty,
  })!;
  assertOk(mux, "started");
  let screen = "";
  const buf = new Uint8Array(65536);
  const drain = () => {
    for (;;) {
      let n: number | null;
      try {
        n = linuxSys.readSome(pty.master, buf);
      } catch {
        return;
      }
      if (!n) return;
      // Line mode's output processing makes the machine's CR LF a CR CR LF: one line end.
      screen = (screen + dec.decode(buf.subarray(0, n))).replaceAll("\r\r\n", "\r\n");
    }
  };
  const w = {
    pty,
    hub,
    mux,
    before,
    /** Everything shown since the last mark. */
    get screen() {
      drain();
      return screen;
    },
    mark() {
      drain();
      screen = "";
    },
    type(s: string | number[]) {
      const b = typeof s === "string" ? enc.encode(s) : Uint8Array.from(s);
      assertEquals(linuxSys.writeSome(pty.master, b), b.length);
    },
    async waitFor(re: RegExp, what = String(re)) {
      const end = Date.now() + 10000;
      while (Date.now() < end) {
        drain();
        if (re.test(screen)) return;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`console never showed ${what}; it showed:\n${JSON.stringify(screen)}`);
    },
    stop() {
      mux.stop();
      linuxSys.close(pty.master);
      linuxSys.close(pty.slave);
    },
  };
  return w;
}

const ESC = 0x1b, CTRL_O = 0x0f;
const HOTKEY = [ESC, CTRL_O, 0x78];

Deno.test("console: the prompt, list, enter with scrollback and size, type, detach, re-enter", async () => {
  const w = await setup();
  try {
    await w.waitFor(/\[Acond\]: $/);
    const sh = w.hub.add({ containerId: 3, session: 0 });
    await w.waitFor(/new terminal 3\/0/);
    w.hub.output({ containerId: 3, session: 0 }, "$ ");
    w.mark();
    w.type("list\r");
    await w.waitFor(/3\/0\s+3\s+f{16}\s+\/bin\/sh\s+running\s+0\r\n\[Acond\]: $/);
    // In line mode the console echoes nothing itself (the machine does): "list" shows once.
    assertEquals(w.screen.match(/list/g)?.length, 1);
    const raw = await stty(w.pty.name);
    assertMatch(raw, /-icanon/);
    assertMatch(raw, /-echo\b/);
    assertMatch(raw, /\bopost\b/);

    w.mark();
    w.type("enter 3\r");
    await w.waitFor(/entering terminal 3\/0[^\n]*\n\$ $/);
    assertMatch(await stty(w.pty.name), /-opost/, "raw both ways while entered");
    assertEquals(sh.sizes.at(-1), [33, 111], "the console's size, sent on enter");
    w.type("echo $((6*7))\r");
    for (let i = 0; i < 500 && !w.hub.text(sh.summary.ref).includes("\r"); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assertEquals(w.hub.text(sh.summary.ref), "echo $((6*7))\r");
    w.hub.output(sh.summary.ref, "42\r\n$ ");
    await w.waitFor(/42\r\n\$ $/);
    w.type([0x03]); // Ctrl-C goes to the terminal, not to acond
    w.type(HOTKEY);
    await w.waitFor(/\[left terminal 3\/0\]\r\n\[Acond\]: $/);
    assertOk(!w.hub.text(sh.summary.ref).includes("\x1b"), "the hotkey is not passed on");
    assertOk(w.hub.text(sh.summary.ref).endsWith("\x03"));
    assertMatch(await stty(w.pty.name), /\bopost\b/, "line mode again");

    // Output while nobody is entered is the hub's scrollback, shown on re-enter.
    w.hub.output(sh.summary.ref, "while-away\r\n");
    w.mark();
    w.type("e 3/0\r");
    await w.waitFor(/42\r\n\$ while-away\r\n/);
    w.type(HOTKEY);
    await w.waitFor(/\[Acond\]: $/);
    // Stopped (the daemon's shutdown): the console's own settings are back.
    w.mux.stop();
    const after = await stty(w.pty.name);
    assertEquals(after, w.before.replace(/rows \d+; columns \d+/, "rows 33; columns 111"));
  } finally {
    w.stop();
  }
});

Deno.test("console: a terminal exits while entered (announced, prompt back), another at the prompt", async () => {
  const w = await setup();
  try {
    const a = w.hub.add({ containerId: 1, session: 0 });
    w.hub.add({ containerId: 2, session: 4 }, "Sh");
    await w.waitFor(/\[Acond\]: $/);
    w.type("e 2/4\r");
    await w.waitFor(/entering terminal 2\/4/);
    w.hub.exit({ containerId: 1, session: 0 }, { wstatus: 9, signal: true });
    w.hub.exit({ containerId: 2, session: 4 }, { wstatus: 5, signal: false });
    await w.waitFor(
      /\[terminal 2\/4 exited: exit status 5\]\r\n\[terminal 1\/0 exited: killed by signal 9\]\r\n\[Acond\]: $/,
    );
    assertOk(!a.attachments.size);
    w.mark();
    w.hub.add({ containerId: 7, session: 0 });
    w.hub.exit({ containerId: 7, session: 0 }, { wstatus: 0, signal: false });
    await w.waitFor(/\[terminal 7\/0 exited: exit status 0\]\r\n\[Acond\]: $/);
    w.type("e 9\r");
    await w.waitFor(/no terminal 9\/0/);
  } finally {
    w.stop();
  }
});

Deno.test("console: log shows acond's own log; the hub's full input queue loses input, not the session", async () => {
  const w = await setup();
  try {
    await w.waitFor(/\[Acond\]: $/);
    w.type("log 5\r");
    await w.waitFor(/console multiplexer on \/dev\/pts\/\d+/);
    const t = w.hub.add({ containerId: 1, session: 0 });
    w.type("e 1\r");
    await w.waitFor(/entering/);
    w.hub.full = true;
    w.type("lost");
    await new Promise((r) => setTimeout(r, 50));
    w.hub.full = false;
    w.type("kept");
    for (let i = 0; i < 500 && !w.hub.text(t.summary.ref).includes("kept"); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assertEquals(w.hub.text(t.summary.ref), "kept");
    w.type(HOTKEY);
    await w.waitFor(/left terminal 1\/0/);
  } finally {
    w.stop();
  }
});

Deno.test("console: a console nobody reads loses output (bounded), acond goes on", async () => {
  const w = await setup();
  try {
    await w.waitFor(/\[Acond\]: $/);
    const t = w.hub.add({ containerId: 1, session: 0 });
    w.type("e 1\r");
    await w.waitFor(/entering/);
    // Nothing reads the master now: the pty's buffer fills, then the device's queue.
    const line = "x".repeat(1023) + "\n";
    for (let i = 0; i < 1024; i++) w.hub.output(t.summary.ref, line);
    await new Promise((r) => setTimeout(r, 100));
    // Still answering input while the output is stuck.
    w.type("still here");
    for (let i = 0; i < 500 && !w.hub.text(t.summary.ref).includes("here"); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assertEquals(w.hub.text(t.summary.ref), "still here");
    w.mark(); // reads everything the pty holds
  } finally {
    w.stop();
  }
});
