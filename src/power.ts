/**
 * Who performs power actions. PID-1 mode hands its graceful shutdown to the daemon (daemon.ts's
 * `Platform.power`); the Shutdown and Reboot RPCs ask through it, so the API layer never touches
 * reboot(2) itself. Dev mode has none.
 */
import { precondition } from "./errors.ts";

export type PowerKind = "poweroff" | "reboot";
export type PowerFn = (kind: PowerKind, graceMs: number, reason: string) => void;

/** Default time containers get between their stop signal and SIGKILL. */
export const DEFAULT_GRACE_MS = 10_000;
/** Upper bound for a requested grace period. */
export const MAX_GRACE_MS = 300_000;

export function graceFromSeconds(seconds: bigint | number): number {
  const s = Number(seconds);
  if (!s) return DEFAULT_GRACE_MS;
  return Math.min(s * 1000, MAX_GRACE_MS);
}

/** Starts a power action (it runs after the caller's response is sent). */
export function requestPower(
  power: PowerFn | null,
  kind: PowerKind,
  graceMs: number,
  reason: string,
): void {
  if (!power) throw precondition("power actions are only available when acond is PID 1");
  setTimeout(() => power(kind, graceMs, reason), 50);
}
