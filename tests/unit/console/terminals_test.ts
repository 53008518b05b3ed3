/**
 * The terminal hub (src/console/terminals.ts) over the fake kernel: scrollback bound, fan-out,
 * per-attachment drop accounting, bounded input that never blocks, resize, exit and removal,
 * and that nothing (fd, attachment, table entry) stays behind.
 */
import { assert, assertEquals, assertOk } from "../../helpers/assert.ts";
import { type FakeProcess, FakeSys } from "../../fakes/fake_sys.ts";
import { type TerminalLimits, Terminals } from "../../../src/console/terminals.ts";
import type { ExitStatus, TerminalChange, TerminalChunk } from "../../../src/console/hub.ts";
import { AcondError } from "../../../src/errors.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const settle = async (n = 6) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 0));
};

interface Proc {
  p: FakeProcess;
  session: number;
  exit(code: number, signal?: number): void;
}

function setup(limits: Partial<TerminalLimits> = {}) {
  const sys = new FakeSys();
  const hub = new Terminals({
    sys,
    fds: sys.watcher,
    limits: { drainMs: 0, lingerMs: 0, ...limits },
  });
  const changes: TerminalChange[] = [];
  hub.onChange((c) => changes.push(c));
  /** A process on a new terminal of container `cid` (own: its session 0). */
  const start = async (cid: number, own = true, command = "sh"): Promise<Proc> => {
    const pty = hub.open({ containerId: cid, own, imageId: "img", command });
    const { pid } = await sys.spawnContainer({
      path: "/bin/sh",
      argv: ["sh"],
      env: [],
      stdio: [pty.slave, pty.slave, pty.slave],
      umask: 0o077,
      noNewPrivs: true,
      setsid: true,
      ctty: true,
      rootfs: "/",
      workingDir: "/",
      idMap: "",
      devSource: "/dev",
      sharedSource: "",
      ipcSource: "",
      runUsers: [],
    });
    let done!: (s: ExitStatus) => void;
    pty.started(pid, new Promise<ExitStatus>((r) => (done = r)));
    return {
      p: sys.procs.get(pid)!,
      session: pty.session,
      exit(code, signal = 0) {
        sys.exit(pid, code, signal);
        done(signal ? { wstatus: signal, signal: true } : { wstatus: code, signal: false });
      },
    };
  };
  /** The pty fds the hub holds (masters still open). */
  const ptyFds = () => [...sys.fds.entries()].filter(([, f]) => f.kind === "ptyMaster");
  return { sys, hub, changes, start, ptyFds };
}

/** Reads an attachment in the background. */
function collect(a: AsyncIterable<TerminalChunk>) {
  const got = { text: "", dropped: 0, chunks: 0, exit: null as ExitStatus | null, ended: false };
  const done = (async () => {
    for await (const ch of a) {
      got.text += dec(ch.data);
      got.dropped += ch.dropped;
      got.chunks++;
      if (ch.exit) got.exit = ch.exit;
    }
    got.ended = true;
  })();
  return { got, done };
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof AcondError) return e.code;
    throw e;
  }
  return "ok";
}

Deno.test("hub: output fans out to every attachment; scrollback first, bounded, unless refused", async () => {
  const { sys, hub, start } = setup({ scrollbackBytes: 8 });
  const t = await start(7);
  const ref = { containerId: 7, session: 0 };
  sys.print(t.p, 1, "hello ");
  await settle();
  const a = collect(hub.attach(ref));
  const b = collect(hub.attach(ref, { scrollback: false }));
  await settle();
  sys.print(t.p, 1, "world");
  await settle();
  assertEquals(a.got.text, "hello world");
  assertEquals(b.got.text, "world");
  // The scrollback keeps the newest 8 bytes only.
  const late = collect(hub.attach(ref));
  await settle();
  assertEquals(late.got.text, "lo world");
  assertEquals(hub.list()[0].attached, 3);
  assertEquals(hub.attachedCount, 3);
  t.exit(0);
  await Promise.all([a.done, b.done, late.done]);
  assertEquals(hub.attachedCount, 0);
});

