import { assertEquals, assertMatch, assertOk } from "../../../helpers/assert.ts";
import {
  MAX_LINE,
  MAX_PENDING_NOTICES,
  type MuxEffect,
  MuxMachine,
  type Size,
} from "../../../../src/console/mux/machine.ts";
import { listText, parseRef, PROMPT } from "../../../../src/console/mux/format.ts";
import type { TerminalSummary } from "../../../../src/console/hub.ts";

const enc = new TextEncoder(), dec = new TextDecoder();
const ESC = 0x1b, CTRL_O = 0x0f;

function term(containerId: number, session = 0, over: Partial<TerminalSummary> = {}) {
  return {
    ref: { containerId, session },
    imageId: "a".repeat(64),
    command: session ? "Sh" : "/bin/sh",
    pid: 100 + containerId,
    exited: false,
    attached: 0,
    rows: 24,
    cols: 80,
    ...over,
  } as TerminalSummary;
}

function setup(o: { debugShell?: boolean; size?: Size | null; terms?: TerminalSummary[] } = {}) {
  const view = {
    terms: o.terms ?? [term(1), term(2, 1)],
    log: ["acond[info] one", "acond[info] two", "acond[warn] three"],
    size: o.size === undefined ? { rows: 40, cols: 120 } as Size | null : o.size,
    list() {
      return this.terms;
    },
    logLines() {
      return this.log;
    },
    consoleSize() {
      return this.size;
    },
  };
  const m = new MuxMachine(view, { debugShell: o.debugShell ?? false });
  return { m, view };
}

/** The text of the write effects. */
const text = (fx: MuxEffect[]) =>
  fx.filter((f) => f.kind === "write").map((f) => dec.decode((f as { data: Uint8Array }).data))
    .join("");
const kinds = (fx: MuxEffect[]) => fx.map((f) => f.kind === "mode" ? `mode:${f.mode}` : f.kind);
const type = (m: MuxMachine, s: string | number[]) =>
  m.input(typeof s === "string" ? enc.encode(s) : Uint8Array.from(s));

Deno.test("mux: the banner ends in ACON's prompt, in line mode", () => {
  const { m } = setup();
  const fx = m.start();
  assertEquals(kinds(fx), ["mode:line", "write"]);
  assertOk(text(fx).endsWith("[Acond]: "));
});

Deno.test("mux: typed characters are echoed; Enter runs the command and prompts again", () => {
  const { m } = setup();
  assertEquals(text(type(m, "he")), "he");
  const fx = type(m, "lp\r");
  const t = text(fx);
  assertMatch(t, /^lp\r\n/);
  assertMatch(t, /list, l/);
  assertMatch(t, /Ctrl\+Alt\+O then x/);
  assertOk(t.endsWith(PROMPT));
});

Deno.test("mux: h and ? are help; CR LF is one Enter; LF alone works", () => {
  const { m } = setup();
  const a = text(type(m, "h\r\n"));
  assertEquals(a.split(PROMPT).length, 2, "one prompt for CR LF");
  assertMatch(text(type(m, "?\n")), /Commands:/);
});

Deno.test("mux: backspace, Ctrl-U and Ctrl-C edit the line; Ctrl-D and escapes are ignored", () => {
  const { m } = setup();
  type(m, "lisx");
  assertEquals(text(type(m, [0x7f])), "\b \b");
  type(m, "t");
  type(m, [ESC, 0x5b, 0x41, 0x04, ESC, 0x4f, 0x50]); // up arrow, ^D, F1
  assertMatch(text(type(m, "\r")), /ID\s+CONTAINER/);
  type(m, "garbage");
  assertEquals(text(type(m, [0x15])), "\b \b".repeat(7));
  assertEquals(text(type(m, "\r")), `\r\n${PROMPT}`, "empty line after ^U");
  type(m, "more");
  assertEquals(text(type(m, [0x03])), `^C\r\n${PROMPT}`);
  assertEquals(text(type(m, "\r")), `\r\n${PROMPT}`);
  assertEquals(text(type(m, [0x7f])), "", "backspace on an empty line");
});

Deno.test("mux: the line is bounded", () => {
  const { m } = setup();
  type(m, "x".repeat(MAX_LINE));
  assertEquals(text(type(m, "y")), "\x07");
});

