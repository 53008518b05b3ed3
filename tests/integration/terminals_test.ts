/**
 * Terminals over the API (issue 11, docs/console.md) against the real dist/acond --dev with real
 * busybox containers and the connect-es client: a container whose entry point is `sh` on its own
 * pty (input in, output out, window size, exit seen, two clients at once), an interactive Exec's
 * terminal, interactive mode off (everything refused, nothing reaches the console), the verifier,
 * and hostile clients and containers (a client that reads nothing while 100 MB are written, a
 * process that never reads its input, a client that vanishes mid-stream).
 */
import { Code } from "@connectrpc/connect";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import {
  code,
  image,
  info,
  sleep,
  waitExited,
  type World,
  worldTest,
} from "../helpers/containers.ts";
import { TOP } from "../helpers/daemon.ts";
import type { TerminalOutput } from "../../src/gen/acon_pb.ts";

/** A bound on every call, so that a daemon that hangs fails the test instead of hanging it. */
const BOUND = { timeoutMs: 30000 };
const enc = (s: string) => new TextEncoder().encode(s);

const termTest = worldTest;
const interactive = { args: ["--interactive"] };

/** An Attach stream read in the background: all its text, what it lost, its last message. */
class Reader {
  text = "";
  dropped = 0n;
  messages = 0;
  exit: TerminalOutput | null = null;
  error: unknown = null;
  readonly cut = new AbortController();
  readonly done: Promise<void>;

  constructor(w: World, containerId: number, session = 0, noScrollback = false) {
    const stream = w.c.attach(
      { terminal: { containerId, session }, noScrollback },
      { signal: this.cut.signal, timeoutMs: 120000 },
    );
    const d = new TextDecoder();
    this.done = (async () => {
      try {
        for await (const m of stream) {
          this.messages++;
          this.text += d.decode(m.data, { stream: true });
          this.dropped += m.dropped;
          if (m.exited) this.exit = m;
        }
      } catch (e) {
        if (!this.cut.signal.aborted) this.error = e;
      }
    })();
  }

  /** Waits until the text matches (a bound, not a timed assertion). */
  async waitFor(re: RegExp, ms = 20000): Promise<RegExpMatchArray> {
    const end = Date.now() + ms;
    for (;;) {
      const m = this.text.match(re);
      if (m) return m;
      if (this.error) throw this.error;
      if (Date.now() > end) throw new Error(`no ${re} in the terminal's output:\n${this.text}`);
      await sleep(20);
    }
  }

  async waitExit(ms = 20000): Promise<TerminalOutput> {
    const end = Date.now() + ms;
    while (!this.exit) {
      if (this.error) throw this.error;
      if (Date.now() > end) throw new Error(`no exit seen; output:\n${this.text}`);
      await sleep(20);
    }
    return this.exit;
  }

  async close(): Promise<void> {
    this.cut.abort();
    await this.done;
  }
}

const write = (w: World, containerId: number, text: string, session = 0) =>
  w.c.writeTerminal({ terminal: { containerId, session }, data: enc(text) }, BOUND);

/** A container whose entry point is busybox sh (interactive: it is on a tty). */
async function shell(w: World): Promise<number> {
  const img = await image(w, { entrypoint: ["/bin/sh"] });
  return (await w.c.start({ imageId: img }, BOUND)).containerId;
}

async function attachedCount(w: World, containerId: number, session = 0): Promise<number> {
  const list = (await w.c.listTerminals({}, BOUND)).terminals;
  const t = list.find((x) =>
    x.terminal?.containerId === containerId && x.terminal.session === session
  );
  return t?.attached ?? -1;
}

