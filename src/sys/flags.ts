/** Kernel flag values the callers of `Sys` pass (pure constants; no FFI behind this module). */
export { MS } from "./mount_flags.ts";

/** open(2) flags. */
export const O = { RDONLY: 0, WRONLY: 1, RDWR: 2, NONBLOCK: 0o4000, CLOEXEC: 0o2000000 };

/** epoll events and epoll_ctl operations. */
export const EPOLL = { IN: 1, OUT: 4, ERR: 8, HUP: 16, CTL_ADD: 1, CTL_DEL: 2, CTL_MOD: 3 };

/** umount2(2): detach now, clean up when no longer busy. */
export const MNT_DETACH = 2;
