/** Symbols of ffi/spawn.c (process creation), reap.c (waitpid, kill) and fd.c (pipes, epoll). */
export const procSymbols = {
  /** (ints, blob, bloblen, out[2]) → 0 | -errno; blocks until exec or failure. */
  shim_container_start: {
    parameters: ["buffer", "buffer", "u64", "buffer"],
    result: "i32",
    nonblocking: true,
  },
  shim_container_exec: {
    parameters: ["buffer", "buffer", "u64", "buffer"],
    result: "i32",
    nonblocking: true,
  },
  shim_reap_one: { parameters: ["buffer"], result: "i32" },
  shim_set_child_subreaper: { parameters: [], result: "i32" },
  shim_kill: { parameters: ["i32", "i32"], result: "i32" },
  shim_child_exists: { parameters: ["i32"], result: "i32" },
  shim_pipe2: { parameters: ["buffer", "i32"], result: "i32" },
  shim_set_nonblock: { parameters: ["i32"], result: "i32" },
  shim_open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  shim_close: { parameters: ["i32"], result: "i32" },
  shim_read: { parameters: ["i32", "buffer", "u64"], result: "i64" },
  shim_write: { parameters: ["i32", "buffer", "u64"], result: "i64" },
  shim_epoll_create: { parameters: [], result: "i32" },
  shim_epoll_ctl: { parameters: ["i32", "i32", "i32", "u32"], result: "i32" },
  /** (epfd, out pairs {fd, events}, max, timeout ms) → n | -errno; blocks on a worker thread. */
  shim_epoll_wait: {
    parameters: ["i32", "buffer", "i32", "i32"],
    result: "i32",
    nonblocking: true,
  },
  shim_eventfd: { parameters: [], result: "i32" },
  shim_open_ns: { parameters: ["i32", "buffer"], result: "i32" },
  shim_openpty: { parameters: ["buffer", "buffer", "u64"], result: "i32" },
  /** (master, rows, cols) → 0 | -errno (TIOCSWINSZ). */
  shim_pty_resize: { parameters: ["i32", "u32", "u32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;