Deno.test("mux: list prints id container/session, container, image, command, state, attached", () => {
  const { m, view } = setup();
  view.terms = [term(2, 1, { attached: 2 }), term(1, 0, { exited: true })];
  const t = text(type(m, "list\r"));
  const lines = t.split("\r\n");
  assertMatch(lines[1], /^ID\s+CONTAINER\s+IMAGE\s+COMMAND\s+STATE\s+ATTACHED$/);
  assertMatch(lines[2], /^1\/0\s+1\s+a{16}\s+\/bin\/sh\s+exited\s+0$/);
  assertMatch(lines[3], /^2\/1\s+2\s+a{16}\s+Sh\s+running\s+2$/);
  view.terms = [];
  assertMatch(text(type(m, "l\r")), /no terminals/);
});

Deno.test("mux: list shows a hostile command or image id without its control bytes", () => {
  const t = listText([term(1, 0, { command: "evil\x1b]0;pwned\x07", imageId: "\x1b[2J" })]);
  const controls = [...t.replace(/\r\n/g, "")].filter((c) => c.charCodeAt(0) < 0x20);
  assertEquals(controls, [], JSON.stringify(t));
});

Deno.test("mux: enter ID switches to raw mode and attaches at the console's size", () => {
  const { m } = setup();
  const fx = type(m, "enter 2/1\r");
  assertEquals(kinds(fx).slice(-3), ["write", "mode:raw", "attach"]);
  assertMatch(text(fx), /entering terminal 2\/1; leave with Ctrl\+Alt\+O then x/);
  const at = fx.at(-1) as Extract<MuxEffect, { kind: "attach" }>;
  assertEquals(at.target, { kind: "terminal", ref: { containerId: 2, session: 1 } });
  assertEquals(at.size, { rows: 40, cols: 120 });
  assertEquals(m.entered, at.target);
});

Deno.test("mux: e C is the container's own terminal C/0; unknown and malformed ids are refused", () => {
  const { m } = setup();
  assertMatch(text(type(m, "e 9\r")), /no terminal 9\/0 \(see list\)/);
  assertMatch(text(type(m, "enter\r")), /usage: enter ID/);
  assertMatch(text(type(m, "enter 1 2\r")), /usage: enter ID/);
  assertMatch(text(type(m, "enter x/1\r")), /usage: enter ID/);
  assertEquals(m.entered, null);
  const fx = type(m, "e 1\r");
  assertEquals(m.entered, { kind: "terminal", ref: { containerId: 1, session: 0 } });
  assertEquals(kinds(fx).at(-1), "attach");
});

Deno.test("mux: parseRef", () => {
  assertEquals(parseRef("3"), { containerId: 3, session: 0 });
  assertEquals(parseRef("3/7"), { containerId: 3, session: 7 });
  for (const bad of ["", "/", "3/", "-1", "3/1/2", "99999999999", "4294967296"]) {
    assertEquals(parseRef(bad), null, bad);
  }
});

Deno.test("mux: entered, input goes to the terminal byte for byte (Ctrl-C, Ctrl-D, escapes)", () => {
  const { m } = setup();
  type(m, "e 1\r");
  const bytes = [0x03, 0x04, ESC, 0x5b, 0x41, 0x0d, 0x61];
  const fx = type(m, bytes);
  assertEquals(kinds(fx), ["input"]);
  assertEquals([...(fx[0] as { data: Uint8Array }).data], bytes);
});

Deno.test("mux: the rest of the Enter's read goes to the terminal once entered", () => {
  const { m } = setup();
  const fx = type(m, "e 1\recho hi\r");
  assertEquals(kinds(fx).slice(-2), ["attach", "input"]);
  assertEquals(dec.decode((fx.at(-1) as { data: Uint8Array }).data), "echo hi\r");
});

Deno.test("mux: output of the entered terminal is rendered as is; others' is not", () => {
  const { m } = setup();
  type(m, "e 1\r");
  const data = enc.encode("\x1b[31mred\r\n");
  assertEquals(
    m.output({ kind: "terminal", ref: { containerId: 1, session: 0 } }, {
      data,
      dropped: 0,
    }),
    [{ kind: "write", data }],
  );
  assertEquals(
    m.output({ kind: "terminal", ref: { containerId: 2, session: 1 } }, { data, dropped: 0 }),
    [],
  );
});

