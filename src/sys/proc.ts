/**
 * Typed wrappers over ffi/spawn.c (container process creation: see the design comment at its
 * top), ffi/reap.c (waitpid, kill) and ffi/fd.c (raw-fd plumbing, pipes, epoll, for talking to
 * those processes).
 */
import { check, check64, SysError } from "./errors.ts";
import { EPOLL_MAX_EVENTS, FLAG, OUT, SLOT, STEP } from "./abi.ts";
import { cstr, shim } from "./lib.ts";
import { O } from "./flags.ts";

export { EPOLL, O } from "./flags.ts";

/** The child's steps (STEP of ./abi.ts) as error messages say them. */
const STEP_TEXT: Record<keyof typeof STEP, string> = {
  WAIT_MAPS: "wait for uid/gid maps",
  SETID: "switch to container root",
  PROPAGATION: "make mounts private",
  ROOTFS: "enter rootfs",
  DEV: "mount /dev",
  PROC: "mount /proc",
  TMP: "mount /tmp",
  RUN: "mount /run",
  RUN_USER: "create /run/user",
  SHARED: "mount /shared",
  PIVOT: "pivot_root",
  WORKDIR: "enter working directory",
  SETSID: "setsid",
  FDS: "set up stdio",
  NO_NEW_PRIVS: "set no_new_privs",
  SIGNALS: "reset signals",
  EXEC: "execve",
  SETNS: "setns",
  CLONE: "clone",
  IPC: "mount the attestation socket",
  SHM: "mount /dev/shm",
  CGROUP: "join the container's cgroup",
};
const STEPS: ReadonlyMap<number, string> = new Map(
  (Object.keys(STEP) as (keyof typeof STEP)[]).map((k) => [STEP[k], STEP_TEXT[k]]),
);

/** A failure of the child before exec: which step, which errno. */
export class SpawnError extends SysError {
  readonly step: string;
  constructor(errno: number, step: number) {
    const name = STEPS.get(step) ?? `step ${step}`;
    super(errno, "spawn", name ? `(${name})` : undefined);
    this.step = name;
  }
}

const I = SLOT;

export interface ProcessSpec {
  /** Path of the program, in the container's root. */
  path: string;
  argv: string[];
  /** `K=V` strings, exactly the environment. */
  env: string[];
  /** fds for the child's 0, 1, 2 (must be >= 3 in the daemon). */
  stdio: [number, number, number];
  umask: number;
  noNewPrivs: boolean;
  setsid: boolean;
  /** stdin is a pty slave to become the controlling terminal (needs setsid). */
  ctty?: boolean;
  /**
   * Deadline of the whole creation, up to exec (default SPAWN_DEFAULT_TIMEOUT_MS). Past it the
   * child is killed and the call fails with ETIMEDOUT (a container can stop an Exec'd child
   * before it execs: ffi/spawn.c).
   */
  timeoutMs?: number;
  /** The cgroup directory the process joins before anything else runs (none when absent). */
  cgroup?: string;
}

export interface StartSpec extends ProcessSpec {
  /** The mounted overlay root, in the daemon's mount namespace. */
  rootfs: string;
  workingDir: string;
  /** uid_map / gid_map text. */
  idMap: string;
  devSource: string;
  /** "" for no /shared. */
  sharedSource: string;
  /** The container's own attestation socket, bound over /shared/acon.sock ("" for none). */
  ipcSource: string;
  /** Container-side uids that get /run/user/<uid> (0700, owned). */
  runUsers: number[];
}

const enc = new TextEncoder();

function blob(strings: string[]): Uint8Array<ArrayBuffer> {
  for (const s of strings) {
    if (s.includes("\0")) throw new SysError(22, "spawn", "(string with NUL)");
  }
  return enc.encode(strings.map((s) => s + "\0").join(""));
}

function header(spec: ProcessSpec, nusers: number): Int32Array<ArrayBuffer> {
  const ints = new Int32Array(I.UIDS + nusers).fill(-1);
  ints[I.FLAGS] = (spec.noNewPrivs ? FLAG.NO_NEW_PRIVS : 0) | (spec.setsid ? FLAG.SETSID : 0) |
    (spec.ctty ? FLAG.CTTY : 0);
  ints[I.ARGC] = spec.argv.length;
  ints[I.ENVC] = spec.env.length;
  ints[I.NUSERS] = nusers;
  [ints[I.FD0], ints[I.FD1], ints[I.FD2]] = spec.stdio;
  ints[I.UMASK] = spec.umask;
  ints[I.TIMEOUT_MS] = Math.min(Math.max(0, Math.ceil(spec.timeoutMs ?? 0)), 0x7fff_ffff);
  return ints;
}

