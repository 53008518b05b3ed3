/** Pure checks of Exec names and signals (behaviour file §7.9-§7.11, fixed as Image.md says). */

export const ENTRYPOINT_DIR = "/lib/acon/entrypoint.d";

/**
 * A public entry point name: starts with an uppercase letter (lowercase names are the standard,
 * private ones), contains no `/` or NUL, and is not `.` or `..` (which cannot start uppercase
 * anyway, but are named here because they are the classic escape).
 */
export function isPublicEntrypoint(name: string): boolean {
  if (name === "" || name === "." || name === "..") return false;
  if (name.includes("/") || name.includes("\0")) return false;
  return /^\p{Lu}/u.test(name);
}

/** Kill: the signal must be listed exactly, sign included (negative: the process group). */
export function isSignalAllowed(signals: number[], sig: number): boolean {
  return Number.isInteger(sig) && Math.abs(sig) <= 64 && signals.includes(sig);
}

/** kill(2) arguments for a listed signal aimed at the container init `pid`. */
export function killTarget(pid: number, sig: number): { pid: number; sig: number } {
  return sig < 0 ? { pid: -pid, sig: -sig } : { pid, sig };
}

/**
 * What Restart sends to a running container: `signals[0]`, where 0 (or an empty list) means
 * "send nothing, just wait" (Image.md `signals`).
 */
export function restartSignal(signals: number[]): number | null {
  const s = signals[0];
  if (s === undefined || s === 0 || !Number.isInteger(s) || Math.abs(s) > 64) return null;
  return s;
}