termTest(
  "a container's sh on its own terminal: input, output, window size, two clients, exit",
  async (w) => {
    const id = await shell(w);
    const listed = (await w.c.listTerminals({}, BOUND)).terminals;
    assertEquals(listed.length, 1);
    const t = listed[0];
    assertEquals([t.terminal?.containerId, t.terminal?.session], [id, 0]);
    assertEquals([t.command, t.exited, t.rows, t.cols], ["/bin/sh", false, 24, 80]);
    assertEquals(t.pid, (await info(w, id)).pid);

    const a = new Reader(w, id);
    const b = new Reader(w, id);
    try {
      // The prompt of an interactive sh: its stdin is a terminal.
      await a.waitFor(/\/ # /);
      await write(w, id, "echo one-$((1+1))\n");
      await a.waitFor(/\r\none-2\r\n/);
      await b.waitFor(/\r\none-2\r\n/);
      // Input from either client (WriteTerminal names the terminal, not the attachment).
      await write(w, id, "tty; echo two-$((2+2))\n");
      await a.waitFor(/\r\ntwo-4\r\n/);
      await b.waitFor(/\r\ntwo-4\r\n/);
      assertMatch(a.text, /\r\n\/dev\/pts\/\d+\r\n/);
      assertEquals(await attachedCount(w, id), 2);
      // Window size: the default, then a resize that the process sees.
      await write(w, id, "stty size\n");
      await a.waitFor(/\r\n24 80\r\n/);
      await w.c.resizeTerminal(
        { terminal: { containerId: id, session: 0 }, rows: 33, cols: 111 },
        BOUND,
      );
      await write(w, id, "stty size\n");
      await a.waitFor(/\r\n33 111\r\n/);
      assertEquals((await w.c.listTerminals({}, BOUND)).terminals[0].rows, 33);
      // A late client gets the scrollback first.
      const late = new Reader(w, id);
      await late.waitFor(/one-2[\s\S]*two-4[\s\S]*33 111/);
      await late.close();
      // Exit: the last message says so, with the status, on every attachment.
      await write(w, id, "exit 7\n");
      for (const r of [a, b]) {
        const e = await r.waitExit();
        assertEquals([e.exited, e.wstatus, e.exitSignal], [true, 7, false]);
        await r.done; // the stream ended after it
      }
      const i = await waitExited(w, id);
      assertEquals(i.wstatus, 7);
      // Announced and then removed once delivered.
      const end = Date.now() + 20000;
      while ((await w.c.listTerminals({}, BOUND)).terminals.length > 0) {
        assert(Date.now() < end, "the exited terminal was never removed");
        await sleep(50);
      }
      assertEquals(await code(write(w, id, "x")), [Code.NotFound, `No terminal ${id}/0`]);
    } finally {
      await a.close();
      await b.close();
    }
  },
  interactive,
);

termTest("an interactive Exec's terminal, by the session id Exec returns", async (w) => {
  const id = (await w.c.start({ imageId: await image(w) }, BOUND)).containerId;
  const r = await w.c.exec({
    containerId: id,
    command: "Sh",
    arguments: ["echo hello-$((3*3)); read x; echo got-$x; exit 5"],
    envs: ["PATH=/bin"],
    timeout: 0n,
  }, BOUND);
  assert(r.session > 0, `session ${r.session}`);
  const sessions = (await info(w, id)).sessions;
  assertEquals(sessions.map((s) => [s.session, s.command]), [[r.session, "Sh"]]);
  const list = (await w.c.listTerminals({}, BOUND)).terminals.map((t) => t.terminal?.session);
  assertEquals(list.sort(), [0, r.session].sort(), "the container's own terminal and the Exec's");
  // aconctl lists both terminals and names the Exec's session in inspect.
  const listed = await aconctl(w, ["terminals"]);
  assertEquals(listed.code, 0, listed.out);
  assertMatch(
    listed.out,
    new RegExp(`^${id}/0\\tsha384/\\S+\\t[^\\t]+\\trunning\\t0\\t24x80$`, "m"),
  );
  assertMatch(
    listed.out,
    new RegExp(`^${id}/${r.session}\\t\\S+\\tSh\\trunning\\t0\\t24x80$`, "m"),
  );
  const json = JSON.parse((await aconctl(w, ["--json", "terminals"])).out);
  assertEquals(json.terminals.length, 2);
  assertMatch(
    (await aconctl(w, ["inspect", String(id)])).out,
    new RegExp(`session ${id}/${r.session} pid \\d+ /dev/pts/\\d+ Sh`),
  );
  const a = new Reader(w, id, r.session);
  try {
    await a.waitFor(/hello-9/); // from the scrollback if it came before the attach
    await write(w, id, "abc\n", r.session);
    await a.waitFor(/got-abc/);
    const e = await a.waitExit();
    assertEquals([e.wstatus, e.exitSignal], [5, false]);
    assertEquals((await info(w, id)).sessions, []);
    assertEquals(
      await code(write(w, id, "x", r.session + 1000)),
      [Code.NotFound, `No terminal ${id}/${r.session + 1000}`],
    );
  } finally {
    await a.close();
  }
  await w.c.kill({ containerId: id, signalNum: 9 }, BOUND);
  await waitExited(w, id);
}, interactive);

termTest("a manifest with logFDs keeps pipes in interactive mode: Logs, no terminal", async (w) => {
  const img = await image(w, {
    entrypoint: ["/bin/sh", "-c", "echo to-logs; exec sleep 1000"],
    logFDs: [1, 2],
  });
  const id = (await w.c.start({ imageId: img }, BOUND)).containerId;
  assertEquals((await w.c.listTerminals({}, BOUND)).terminals, []);
  const cut = new AbortController();
  let text = "";
  for await (
    const ch of w.c.logs({ containerId: id, fromStart: true, follow: true }, { signal: cut.signal })
  ) {
    text += new TextDecoder().decode(ch.data);
    if (text.includes("to-logs")) break;
  }
  cut.abort();
  assertEquals(
    await code(write(w, id, "x")),
    [Code.NotFound, `No terminal ${id}/0`],
  );
  await w.c.kill({ containerId: id, signalNum: 9 }, BOUND);
  await waitExited(w, id);
}, interactive);

async function aconctl(w: World, args: string[]) {
  const out = await new Deno.Command(`${TOP}/dist/aconctl`, {
    args: ["--socket", w.d.socket, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    out: new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
  };
}

termTest(
  "interactive mode off: terminal RPCs and pty Exec refused, nothing reaches the console, the verifier accepts",
  async (w) => {
    const boot = (await w.c.getEventLog({}, BOUND)).lines.find((l) => l.startsWith("acond Boot "));
    assertMatch(boot ?? "", /"interactive":false[,}]/);
    const img = await image(w, {
      entrypoint: [
        "/bin/sh",
        "-c",
        "echo MARK-OUT; echo MARK-ERR >&2; touch /shared/marked; exec sleep 1000",
      ],
    });
    const id = (await w.c.start({ imageId: img }, BOUND)).containerId;
    const end = Date.now() + 20000;
    while (!(await Deno.stat(`${w.d.root}/shared/marked`).then(() => true, () => false))) {
      assert(Date.now() < end, "the container never ran its echo");
      await sleep(20);
    }
    const pid = (await info(w, id)).pid;
    for (const fd of [0, 1, 2]) {
      assertEquals(await Deno.readLink(`/proc/${pid}/fd/${fd}`), "/dev/null");
    }
    assert(!w.d.stderr().includes("MARK-"), "container output reached acond's console");
    const ref = { containerId: id, session: 0 };
    const refusals: [string, () => Promise<unknown>][] = [
      ["ListTerminals", () => w.c.listTerminals({}, BOUND)],
      [
        "Attach",
        async () => {
          for await (const _ of w.c.attach({ terminal: ref }, BOUND)) { /* nothing comes */ }
        },
      ],
      ["WriteTerminal", () => w.c.writeTerminal({ terminal: ref, data: enc("x") }, BOUND)],
      ["ResizeTerminal", () => w.c.resizeTerminal({ terminal: ref, rows: 10, cols: 10 }, BOUND)],
      [
        "pty Exec",
        () => w.c.exec({ containerId: id, command: "Sh", arguments: ["true"], timeout: 0n }, BOUND),
      ],
    ];
    for (const [what, p] of refusals) {
      const [cd, msg] = await code(p());
      assertEquals(cd, Code.FailedPrecondition, what);
      assertMatch(msg, /^interactive mode is off: .*acond\.interactive.*--interactive/, what);
    }
    // Over curl (Connect JSON) too.
    const viaCurl = await w.d.curl("WriteTerminal", {
      terminal: { containerId: id },
      data: "eA==",
    });
    assertEquals(viaCurl.status, 400);
    assertMatch(viaCurl.raw, /failed_precondition/);
    const t = await aconctl(w, ["terminals"]);
    assertEquals(t.code, 1, t.out);
    assertMatch(t.out, /interactive mode is off.*acond\.interactive/);
    const v = await aconctl(w, ["report", "--verify", "--allow-sim"]);
    assertEquals(v.code, 0, v.out);
    assertMatch(v.out, /verification: OK/);
    await w.c.kill({ containerId: id, signalNum: 9 }, BOUND);
    await waitExited(w, id);
  },
);

termTest(
  "interactive evidence: the verifier refuses it without --allow-interactive (report --verify and verify)",
  async (w) => {
    const plain = await aconctl(w, ["report", "--verify", "--allow-sim"]);
    assertEquals(plain.code, 1, plain.out);
    assertMatch(
      plain.out,
      /ERROR: the boot event says interactive mode is on .*--allow-interactive/,
    );
    const debugOnly = await aconctl(w, ["report", "--verify", "--allow-sim", "--allow-debug"]);
    assertEquals(debugOnly.code, 1, "--allow-debug does not cover interactive mode");
    const allowed = await aconctl(w, ["report", "--verify", "--allow-sim", "--allow-interactive"]);
    assertEquals(allowed.code, 0, allowed.out);
    assertMatch(allowed.out, /interactive true/);
    // Offline, from saved evidence.
    const saved = await aconctl(w, ["--json", "report"]);
    assertEquals(saved.code, 0);
    const file = `${w.d.dir}/r.json`;
    await Deno.writeTextFile(file, saved.out.slice(saved.out.indexOf("{")));
    assertEquals((await aconctl(w, ["verify", file, "--allow-sim"])).code, 1);
    assertEquals(
      (await aconctl(w, ["verify", file, "--allow-sim", "--allow-interactive"])).code,
      0,
    );
  },
  interactive,
);

/**
 * A client that sends an Attach (Connect streaming, HTTP/1.1) on a raw socket and then reads
 * nothing until told to: the daemon's response backs up into its own buffers.
 */
async function rawAttach(w: World, containerId: number): Promise<Deno.UnixConn> {
  const json = enc(JSON.stringify({ terminal: { containerId, session: 0 } }));
  const env = new Uint8Array(5 + json.length);
  new DataView(env.buffer).setUint32(1, json.length);
  env.set(json, 5);
  const head = "POST /acon.grpc.AconService/Attach HTTP/1.1\r\nHost: localhost\r\n" +
    "Content-Type: application/connect+json\r\nConnect-Protocol-Version: 1\r\n" +
    `Content-Length: ${env.length}\r\n\r\n`;
  const conn = await Deno.connect({ transport: "unix", path: w.d.socket });
  const req = new Uint8Array([...enc(head), ...env]);
  for (let off = 0; off < req.length;) off += await conn.write(req.subarray(off));
  return conn;
}

/** Polls ListTerminals until the container's terminal has `n` attachments (a bound). */
async function waitAttached(w: World, containerId: number, n: number) {
  const end = Date.now() + 20000;
  for (;;) {
    const got = await attachedCount(w, containerId);
    if (got === n) return;
    if (Date.now() > end) throw new Error(`terminal ${containerId}/0: ${got} attached, not ${n}`);
    await sleep(20);
  }
}

function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]);
}

