/** Pure formatting for ps, images and events (unit-tested in tests/unit/cli/format_test.ts). */
import { signalName } from "./signals.ts";

/** /proc State letters as words. */
export const STATE_NAMES: Record<string, string> = {
  R: "running",
  S: "sleeping",
  D: "disk-sleep",
  T: "stopped",
  t: "tracing-stop",
  Z: "zombie",
  X: "dead",
  I: "idle",
};

/** The short form of an image id `alg/signer-hex/manifest-hex`: 12 hex digits of the manifest's. */
export function shortImageId(id: string): string {
  const last = id.slice(id.lastIndexOf("/") + 1);
  return /^[0-9a-f]{12,}$/.test(last) ? last.slice(0, 12) : id;
}

/** "5 seconds", "3 minutes", "2 hours", "4 days", docker-style (the largest unit). */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const unit = (n: number, u: string) => `${n} ${u}${n === 1 ? "" : "s"}`;
  if (s < 60) return s < 1 ? "less than a second" : unit(s, "second");
  if (s < 3600) return unit(Math.floor(s / 60), "minute");
  if (s < 86400) return unit(Math.floor(s / 3600), "hour");
  return unit(Math.floor(s / 86400), "day");
}

/** What ps needs of a container (ContainerInfo, with numbers as numbers). */
export interface PsInput {
  containerId: number;
  imageId: string;
  /** The /proc state letter's code; 0 when not running. */
  state: number;
  running: boolean;
  wstatus: number;
  exitSignal: boolean;
  pid: number;
  startedMs: number;
  exitedMs: number;
  /** The manifest's entrypoint, when known. */
  command?: string[];
  exePath: string;
}

export interface PsRow {
  id: number;
  image: string;
  imageShort: string;
  command: string[];
  /** A word: running, sleeping, disk-sleep, stopped, zombie… or exited. */
  state: string;
  running: boolean;
  pid: number | null;
  startedAt: string | null;
  uptimeSeconds: number | null;
  exitedAt: string | null;
  /** The exit code, when it exited normally. */
  exitCode: number | null;
  /** The signal that killed it (SIGKILL…), when one did. */
  exitSignal: string | null;
}

export function psRow(i: PsInput, nowMs: number): PsRow {
  const letter = i.state ? String.fromCharCode(i.state) : "";
  return {
    id: i.containerId,
    image: i.imageId,
    imageShort: shortImageId(i.imageId),
    command: i.command ?? [i.exePath],
    state: i.running ? STATE_NAMES[letter] ?? (letter || "running") : "exited",
    running: i.running,
    pid: i.running ? i.pid : null,
    startedAt: i.startedMs ? new Date(i.startedMs).toISOString() : null,
    uptimeSeconds: i.running && i.startedMs
      ? Math.max(0, Math.floor((nowMs - i.startedMs) / 1000))
      : null,
    exitedAt: !i.running && i.exitedMs ? new Date(i.exitedMs).toISOString() : null,
    exitCode: i.running || i.exitSignal ? null : i.wstatus,
    exitSignal: !i.running && i.exitSignal ? signalName(i.wstatus) : null,
  };
}

/** The STATUS column: "Up 5 minutes", "Exited (0) 3 minutes ago", "Killed (SIGKILL) …". */
export function psStatus(r: PsRow, nowMs: number): string {
  if (r.running) {
    return r.uptimeSeconds === null ? "Up" : `Up ${humanDuration(r.uptimeSeconds * 1000)}`;
  }
  const ago = r.exitedAt ? ` ${humanDuration(nowMs - Date.parse(r.exitedAt))} ago` : "";
  return r.exitSignal ? `Killed (${r.exitSignal})${ago}` : `Exited (${r.exitCode ?? "?"})${ago}`;
}

function shellQuote(a: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`;
}

/** A table with columns padded to their widest cell (docker's layout). */
export function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r.map((c, i) => i === r.length - 1 ? c : c.padEnd(w[i])).join("   ");
  return [line(head), ...rows.map(line)].join("\n");
}

/** ps as a table; `noTrunc` keeps ids and commands whole. */
export function psTable(rows: PsRow[], nowMs: number, noTrunc: boolean): string {
  const cmd = (r: PsRow) => {
    const s = r.command.map(shellQuote).join(" ");
    return noTrunc || s.length <= 30 ? `"${s}"` : `"${s.slice(0, 29)}…"`;
  };
  return table(
    ["CONTAINER ID", "IMAGE", "COMMAND", "STATE", "STATUS", "PID"],
    rows.map((r) => [
      String(r.id),
      noTrunc ? r.image : r.imageShort,
      cmd(r),
      r.state,
      psStatus(r, nowMs),
      r.pid === null ? "-" : String(r.pid),
    ]),
  );
}

/** A `--since` value: a duration before now (`10s`, `5m`, `2h`, `1d`, `1h30m`) or a date. */
export function parseSince(text: string, nowMs: number): number {
  const t = text.trim();
  if (/^([0-9]+(ms|s|m|h|d))+$/.test(t)) {
    const mult: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
    let ms = 0;
    for (const m of t.matchAll(/([0-9]+)(ms|s|m|h|d)/g)) ms += Number(m[1]) * mult[m[2]];
    return nowMs - ms;
  }
  if (/^[0-9]+$/.test(t)) return Number(t) * 1000; // seconds since the epoch, as docker takes
  const d = Date.parse(t);
  if (Number.isNaN(d)) {
    throw new Error(
      `--since "${text}": give a duration (30s, 5m, 1h30m), seconds since the epoch, or a date ` +
        `(2026-01-31T12:00:00Z)`,
    );
  }
  return d;
}

/** Keeps the last `n` lines of the concatenated chunks (a chunk may be cut at its start). */
export function tailChunks<T extends { data: Uint8Array }>(chunks: T[], n: number): T[] {
  if (n <= 0) return [];
  let lines = 0;
  for (let i = chunks.length - 1; i >= 0; i--) {
    const d = chunks[i].data;
    // A trailing newline ends the last line; it does not start another.
    for (let j = d.length - 1; j >= 0; j--) {
      if (d[j] !== 10) continue;
      const isLastByte = i === chunks.length - 1 && j === d.length - 1;
      if (isLastByte) continue;
      if (++lines === n) {
        return [{ ...chunks[i], data: d.subarray(j + 1) }, ...chunks.slice(i + 1)];
      }
    }
  }
  return chunks;
}