Deno.test("mux: the hotkey detaches (pair and x stripped), back to the prompt in line mode", () => {
  const { m } = setup();
  type(m, "e 1\r");
  const fx = type(m, [0x61, ESC, CTRL_O, 0x78]);
  assertEquals(kinds(fx), ["input", "detach", "mode:line", "write", "write"]);
  assertEquals([...(fx[0] as { data: Uint8Array }).data], [0x61]);
  assertMatch(text(fx), /\[left terminal 1\/0\]\r\n\[Acond\]: $/);
  assertEquals(m.entered, null);
  // What came after the x in the same read is typed at the prompt.
  const { m: m2 } = setup();
  type(m2, "e 1\r");
  const fx2 = type(m2, [ESC, CTRL_O, 0x78, ...enc.encode("list\r")]);
  assertMatch(text(fx2), /ID\s+CONTAINER/);
});

Deno.test("mux: the hotkey split over reads; another byte cancels it and is passed on", () => {
  const { m } = setup();
  type(m, "e 1\r");
  assertEquals(type(m, [ESC]), [], "ESC held");
  assertOk(m.holding);
  assertEquals(kinds(type(m, [CTRL_O])), []);
  const fx = type(m, [0x71]);
  assertEquals(fx, [{ kind: "input", data: Uint8Array.of(0x71) }]);
  assertOk(m.entered);
  type(m, [ESC, CTRL_O]);
  assertEquals(kinds(type(m, [0x78])), ["detach", "mode:line", "write", "write"]);
});

Deno.test("mux: a held ESC is released by flush() (Esc alone in an editor)", () => {
  const { m } = setup();
  type(m, "e 1\r");
  type(m, [ESC]);
  assertEquals(m.flush(), [{ kind: "input", data: Uint8Array.of(ESC) }]);
  assertOk(!m.holding);
  assertEquals(m.flush(), []);
});

Deno.test("mux: a terminal that exits while entered is announced and the prompt returns", () => {
  const { m } = setup();
  type(m, "e 2/1\r");
  const t = { kind: "terminal" as const, ref: { containerId: 2, session: 1 } };
  const fx = m.output(t, {
    data: enc.encode("bye\r\n"),
    dropped: 0,
    exit: { wstatus: 3, signal: false },
  });
  assertEquals(kinds(fx), ["write", "detach", "mode:line", "write", "write"]);
  assertMatch(text(fx), /^bye\r\n\r\n\[terminal 2\/1 exited: exit status 3\]\r\n\[Acond\]: $/);
  assertEquals(m.entered, null);
  // Its own change event does not announce it a second time.
  const { m: m3 } = setup();
  type(m3, "e 2/1\r");
  assertEquals(m3.change({ kind: "exited", ref: t.ref, exit: { wstatus: 9, signal: true } }), []);
});

Deno.test("mux: an attachment that ends without an exit returns to the prompt with the reason", () => {
  const { m } = setup();
  type(m, "e 1\r");
  const fx = m.attachEnded({ kind: "terminal", ref: { containerId: 1, session: 0 } }, "not found");
  assertEquals(kinds(fx)[0], "detach");
  assertMatch(text(fx), /terminal 1\/0: not found/);
  assertEquals(m.entered, null);
  assertEquals(m.attachEnded({ kind: "shell" }, "x"), [], "not entered: nothing");
});

Deno.test("mux: exits of other terminals are announced at the prompt, above the typed line", () => {
  const { m } = setup();
  type(m, "li");
  const fx = m.change({
    kind: "exited",
    ref: { containerId: 2, session: 1 },
    exit: { wstatus: 9, signal: true },
  });
  assertEquals(text(fx), `\r\x1b[K[terminal 2/1 exited: killed by signal 9]\r\n${PROMPT}li`);
  assertMatch(
    text(m.change({ kind: "added", ref: { containerId: 5, session: 0 } })),
    /new terminal 5\/0/,
  );
  assertEquals(m.change({ kind: "removed", ref: { containerId: 5, session: 0 } }), []);
});

Deno.test("mux: exits of others while entered are kept (bounded) and shown on return", () => {
  const { m } = setup();
  type(m, "e 1\r");
  for (let i = 0; i < MAX_PENDING_NOTICES + 3; i++) {
    assertEquals(
      m.change({
        kind: "exited",
        ref: { containerId: 10 + i, session: 0 },
        exit: { wstatus: 0, signal: false },
      }),
      [],
    );
  }
  assertEquals(m.change({ kind: "added", ref: { containerId: 99, session: 0 } }), []);
  const t = text(type(m, [ESC, CTRL_O, 0x78]));
  assertMatch(t, /terminal 10\/0 exited: exit status 0/);
  assertEquals(t.match(/exited/g)!.length, MAX_PENDING_NOTICES);
  assertMatch(t, /\[3 more notices not shown\]/);
  assertOk(t.endsWith(PROMPT));
  assertOk(!/new terminal/.test(t));
});

