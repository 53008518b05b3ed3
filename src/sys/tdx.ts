/** Typed wrappers over ffi/tdx.c: ioctls on a device path (the TDX guest device). */
import { check } from "./errors.ts";
import { cstr, shim } from "./lib.ts";

export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;

/** open(path, flags), ioctl(fd, req, arg), close; arg is read and written in place. */
export function ioctlPath(
  path: string,
  flags: number,
  req: bigint,
  arg: Uint8Array<ArrayBuffer>,
): number {
  return check(shim().shim_ioctl_path(cstr(path), flags, req, arg), "ioctl", path);
}

/** The legacy GET_QUOTE ioctl over buf (header + QGS message; the response replaces it). */
export async function quoteIoctl(
  path: string,
  req: bigint,
  buf: Uint8Array<ArrayBuffer>,
): Promise<number> {
  // Nonblocking: the driver waits for the host's quoting service (seconds).
  return check(
    await shim().shim_tdx_quote_ioctl(cstr(path), req, buf, BigInt(buf.length)),
    "ioctl",
    path,
  );
}
