/** A failed system call: the errno and the name of the call, plus the object it was about. */
export class SysError extends Error {
  readonly errno: number;
  readonly syscall: string;
  constructor(errno: number, syscall: string, subject?: string) {
    const name = ERRNO_NAMES[errno] ?? `errno ${errno}`;
    super(`${syscall}${subject ? ` ${subject}` : ""}: ${name}`);
    this.name = "SysError";
    this.errno = errno;
    this.syscall = syscall;
  }
  /** The errno's name ("EPERM"); not `code`, which on AcondError is the domain code. */
  get errnoName(): string {
    return ERRNO_NAMES[this.errno] ?? `E${this.errno}`;
  }
}

/**
 * The errno name of an OS error, whichever door it came through: a SysError (the shim) or the
 * `code` Deno and Node put on theirs ("ENOSPC"); undefined for anything else.
 */
export function errnoOf(e: unknown): string | undefined {
  if (e instanceof SysError) return e.errnoName;
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** Throws SysError when a shim call returned -errno; returns the value otherwise. */
export function check(ret: number, syscall: string, subject?: string): number {
  if (ret < 0) throw new SysError(-ret, syscall, subject);
  return ret;
}

/** The same for 64-bit results, which Deno FFI returns as bigint. */
export function check64(ret: bigint | number, syscall: string, subject?: string): number {
  const n = Number(ret);
  if (n < 0) throw new SysError(-n, syscall, subject);
  return n;
}

export const ERRNO: Record<string, number> = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENOTTY: 25,
  ENOSPC: 28,
  EPIPE: 32,
  ERANGE: 34,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENODATA: 61,
  EOPNOTSUPP: 95,
  ETIMEDOUT: 110,
};

const ERRNO_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(ERRNO).map(([k, v]) => [v, k]),
);
