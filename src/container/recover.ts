/**
 * Start-up recovery of a state root that the last daemon did not shut down cleanly (it was
 * killed, or the host crashed): nothing a previous daemon's containers had may reach a new one.
 * Before anything is served, acond
 * 1. SIGKILLs every process whose root is one of this root's container overlays (found by the
 *    `/` line of /proc/<pid>/mountinfo naming `<root>/containers/` in its overlay options: exact
 *    for this root, never another daemon's, never a host process), and waits (bounded) for them
 *    to go;
 * 2. unmounts (detached) every mount under `<root>/containers/`;
 * 3. removes every entry of `<root>/containers/` (container trees with their `upper/`, and
 *    `top`, which is rebuilt), of `<root>/tmp/` (staging), of `<root>/images/` and
 *    `<root>/contents/signer/` (an earlier daemon's images and their aliases: this boot's event
 *    log starts at INIT and measures none of them, so none may count as loaded or block a new
 *    AddManifest of the same image; extracted layers stay, named by their verified digest) and,
 *    in dev mode, of `<root>/shared/` (files of the old containers' uids, which new containers
 *    would get again).
 * Container state lives in memory only (a new daemon knows no earlier container), so whatever an
 * earlier daemon left there is garbage, also after a clean shutdown (exited restartable
 * containers keep their trees until the daemon goes). See docs/containers.md "After a crash".
 */
import { MNT_DETACH, type Sys } from "../sys/mod.ts";
import { log } from "../util/log.ts";
import type { Layout } from "../layout.ts";

/** mountinfo's escaping of a path (space, tab, newline, backslash as octal). */
function escapePath(p: string): string {
  return p.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
}

function unescapePath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_m, o) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points (unescaped) of a mountinfo text that lie under `dir`, deepest first. */
export function mountsUnder(mountinfo: string, dir: string): string[] {
  const out: string[] = [];
  for (const line of mountinfo.split("\n")) {
    const mp = line.split(" ")[4];
    if (mp === undefined) continue;
    const path = unescapePath(mp);
    if (path.startsWith(dir + "/")) out.push(path);
  }
  return out.sort((a, b) => b.length - a.length || (a < b ? 1 : -1));
}

/** Whether a process's mountinfo says its root is an overlay of this root's containers. */
export function isContainerRoot(mountinfo: string, containersDir: string): boolean {
  const needle = escapePath(containersDir) + "/";
  for (const line of mountinfo.split("\n")) {
    const f = line.split(" ");
    if (f[4] !== "/") continue;
    const dash = f.indexOf("-", 6);
    if (dash < 0 || f[dash + 1] !== "overlay") continue;
    if ((f[dash + 3] ?? "").includes(needle)) return true;
  }
  return false;
}

export interface Recovered {
  killed: number;
  unmounted: number;
  removed: number;
}

export async function recoverRoot(
  sys: Sys,
  layout: Layout,
  opts: { procRoot: string; sharedDir: string | null; graceMs?: number },
): Promise<Recovered> {
  const { procRoot } = opts;
  const containers = layout.containers;
  const done: Recovered = { killed: 0, unmounted: 0, removed: 0 };
  // 1. Old container processes.
  const stale: number[] = [];
  try {
    for await (const e of sys.readDir(procRoot)) {
      if (!/^\d+$/.test(e.name)) continue;
      const info = await sys.readTextFile(`${procRoot}/${e.name}/mountinfo`).catch(() => "");
      if (info && isContainerRoot(info, containers)) stale.push(Number(e.name));
    }
  } catch (e) {
    log.warn(`recovery: list processes: ${(e as Error).message}`);
  }
  for (const pid of stale) {
    try {
      sys.kill(pid, 9);
      done.killed++;
    } catch { /* gone already */ }
  }
  const end = Date.now() + (opts.graceMs ?? 3000);
  for (const pid of stale) {
    while (Date.now() < end) {
      const info = await sys.readTextFile(`${procRoot}/${pid}/mountinfo`).catch(() => "");
      if (!info || !isContainerRoot(info, containers)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  // 2. Old mounts in our namespace.
  const mine = await sys.readTextFile(`${procRoot}/self/mountinfo`).catch(() => "");
  for (const mp of mountsUnder(mine, containers)) {
    try {
      sys.umount(mp, MNT_DETACH);
      done.unmounted++;
    } catch (e) {
      log.warn(`recovery: umount ${mp}: ${(e as Error).message}`);
    }
  }
  // 3. Old trees, staging, unmeasured images and their aliases, and (dev mode) /shared.
  const dirs = [containers, layout.tmp, `${layout.root}/images`, `${layout.contents}/signer`];
  if (opts.sharedDir) dirs.push(opts.sharedDir);
  for (const dir of dirs) {
    const names: string[] = [];
    try {
      for await (const e of sys.readDir(dir)) names.push(e.name);
    } catch { /* absent: nothing to clean */ }
    for (const name of names) {
      try {
        await sys.remove(`${dir}/${name}`);
        done.removed++;
      } catch (e) {
        log.warn(`recovery: remove ${dir}/${name}: ${(e as Error).message}`);
      }
    }
  }
  const what = `killed ${done.killed} old container processes, unmounted ${done.unmounted} ` +
    `mounts, removed ${done.removed} entries`;
  if (done.killed || done.unmounted) {
    log.warn(`state root ${layout.root} was not shut down cleanly: ${what}`);
  } else if (done.removed) log.info(`state root ${layout.root}: an earlier daemon's left: ${what}`);
  return done;
}
