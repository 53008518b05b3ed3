/**
 * A raw-mode terminal session on one of acond's terminals (`aconctl attach`, `exec -it`): the
 * local terminal in raw mode, keys → WriteTerminal (coalesced: one call in flight, what is typed
 * meanwhile goes with the next), the Attach stream → stdout, the window size on start and on
 * SIGWINCH → ResizeTerminal, and ACON's detach hotkey (Ctrl+Alt+O then x). The local terminal is
 * restored on every way out: detach, the remote's exit (its status becomes ours), a stream
 * error, SIGINT/SIGTERM/SIGHUP, an exception.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { AconClient } from "./client.ts";
import { HOTKEY_TEXT, HotkeyDetector } from "../console/hotkey.ts";

export interface TerminalId {
  containerId: number;
  session: number;
}

/** Largest WriteTerminal (the API takes at most 64 KiB per call). */
const MAX_WRITE = 64 * 1024;
/** How long a lone ESC is held (it may start the hotkey). */
const ESCAPE_MS = 30;

const enc = new TextEncoder();

/** Why the session ended, and the exit code aconctl returns. */
export type SessionEnd =
  | { kind: "detached" }
  | { kind: "exited"; code: number; signal: boolean; wstatus: number }
  | { kind: "signal"; signal: Deno.Signal }
  | { kind: "error"; error: unknown };

/** The terminal's name as the console shows it. */
export function terminalText(t: TerminalId): string {
  return `${t.containerId}/${t.session}`;
}

/**
 * Runs the session until it ends; returns aconctl's exit code. Throws (before touching the local
 * terminal) when stdin is not a terminal or the remote terminal cannot be reached.
 */
export async function runSession(client: AconClient, t: TerminalId): Promise<number> {
  if (!Deno.stdin.isTerminal()) {
    throw new Error("needs a terminal: stdin is not a tty (run it in a terminal, not a pipe)");
  }
  const terminal = { containerId: t.containerId, session: t.session };
  // Unary first: an unknown terminal or interactive mode off fails here, with the terminal as it
  // was, and the remote gets our size before it draws anything.
  await client.resizeTerminal({ terminal, ...size() });

  const abort = new AbortController();
  let end: SessionEnd | null = null;
  let finished: () => void = () => {};
  const done = new Promise<void>((r) => (finished = r));
  const finish = (e: SessionEnd) => {
    if (end) return;
    end = e;
    abort.abort();
    finished();
  };

  const signals: [Deno.Signal, () => void][] = (["SIGINT", "SIGTERM", "SIGHUP"] as const).map(
    (s) => [s, () => finish({ kind: "signal", signal: s })],
  );
  const winch = () => {
    client.resizeTerminal({ terminal, ...size() }, { signal: abort.signal }).catch(() => {});
  };
  Deno.stdin.setRaw(true);
  try {
    for (const [s, f] of signals) Deno.addSignalListener(s, f);
    Deno.addSignalListener("SIGWINCH", winch);
    await writeErr(`[attached to ${terminalText(t)}; detach with ${HOTKEY_TEXT}]\r\n`);

    // Output.
    (async () => {
      try {
        for await (
          const m of client.attach({ terminal, noScrollback: false }, { signal: abort.signal })
        ) {
          if (m.data.length) await writeAll(Deno.stdout, m.data);
          if (m.exited) {
            return finish({
              kind: "exited",
              code: m.exitSignal ? 128 + m.wstatus : m.wstatus,
              signal: m.exitSignal,
              wstatus: m.wstatus,
            });
          }
        }
        finish({ kind: "error", error: new Error("the terminal's output ended (acond stopped?)") });
      } catch (e) {
        finish({ kind: "error", error: e });
      }
    })();

    // Input.
    const input = new InputPump(client, terminal, abort.signal, (e) => finish(e));
    (async () => {
      const buf = new Uint8Array(16 * 1024);
      try {
        while (!end) {
          const n = await Deno.stdin.read(buf);
          if (n === null) return; // end of input: the session goes on until detach or exit
          input.typed(buf.subarray(0, n));
          await input.room();
        }
      } catch (e) {
        finish({ kind: "error", error: e });
      }
    })();

    await done;
  } catch (e) {
    finish({ kind: "error", error: e });
  } finally {
    restore();
    for (const [s, f] of signals) Deno.removeSignalListener(s, f);
    Deno.removeSignalListener("SIGWINCH", winch);
  }
  return await report(end!, t);
}

/** The local terminal back as it was (idempotent; never throws). */
function restore(): void {
  try {
    Deno.stdin.setRaw(false);
  } catch { /* stdin is gone */ }
}

