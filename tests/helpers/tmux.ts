/**
 * A real terminal for tests: a private tmux server (its own socket) with one pane, driven as a
 * user would: keys in (send-keys, raw bytes with -H), the screen out (capture-pane).
 */
import { assertOk } from "./assert.ts";

const dec = new TextDecoder();

export interface Tmux {
  /** Literal text typed into the pane. */
  type(text: string): Promise<void>;
  /** tmux key names: "Enter", "C-c", ... */
  keys(...names: string[]): Promise<void>;
  /** Raw bytes into the pane (e.g. the hotkey: 0x1b 0x0f 0x78). */
  bytes(...b: number[]): Promise<void>;
  /** The pane's text: its history and screen, wrapped lines joined. */
  screen(): Promise<string>;
  /** Forgets the pane's history (what scrolled off); the screen stays. */
  clearHistory(): Promise<void>;
  /** Waits (bounded) until the screen matches; returns the match. */
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  kill(): Promise<void>;
}

async function tmux(sock: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("tmux", {
    args: ["-S", sock, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`tmux ${args.join(" ")}: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

/** A pane of rows x cols running `command` (a shell command line) with `env`. */
export async function startTmux(
  command: string,
  o: { rows?: number; cols?: number; env?: Record<string, string> } = {},
): Promise<Tmux> {
  const dir = await Deno.makeTempDir({ prefix: "tmux-" });
  const sock = `${dir}/sock`;
  const env = Object.entries(o.env ?? {}).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
  await tmux(
    sock,
    "-f",
    "/dev/null",
    "new-session",
    "-d",
    "-s",
    "t",
    "-x",
    String(o.cols ?? 120),
    "-y",
    String(o.rows ?? 40),
    ...env,
    command,
  );
  // The pane stays after its program exits, so that the test can still read it.
  await tmux(sock, "set-option", "-t", "t", "remain-on-exit", "on");
  await tmux(sock, "set-option", "-t", "t", "history-limit", "10000");
  const t: Tmux = {
    type: async (text) => void await tmux(sock, "send-keys", "-t", "t", "-l", text),
    keys: async (...names) => void await tmux(sock, "send-keys", "-t", "t", ...names),
    bytes: async (...b) =>
      void await tmux(
        sock,
        "send-keys",
        "-t",
        "t",
        "-H",
        ...b.map((x) => x.toString(16).padStart(2, "0")),
      ),
    screen: () => tmux(sock, "capture-pane", "-p", "-J", "-S", "-", "-t", "t"),
    clearHistory: async () => void await tmux(sock, "clear-history", "-t", "t"),
    async waitFor(re, ms = 20000) {
      const end = Date.now() + ms;
      let s = "";
      for (;;) {
        s = await t.screen();
        const m = s.match(re);
        if (m) return m;
        if (Date.now() > end) throw new Error(`the terminal never showed ${re}; it shows:\n${s}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async kill() {
      try {
        await tmux(sock, "kill-server");
      } catch { /* already gone */ }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
  return t;
}

/** Waits (bounded) for a file to exist with content; returns it. */
export async function waitForFile(path: string, ms = 20000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const s = await Deno.readTextFile(path);
      if (s.length) return s;
    } catch { /* not yet */ }
    assertOk(Date.now() < end, `${path} never appeared`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