Deno.test("mux: log shows acond's last N log lines", () => {
  const { m } = setup();
  const t = text(type(m, "log 2\r"));
  assertMatch(t, /acond\[info\] two\r\nacond\[warn\] three\r\n/);
  assertOk(!t.includes("one"));
  assertMatch(text(type(m, "log\r")), /one[\s\S]*two[\s\S]*three/);
  assertMatch(text(type(m, "log 0\r")), /usage: log \[N\]/);
});

Deno.test("mux: the size follows the console; size ROWSxCOLS fixes it; auto follows again", () => {
  const { m, view } = setup();
  assertMatch(text(type(m, "size\r")), /40x120 \(the console's\)/);
  assertMatch(text(type(m, "size 50x160\r")), /size 50x160/);
  let fx = type(m, "e 1\r");
  assertEquals((fx.at(-1) as { size: Size }).size, { rows: 50, cols: 160 });
  type(m, [ESC, CTRL_O, 0x78]);
  type(m, "size auto\r");
  fx = type(m, "e 1\r");
  assertEquals((fx.at(-1) as { size: Size }).size, { rows: 40, cols: 120 });
  // The console changed size while entered: the next input sends the new one, once.
  view.size = { rows: 30, cols: 100 };
  fx = type(m, "a");
  assertEquals(fx[0], { kind: "resize", size: { rows: 30, cols: 100 } });
  assertEquals(kinds(type(m, "b")), ["input"]);
  view.size = { rows: 31, cols: 100 };
  assertEquals(m.sizeChanged(), [{ kind: "resize", size: { rows: 31, cols: 100 } }]);
  type(m, [ESC, CTRL_O, 0x78]);
  for (const bad of ["size 0x80", "size 24", "size 24x80 1", "size 2000x80"]) {
    assertMatch(text(type(m, `${bad}\r`)), /usage: size/, bad);
  }
});

Deno.test("mux: a console that reports no size (a serial line) gets 24x80 unless size says", () => {
  const { m } = setup({ size: null });
  assertMatch(text(type(m, "size\r")), /24x80 \(the default: the console reports none/);
  let fx = type(m, "e 1\r");
  assertEquals((fx.at(-1) as { size: Size }).size, { rows: 24, cols: 80 });
  type(m, [ESC, CTRL_O, 0x78]);
  type(m, "size 60x200\r");
  fx = type(m, "e 1\r");
  assertEquals((fx.at(-1) as { size: Size }).size, { rows: 60, cols: 200 });
});

Deno.test("mux: no shell without acond.debug_shell; with it, shell enters the debug shell", () => {
  const { m } = setup();
  const t = text(type(m, "shell\r"));
  assertMatch(t, /not a shell into the VM/);
  assertMatch(t, /acond\.debug_shell/);
  assertEquals(m.entered, null);
  assertMatch(text(type(m, "help\r")), /off: a root shell exists only with acond\.debug_shell/);
  const { m: d } = setup({ debugShell: true });
  const fx = type(d, "shell\r");
  assertEquals(fx.at(-1), {
    kind: "attach",
    target: { kind: "shell" },
    size: { rows: 40, cols: 120 },
  });
  const out = d.output({ kind: "shell" }, {
    data: new Uint8Array(),
    dropped: 0,
    exit: { wstatus: 0, signal: false },
  });
  assertMatch(text(out), /the debug shell exited: exit status 0/);
});

Deno.test("mux: the hotkey at the prompt does nothing; Alt+key is swallowed", () => {
  const { m } = setup();
  assertEquals(text(type(m, [ESC, CTRL_O, 0x78, ESC, 0x62])), "");
  assertEquals(text(type(m, [ESC, CTRL_O, 0x79])), "y", "a cancelled hotkey's byte is typed");
});

Deno.test("mux: unknown commands say so, without echoing control bytes", () => {
  const { m } = setup();
  assertMatch(text(type(m, "frobnicate\r")), /unknown command "frobnicate": type help/);
});
