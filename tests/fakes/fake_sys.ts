/**
 * A recording fake of `Sys` (src/sys/mod.ts) for container and process code, runnable without
 * root. It models what the container code relies on, closely enough to catch leaks:
 * - an in-memory file tree (dirs, files, links, sockets with owners);
 * - mounts by target;
 * - fds with reference counts: pipes (EOF once every write end is closed, EPIPE once every read
 *   end is), /dev/null, kept namespace fds; a spawned process holds its stdio until it exits;
 * - ptys: a master and a slave joined by two pipes (output, input); the master reads EIO once no
 *   slave is open, its writes wait (null, EAGAIN) once `ptyInputCap` bytes are unread, and it
 *   keeps its window size;
 * - processes: spawned ones are alive until `exit()` (or a signal they do not ignore), then queued
 *   for `reapOne` and announced through the child-signal callback, as SIGCHLD would;
 * - readiness for a fake poller (`watcher`), level-triggered like epoll.
 * Every call is recorded (`calls`), and `failOn(kind, nth, errno)` makes the nth call of a kind
 * throw, as the real shim would (SysError; SpawnError for the spawn calls).
 */
import type {
  DirEntry,
  FileInfo,
  KeptNamespaces,
  ProcessSpec,
  StartSpec,
  Sys,
} from "../../src/sys/mod.ts";
import { ERRNO, SysError } from "../../src/sys/errors.ts";
import { SpawnError } from "../../src/sys/proc.ts";
import type { FdWatcher } from "../../src/proc/poller.ts";
import { EPOLL } from "../../src/sys/flags.ts";

type Node =
  | { kind: "dir"; uid: number; mode: number }
  | { kind: "file"; uid: number; text: string }
  | { kind: "link"; uid: number; target: string }
  | { kind: "socket"; uid: number };

class Pipe {
  chunks: Uint8Array[] = [];
  readers = 0;
  writers = 0;
}

/** A pty: `out` carries what the slave writes to the master, `in` what the master writes. */
export class FakePty {
  readonly out = new Pipe();
  readonly in = new Pipe();
  rows = 0;
  cols = 0;
  constructor(readonly name: string) {}
  /** Bytes written by the master and not yet read by the slave side. */
  get pending(): number {
    return this.in.chunks.reduce((n, c) => n + c.length, 0);
  }
}

type Fd =
  | { kind: "read"; pipe: Pipe }
  | { kind: "write"; pipe: Pipe }
  | { kind: "ptyMaster"; pty: FakePty }
  | { kind: "ptySlave"; pty: FakePty }
  | { kind: "null" }
  | { kind: "ns"; of: number; name: string };

export interface FakeProcess {
  pid: number;
  spec: ProcessSpec;
  /** What it was created in: "container" (a Start), a pid (Exec), or "restart". */
  target: "container" | "restart" | number;
  alive: boolean;
  /** Its copies of the fds it was given (stdio), released at exit. */
  held: number[];
  /** Signals it ignores (a container init ignores SIGTERM without a handler). */
  ignores: Set<number>;
}

/** What a test says a new process does (write output, exit at once, ignore signals). */
export type Behaviour = (p: FakeProcess, sys: FakeSys) => void;

export type CallKind = keyof Sys;

export class FakeSys implements Sys {
  readonly calls: { kind: CallKind; args: unknown[] }[] = [];
  readonly files = new Map<string, Node>();
  readonly mounts = new Map<string, { fstype: string | null; data: string | null }>();
  readonly fds = new Map<number, Fd>();
  readonly procs = new Map<number, FakeProcess>();
  /** Close of an fd that was not open, and other misuse: a test asserts this stays empty. */
  readonly problems: string[] = [];
  behaviour: Behaviour = () => {};
  /** Bytes a pty master may have written that its slave has not read before writes wait. */
  ptyInputCap = 4096;
  readonly ptys: FakePty[] = [];
  readonly watcher = new FakeWatcher(this);
  #failures: { kind: CallKind; nth: number; errno: number; step?: number }[] = [];
  #counts = new Map<CallKind, number>();
  #nextFd = 100;
  #nextPid = 1000;
  #exited: { pid: number; status: number }[] = [];
  #onChild: (() => void) | null = null;

