/** Signal names and numbers for aconctl kill/stop (Linux x86-64 numbering). */
import { UsageError } from "./command.ts";

export const SIGNALS: Record<string, number> = {
  HUP: 1,
  INT: 2,
  QUIT: 3,
  ILL: 4,
  TRAP: 5,
  ABRT: 6,
  BUS: 7,
  FPE: 8,
  KILL: 9,
  USR1: 10,
  SEGV: 11,
  USR2: 12,
  PIPE: 13,
  ALRM: 14,
  TERM: 15,
  STKFLT: 16,
  CHLD: 17,
  CONT: 18,
  STOP: 19,
  TSTP: 20,
  TTIN: 21,
  TTOU: 22,
  URG: 23,
  XCPU: 24,
  XFSZ: 25,
  VTALRM: 26,
  PROF: 27,
  WINCH: 28,
  IO: 29,
  PWR: 30,
  SYS: 31,
};

const BY_NUMBER = new Map(Object.entries(SIGNALS).map(([k, v]) => [v, k]));

/**
 * `TERM`, `SIGTERM`, `term`, `15`, `RTMIN+2`; a leading `-` (`-TERM`, `-15`) means the process
 * group, as acond's Kill takes it (a negative number).
 */
export function parseSignal(text: string): number {
  const t = text.trim();
  const neg = t.startsWith("-");
  const body = (neg ? t.slice(1) : t).toUpperCase().replace(/^SIG/, "");
  let n: number | undefined;
  if (/^[0-9]+$/.test(body)) n = Number(body);
  else if (body in SIGNALS) n = SIGNALS[body];
  else {
    const rt = /^RTMIN(?:\+([0-9]+))?$/.exec(body) ?? /^RTMAX(?:-([0-9]+))?$/.exec(body);
    if (rt) n = body.startsWith("RTMIN") ? 34 + Number(rt[1] ?? 0) : 64 - Number(rt[1] ?? 0);
  }
  if (n === undefined || n < 1 || n > 64) {
    throw new UsageError(
      `unknown signal "${text}": give a name (TERM, SIGKILL, USR1, RTMIN+1) or a number 1..64` +
        ` (negative: the process group)`,
    );
  }
  return neg ? -n : n;
}

/** `SIGTERM`, `SIGRTMIN+2`, `-SIGTERM` (the group). */
export function signalName(n: number): string {
  const a = Math.abs(n);
  const base = BY_NUMBER.get(a);
  const name = base ? `SIG${base}` : a >= 34 && a <= 64 ? `SIGRTMIN+${a - 34}` : `signal ${a}`;
  return n < 0 ? `-${name} (process group)` : name;
}

/**
 * The warning for a signal aimed at a container's entry point, which is the init of its PID
 * namespace: the kernel delivers it only if the process installed a handler (SIGKILL and SIGSTOP
 * always). acond does not report the process's handlers, so this cannot say whether it has one.
 */
export function namespaceInitWarning(sig: number): string | undefined {
  const a = Math.abs(sig);
  if (sig < 0 || a === 9 || a === 19) return undefined;
  return `note: the entry point is its PID namespace's init; the kernel drops ${signalName(sig)} ` +
    `unless the program installed a handler for it (acond cannot tell whether it has). ` +
    `If it keeps running, use SIGKILL (if the manifest lists it) or aconctl stop.`;
}
