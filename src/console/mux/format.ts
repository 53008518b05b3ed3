/** What the console multiplexer prints: pure text from the hub's data (lines end in CRLF). */
import type { ExitStatus, TerminalRef, TerminalSummary } from "../hub.ts";
import { HOTKEY_TEXT } from "../hotkey.ts";

export const PROMPT = "[Acond]: ";
export const CRLF = "\r\n";

/** A terminal's id as the console shows and takes it: `container/session`. */
export function refText(ref: TerminalRef): string {
  return `${ref.containerId}/${ref.session}`;
}

/** `C/S`, or `C` for the container's own terminal (session 0); null when malformed. */
export function parseRef(s: string): TerminalRef | null {
  const m = /^(\d{1,10})(?:\/(\d{1,10}))?$/.exec(s);
  if (!m) return null;
  const containerId = Number(m[1]);
  const session = m[2] === undefined ? 0 : Number(m[2]);
  if (containerId > 0xffff_ffff || session > 0xffff_ffff) return null;
  return { containerId, session };
}

export function exitText(e: ExitStatus): string {
  return e.signal ? `killed by signal ${e.wstatus}` : `exit status ${e.wstatus}`;
}

/** Printable ASCII only: a hostile command line or image id cannot send escapes to the console. */
function clean(s: string, max: number): string {
  const t = s.replace(/[^\x20-\x7e]/g, "?");
  return t.length > max ? `${t.slice(0, max - 1)}~` : t;
}

/** The `list` table: ID, CONTAINER, IMAGE, COMMAND, STATE, ATTACHED. */
export function listText(terms: TerminalSummary[]): string {
  if (terms.length === 0) return `no terminals${CRLF}`;
  const rows = [["ID", "CONTAINER", "IMAGE", "COMMAND", "STATE", "ATTACHED"]];
  const sorted = [...terms].sort((a, b) =>
    a.ref.containerId - b.ref.containerId || a.ref.session - b.ref.session
  );
  for (const t of sorted) {
    rows.push([
      refText(t.ref),
      String(t.ref.containerId),
      clean(t.imageId, 64).slice(0, 16),
      clean(t.command, 40),
      t.exited ? "exited" : "running",
      String(t.attached),
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd() + CRLF)
    .join("");
}

/** The `log` output: the last `n` lines of acond's own log. */
export function logText(lines: string[], n: number): string {
  const tail = lines.slice(-n);
  if (tail.length === 0) return `no log lines${CRLF}`;
  return tail.map((l) => clean(l, 4096) + CRLF).join("");
}

export function helpText(debugShell: boolean): string {
  const lines = [
    "Commands:",
    "  list, l               the terminals: ID (container/session), container, image, command,",
    "                        state and how many clients are attached",
    "  enter ID, e ID        enter a terminal (ID as list shows it; C alone is C/0, the",
    "                        container's own); its kept output is shown first",
    `                        leave it with ${HOTKEY_TEXT}`,
    "  log [N]               the last N lines of acond's own log (default 40)",
    "  size [ROWSxCOLS|auto] the window size given to terminals; auto (default): the console's",
    "                        own when it reports one, else 24x80",
    debugShell
      ? "  shell                 a root shell in the VM (acond.debug_shell is on)"
      : "  shell                 (off: a root shell exists only with acond.debug_shell)",
    "  help, h, ?            this help",
  ];
  return lines.map((l) => l + CRLF).join("");
}
