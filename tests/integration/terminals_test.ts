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
import { code, image, info, sleep, waitExited, type World, world } from "../helpers/containers.ts";
import type { DaemonOptions } from "../helpers/daemon.ts";
import type { TerminalOutput } from "../../src/gen/acon_pb.ts";

/** A bound on every call, so that a daemon that hangs fails the test instead of hanging it. */
const BOUND = { timeoutMs: 30000 };
const enc = (s: string) => new TextEncoder().encode(s);

function termTest(name: string, fn: (w: World) => Promise<void>, o: DaemonOptions = {}): void {
  Deno.test(name, async () => {
    const w = await world(o);
    try {
      await fn(w);
    } finally {
      await w.d.stop();
    }
  });
}
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