termTest(
  "a client that reads nothing while a container writes 100 MB: acond's memory stays bounded, it answers",
  async (w) => {
    const img = await image(w, {
      entrypoint: [
        "/bin/sh",
        "-c",
        "read go; head -c 100000000 /dev/zero; touch /shared/written; exec sleep 1000",
      ],
    });
    const id = (await w.c.start({ imageId: img }, BOUND)).containerId;
    const slow = await rawAttach(w, id);
    try {
      await waitAttached(w, id, 1);
      const pid = w.d.proc.pid;
      const before = rssKiB(pid);
      await write(w, id, "go\n");
      // While it writes (and after): other RPCs answer; the slow client stays attached.
      const end = Date.now() + 300_000;
      let calls = 0;
      while (!(await Deno.stat(`${w.d.root}/shared/written`).then(() => true, () => false))) {
        assert(Date.now() < end, "the container never finished writing");
        assertEquals((await w.c.health({}, BOUND)).containers, 1);
        assertEquals((await info(w, id)).running, true);
        calls++;
        await sleep(200);
      }
      const grown = rssKiB(pid) - before;
      assert(
        grown < 64 * 1024,
        `acond's RSS grew by ${grown} KiB while 100 MB went to a client that reads nothing`,
      );
      assertEquals(await attachedCount(w, id), 1);
      assertEquals((await w.c.health({}, BOUND)).containers, 1);
      console.log(
        `RSS before ${before} KiB, growth ${grown} KiB; ${calls} Health+Inspect rounds meanwhile`,
      );
      // What the slow client gets once it reads: output with the bytes it lost counted.
      const buf = new Uint8Array(1 << 20);
      let seen = "";
      const readEnd = Date.now() + 20000;
      while (!/"dropped":"[1-9]\d*"/.test(seen) && Date.now() < readEnd) {
        const n = await slow.read(buf);
        if (n === null) break;
        seen += new TextDecoder().decode(buf.subarray(0, n));
        if (seen.length > 4 << 20) seen = seen.slice(-65536);
      }
      assertMatch(seen, /"dropped":"[1-9]\d*"/);
    } finally {
      slow.close();
    }
    await waitAttached(w, id, 0);
    await w.c.kill({ containerId: id, signalNum: 9 }, BOUND);
    await waitExited(w, id);
  },
  interactive,
);

