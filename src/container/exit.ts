/**
 * What follows an entry point's exit: the state, the daemon's copy of the root unmounted (a kept
 * mount namespace holds its own until a Restart), and for a noRestart container everything it
 * had (its directory, its files in /shared, its attestation socket and data), then the event.
 */
import type { ExitStatus } from "../proc/reaper.ts";
import { log } from "../util/log.ts";
import type { TerminalExit } from "./deps.ts";
import type { Registry } from "./registry.ts";
import { unmountRoot } from "./rootfs.ts";
import type { Container } from "./types.ts";

/** The wire's (wstatus, exitSignal) pair: the exit code, or the signal that killed it. */
export function statusFields(s: ExitStatus | null): { wstatus: number; exitSignal: boolean } {
  if (!s) return { wstatus: 0, exitSignal: false };
  return s.signal !== null
    ? { wstatus: s.signal, exitSignal: true }
    : { wstatus: s.code ?? 0, exitSignal: false };
}

/** The same, as a terminal announces it (deps.terminals). */
export function terminalExit(s: ExitStatus | null): TerminalExit {
  const f = statusFields(s);
  return { wstatus: f.wstatus, signal: f.exitSignal };
}

export async function onExit(reg: Registry, c: Container, s: ExitStatus): Promise<void> {
  const { sys, layout } = reg.deps;
  c.state = "exited";
  c.pid = 0;
  c.exit = s;
  c.exitedMs = Date.now();
  c.logs?.stateChanged(); // a Logs follower waiting for output sees the exit
  // Still mounted if that failed: the next exit tries again.
  if (c.mounted) c.mounted = !unmountRoot(reg, c);
  await reg.limits.remove(c.id); // an OOM that ended the run is reported before its exit
  if (c.image.manifest.noRestart && c.cgroup && await reg.deps.cgroups.remove(c.id)) {
    c.cgroup = null;
  }
  if (c.image.manifest.noRestart) {
    // Nothing can set or need it again: Reports show `{}` for it (docs/attestation.md "Limits").
    c.attestData = null;
    const dir = layout.containerDir(c.id);
    await sys.remove(dir).catch((e) => log.warn(`container ${c.id}: remove ${dir}: ${e.message}`));
    await removeShared(reg, new Set(c.idMap.map((x) => x.outside)));
    // Never restarted: its attestation socket has no one left to serve.
    await reg.deps.attestSockets.close(c.id);
  }
  reg.deps.events.emit({
    kind: "container_exited",
    containerId: c.id,
    imageId: c.imageId,
    ...statusFields(s),
  });
}

/** Removes the top-level entries of /shared owned by one of `uids` (never following links). */
async function removeShared(reg: Registry, uids: Set<number>): Promise<void> {
  const { sys, sharedDir } = reg.deps;
  try {
    for await (const e of sys.readDir(sharedDir)) {
      const p = `${sharedDir}/${e.name}`;
      const st = await sys.lstat(p).catch(() => null);
      if (st?.uid != null && uids.has(st.uid)) await sys.remove(p);
    }
  } catch (e) {
    log.warn(`clean ${sharedDir}: ${(e as Error).message}`);
  }
}
