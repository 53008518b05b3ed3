/**
 * The graceful end of the VM: stop accepting work, ask every running container to stop, wait a
 * bounded time, SIGKILL what is left, unmount, sync, then power off or reboot. Nothing in here
 * may throw past its caller: whatever fails is logged and the sequence goes on to reboot(2).
 */
import { RB, reboot } from "../sys/init.ts";
import { kill } from "../sys/proc.ts";
import { MNT_DETACH, sync, umount } from "../sys/fs.ts";
import { mountedTargets } from "./fstab.ts";
import { log } from "../util/log.ts";
import { DEFAULT_GRACE_MS, type PowerKind } from "../power.ts";
import { handledSignals, signalAction } from "./signals.ts";
import { settlesWithin } from "../util/timeout.ts";

const SIGTERM = 15;
const SIGKILL = 9;

/** Children of this process, from /proc (any thread may have forked them). */
export function childPids(): number[] {
  const out: number[] = [];
  try {
    for (const t of Deno.readDirSync("/proc/self/task")) {
      const text = Deno.readTextFileSync(`/proc/self/task/${t.name}/children`).trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch { /* no /proc: nothing known */ }
  return out;
}

async function waitNoChildren(ms: number, reapNow: () => void): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    reapNow();
    if (childPids().length === 0) return true;
    if (Date.now() >= end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const KEEP = new Set(["/", "/proc", "/sys", "/dev", "/dev/pts"]);

function unmountAll(): void {
  let targets: string[];
  try {
    targets = [...mountedTargets(Deno.readTextFileSync("/proc/mounts"))];
  } catch {
    return;
  }
  for (const t of targets.reverse()) {
    if (KEEP.has(t)) continue;
    try {
      umount(t, MNT_DETACH);
    } catch (e) {
      log.debug(`umount ${t}: ${(e as Error).message}`);
    }
  }
}

export interface PowerDownDeps {
  stopListeners(): Promise<void>;
  /**
   * Sends each container its manifest's stop signal and waits up to graceMs; false when no
   * container was ever started (nothing to stop).
   */
  stopContainers(graceMs: number): Promise<boolean>;
  /** The daemon's reaper (the one owner of waitpid). */
  reapNow(): void;
}

/**
 * PID 1's power-down, built once at boot (init/pid1.ts) with what it must stop. The first request
 * runs the sequence; any later one (a signal during a Shutdown RPC, the idle timer) is only logged.
 */
export class PowerDown {
  #inProgress = false;

  constructor(private readonly deps: PowerDownDeps) {}

  /** Goes down (and never comes back); never rejects: what fails is logged. */
  run(kind: PowerKind, graceMs: number, reason: string): Promise<void> {
    if (this.#inProgress) {
      log.info(`${kind} requested (${reason}) while already going down`);
      return Promise.resolve();
    }
    this.#inProgress = true;
    return powerDown(kind, graceMs, reason, this.deps)
      .catch((e) => log.error(`power-down: ${(e as Error).message}`));
  }
}

/** PID 1's signals (init/signals.ts): SIGTERM/SIGPWR power off, SIGINT reboots, gracefully. */
export function powerOnSignals(power: PowerDown): void {
  for (const sig of handledSignals(true)) {
    Deno.addSignalListener(sig, () => {
      const action = signalAction(sig, true);
      if (action === "poweroff" || action === "reboot") {
        void power.run(action, DEFAULT_GRACE_MS, `${sig} received`);
      }
    });
  }
}

async function powerDown(
  kind: PowerKind,
  graceMs: number,
  reason: string,
  deps: PowerDownDeps,
): Promise<void> {
  log.info(`${kind}: ${reason}; stopping (grace ${graceMs} ms)`);
  const step = async <T>(what: string, p: Promise<T>, ms: number): Promise<T | undefined> => {
    let result: T | undefined;
    let late = false; // a failure after the timeout is not reported (the step was given up)
    const done = p.then((r) => void (result = r), (e) => {
      if (!late) log.warn(`${what}: ${(e as Error).message}`);
    });
    if (await settlesWithin(done, ms)) return result;
    late = true;
    log.warn(`${what}: timed out`);
    return undefined;
  };
  // KernelLog followers poll every 250 ms: let them carry the line above before streams close.
  await new Promise((r) => setTimeout(r, 400));
  await step("stopping listeners", deps.stopListeners(), 3000);
  // A container service that timed out still existed: the short wait applies.
  const hadContainers =
    (await step("stopping containers", deps.stopContainers(graceMs), graceMs + 2000)) !== false;
  try {
    if (childPids().length) kill(-1, SIGTERM);
  } catch { /* ESRCH: nobody left */ }
  if (!(await waitNoChildren(hadContainers ? 1000 : graceMs, deps.reapNow))) {
    log.warn("processes still running after the grace period; killing them");
    try {
      kill(-1, SIGKILL);
    } catch { /* ESRCH */ }
    await waitNoChildren(2000, deps.reapNow);
  }
  unmountAll();
  try {
    await sync();
  } catch { /* nothing else to do */ }
  log.info(kind === "reboot" ? "rebooting" : "powering off");
  for (;;) {
    try {
      reboot(kind === "reboot" ? RB.AUTOBOOT : RB.POWER_OFF);
    } catch (e) {
      log.error(`reboot(2) failed: ${(e as Error).message}; retrying in 5 s`);
    }
    await new Promise((r) => setTimeout(r, 5000));
  }
}
