/**
 * What the container, process and image code need from the kernel, as one interface: process
 * creation and signals, raw fds, mounts and the file steps around them, and /proc reads. The real
 * implementation (./linux.ts) is the shim plus Deno's file API; tests use the recording fake in
 * tests/fakes/fake_sys.ts, which can fail the Nth call of any kind. Code that takes a `Sys` never
 * imports the rest of src/sys/ for behaviour (types and constants only).
 */
import type { KeptNamespaces, ProcessSpec, StartSpec } from "./proc.ts";

export type { KeptNamespaces, ProcessSpec, StartSpec } from "./proc.ts";
export { SpawnError } from "./proc.ts";
export { SysError } from "./errors.ts";
export { EPOLL, MNT_DETACH, MS, O } from "./flags.ts";

/** One entry of a directory listing (what readDir yields). */
export interface DirEntry {
  name: string;
  isDirectory: boolean;
  isSymlink: boolean;
}

export interface FileInfo {
  isDirectory: boolean;
  isSocket: boolean;
  uid: number | null;
}

export interface Sys {
  // ---- processes ----
  /** A container's first process (new namespaces, root, exec); see sys/proc.ts. */
  spawnContainer(spec: StartSpec): Promise<{ pid: number; ns: KeptNamespaces | null }>;
  /** A process in a running container's namespaces, or in kept ones (a Restart). */
  spawnInContainer(
    target: number | KeptNamespaces,
    spec: ProcessSpec,
    workingDir?: string,
  ): Promise<number>;
  kill(pid: number, sig: number): void;
  /** One non-blocking waitpid(-1), or null when no child has exited. */
  reapOne(): { pid: number; status: number } | null;
  /** Whether `pid` is an unreaped child (running, stopped or zombie); never reaps. */
  childExists(pid: number): boolean;
  setChildSubreaper(): void;

  // ---- raw fds ----
  pipe(): [number, number];
  setNonblock(fd: number): void;
  openFd(path: string, flags: number): number;
  close(fd: number): void;
  /** Bytes read, 0 at EOF, null when it would block. */
  readSome(fd: number, buf: Uint8Array<ArrayBuffer>): number | null;
  /** Bytes written, null when it would block. */
  writeSome(fd: number, buf: Uint8Array<ArrayBuffer>): number | null;
  openPty(): { master: number; slave: number; name: string };
  /** A pty's window size, set through its master (TIOCSWINSZ): rows and cols 1..65535. */
  resizePty(master: number, rows: number, cols: number): void;

  // ---- mounts and file steps ----
  mount(
    source: string | null,
    target: string,
    fstype: string | null,
    flags: number,
    data: string | null,
  ): void;
  umount(target: string, flags: number): void;
  lchown(path: string, uid: number, gid: number): void;
  mkdir(path: string, mode: number): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  /** Removes a file or a whole tree; a missing path is not an error. */
  remove(path: string): Promise<void>;
  /** null when the path does not exist (lstat: the link itself; stat: what it points to). */
  lstat(path: string): Promise<FileInfo | null>;
  stat(path: string): Promise<FileInfo | null>;
  readDir(path: string): AsyncIterable<DirEntry>;
  readTextFile(path: string): Promise<string>;
  /** Writes `text` in one write(2) to an existing file (cgroup control files). */
  writeTextFile(path: string, text: string): Promise<void>;
  /** Removes an empty directory (a cgroup); a missing path is not an error. */
  rmdir(path: string): Promise<void>;
  readLink(path: string): Promise<string>;
}