function finish(ret: number, out: Int32Array): number {
  if (ret < 0) {
    if (out[OUT.STEP] > 0) throw new SpawnError(-ret, out[OUT.STEP]);
    throw new SysError(-ret, "spawn");
  }
  return out[OUT.PID];
}

/** A container's user and mount namespaces, held open so that a Restart can join them again. */
export interface KeptNamespaces {
  user: number;
  mnt: number;
}

/**
 * Creates a container's first process: new user, mount, PID, IPC and UTS namespaces, maps
 * written, root built, pivot_root, exec. Resolves to the host pid once exec succeeded, with fds
 * of its user and mount namespaces (the caller owns them; null if they could not be opened).
 */
export async function spawnContainer(
  spec: StartSpec,
): Promise<{ pid: number; ns: KeptNamespaces | null }> {
  const ints = header(spec, spec.runUsers.length);
  spec.runUsers.forEach((u, i) => (ints[I.UIDS + i] = u));
  const b = blob([
    spec.path,
    ...spec.argv,
    ...spec.env,
    spec.rootfs,
    spec.workingDir,
    spec.idMap,
    spec.idMap,
    spec.devSource,
    spec.sharedSource,
    spec.ipcSource,
    ...spec.runUsers.map((u) => `run/user/${u}`),
  ]);
  const out = new Int32Array(OUT.START_LEN).fill(-1);
  const cg = openCgroup(spec, ints);
  let ret: number;
  try {
    ret = await shim().shim_container_start(ints, b, BigInt(b.length), out);
  } finally {
    if (cg >= 0) close(cg);
  }
  const [user, mnt] = [out[OUT.NS_USER], out[OUT.NS_MNT]];
  try {
    const pid = finish(ret, out);
    if (user >= 0 && mnt >= 0) return { pid, ns: { user, mnt } };
  } catch (e) {
    for (const fd of [user, mnt]) if (fd >= 0) close(fd);
    throw e;
  }
  for (const fd of [user, mnt]) if (fd >= 0) close(fd);
  return { pid: out[OUT.PID], ns: null };
}

/**
 * Runs a process in the namespaces of `initPid` (a container init), as container root, in `/`.
 * Given kept namespaces instead, it is a Restart: the process joins that user and mount
 * namespace, gets new PID, IPC and UTS namespaces and a fresh /proc, and starts in workingDir.
 */
export async function spawnInContainer(
  target: number | KeptNamespaces,
  spec: ProcessSpec,
  workingDir = "/",
): Promise<number> {
  const restart = typeof target !== "number";
  const ints = header(spec, 0);
  if (restart) ints[I.FLAGS] |= FLAG.RESTART;
  const names: [number, string][] = restart ? [] : [
    [I.NSFD_USER, "user"],
    [I.NSFD_MNT, "mnt"],
    [I.NSFD_IPC, "ipc"],
    [I.NSFD_UTS, "uts"],
    [I.NSFD_PID, "pid"],
  ];
  if (restart) [ints[I.NSFD_USER], ints[I.NSFD_MNT]] = [target.user, target.mnt];
  const opened: number[] = [];
  try {
    for (const [slot, name] of names) {
      const fd = check(
        shim().shim_open_ns(target as number, cstr(name)),
        "open",
        `/proc/${target}/ns/${name}`,
      );
      opened.push(fd);
      ints[slot] = fd;
    }
    const b = blob([spec.path, ...spec.argv, ...spec.env, workingDir]);
    opened.push(openCgroup(spec, ints));
    const out = new Int32Array(OUT.EXEC_LEN);
    const ret = await shim().shim_container_exec(ints, b, BigInt(b.length), out);
    return finish(ret, out);
  } finally {
    for (const fd of opened) if (fd >= 0) shim().shim_close(fd);
  }
}

/** The spec's cgroup.procs, opened for the child to write itself into (CGROUP_FD); -1: none. */
function openCgroup(spec: ProcessSpec, ints: Int32Array): number {
  if (!spec.cgroup) return -1;
  const fd = openFd(`${spec.cgroup}/cgroup.procs`, O.WRONLY | O.CLOEXEC);
  ints[I.CGROUP_FD] = fd;
  return fd;
}

