/**
 * Start, and the launch of a container's entry point that Start and Restart share (behaviour
 * file §7, Image.md "Execution Environment"). Validate, then create; on any failure nothing stays:
 * no mount, no fd, no attestation socket, no directory, no table entry.
 */
import { AcondError, invalid, MSG, precondition, withContext, wrapError } from "../errors.ts";
import { type KeptNamespaces, O, SpawnError, SysError } from "../sys/mod.ts";
import { MAX_ARGS, MAX_ENV } from "../sys/abi.ts";
import { log } from "../util/log.ts";
import { sanitizeEnv } from "./env.ts";
import { type IdMapping, idMapText, validUids } from "./ids.ts";
import { onExit, terminalExit } from "./exit.ts";
import type { PendingPty } from "./deps.ts";
import { pumpLogs } from "./logs.ts";
import type { Registry } from "./registry.ts";
import { LogRing } from "./ring.ts";
import { chownTree, mountRoot, rootfsOf, unmountRoot } from "./rootfs.ts";
import type { Container } from "./types.ts";

/** Bytes of logFD output kept per container. */
export const LOG_RING_BYTES = 256 * 1024;
export const CONTAINER_UMASK = 0o077;
export { MAX_ARGS, MAX_ENV } from "../sys/abi.ts";

export async function start(reg: Registry, imageId: string, envs: string[]): Promise<number> {
  const { deps } = reg;
  return await deps.lock.run(async () => {
    const image = deps.state.images.get(imageId);
    if (!image) throw invalid(MSG.badImageId);
    const m = image.manifest;
    if (!m.entrypoint?.length || typeof m.entrypoint[0] !== "string" || !m.entrypoint[0]) {
      throw invalid(MSG.badEntrypoint);
    }
    const missing: string[] = [];
    for (let i = 0; i < m.layers.length; i++) {
      const st = await deps.sys.stat(`${deps.layout.imageDir(imageId)}/l/${i}`).catch(() => null);
      if (!st?.isDirectory) missing.push(m.layers[i]);
    }
    if (missing.length) throw precondition(`Missing layers: ${missing.join(", ")}`);
    const env = sanitizeEnv(m.env ?? [], envs);
    if (env.length > MAX_ENV || m.entrypoint.length > MAX_ARGS) throw invalid(MSG.badEntrypoint);
    if (!validUids(m.uids ?? [], reg.overflowUid)) throw invalid("Invalid uids in manifest");
    reg.checkInstances(imageId, m.maxInstances ?? 1);
    // Validated: from here on, allocate and create.
    const id = reg.ids.next();
    const idMap: IdMapping[] = [{ inside: 0, outside: reg.ids.hostUid(id) }];
    for (const u of m.uids ?? []) {
      idMap.push({ inside: u, outside: reg.ids.hostUid(reg.ids.next()) });
    }
    const c: Container = {
      id,
      imageId,
      attestData: null,
      image,
      hostUid: idMap[0].outside,
      idMap,
      env,
      state: "exited",
      pid: 0,
      exit: null,
      exePath: m.entrypoint[0],
      exited: Promise.resolve(),
      ns: null,
      mounted: false,
      logs: (m.logFDs ?? []).some((fd) => fd === 1 || fd === 2)
        ? new LogRing(LOG_RING_BYTES)
        : null,
      runs: 0,
      startedMs: 0,
      exitedMs: 0,
      cgroup: null,
    };
    const dir = deps.layout.containerDir(id);
    try {
      await withContext(`start container ${id}`, async () => {
        await deps.sys.mkdir(`${dir}/rootfs`, 0o700);
        c.cgroup = await withContext("create cgroup", () => deps.cgroups.create(id));
        await launch(reg, c, true);
      });
    } catch (e) {
      if (c.cgroup) await deps.cgroups.remove(id);
      await deps.sys.remove(dir).catch((r) => log.warn(`container ${id}: remove ${dir}: ${r}`));
      throw e;
    }
    reg.add(c);
    deps.events.emit({ kind: "container_started", containerId: id, imageId });
    return id;
  });
}

/**
 * Creates the entry point. First run (or no kept namespaces): mounts the overlay and builds a
 * new container. A Restart joins the kept user and mount namespaces (same uids, same root,
 * same /tmp and /run: Image.md) with new PID, IPC and UTS namespaces. On failure nothing that
 * this call made stays: fds closed, the root unmounted, a first run's socket closed. Each step's
 * failure names the step ("mount overlay: …"); the caller adds which container.
 */
