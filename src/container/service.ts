/**
 * Containers: Start, Restart, Exec, Kill, Inspect, Logs (behaviour file §7, fixed per §11 and
 * Image.md "Execution Environment"; docs/containers.md). Process creation is in the C shim
 * (src/sys/proc.ts); this module decides what to create, keeps the table and reacts to exits.
 */
import type { Context } from "../context.ts";
import { AcondError, denied, invalid, MSG, precondition } from "../errors.ts";
import { type ContainerInfoSchema, Event_Kind } from "../gen/acon_pb.ts";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { lchown, MNT_DETACH, mount, MS, umount } from "../sys/fs.ts";
import { SysError } from "../sys/errors.ts";
import {
  close,
  EPOLL,
  type KeptNamespaces,
  kill,
  O,
  openFd,
  openPty,
  pipe,
  readSome,
  setNonblock,
  spawnContainer,
  SpawnError,
  spawnInContainer,
  writeSome,
} from "../sys/proc.ts";
import { log } from "../util/log.ts";
import { setContainerStopper } from "../init/shutdown.ts";
import { containerSockets } from "../attest/ipcserver.ts";
import { sanitizeEnv } from "./env.ts";
import { IdAllocator, type IdMapping, idMapText, validUids } from "./ids.ts";
import { overlayOptions } from "./overlay.ts";
import { ensureModule } from "../init/module_loader.ts";
import { Poller } from "./poller.ts";
import { type ExitStatus, Reaper } from "./reaper.ts";
import { LogRing, TailBuffer } from "./ring.ts";
import {
  ENTRYPOINT_DIR,
  isPublicEntrypoint,
  isSignalAllowed,
  killTarget,
  restartSignal,
} from "./rules.ts";
import type { Container } from "./types.ts";

/** The daemon's one reaper (the PID-1 code reuses it: start() is idempotent). */
export const reaper = new Reaper();
/** The daemon's one fd poller. */
export const poller = new Poller();

export const DEFAULT_CAPTURE = 0x20000;
/** Largest Exec capture accepted (per stream). */
export const MAX_CAPTURE = 16 * 1024 * 1024;
/** Bytes of logFD output kept per container. */
export const LOG_RING_BYTES = 256 * 1024;
/** Host uid base in dev mode (as PID 1 the container id is the host uid, as in ACON). */
export const DEV_UID_BASE = 1_000_000;
const CONTAINER_UMASK = 0o077;
/** Limits of the shim's request (proc.c MAX_ARGS, MAX_ENV). */
const MAX_ARGS = 256;
const MAX_ENV = 1024;

export interface ExecRequest {
  containerId: number;
  command: string;
  arguments: string[];
  envs: string[];
  stdin: Uint8Array;
  timeoutSec: number;
  captureSize: number;
}

function overflowUid(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/sys/kernel/overflowuid").trim()) || 65534;
  } catch {
    return 65534;
  }
}