termTest(
  "a process that never reads its input: WriteTerminal is refused when its queue is full, nothing else waits",
  async (w) => {
    const deaf = await image(w, { entrypoint: ["/bin/sh", "-c", "exec sleep 1000"] });
    const id = (await w.c.start({ imageId: deaf }, BOUND)).containerId;
    const other = await shell(w);
    const chunk = enc(("y".repeat(1023) + "\n").repeat(64)); // 64 KiB, the most one call takes
    let accepted = 0;
    let refusal: [Code, string] | null = null;
    for (let i = 0; i < 100 && !refusal; i++) {
      try {
        await w.c.writeTerminal({ terminal: { containerId: id, session: 0 }, data: chunk }, BOUND);
        accepted++;
      } catch (e) {
        refusal = await code(Promise.reject(e));
      }
    }
    assert(refusal, `${accepted} writes of 64 KiB all accepted`);
    assertEquals(refusal[0], Code.ResourceExhausted);
    assertMatch(refusal[1], /input queue is full/);
    assert(accepted >= 1 && accepted <= 10, `${accepted} writes accepted`);
    // Too big for one call: invalid_argument.
    const [big] = await code(
      w.c.writeTerminal(
        { terminal: { containerId: id, session: 0 }, data: new Uint8Array(65537) },
        BOUND,
      ),
    );
    assertEquals(big, Code.InvalidArgument);
    const [badSize] = await code(
      w.c.resizeTerminal({ terminal: { containerId: id, session: 0 }, rows: 0, cols: 80 }, BOUND),
    );
    assertEquals(badSize, Code.InvalidArgument);
    // The daemon and the other terminal are unaffected.
    assertEquals((await w.c.health({}, BOUND)).containers, 2);
    const a = new Reader(w, other);
    try {
      await write(w, other, "echo fine-$((5*5))\n");
      await a.waitFor(/\r\nfine-25\r\n/);
    } finally {
      await a.close();
    }
    for (const c of [id, other]) await w.c.kill({ containerId: c, signalNum: 9 }, BOUND);
    await waitExited(w, id);
    await waitExited(w, other);
  },
  interactive,
);