export async function launch(reg: Registry, c: Container, first: boolean): Promise<void> {
  const { sys, reaper } = reg.deps;
  const m = c.image.manifest;
  const rootfs = rootfsOf(reg, c);
  const nosuid = (m.uids ?? []).length === 0;
  const rejoin = !first && c.ns !== null;
  const workingDir = m.workingDir || "/";
  if (!rejoin) await withContext("mount overlay", () => mountRoot(reg, c, nosuid));
  /** The daemon's ends given to the child (closed once it exists, or on failure). */
  const childEnds: number[] = [];
  /** Our read ends of the logFD pipes, [container fd, pipe fd]. */
  const readers: [number, number][] = [];
  let socketOpened = false;
  /** Interactive mode: the entry point's own terminal (session 0). */
  let pty: PendingPty | null = null;
  let spawned;
  let kept: KeptNamespaces | null = null;
  try {
    if (m.writableFS && first) {
      await withContext("chown rootfs", () => chownTree(reg, rootfs, c.hostUid));
    }
    const nullFd = sys.openFd("/dev/null", O.RDWR);
    childEnds.push(nullFd);
    let stdio: [number, number, number] = [nullFd, nullFd, nullFd];
    if (ownsTerminal(reg, c)) {
      pty = reg.deps.terminals.open({
        containerId: c.id,
        own: true,
        imageId: c.imageId,
        command: m.entrypoint.join(" "),
      });
      stdio = [pty.slave, pty.slave, pty.slave];
    }
    if (c.logs) {
      for (const fd of [1, 2]) {
        if (!(m.logFDs ?? []).includes(fd)) continue;
        const [r, w] = sys.pipe();
        childEnds.push(w);
        readers.push([fd, r]);
        sys.setNonblock(r);
        stdio[fd] = w;
      }
    }
    const path = m.entrypoint[0];
    const proc = {
      path,
      argv: m.entrypoint,
      env: c.env,
      stdio,
      umask: CONTAINER_UMASK,
      noNewPrivs: nosuid,
      setsid: true,
      ctty: pty !== null,
      cgroup: c.cgroup ?? undefined,
    };
    let ipcSource = "";
    if (!rejoin) {
      socketOpened = true; // open() may have listened before it failed: close() undoes either
      ipcSource = await withContext(
        "open attestation socket",
        () => reg.deps.attestSockets.open(c.id),
      );
    }
    try {
      spawned = await reaper.spawn(async () => {
        if (rejoin) return await sys.spawnInContainer(c.ns!, proc, workingDir);
        const r = await sys.spawnContainer({
          ...proc,
          rootfs,
          workingDir,
          idMap: idMapText(c.idMap),
          devSource: "/dev",
          sharedSource: reg.deps.sharedDir,
          ipcSource,
          runUsers: c.idMap.map((x) => x.inside),
        });
        kept = r.ns;
        return r.pid;
      });
    } catch (e) {
      if (e instanceof SpawnError && e.step === "execve") {
        throw precondition(`Cannot execute entry point ${path}: ${e.errnoName}`, { cause: e });
      }
      if (e instanceof SysError && e.syscall === "spawn" && e.errnoName === "ETIMEDOUT") {
        throw new AcondError("deadline_exceeded", MSG.startTimeout, { cause: e });
      }
      throw wrapError(e, `spawn ${path}`);
    }
  } catch (e) {
    for (const [, r] of readers) sys.close(r);
    for (const fd of childEnds) sys.close(fd);
    pty?.abandon();
    if (!rejoin) unmountRoot(reg, c);
    if (socketOpened && first) {
      await reg.deps.attestSockets.close(c.id).catch((r) =>
        log.warn(`container ${c.id}: close its socket: ${r}`)
      );
    }
    throw e;
  }
  for (const fd of childEnds) sys.close(fd);
  if (!rejoin) {
    const k = kept as KeptNamespaces | null;
    if (k && m.noRestart) {
      sys.close(k.user);
      sys.close(k.mnt);
    } else if (k) c.ns = k;
  }
  c.mounted ||= !rejoin;
  c.state = "running";
  c.pid = spawned.pid;
  c.runs++;
  c.startedMs = Date.now();
  c.exitedMs = 0;
  c.exited = spawned.exit.then((s) => onExit(reg, c, s));
  pty?.started(spawned.pid, spawned.exit.then(terminalExit));
  reg.limits.add(c.id);
  if (c.logs) {
    c.logs.reopen();
    try {
      pumpLogs(reg, c.logs, readers);
    } catch (e) {
      // The container runs; only its log capture failed (the pipes close with their reader).
      log.error(`container ${c.id}: log capture: ${(e as Error).message}`);
    }
  }
}

/**
 * Whether a container's entry point runs on a terminal of its own: in interactive mode, unless its
 * manifest lists logFDs 1 or 2 (that output then goes to Logs, as without interactive mode).
 */
export function ownsTerminal(reg: Registry, c: Container): boolean {
  return reg.deps.interactive && c.logs === null;
}