function statusFields(s: ExitStatus | null): { wstatus: number; exitSignal: boolean } {
  if (!s) return { wstatus: 0, exitSignal: false };
  return s.signal !== null
    ? { wstatus: s.signal, exitSignal: true }
    : { wstatus: s.code ?? 0, exitSignal: false };
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

export class ContainerService {
  readonly #ctx: Context;
  readonly #ids: IdAllocator;
  readonly #table = new Map<number, Container>();
  readonly #overflow = overflowUid();
  #ready: Promise<void> | null = null;

  constructor(ctx: Context) {
    this.#ctx = ctx;
    this.#ids = new IdAllocator(ctx.opts.pid1 ? 0 : DEV_UID_BASE, this.#overflow);
  }

  get #layout() {
    return this.#ctx.layout;
  }
  get sharedDir(): string {
    return this.#ctx.opts.pid1 ? "/shared" : `${this.#ctx.opts.root}/shared`;
  }
  get #top(): string {
    return `${this.#layout.containers}/top`;
  }

  /** One-time set-up: reaper, the `top` layer of mount points, /shared in dev mode. */
  #init(): Promise<void> {
    this.#ready ??= (async () => {
      reaper.start({ subreaper: !this.#ctx.opts.pid1 });
      await Deno.mkdir(this.#layout.containers, { recursive: true, mode: 0o700 });
      for (const d of ["dev", "proc", "tmp", "run", "shared"]) {
        await Deno.mkdir(`${this.#top}/${d}`, { recursive: true, mode: 0o755 });
      }
      // Every container may create files there (each its own: umask 0077, sticky bit).
      await Deno.mkdir(this.sharedDir, { recursive: true });
      await Deno.chmod(this.sharedDir, 0o1777);
    })();
    this.#ready.catch(() => (this.#ready = null));
    return this.#ready;
  }

  get(id: number): Container {
    const c = this.#table.get(id);
    if (!c) throw invalid(MSG.badContainerId);
    return c;
  }

  get count(): number {
    return this.#table.size;
  }

  // ---- Start ----

  async start(imageId: string, envs: string[]): Promise<number> {
    await this.#init();
    return await this.#ctx.lock.run(async () => {
      const image = this.#ctx.state.images.get(imageId);
      if (!image) throw invalid(MSG.badImageId);
      const m = image.manifest;
      if (!m.entrypoint?.length || typeof m.entrypoint[0] !== "string" || !m.entrypoint[0]) {
        throw invalid(MSG.badEntrypoint);
      }
      const missing: string[] = [];
      for (let i = 0; i < m.layers.length; i++) {
        if (!(await isDir(`${this.#layout.imageDir(imageId)}/l/${i}`))) missing.push(m.layers[i]);
      }
      if (missing.length) throw precondition(`Missing layers: ${missing.join(", ")}`);
      const env = sanitizeEnv(m.env ?? [], envs);
      if (env.length > MAX_ENV || m.entrypoint.length > MAX_ARGS) throw invalid(MSG.badEntrypoint);
      if (!validUids(m.uids ?? [], this.#overflow)) {
        throw invalid("Invalid uids in manifest");
      }
      this.#checkInstances(imageId, m.maxInstances ?? 1);
      // Validated: from here on, allocate and create.
      const id = this.#ids.next();
      const idMap: IdMapping[] = [{ inside: 0, outside: this.#ids.hostUid(id) }];
      for (const u of m.uids ?? []) {
        idMap.push({ inside: u, outside: this.#ids.hostUid(this.#ids.next()) });
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
      };
      const dir = this.#layout.containerDir(id);
      await Deno.mkdir(`${dir}/rootfs`, { recursive: true, mode: 0o700 });
      try {
        await this.#launch(c, true);
      } catch (e) {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
        throw e;
      }
      this.#table.set(id, c);
      this.#ctx.state.containers.set(id, c);
      this.#ctx.events.emit({ kind: Event_Kind.CONTAINER_STARTED, containerId: id, imageId });
      return id;
    });
  }

  /** maxInstances: running containers of the image (0 = no limit). */
  #checkInstances(imageId: string, max: number): void {
    if (max <= 0) return;
    let n = 0;
    for (const c of this.#table.values()) {
      if (c.imageId === imageId && c.state === "running") n++;
    }
    if (n >= max) {
      throw new AcondError("resource_exhausted", `Too many instances (maxInstances ${max})`);
    }
  }

  /**
   * Creates the entry point. First run (or no kept namespaces): mounts the overlay and builds a
   * new container. A Restart joins the kept user and mount namespaces (same uids, same root,
   * same /tmp and /run: Image.md) with new PID, IPC and UTS namespaces. On failure nothing
   * stays mounted.
   */
  async #launch(c: Container, first: boolean): Promise<void> {
    const m = c.image.manifest;
    const rootfs = `${this.#layout.containerDir(c.id)}/rootfs`;
    const nosuid = (m.uids ?? []).length === 0;
    const rejoin = !first && c.ns !== null;
    if (!rejoin) await this.#mountRoot(c, rootfs, nosuid);
    let fds: number[] = [];
    try {
      if (m.writableFS && first) await this.#chownTree(rootfs, c.hostUid);
      const nullFd = openFd("/dev/null", O.RDWR);
      fds.push(nullFd);
      const stdio: [number, number, number] = [nullFd, nullFd, nullFd];
      const readers: [number, number][] = [];
      if (c.logs) {
        c.logs.reopen();
        for (const fd of [1, 2]) {
          if (!(m.logFDs ?? []).includes(fd)) continue;
          const [r, w] = pipe();
          fds.push(w);
          setNonblock(r);
          readers.push([fd, r]);
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
      };
      let spawned;
      let kept: KeptNamespaces | null = null;
      try {
        spawned = await reaper.spawn(async () => {
          if (rejoin) return await spawnInContainer(c.ns!, proc, m.workingDir || "/");
          const r = await spawnContainer({
            ...proc,
            rootfs,
            workingDir: m.workingDir || "/",
            idMap: idMapText(c.idMap),
            devSource: "/dev",
            sharedSource: this.sharedDir,
            ipcSource: await this.#ipcSocket(c.id),
            runUsers: c.idMap.map((x) => x.inside),
          });
          kept = r.ns;
          return r.pid;
        });
      } catch (e) {
        for (const [, r] of readers) close(r);
        if (e instanceof SpawnError && e.step === "execve") {
          throw precondition(`Cannot execute entry point ${path}: ${e.code}`);
        }
        throw e;
      }
      for (const fd of fds) close(fd);
      fds = [];
      if (!rejoin) {
        const k = kept as KeptNamespaces | null;
        if (k && m.noRestart) {
          close(k.user);
          close(k.mnt);
        } else if (k) c.ns = k;
      }
      c.mounted = !rejoin;
      c.state = "running";
      c.pid = spawned.pid;
      c.runs++;
      if (c.logs) this.#pumpLogs(c.logs, readers);
      c.exited = spawned.exit.then((s) => this.#onExit(c, s));
    } catch (e) {
      for (const fd of fds) close(fd);
      if (!rejoin) {
        try {
          umount(rootfs, MNT_DETACH);
        } catch (u) {
          log.warn(`container ${c.id}: ${(u as Error).message}`);
        }
      }
      throw e;
    }
  }

  /** The overlay root in the daemon's namespace (the container's mount namespace copies it). */
  async #mountRoot(c: Container, rootfs: string, nosuid: boolean): Promise<void> {
    const m = c.image.manifest;
    const dir = this.#layout.containerDir(c.id);
    const layers = m.layers.map((_, i) => `${this.#layout.imageDir(c.imageId)}/l/${i}`);
    let upper: string | undefined, work: string | undefined;
    if (m.writableFS) {
      upper = `${dir}/upper`;
      work = `${dir}/work`;
      // upper/'s root is the container's `/`: 0755 like any root directory.
      await Deno.mkdir(upper, { recursive: true, mode: 0o755 });
      await Deno.mkdir(work, { recursive: true, mode: 0o700 });
      // The root of the merged tree is the upper dir's root: make it the container root's.
      lchown(upper, c.hostUid, c.hostUid);
    }
    await ensureModule("overlay"); // PID 1 loads it on first use (init/module_loader.ts)
    mount(
      "overlay",
      rootfs,
      "overlay",
      MS.NODEV | (nosuid ? MS.NOSUID : 0),
      overlayOptions({ top: this.#top, layers, upper, work }),
    );
  }

  /**
   * writableFS: the layers' files are owned by host root; make the container root own its tree
   * (copied up into upper/). lchown only, never following a symlink, and it descends only into
   * real directories, so an image cannot point it at a host path. Runs before the container
   * exists, so nothing can swap a directory for a link during the walk.
   */
  async #chownTree(dir: string, uid: number): Promise<void> {
    lchown(dir, uid, uid);
    for await (const e of Deno.readDir(dir)) {
      const p = `${dir}/${e.name}`;
      try {
        lchown(p, uid, uid);
      } catch (err) {
        log.debug(`chown ${p}: ${(err as Error).message}`);
      }
      if (e.isDirectory && !e.isSymlink) await this.#chownTree(p, uid);
    }
  }

  #pumpLogs(ring: LogRing, readers: [number, number][]): void {
    const buf = new Uint8Array(65536);
    let open = readers.length;
    for (const [fd, r] of readers) {
      poller.watch(r, EPOLL.IN, () => {
        for (;;) {
          let n: number | null;
          try {
            n = readSome(r, buf);
          } catch {
            n = 0;
          }
          if (n === null) return;
          if (n === 0) {
            poller.unwatch(r);
            close(r);
            if (--open === 0) ring.close();
            return;
          }
          ring.push(fd, buf.subarray(0, n));
        }
      });
    }
  }

  async #onExit(c: Container, s: ExitStatus): Promise<void> {
    c.state = "exited";
    c.pid = 0;
    c.exit = s;
    const dir = this.#layout.containerDir(c.id);
    // The daemon's copy of the root; a kept mount namespace holds its own until a Restart.
    if (c.mounted) {
      c.mounted = false;
      try {
        umount(`${dir}/rootfs`, MNT_DETACH);
      } catch (e) {
        log.warn(`container ${c.id}: ${(e as Error).message}`);
      }
    }
    if (c.image.manifest.noRestart) {
      await Deno.remove(dir, { recursive: true }).catch((e) =>
        log.warn(`container ${c.id}: remove ${dir}: ${e.message}`)
      );
      await this.#removeShared(new Set(c.idMap.map((x) => x.outside)));
      // Never restarted: its attestation socket has no one left to serve.
      await containerSockets(this.#ctx).close(c.id);
    }
    const { wstatus, exitSignal } = statusFields(s);
    this.#ctx.events.emit({
      kind: Event_Kind.CONTAINER_EXITED,
      containerId: c.id,
      imageId: c.imageId,
      wstatus,
      exitSignal,
    });
  }

  /**
   * The container's own attestation socket (identity by construction, see attest/ipcserver.ts),
   * to be bound over /shared/acon.sock in its mount namespace; "" when the shared socket is not
   * there to bind over (the daemon failed to bind it and logged why).
   */
  async #ipcSocket(id: number): Promise<string> {
    await this.#ctx.ensureContainerSocket?.();
    try {
      const st = await Deno.lstat(`${this.sharedDir}/acon.sock`);
      if (!st.isSocket) return "";
    } catch {
      return "";
    }
    return await containerSockets(this.#ctx).open(id);
  }

  /** Removes the top-level entries of /shared owned by one of `uids` (never following links). */
  async #removeShared(uids: Set<number>): Promise<void> {
    try {
      for await (const e of Deno.readDir(this.sharedDir)) {
        const p = `${this.sharedDir}/${e.name}`;
        const st = await Deno.lstat(p).catch(() => null);
        if (st?.uid != null && uids.has(st.uid)) await Deno.remove(p, { recursive: true });
      }
    } catch (e) {
      log.warn(`clean ${this.sharedDir}: ${(e as Error).message}`);
    }
  }

  // ---- Restart ----

  async restart(id: number, timeoutSec: number): Promise<void> {
    const c = this.get(id);
    if (!this.#ctx.state.images.has(c.imageId)) throw invalid(MSG.badImageId);
    if (c.image.manifest.noRestart) throw denied(MSG.restartForbidden);
    if (c.state === "running") {
      if (timeoutSec <= 0) throw new AcondError("deadline_exceeded", MSG.restartTimeout);
      // The exit promise exists since the process was created: an exit that happens before or
      // right after the signal cannot be missed (ACON registered its waiter after the kill).
      const exited = c.exited;
      const sig = restartSignal(c.image.manifest.signals ?? []);
      if (sig !== null) {
        const t = killTarget(c.pid, sig);
        try {
          kill(t.pid, t.sig);
        } catch (e) {
          if (!(e instanceof SysError && e.code === "ESRCH")) throw e;
        }
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const expired = await Promise.race([
        exited.then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutSec * 1000))),
      ]);
      clearTimeout(timer);
      if (expired) throw new AcondError("deadline_exceeded", MSG.restartTimeout);
    }
    await this.#ctx.lock.run(async () => {
      await c.exited;
      if (c.state === "running") throw precondition("Container already restarted");
      this.#checkInstances(c.image.id, c.image.manifest.maxInstances ?? 1);
      await this.#launch(c, false);
      this.#ctx.events.emit({
        kind: Event_Kind.CONTAINER_RESTARTED,
        containerId: c.id,
        imageId: c.imageId,
      });
    });
  }

  /**
   * Stops every running container: its manifest's first signal (or SIGTERM when that is 0 or
   * absent), SIGKILL after graceMs, then waits (bounded) for the exits to be handled, so that no
   * rootfs stays mounted.
   */
  async stopAll(graceMs: number): Promise<void> {
    const running = [...this.#table.values()].filter((c) => c.state === "running");
    const sigkill = (c: Container) => {
      try {
        if (c.state === "running") kill(c.pid, 9);
      } catch { /* already gone */ }
    };
    for (const c of running) {
      const t = killTarget(c.pid, restartSignal(c.image.manifest.signals ?? []) ?? 15);
      try {
        kill(t.pid, t.sig);
      } catch { /* already gone */ }
    }
    const all = Promise.all(running.map((c) => c.exited));
    const wait = async (ms: number) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = await Promise.race([
        all.then(() => true),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms))),
      ]);
      clearTimeout(timer);
      return done;
    };
    if (await wait(graceMs)) return;
    running.forEach(sigkill);
    if (!(await wait(2000))) log.warn("containers did not exit after SIGKILL");
  }

  // ---- Kill ----

  kill(id: number, sig: number): void {
    const c = this.get(id);
    if (c.state !== "running") throw precondition(MSG.terminated);
    if (!this.#ctx.state.images.has(c.imageId)) throw invalid(MSG.badImageId);
    if (!isSignalAllowed(c.image.manifest.signals ?? [], sig)) throw denied(MSG.signalForbidden);
    const t = killTarget(c.pid, sig);
    kill(t.pid, t.sig);
  }

  // ---- Inspect ----

  async inspect(id: number): Promise<Container[]> {
    const list = id === 0 ? [...this.#table.values()].sort((a, b) => a.id - b.id) : [this.get(id)];
    for (const c of list) if (c.state === "running") await this.#refresh(c);
    return list;
  }

  /** State letter and `Name[exe]` from /proc; a process that just exited keeps the old values. */
  async #refresh(c: Container): Promise<number> {
    const pid = c.pid;
    try {
      const status = await Deno.readTextFile(`/proc/${pid}/status`);
      const name = /^Name:\s*(.*)$/m.exec(status)?.[1] ?? "";
      const state = /^State:\s*(\S)/m.exec(status)?.[1] ?? "";
      let exe = "";
      try {
        exe = await Deno.readLink(`/proc/${pid}/exe`);
      } catch { /* a kernel thread or gone */ }
      if (c.pid === pid) c.exePath = exe ? `${name}[${exe}]` : name;
      return state ? state.charCodeAt(0) : 0;
    } catch {
      return 0;
    }
  }

  async info(c: Container): Promise<MessageInitShape<typeof ContainerInfoSchema>> {
    const running = c.state === "running";
    const state = running ? await this.#refresh(c) : 0;
    const st = running ? { wstatus: 0, exitSignal: false } : statusFields(c.exit);
    return {
      containerId: c.id,
      state,
      ...st,
      imageId: c.imageId,
      exePath: c.exePath,
      running,
      pid: c.pid,
      sessions: [...this.sessions].filter((x) => x.containerId === c.id).map((x) => ({
        pid: x.pid,
        pty: x.slave,
        command: x.command,
      })),
    };
  }

  // ---- Exec ----

  async exec(req: ExecRequest): Promise<{ stdout: Uint8Array; stderr: Uint8Array }> {
    const cap = req.captureSize || DEFAULT_CAPTURE;
    if (cap > MAX_CAPTURE) throw invalid(`Capture size exceeds ${MAX_CAPTURE}`);
    if (req.stdin.length > cap) throw invalid(MSG.stdinTooBig);
    if (!isPublicEntrypoint(req.command)) throw invalid(MSG.privateEntrypoint);
    const c = this.get(req.containerId);
    if (c.state !== "running") throw precondition(MSG.terminated);
    for (const e of req.envs) if (e.includes("\0")) throw invalid("Invalid environment entry");
    for (const a of req.arguments) if (a.includes("\0")) throw invalid("Invalid argument");
    if (req.envs.length > MAX_ENV || req.arguments.length >= MAX_ARGS) {
      throw invalid("Too many arguments or environment entries");
    }
    const path = `${ENTRYPOINT_DIR}/${req.command}`;
    if (req.timeoutSec <= 0) {
      await this.#interactive(c, path, req);
      return { stdout: new Uint8Array(), stderr: new Uint8Array() };
    }
    const [inR, inW] = pipe();
    const [outR, outW] = pipe();
    const [errR, errW] = pipe();
    for (const fd of [inW, outR, errR]) setNonblock(fd);
    try {
      await reaper.spawn(() =>
        spawnInContainer(c.pid, {
          path,
          argv: [path, ...req.arguments],
          env: req.envs,
          stdio: [inR, outW, errW],
          umask: CONTAINER_UMASK,
          noNewPrivs: (c.image.manifest.uids ?? []).length === 0,
          setsid: true,
        })
      );
    } catch (e) {
      for (const fd of [inW, outR, errR]) close(fd);
      if (e instanceof SpawnError && e.step === "execve" && e.code === "ENOENT") {
        throw new AcondError("not_found", `No entry point ${req.command}`);
      }
      // The init exited between the state check and joining it (its namespaces are gone).
      if (
        e instanceof SysError && e.code === "ENOENT" &&
        (e.syscall === "open" || (e instanceof SpawnError && e.step === "setns"))
      ) {
        throw precondition(MSG.terminated);
      }
      throw e;
    } finally {
      for (const fd of [inR, outW, errW]) close(fd);
    }
    return await this.#batchIo(inW, outR, errR, req.stdin, cap, req.timeoutSec);
  }

  /**
   * Timeout 0: the process gets a pty as stdio and controlling terminal (a new session) and is
   * listed in `sessions` (for the console); the call returns once it has been exec'd. Output read
   * from the master is kept in a small ring until the console attaches; the entry is removed
   * when the master reports hang-up.
   */
  async #interactive(c: Container, path: string, req: ExecRequest): Promise<void> {
    const pty = openPty();
    let pid: number;
    try {
      setNonblock(pty.master);
      ({ pid } = await reaper.spawn(() =>
        spawnInContainer(c.pid, {
          path,
          argv: [path, ...req.arguments],
          env: req.envs,
          stdio: [pty.slave, pty.slave, pty.slave],
          umask: CONTAINER_UMASK,
          noNewPrivs: (c.image.manifest.uids ?? []).length === 0,
          setsid: true,
          ctty: true,
        })
      ));
    } catch (e) {
      close(pty.master);
      if (e instanceof SpawnError && e.step === "execve" && e.code === "ENOENT") {
        throw new AcondError("not_found", `No entry point ${req.command}`);
      }
      throw e;
    } finally {
      // Only the process holds the slave now: its exit makes the master read EIO.
      close(pty.slave);
    }
    const session: PtySession = {
      containerId: c.id,
      pid,
      master: pty.master,
      slave: pty.name,
      command: req.command,
      output: new TailBuffer(4096),
    };
    this.sessions.add(session);
    const buf = new Uint8Array(4096);
    poller.watch(pty.master, EPOLL.IN, () => {
      for (;;) {
        let n: number | null;
        try {
          n = readSome(pty.master, buf);
        } catch {
          n = 0; // EIO: the last holder of the slave is gone
        }
        if (n === null) return;
        if (n === 0) {
          poller.unwatch(pty.master);
          close(pty.master);
          this.sessions.delete(session);
          return;
        }
        session.output.push(buf.subarray(0, n));
      }
    });
  }

  /** Interactive Exec sessions with their pty (the console lists and attaches to these). */
  readonly sessions = new Set<PtySession>();

  /**
   * Feeds stdin then closes it (a reader sees EOF), captures both outputs (keeping the tail)
   * until both reach EOF. The timeout bounds the whole call; after it, the process keeps running
   * and its output is drained and discarded until EOF.
   */
  #batchIo(
    inW: number,
    outR: number,
    errR: number,
    stdin: Uint8Array,
    cap: number,
    timeoutSec: number,
  ): Promise<{ stdout: Uint8Array; stderr: Uint8Array }> {
    return new Promise((resolve, reject) => {
      const out = new TailBuffer(cap);
      const err = new TailBuffer(cap);
      let open = 2;
      let settled = false;
      let inOpen = true;
      const closeIn = () => {
        if (!inOpen) return;
        inOpen = false;
        poller.unwatch(inW);
        close(inW);
      };
      const timer = setTimeout(() => {
        settled = true;
        closeIn();
        reject(new AcondError("deadline_exceeded", "Timeout executing command"));
      }, timeoutSec * 1000);
      const finish = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        closeIn();
        resolve({ stdout: out.bytes(), stderr: err.bytes() });
      };
      const buf = new Uint8Array(65536);
      const reader = (fd: number, sink: TailBuffer) => () => {
        for (;;) {
          let n: number | null;
          try {
            n = readSome(fd, buf);
          } catch {
            n = 0;
          }
          if (n === null) return;
          if (n === 0) {
            poller.unwatch(fd);
            close(fd);
            if (--open === 0) finish();
            return;
          }
          if (!settled) sink.push(buf.subarray(0, n));
        }
      };
      poller.watch(outR, EPOLL.IN, reader(outR, out));
      poller.watch(errR, EPOLL.IN, reader(errR, err));
      if (stdin.length === 0) closeIn();
      else {
        const data = new Uint8Array(stdin);
        let off = 0;
        poller.watch(inW, EPOLL.OUT, () => {
          try {
            const n = writeSome(inW, data.subarray(off));
            if (n === null) return;
            off += n;
          } catch {
            off = data.length; // EPIPE: the process closed its stdin
          }
          if (off >= data.length) closeIn();
        });
      }
    });
  }

  // ---- Logs ----

  /** Output of the logFDs: what the ring still holds (fromStart), then new output (follow). */
  async *logs(
    id: number,
    fromStart: boolean,
    follow: boolean,
    signal: AbortSignal,
  ): AsyncGenerator<{ fd: number; data: Uint8Array; timeMs: number }> {
    const c = this.get(id);
    const ring = c.logs;
    if (!ring) throw precondition("The image lists no logFDs");
    let next = fromStart ? 0 : ring.nextSeq;
    for (;;) {
      const chunks = ring.since(next);
      if (chunks.length) {
        for (const ch of chunks) {
          next = ch.seq + 1;
          yield { fd: ch.fd, data: ch.data, timeMs: ch.timeMs };
        }
        continue;
      }
      if (!follow || signal.aborted || (ring.closed && c.state !== "running")) return;
      // No await between the empty check and subscribing: a push cannot slip in between. The
      // exit can come after the pipes' EOF, so it wakes the reader too.
      const changed = ring.changed(signal);
      await (c.state === "running" ? Promise.race([changed, c.exited]) : changed);
    }
  }
}

/** An interactive Exec: the pty master (owned here) and the slave's name, as the console lists. */
export interface PtySession {
  containerId: number;
  pid: number;
  master: number;
  slave: string;
  /** The entry point's name (ExecRequest.command). */
  command: string;
  /** The newest output, until a console attaches. */
  output: TailBuffer;
}

const services = new WeakMap<Context, ContainerService>();

/** The container service of a daemon context (one per context). */
export function containerService(ctx: Context): ContainerService {
  let s = services.get(ctx);
  if (!s) {
    const svc = new ContainerService(ctx);
    services.set(ctx, svc);
    // PID-1 power-down stops containers through this (init/shutdown.ts).
    setContainerStopper((graceMs) => svc.stopAll(graceMs));
    s = svc;
  }
  return s;
}

/** Stops every running container of a daemon (dev-mode shutdown); a no-op if none ever ran. */
export async function stopContainers(ctx: Context, graceMs: number): Promise<void> {
  await services.get(ctx)?.stopAll(graceMs);
}