async function report(e: SessionEnd, t: TerminalId): Promise<number> {
  switch (e.kind) {
    case "detached":
      await writeErr(`\r\n[detached from ${terminalText(t)}]\n`);
      return 0;
    case "exited":
      await writeErr(
        `\r\n[${terminalText(t)} exited: ${
          e.signal ? `killed by signal ${e.wstatus}` : `exit status ${e.wstatus}`
        }]\n`,
      );
      return e.code;
    case "signal":
      await writeErr(`\r\n[${e.signal}: left ${terminalText(t)}]\n`);
      return 128 + ({ SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as Record<string, number>)[e.signal];
    case "error": {
      const err = e.error;
      const msg = err instanceof ConnectError ? err.rawMessage : (err as Error)?.message;
      await writeErr(`\r\n[${terminalText(t)}: ${msg}]\n`);
      return 1;
    }
  }
}

/** Keys to WriteTerminal: one call in flight; keys typed meanwhile are coalesced into the next. */
class InputPump {
  readonly #client: AconClient;
  readonly #terminal: TerminalId;
  readonly #signal: AbortSignal;
  readonly #end: (e: SessionEnd) => void;
  readonly #hotkey = new HotkeyDetector();
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #sending = false;
  #escTimer: ReturnType<typeof setTimeout> | null = null;
  #drained: (() => void) | null = null;

  constructor(
    client: AconClient,
    terminal: TerminalId,
    signal: AbortSignal,
    end: (e: SessionEnd) => void,
  ) {
    this.#client = client;
    this.#terminal = terminal;
    this.#signal = signal;
    this.#end = end;
  }

  typed(bytes: Uint8Array): void {
    if (this.#escTimer !== null) clearTimeout(this.#escTimer);
    this.#escTimer = null;
    const r = this.#hotkey.feed(bytes);
    this.#queue(r.data);
    if (r.detach) return this.#end({ kind: "detached" });
    if (this.#hotkey.holding) {
      this.#escTimer = setTimeout(() => {
        this.#escTimer = null;
        this.#queue(this.#hotkey.flush());
      }, ESCAPE_MS);
    }
  }

  /** Resolves when there is room for more input (a slow remote slows our reading). */
  room(): Promise<void> {
    if (this.#pendingBytes < MAX_WRITE) return Promise.resolve();
    return new Promise((r) => (this.#drained = r));
  }

  #queue(data: Uint8Array): void {
    if (data.length === 0) return;
    this.#pending.push(data.slice());
    this.#pendingBytes += data.length;
    if (!this.#sending) void this.#send();
  }

  async #send(): Promise<void> {
    this.#sending = true;
    try {
      while (this.#pendingBytes > 0 && !this.#signal.aborted) {
        const chunk = this.#take();
        for (let attempt = 0;; attempt++) {
          try {
            await this.#client.writeTerminal(
              { terminal: this.#terminal, data: chunk },
              { signal: this.#signal },
            );
            break;
          } catch (e) {
            // The remote's input queue is full (its program does not read): wait, then again.
            if (e instanceof ConnectError && e.code === Code.ResourceExhausted && attempt < 100) {
              await new Promise((r) => setTimeout(r, 50));
              continue;
            }
            if (!this.#signal.aborted) this.#end({ kind: "error", error: e });
            return;
          }
        }
        if (this.#pendingBytes < MAX_WRITE) {
          this.#drained?.();
          this.#drained = null;
        }
      }
    } finally {
      this.#sending = false;
    }
  }

  #take(): Uint8Array {
    const n = Math.min(this.#pendingBytes, MAX_WRITE);
    const out = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const head = this.#pending[0];
      const k = Math.min(head.length, n - off);
      out.set(head.subarray(0, k), off);
      off += k;
      if (k === head.length) this.#pending.shift();
      else this.#pending[0] = head.subarray(k);
    }
    this.#pendingBytes -= n;
    return out;
  }
}

function size(): { rows: number; cols: number } {
  try {
    const s = Deno.consoleSize();
    if (s.rows > 0 && s.columns > 0) return { rows: s.rows, cols: s.columns };
  } catch { /* not a terminal */ }
  return { rows: 24, cols: 80 };
}

async function writeAll(w: { write(b: Uint8Array): Promise<number> }, b: Uint8Array) {
  let off = 0;
  while (off < b.length) off += await w.write(b.subarray(off));
}

async function writeErr(s: string): Promise<void> {
  try {
    await writeAll(Deno.stderr, enc.encode(s));
  } catch { /* stderr closed */ }
}