Deno.test("hub: a slow attachment loses its oldest bytes and is told how many; others lose none", async () => {
  const { sys, hub, start } = setup({ attachmentBytes: 1000, scrollbackBytes: 100 });
  const t = await start(1);
  const ref = { containerId: 1, session: 0 };
  const slow = hub.attach(ref)[Symbol.asyncIterator]();
  const fast = collect(hub.attach(ref));
  let sent = "";
  for (let i = 0; i < 50; i++) {
    const line = `line ${String(i).padStart(4, "0")} ${"x".repeat(90)}\n`; // 100 bytes
    sent += line;
    sys.print(t.p, 1, line);
    await settle(2);
  }
  await settle();
  assertEquals(fast.got.text, sent);
  assertEquals(fast.got.dropped, 0);
  // The slow one kept the newest 1000 bytes and counted the 4000 it lost.
  let text = "", dropped = 0;
  while (text.length < 1000) {
    const r = await slow.next();
    assert(!r.done);
    text += dec(r.value.data);
    dropped += r.value.dropped;
  }
  assertEquals(text, sent.slice(-1000));
  assertEquals(dropped, sent.length - 1000);
  t.exit(0);
  const last = await slow.next();
  assertEquals([last.done, last.value?.exit], [false, { wstatus: 0, signal: false }]);
  assertEquals((await slow.next()).done, true);
  await fast.done;
});

Deno.test("hub: input reaches the process; a full queue is refused at once, then drains", async () => {
  const { sys, hub, start } = setup({ inputBytes: 300 });
  sys.ptyInputCap = 100; // the pty takes 100 unread bytes, then writes would block
  const t = await start(2);
  const ref = { containerId: 2, session: 0 };
  hub.write(ref, enc("ls\n"));
  assertEquals(sys.readInput(t.p), "ls\n");
  const chunk = (c: string, n: number) => enc(c.repeat(n));
  hub.write(ref, chunk("a", 100)); // into the pty
  hub.write(ref, chunk("b", 300)); // queued: the pty is full
  assertEquals(code(() => hub.write(ref, chunk("c", 1))), "resource_exhausted");
  // The process reads: the queue drains when the master is writable again, in order.
  let seen = "";
  for (let i = 0; i < 10 && seen.length < 400; i++) {
    seen += sys.readInput(t.p);
    await settle();
  }
  assertEquals(seen, "a".repeat(100) + "b".repeat(300));
  hub.write(ref, chunk("c", 1));
  assertEquals(sys.readInput(t.p), "c");
  t.exit(0);
  await settle();
  assertEquals(code(() => hub.write(ref, enc("x"))), "not_found");
});

Deno.test("hub: resize sets the pty's size (24x80 at first); out-of-range sizes are refused", async () => {
  const { sys, hub, start } = setup();
  const t = await start(3);
  const pty = sys.ptyOf(t.p)!;
  assertEquals([pty.rows, pty.cols], [24, 80]);
  hub.resize({ containerId: 3, session: 0 }, 50, 132);
  assertEquals([pty.rows, pty.cols], [50, 132]);
  assertEquals([hub.list()[0].rows, hub.list()[0].cols], [50, 132]);
  for (const [r, c] of [[0, 80], [24, 0], [10001, 80], [24, 1.5]]) {
    assertEquals(code(() => hub.resize({ containerId: 3, session: 0 }, r, c)), "invalid_argument");
  }
  assertEquals(code(() => hub.resize({ containerId: 3, session: 9 }, 1, 1)), "not_found");
  t.exit(0);
  await settle();
});

Deno.test("hub: exit is the last chunk (after the output); announced, then removed; no fd stays", async () => {
  const { sys, hub, start, changes, ptyFds } = setup();
  const t = await start(4);
  const ref = { containerId: 4, session: 0 };
  const a = collect(hub.attach(ref));
  await settle();
  sys.print(t.p, 1, "bye\n");
  t.exit(0, 9);
  await a.done;
  assertEquals([a.got.text, a.got.exit, a.got.ended], [
    "bye\n",
    { wstatus: 9, signal: true },
    true,
  ]);
  await settle();
  assertEquals(changes.map((c) => c.kind), ["added", "exited", "removed"]);
  assertEquals(changes[1], { kind: "exited", ref, exit: { wstatus: 9, signal: true } });
  assertEquals(hub.list(), []);
  assertEquals(ptyFds(), []);
  assertEquals(sys.problems, []);
});

