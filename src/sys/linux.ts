/** The real `Sys`: the C shim for processes, fds and mounts, Deno's file API for file steps. */
import type { FileInfo, Sys } from "./mod.ts";
import * as proc from "./proc.ts";
import * as fs from "./fs.ts";

export const linuxSys: Sys = {
  spawnContainer: proc.spawnContainer,
  spawnInContainer: proc.spawnInContainer,
  kill: proc.kill,
  reapOne: proc.reapOne,
  childExists: proc.childExists,
  setChildSubreaper: proc.setChildSubreaper,

  pipe: () => proc.pipe(),
  setNonblock: proc.setNonblock,
  openFd: (path, flags) => proc.openFd(path, flags),
  close: proc.close,
  readSome: proc.readSome,
  writeSome: proc.writeSome,
  openPty: proc.openPty,
  resizePty: proc.resizePty,

  mount: fs.mount,
  umount: fs.umount,
  lchown: fs.lchown,
  mkdir: (path, mode) => Deno.mkdir(path, { recursive: true, mode }),
  chmod: (path, mode) => Deno.chmod(path, mode),
  async remove(path) {
    try {
      await Deno.remove(path, { recursive: true });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  },
  lstat: (path) => info(Deno.lstat(path)),
  stat: (path) => info(Deno.stat(path)),
  readDir: (path) => Deno.readDir(path),
  readTextFile: (path) => Deno.readTextFile(path),
  writeTextFile: (path, text) => Deno.writeTextFile(path, text, { create: false }),
  async rmdir(path) {
    try {
      await Deno.remove(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  },
  readLink: (path) => Deno.readLink(path),
};

async function info(st: Promise<Deno.FileInfo>): Promise<FileInfo | null> {
  try {
    const i = await st;
    return { isDirectory: i.isDirectory, isSocket: i.isSocket === true, uid: i.uid };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}