termTest("a client that vanishes mid-stream: its attachment is freed", async (w) => {
  const id = await shell(w);
  const keep = new Reader(w, id);
  try {
    await keep.waitFor(/\/ # /);
    const gone = await rawAttach(w, id);
    await waitAttached(w, id, 2);
    // Output flows to both, then the raw client's connection goes away without a word.
    await write(w, id, "i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done\n");
    await keep.waitFor(/line-1999/);
    gone.close();
    await waitAttached(w, id, 1);
    // A connect-es client that aborts is freed too, and the one left still works.
    const quitter = new Reader(w, id);
    await waitAttached(w, id, 2);
    await quitter.close();
    await waitAttached(w, id, 1);
    await write(w, id, "echo still-$((6*7))\n");
    await keep.waitFor(/\r\nstill-42\r\n/);
  } finally {
    await keep.close();
  }
  await waitAttached(w, id, 0);
  await w.c.kill({ containerId: id, signalNum: 9 }, BOUND);
  await waitExited(w, id);
}, interactive);

termTest("a Restart gives the container's new run a fresh terminal", async (w) => {
  const img = await image(w, { entrypoint: ["/bin/sh"], signals: [9, 15] });
  const id = (await w.c.start({ imageId: img }, BOUND)).containerId;
  const first = new Reader(w, id);
  try {
    await first.waitFor(/\/ # /);
    await write(w, id, "echo run-one\n");
    await first.waitFor(/\r\nrun-one\r\n/);
    await w.c.restart({ containerId: id, timeout: 10n }, BOUND);
    const e = await first.waitExit();
    assertEquals([e.wstatus, e.exitSignal], [9, true]);
  } finally {
    await first.close();
  }
  const list = (await w.c.listTerminals({}, BOUND)).terminals;
  assertEquals(list.map((t) => [t.terminal?.session ?? 0, t.exited, t.pid]), [[
    0,
    false,
    (await info(w, id)).pid,
  ]]);
  const second = new Reader(w, id);
  try {
    await second.waitFor(/\/ # /);
    assert(!second.text.includes("run-one"), "the new run's terminal has no old scrollback");
    await write(w, id, "echo run-two\n");
    await second.waitFor(/\r\nrun-two\r\n/);
  } finally {
    await second.close();
  }
  await w.c.kill({ containerId: id, signalNum: 9 }, BOUND);
  await waitExited(w, id);
}, interactive);