Deno.test("hub: an exited terminal nobody watched lingers: attachable with scrollback and exit", async () => {
  const { sys, hub, start, changes } = setup({ lingerMs: 60_000 });
  const t = await start(5, false, "Sh");
  const ref = { containerId: 5, session: t.session };
  assert(t.session > 0);
  assertEquals(hub.sessions(5).map((s) => s.command), ["Sh"]);
  sys.print(t.p, 1, "early output");
  t.exit(3);
  await settle();
  assertEquals(hub.sessions(5), [], "Inspect lists running sessions only");
  assertEquals(hub.list().map((x) => [x.ref, x.exited]), [[ref, true]]);
  assertEquals(code(() => hub.write(ref, enc("x"))), "failed_precondition");
  const a = collect(hub.attach(ref));
  await a.done;
  assertEquals([a.got.text, a.got.exit], ["early output", { wstatus: 3, signal: false }]);
  await settle();
  assertEquals(hub.list(), [], "removed once its exit was delivered");
  assertEquals(changes.map((c) => c.kind), ["added", "exited", "removed"]);
});

Deno.test("hub: output still held open past the exit: the master is closed after drainMs", async () => {
  const { sys, hub, start, ptyFds } = setup({ drainMs: 5 });
  const t = await start(6);
  // A leftover process (a grandchild) keeps the slave open after the terminal's process exits.
  const slaveCopy = [...sys.fds.entries()].find(([fd, f]) =>
    f.kind === "ptySlave" && t.p.held.includes(fd)
  )!;
  const { pid } = await sys.spawnInContainer(t.p.pid, {
    path: "/bin/sleep",
    argv: ["sleep"],
    env: [],
    stdio: [slaveCopy[0], slaveCopy[0], slaveCopy[0]],
    umask: 0,
    noNewPrivs: true,
    setsid: false,
  }).then((pid) => ({ pid }));
  const a = collect(hub.attach({ containerId: 6, session: 0 }));
  t.exit(1);
  // The hub's timers do not keep a process alive: this poll does (a bound, not a timing).
  for (let i = 0; i < 500 && !a.got.ended; i++) await new Promise((r) => setTimeout(r, 10));
  await a.done;
  assertEquals(a.got.exit, { wstatus: 1, signal: false });
  assertEquals(ptyFds(), []);
  sys.exit(pid, 0);
});

Deno.test("hub: a closed attachment is freed at once, even while its reader waits", async () => {
  const { hub, start } = setup();
  const t = await start(8);
  const a = hub.attach({ containerId: 8, session: 0 });
  const it = a[Symbol.asyncIterator]();
  const pending = it.next();
  assertEquals(hub.attachedCount, 1);
  a.close();
  assertEquals(hub.attachedCount, 0);
  assertEquals((await pending).done, true);
  assertEquals(hub.list()[0].attached, 0);
  t.exit(0);
  await settle();
});

Deno.test("hub: limits: too many attachments or running terminals refused; exited ones make room", async () => {
  const { sys, hub, start, ptyFds } = setup({
    maxAttachments: 2,
    maxTerminals: 2,
    lingerMs: 60_000,
  });
  const t1 = await start(1);
  const ref = { containerId: 1, session: 0 };
  const a = [hub.attach(ref), hub.attach(ref)];
  assertEquals(code(() => hub.attach(ref)), "resource_exhausted");
  a[0].close();
  hub.attach(ref).close();
  a[1].close();
  const t2 = await start(2);
  assertEquals(
    code(() => hub.open({ containerId: 3, own: true, imageId: "i", command: "c" })),
    "resource_exhausted",
  );
  assertEquals(ptyFds().length, 2, "a refused open makes no pty");
  t1.exit(0);
  await settle();
  assertEquals(hub.list().length, 2, "the exited one lingers");
  const t3 = await start(3);
  assertEquals(hub.list().map((x) => x.ref.containerId), [2, 3], "it made room for the new one");
  assertEquals(code(() => hub.attach(ref)), "not_found");
  // A pending pty that is abandoned closes both ends and lists nothing.
  t2.exit(0);
  await settle();
  const p = hub.open({ containerId: 9, own: true, imageId: "i", command: "c" });
  p.abandon();
  assertOk(!hub.list().some((x) => x.ref.containerId === 9));
  assertEquals(sys.fds.has(p.slave), false);
  t3.exit(0);
  await settle();
  assertEquals(sys.problems, []);
});

Deno.test("hub: a container's next run replaces its terminal (session 0)", async () => {
  const { hub, start, changes } = setup({ lingerMs: 60_000 });
  const first = await start(4);
  first.exit(0);
  await settle();
  const second = await start(4);
  assertEquals(hub.list().map((x) => [x.pid, x.exited]), [[second.p.pid, false]]);
  assertEquals(changes.map((c) => c.kind), ["added", "exited", "removed", "added"]);
  second.exit(0);
  await settle();
});