  constructor() {
    this.#node("/", { kind: "dir", uid: 0, mode: 0o755 });
  }

  /** The nth (1-based) call of `kind` from now on throws errno (spawns: at child step `step`). */
  failOn(kind: CallKind, nth: number, errno: number, step?: number): void {
    this.#failures.push({ kind, nth: (this.#counts.get(kind) ?? 0) + nth, errno, step });
  }

  /** For the Reaper: how SIGCHLD reaches it. */
  readonly onChildSignal = (cb: () => void): void => {
    this.#onChild = cb;
  };

  #call(kind: CallKind, ...args: unknown[]): void {
    this.calls.push({ kind, args });
    const n = (this.#counts.get(kind) ?? 0) + 1;
    this.#counts.set(kind, n);
    const f = this.#failures.find((x) => x.kind === kind && x.nth === n);
    if (!f) return;
    if (kind === "spawnContainer" || kind === "spawnInContainer") {
      throw new SpawnError(f.errno, f.step ?? 0);
    }
    throw new SysError(f.errno, kind, typeof args[0] === "string" ? args[0] : undefined);
  }

  // ---- file tree ----

  #node(path: string, n: Node): void {
    this.files.set(path, n);
  }
  #parent(path: string): string {
    return path.slice(0, path.lastIndexOf("/")) || "/";
  }
  #resolve(path: string): string {
    for (let i = 0; i < 40; i++) {
      const n = this.files.get(path);
      if (n?.kind !== "link") return path;
      path = n.target.startsWith("/") ? n.target : `${this.#parent(path)}/${n.target}`;
    }
    throw new SysError(ERRNO.ELOOP, "stat", path);
  }
  /** Test set-up: a file (parents created). */
  writeFile(path: string, text: string, uid = 0): void {
    this.#mkdirp(this.#parent(path), 0o755);
    this.#node(path, { kind: "file", uid, text });
  }
  /** Test set-up: a symlink (parents created). */
  symlink(path: string, target: string): void {
    this.#mkdirp(this.#parent(path), 0o755);
    this.#node(path, { kind: "link", uid: 0, target });
  }
  /** Test set-up: a socket file. */
  socket(path: string): void {
    this.#mkdirp(this.#parent(path), 0o755);
    this.#node(path, { kind: "socket", uid: 0 });
  }
  #mkdirp(path: string, mode: number): void {
    if (path === "/" || this.files.get(path)?.kind === "dir") return;
    this.#mkdirp(this.#parent(path), mode);
    if (this.files.has(path)) throw new SysError(ERRNO.EEXIST, "mkdir", path);
    this.#node(path, { kind: "dir", uid: 0, mode });
  }
  /** Paths under `dir` (not itself). */
  under(dir: string): string[] {
    return [...this.files.keys()].filter((p) => p.startsWith(dir + "/"));
  }

  mkdir(path: string, mode: number): Promise<void> {
    this.#call("mkdir", path, mode);
    this.#mkdirp(path, mode);
    return Promise.resolve();
  }
  chmod(path: string, mode: number): Promise<void> {
    this.#call("chmod", path, mode);
    const n = this.files.get(path);
    if (!n) throw new SysError(ERRNO.ENOENT, "chmod", path);
    if (n.kind === "dir") n.mode = mode;
    return Promise.resolve();
  }
  remove(path: string): Promise<void> {
    this.#call("remove", path);
    for (const m of this.mounts.keys()) {
      if (m === path || m.startsWith(path + "/")) {
        throw new SysError(ERRNO.EBUSY, "remove", `${path} (${m} is mounted)`);
      }
    }
    this.files.delete(path);
    for (const p of this.under(path)) this.files.delete(p);
    return Promise.resolve();
  }
  #info(n: Node | undefined): FileInfo | null {
    return n ? { isDirectory: n.kind === "dir", isSocket: n.kind === "socket", uid: n.uid } : null;
  }
  lstat(path: string): Promise<FileInfo | null> {
    this.#call("lstat", path);
    return Promise.resolve(this.#info(this.files.get(path)));
  }
  stat(path: string): Promise<FileInfo | null> {
    this.#call("stat", path);
    return Promise.resolve(this.#info(this.files.get(this.#resolve(path))));
  }
  async *readDir(path: string): AsyncIterable<DirEntry> {
    this.#call("readDir", path);
    if (this.files.get(path)?.kind !== "dir") throw new SysError(ERRNO.ENOTDIR, "readDir", path);
    const names = this.under(path).filter((p) => !p.slice(path.length + 1).includes("/"));
    for (const p of names) {
      const n = this.files.get(p);
      if (!n) continue;
      yield {
        name: p.slice(path.length + 1),
        isDirectory: n.kind === "dir",
        isSymlink: n.kind === "link",
      };
    }
  }
  /** Writes an existing file, or creates one in an existing directory (cgroup control files). */
  writeTextFile(path: string, text: string): Promise<void> {
    this.#call("writeTextFile", path, text);
    const n = this.files.get(path);
    if (n && n.kind !== "file") throw new SysError(ERRNO.EISDIR, "write", path);
    if (!n && this.files.get(this.#parent(path))?.kind !== "dir") {
      throw new SysError(ERRNO.ENOENT, "open", path);
    }
    this.#node(path, { kind: "file", uid: n?.uid ?? 0, text });
    return Promise.resolve();
  }
  /** rmdir as cgroupfs has it: its files go with it; EBUSY while a live process is in it. */
  rmdir(path: string): Promise<void> {
    this.#call("rmdir", path);
    const n = this.files.get(path);
    if (!n) return Promise.resolve();
    if (n.kind !== "dir") throw new SysError(ERRNO.ENOTDIR, "rmdir", path);
    if (this.under(path).some((p) => this.files.get(p)?.kind === "dir")) {
      throw new SysError(ERRNO.ENOTEMPTY, "rmdir", path);
    }
    if (this.alive().some((p) => p.spec.cgroup === path)) {
      throw new SysError(ERRNO.EBUSY, "rmdir", path);
    }
    this.files.delete(path);
    for (const p of this.under(path)) this.files.delete(p);
    return Promise.resolve();
  }
  readTextFile(path: string): Promise<string> {
    this.#call("readTextFile", path);
    const proc = /^\/proc\/(\d+)\/status$/.exec(path);
    if (proc) {
      const p = this.procs.get(Number(proc[1]));
      if (!p?.alive) throw new SysError(ERRNO.ENOENT, "open", path);
      const name = p.spec.path.slice(p.spec.path.lastIndexOf("/") + 1);
      return Promise.resolve(`Name:\t${name}\nState:\tS (sleeping)\n`);
    }
    const n = this.files.get(this.#resolve(path));
    if (n?.kind !== "file") throw new SysError(ERRNO.ENOENT, "open", path);
    return Promise.resolve(n.text);
  }
  readLink(path: string): Promise<string> {
    this.#call("readLink", path);
    const proc = /^\/proc\/(\d+)\/exe$/.exec(path);
    if (proc) {
      const p = this.procs.get(Number(proc[1]));
      if (!p?.alive) throw new SysError(ERRNO.ENOENT, "readlink", path);
      return Promise.resolve(p.spec.path);
    }
    const n = this.files.get(path);
    if (n?.kind !== "link") throw new SysError(ERRNO.EINVAL, "readlink", path);
    return Promise.resolve(n.target);
  }
  lchown(path: string, uid: number, _gid: number): void {
    this.#call("lchown", path, uid);
    const n = this.files.get(path);
    if (!n) throw new SysError(ERRNO.ENOENT, "lchown", path);
    n.uid = uid;
  }

  // ---- mounts ----

  mount(
    source: string | null,
    target: string,
    fstype: string | null,
    flags: number,
    data: string | null,
  ): void {
    this.#call("mount", target, source, fstype, flags, data);
    if (this.files.get(target)?.kind !== "dir") throw new SysError(ERRNO.ENOENT, "mount", target);
    if (this.mounts.has(target)) throw new SysError(ERRNO.EBUSY, "mount", target);
    this.mounts.set(target, { fstype, data });
  }
  umount(target: string, _flags: number): void {
    this.#call("umount", target);
    if (!this.mounts.delete(target)) throw new SysError(ERRNO.EINVAL, "umount2", target);
  }

  // ---- fds ----

  #open(fd: Fd): number {
    const n = this.#nextFd++;
    this.fds.set(n, fd);
    if (fd.kind === "read") fd.pipe.readers++;
    if (fd.kind === "write") fd.pipe.writers++;
    if (fd.kind === "ptyMaster") (fd.pty.out.readers++, fd.pty.in.writers++);
    if (fd.kind === "ptySlave") (fd.pty.out.writers++, fd.pty.in.readers++);
    return n;
  }
  #release(fd: Fd): void {
    if (fd.kind === "read") fd.pipe.readers--;
    if (fd.kind === "write") fd.pipe.writers--;
    if (fd.kind === "ptyMaster") (fd.pty.out.readers--, fd.pty.in.writers--);
    if (fd.kind === "ptySlave") (fd.pty.out.writers--, fd.pty.in.readers--);
    this.watcher.changed();
  }
  #get(fd: number, what: string): Fd {
    const f = this.fds.get(fd);
    if (!f) throw new SysError(ERRNO.EBADF, what, String(fd));
    return f;
  }
  pipe(): [number, number] {
    this.#call("pipe");
    const p = new Pipe();
    return [this.#open({ kind: "read", pipe: p }), this.#open({ kind: "write", pipe: p })];
  }
  setNonblock(fd: number): void {
    this.#call("setNonblock", fd);
    this.#get(fd, "fcntl");
  }
  openFd(path: string, _flags: number): number {
    this.#call("openFd", path);
    if (path !== "/dev/null") throw new SysError(ERRNO.ENOENT, "open", path);
    return this.#open({ kind: "null" });
  }
  close(fd: number): void {
    this.#call("close", fd);
    const f = this.fds.get(fd);
    if (!f) {
      this.problems.push(`close of fd ${fd}, which is not open`);
      return;
    }
    this.fds.delete(fd);
    this.#release(f);
  }
  readSome(fd: number, buf: Uint8Array<ArrayBuffer>): number | null {
    this.#call("readSome", fd);
    const f = this.#get(fd, "read");
    if (f.kind === "ptyMaster") {
      // A pty master with no slave left reads EIO (what is still buffered comes first).
      if (!f.pty.out.chunks.length && f.pty.out.writers === 0) {
        throw new SysError(ERRNO.EIO, "read", String(fd));
      }
      return this.#take(f.pty.out, buf);
    }
    if (f.kind !== "read") throw new SysError(ERRNO.EBADF, "read", String(fd));
    return this.#take(f.pipe, buf);
  }
  #take(pipe: Pipe, buf: Uint8Array): number | null {
    const head = pipe.chunks[0];
    if (!head) return pipe.writers === 0 ? 0 : null;
    const n = Math.min(head.length, buf.length);
    buf.set(head.subarray(0, n));
    if (n === head.length) pipe.chunks.shift();
    else pipe.chunks[0] = head.subarray(n);
    this.watcher.changed();
    return n;
  }
  writeSome(fd: number, buf: Uint8Array<ArrayBuffer>): number | null {
    this.#call("writeSome", fd);
    const f = this.#get(fd, "write");
    if (f.kind === "null") return buf.length;
    if (f.kind === "ptyMaster") {
      if (f.pty.in.readers === 0) throw new SysError(ERRNO.EIO, "write", String(fd));
      const room = this.ptyInputCap - f.pty.pending;
      if (room <= 0) return null;
      const n = Math.min(room, buf.length);
      f.pty.in.chunks.push(buf.slice(0, n));
      return n;
    }
    if (f.kind !== "write") throw new SysError(ERRNO.EBADF, "write", String(fd));
    if (f.pipe.readers === 0) throw new SysError(ERRNO.EPIPE, "write", String(fd));
    f.pipe.chunks.push(buf.slice());
    this.watcher.changed();
    return buf.length;
  }
  /** A pty: master and slave joined by an output and an input pipe (see FakePty). */
  openPty(): { master: number; slave: number; name: string } {
    this.#call("openPty");
    const pty = new FakePty(`/dev/pts/${this.ptys.length}`);
    this.ptys.push(pty);
    return {
      master: this.#open({ kind: "ptyMaster", pty }),
      slave: this.#open({ kind: "ptySlave", pty }),
      name: pty.name,
    };
  }
  resizePty(master: number, rows: number, cols: number): void {
    this.#call("resizePty", master, rows, cols);
    const f = this.#get(master, "ioctl");
    if (f.kind !== "ptyMaster") throw new SysError(ERRNO.ENOTTY, "ioctl", String(master));
    if (rows < 1 || cols < 1 || rows > 0xffff || cols > 0xffff) {
      throw new SysError(ERRNO.EINVAL, "ioctl", String(master));
    }
    f.pty.rows = rows;
    f.pty.cols = cols;
  }

  // ---- processes ----

  #spawn(spec: ProcessSpec, target: FakeProcess["target"]): FakeProcess {
    // The real Sys opens <cgroup>/cgroup.procs for the child to join before anything else.
    if (spec.cgroup && this.files.get(spec.cgroup)?.kind !== "dir") {
      throw new SysError(ERRNO.ENOENT, "open", `${spec.cgroup}/cgroup.procs`);
    }
    const p: FakeProcess = {
      pid: this.#nextPid++,
      spec,
      target,
      alive: true,
      held: [],
      ignores: new Set(target === "container" || target === "restart" ? [15] : []),
    };
    for (const fd of spec.stdio) {
      const f = this.fds.get(fd);
      if (!f) throw new Error(`fake: spawn with stdio fd ${fd}, which is not open`);
      p.held.push(this.#open(f)); // the child's own copy (dup2 in the real child)
    }
    this.procs.set(p.pid, p);
    this.behaviour(p, this);
    return p;
  }
  spawnContainer(spec: StartSpec): Promise<{ pid: number; ns: KeptNamespaces | null }> {
    this.#call("spawnContainer", spec.path);
    const p = this.#spawn(spec, "container");
    const ns = {
      user: this.#open({ kind: "ns", of: p.pid, name: "user" }),
      mnt: this.#open({ kind: "ns", of: p.pid, name: "mnt" }),
    };
    return Promise.resolve({ pid: p.pid, ns });
  }
  spawnInContainer(
    target: number | KeptNamespaces,
    spec: ProcessSpec,
    _workingDir?: string,
  ): Promise<number> {
    this.#call("spawnInContainer", spec.path);
    if (typeof target === "number" && !this.procs.get(target)?.alive) {
      throw new SysError(ERRNO.ENOENT, "open", `/proc/${target}/ns/user`);
    }
    return Promise.resolve(
      this.#spawn(spec, typeof target === "number" ? target : "restart").pid,
    );
  }
  /** Writes what a process would print on one of its stdio fds (1 or 2). */
  print(p: FakeProcess, fd: 1 | 2, text: string | Uint8Array): void {
    const f = this.fds.get(p.held[fd]);
    const pipe = f?.kind === "write" ? f.pipe : f?.kind === "ptySlave" ? f.pty.out : null;
    if (pipe && pipe.readers > 0) {
      pipe.chunks.push(typeof text === "string" ? new TextEncoder().encode(text) : text.slice());
      this.watcher.changed();
    }
  }
  /** What a process on a pty reads from its stdin: everything the master wrote so far. */
  readInput(p: FakeProcess): string {
    const f = this.fds.get(p.held[0]);
    if (f?.kind !== "ptySlave") throw new Error(`fake: process ${p.pid} has no pty as stdin`);
    const text = f.pty.in.chunks.map((c) => new TextDecoder().decode(c)).join("");
    f.pty.in.chunks = [];
    this.watcher.changed();
    return text;
  }
  /** The pty a process has as its stdin (null: none). */
  ptyOf(p: FakeProcess): FakePty | null {
    const f = this.fds.get(p.held[0]);
    return f?.kind === "ptySlave" ? f.pty : null;
  }
  /** The process exits with a code (or is killed by `signal`): fds released, status queued. */
  exit(pid: number, code: number, signal = 0): void {
    const p = this.procs.get(pid);
    if (!p?.alive) throw new Error(`fake: process ${pid} is not alive`);
    p.alive = false;
    for (const fd of p.held) {
      const f = this.fds.get(fd);
      this.fds.delete(fd);
      if (f) this.#release(f);
    }
    p.held = [];
    this.#exited.push({ pid, status: signal ? signal : code << 8 });
    queueMicrotask(() => this.#onChild?.());
  }
  kill(pid: number, sig: number): void {
    this.#call("kill", pid, sig);
    const p = this.procs.get(Math.abs(pid));
    if (!p?.alive) throw new SysError(ERRNO.ESRCH, "kill", String(pid));
    if (sig !== 0 && !p.ignores.has(sig)) this.exit(p.pid, 0, sig);
  }
  reapOne(): { pid: number; status: number } | null {
    try {
      this.#call("reapOne");
    } catch (e) {
      // The reaper's safety poll (pollMs) would try again: so does the fake, once, soon.
      setTimeout(() => this.#onChild?.(), 5);
      throw e;
    }
    return this.#exited.shift() ?? null;
  }
  childExists(pid: number): boolean {
    this.#call("childExists", pid);
    return !!this.procs.get(pid)?.alive || this.#exited.some((e) => e.pid === pid);
  }
  setChildSubreaper(): void {
    this.#call("setChildSubreaper");
  }

  // ---- what a test asserts ----

  alive(): FakeProcess[] {
    return [...this.procs.values()].filter((p) => p.alive);
  }
  /** Open fds other than those held by live processes (the daemon's own). */
  daemonFds(): number[] {
    const held = new Set(this.alive().flatMap((p) => p.held));
    return [...this.fds.keys()].filter((fd) => !held.has(fd));
  }
  /** Kinds of the calls recorded so far, in order. */
  kinds(): CallKind[] {
    return this.calls.map((c) => c.kind);
  }
}

/**
 * The fake's FdWatcher: level-triggered readiness over its pipes, delivered on a macrotask after
 * any change (as the real poller's epoll_wait returns on its own thread).
 */
export class FakeWatcher implements FdWatcher {
  readonly #sys: FakeSys;
  readonly #cbs = new Map<number, { events: number; cb: (ev: number) => void }>();
  #scheduled = false;

  constructor(sys: FakeSys) {
    this.#sys = sys;
  }

  get watched(): number[] {
    return [...this.#cbs.keys()];
  }

  watch(fd: number, events: number, cb: (ev: number) => void): void {
    this.#cbs.set(fd, { events, cb });
    this.changed();
  }

  unwatch(fd: number): void {
    this.#cbs.delete(fd);
  }

  changed(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setTimeout(() => {
      this.#scheduled = false;
      this.#deliver();
    }, 0);
  }

  #deliver(): void {
    for (const [fd, { events, cb }] of [...this.#cbs]) {
      const f = this.#sys.fds.get(fd);
      if (!f || !this.#cbs.has(fd)) continue;
      let ready = 0;
      if (f.kind === "read" && (f.pipe.chunks.length || f.pipe.writers === 0)) ready |= EPOLL.IN;
      if (f.kind === "write") ready |= f.pipe.readers === 0 ? EPOLL.ERR : EPOLL.OUT;
      if (f.kind === "ptyMaster") {
        if (f.pty.out.chunks.length) ready |= EPOLL.IN;
        if (f.pty.out.writers === 0) ready |= EPOLL.IN | EPOLL.HUP;
        else if (f.pty.pending < this.#sys.ptyInputCap) ready |= EPOLL.OUT;
      }
      if (ready & (events | EPOLL.ERR | EPOLL.HUP)) cb(ready & (events | EPOLL.ERR | EPOLL.HUP));
    }
  }
}