/** One non-blocking waitpid(-1): the pid and raw wait status, or null when nothing is ready. */
export function reapOne(): { pid: number; status: number } | null {
  const out = new Int32Array(2);
  const r = shim().shim_reap_one(out);
  if (r === 0 || r === -10 /* ECHILD */) return null;
  check(r, "waitpid");
  return { pid: out[0], status: out[1] };
}

/** Whether `pid` is an unreaped child of this process (running, stopped or zombie); never reaps. */
export function childExists(pid: number): boolean {
  return check(shim().shim_child_exists(pid), "waitid", String(pid)) === 1;
}

export function setChildSubreaper(): void {
  check(shim().shim_set_child_subreaper(), "prctl", "PR_SET_CHILD_SUBREAPER");
}

export function kill(pid: number, sig: number): void {
  check(shim().shim_kill(pid, sig), "kill", String(pid));
}

/** A CLOEXEC pipe: [read end, write end]. */
export function pipe(nonblock = false): [number, number] {
  const fds = new Int32Array(2);
  check(shim().shim_pipe2(fds, O.CLOEXEC | (nonblock ? O.NONBLOCK : 0)), "pipe2");
  return [fds[0], fds[1]];
}

export function setNonblock(fd: number): void {
  check(shim().shim_set_nonblock(fd), "fcntl", String(fd));
}

export function openFd(path: string, flags: number, mode = 0): number {
  return check(shim().shim_open(cstr(path), flags, mode), "open", path);
}

export function close(fd: number): void {
  shim().shim_close(fd);
}

/** A non-blocking read: bytes read, 0 at EOF, or null when it would block (EAGAIN). */
export function readSome(fd: number, buf: Uint8Array<ArrayBuffer>): number | null {
  const n = Number(shim().shim_read(fd, buf, BigInt(buf.length)));
  if (n === -11) return null;
  return check64(n, "read", String(fd));
}

/** A non-blocking write: bytes written, or null when it would block (EAGAIN). */
export function writeSome(fd: number, buf: Uint8Array<ArrayBuffer>): number | null {
  const n = Number(shim().shim_write(fd, buf, BigInt(buf.length)));
  if (n === -11) return null;
  return check64(n, "write", String(fd));
}

export function epollCreate(): number {
  return check(shim().shim_epoll_create(), "epoll_create1");
}
export function epollCtl(epfd: number, op: number, fd: number, events: number): void {
  check(shim().shim_epoll_ctl(epfd, op, fd, events), "epoll_ctl", String(fd));
}
/** Waits on a worker thread; resolves to [fd, events] pairs. */
export async function epollWait(
  epfd: number,
  timeoutMs: number,
): Promise<[number, number][]> {
  const out = new Int32Array(2 * EPOLL_MAX_EVENTS);
  const n = check(
    await shim().shim_epoll_wait(epfd, out, EPOLL_MAX_EVENTS, timeoutMs),
    "epoll_wait",
  );
  const r: [number, number][] = [];
  for (let i = 0; i < n; i++) r.push([out[2 * i], out[2 * i + 1]]);
  return r;
}
export function eventfd(): number {
  return check(shim().shim_eventfd(), "eventfd");
}

/** A pty pair (both CLOEXEC): master, slave and the slave's path. */
export function openPty(): { master: number; slave: number; name: string } {
  const fds = new Int32Array(2);
  const name = new Uint8Array(128);
  check(shim().shim_openpty(fds, name, BigInt(name.length)), "openpty");
  const end = name.indexOf(0);
  return { master: fds[0], slave: fds[1], name: new TextDecoder().decode(name.subarray(0, end)) };
}

/** Sets a pty's window size through its master (TIOCSWINSZ; the foreground group gets SIGWINCH). */
export function resizePty(master: number, rows: number, cols: number): void {
  check(shim().shim_pty_resize(master, rows, cols), "ioctl", `TIOCSWINSZ ${master}`);
}

/**
 * A process in acond's own namespaces (the VM's), as root, not in any container: the console's
 * debug shell (acond.debug_shell). The same creation path as Exec, joining no namespace.
 */
export async function spawnInVm(spec: ProcessSpec, workingDir = "/"): Promise<number> {
  const ints = header(spec, 0);
  const b = blob([spec.path, ...spec.argv, ...spec.env, workingDir]);
  const out = new Int32Array(OUT.EXEC_LEN);
  const ret = await shim().shim_container_exec(ints, b, BigInt(b.length), out);
  return finish(ret, out);
}
