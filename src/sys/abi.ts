/**
 * The shim's ABI as the TypeScript codec uses it: the layouts shared with ffi/ (request slots,
 * flags, steps, out slots, limits, the layer file record). ffi/acond_shim.h is the source; these
 * are plain constants (nothing is read from the library at run time, so boot binds no symbol for
 * them), and tests/unit/sys/abi_test.ts compares every one, name and value, with the library's
 * acond_abi_constant() table. Changing a layout: change acond_shim.h, then this file.
 */

/** ACOND_ABI_VERSION: the library the codec was written for. */
export const ABI_VERSION = 4;

/** Steps of a container child (its {step, errno} failure record); 0 is no step. */
export const STEP = {
  WAIT_MAPS: 1,
  SETID: 2,
  PROPAGATION: 3,
  ROOTFS: 4,
  DEV: 5,
  PROC: 6,
  TMP: 7,
  RUN: 8,
  RUN_USER: 9,
  SHARED: 10,
  PIVOT: 11,
  WORKDIR: 12,
  SETSID: 13,
  FDS: 14,
  NO_NEW_PRIVS: 15,
  SIGNALS: 16,
  EXEC: 17,
  SETNS: 18,
  CLONE: 19,
  IPC: 20,
  SHM: 21,
  CGROUP: 22,
} as const;

/** Slots of a spawn request's int array; Start's run-user uids follow from UIDS on. */
export const SLOT = {
  FLAGS: 0,
  ARGC: 1,
  ENVC: 2,
  NUSERS: 3,
  FD0: 4,
  FD1: 5,
  FD2: 6,
  UMASK: 7,
  NSFD_USER: 8,
  NSFD_MNT: 9,
  NSFD_IPC: 10,
  NSFD_UTS: 11,
  NSFD_PID: 12,
  NSFD_CGROUP: 13,
  TIMEOUT_MS: 14,
  CGROUP_FD: 15,
  UIDS: 16,
} as const;

/** Flags in the FLAGS slot. */
export const FLAG = { NO_NEW_PRIVS: 1, SETSID: 2, CTTY: 4, RESTART: 8 } as const;

/** Slots of a spawn request's out array, and the array lengths of Start and Exec. */
export const OUT = { PID: 0, STEP: 1, NS_USER: 2, NS_MNT: 3, START_LEN: 4, EXEC_LEN: 2 } as const;

/** Most argv entries (the path executed is argv[0]) of one process. */
export const MAX_ARGS = 256;
/** Most environment entries of one process. */
export const MAX_ENV = 1024;
/** Most /run/user entries of a Start: the container root and each extra uid of the manifest. */
export const MAX_USERS = 33;
/** Most uids a manifest may map besides root (each also gets a /run/user entry). */
export const MAX_MANIFEST_UIDS = MAX_USERS - 1;
/** Most events one shim_epoll_wait returns (its out array holds two ints per event). */
export const EPOLL_MAX_EVENTS = 64;
/** A spawn request's deadline when its TIMEOUT_MS slot is <= 0. */
export const SPAWN_DEFAULT_TIMEOUT_MS = 10000;
/** After a spawn's deadline: how long the SIGKILLed child may take to be gone. */
export const SPAWN_KILL_GRACE_MS = 2000;
/** Bytes of a terminal state saved by shim_tty_save (src/sys/tty.ts). */
export const TTY_STATE_SIZE = 64;
/** Algorithms in one digest set, and the bytes of each digest's slot (ffi/digest.c). */
export const DIGEST_MAX = 4;
export const DIGEST_BYTES = 64;

/** Which step of shim_if_config failed. */
export const IF_STEP = { ADDRESS: 1, UP: 2, ROUTE: 3 } as const;

/** struct acond_file_record (a layer batch's record header): size and field offsets. */
export const FILE_RECORD = {
  SIZE: 32,
  PATH_LEN: 0,
  MODE: 4,
  FLAGS: 8,
  RESERVED: 12,
  MTIME: 16,
  DATA_LEN: 24,
} as const;
/** A file record's flag: fchmod after creation. */
export const FILE_CHMOD = 1;

/** Every constant above (but the version) under its C name, as acond_abi_constant() lists them. */
export function abiConstants(): Record<string, number> {
  const prefixed = (prefix: string, o: Record<string, number>) =>
    Object.entries(o).map(([k, v]) => [prefix + k, v] as const);
  return Object.fromEntries([
    ...prefixed("STEP_", STEP),
    ...prefixed("I_", SLOT),
    ...prefixed("F_", FLAG),
    ...prefixed("OUT_", OUT),
    ...prefixed("", {
      MAX_ARGS,
      MAX_ENV,
      MAX_USERS,
      EPOLL_MAX_EVENTS,
      SPAWN_DEFAULT_TIMEOUT_MS,
      SPAWN_KILL_GRACE_MS,
      TTY_STATE_SIZE,
      DIGEST_MAX,
      DIGEST_BYTES,
    }),
    ...prefixed("IF_STEP_", IF_STEP),
    ...prefixed("FILE_RECORD_", FILE_RECORD),
    ["FILE_CHMOD", FILE_CHMOD],
  ]);
}
