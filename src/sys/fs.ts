/** Typed wrappers over ffi/fs.c. */
import { check } from "./errors.ts";
import { cstr, shim } from "./lib.ts";

export { MNT_DETACH, MS } from "./flags.ts";

export function mount(
  source: string | null,
  target: string,
  fstype: string | null,
  flags: number,
  data: string | null,
): void {
  check(
    shim().shim_mount(cstr(source), cstr(target), cstr(fstype), BigInt(flags), cstr(data)),
    "mount",
    target,
  );
}

export function umount(target: string, flags = 0): void {
  check(shim().shim_umount2(cstr(target), flags), "umount2", target);
}

const S_IFCHR = 0o020000;
/** An overlayfs whiteout: a 0/0 character device. */
export function mkWhiteout(path: string): void {
  check(shim().shim_mknod(cstr(path), S_IFCHR, 0, 0), "mknod", path);
}

export function lchown(path: string, uid: number, gid: number): void {
  check(shim().shim_lchown(cstr(path), uid, gid), "lchown", path);
}

export function lsetxattr(path: string, name: string, value: Uint8Array<ArrayBuffer>): void {
  check(
    shim().shim_lsetxattr(cstr(path), cstr(name), value, BigInt(value.length)),
    "lsetxattr",
    path,
  );
}

export function sync(): Promise<void> {
  return shim().shim_sync();
}
