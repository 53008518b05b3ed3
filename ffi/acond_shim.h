/* acond's C shim: the only native code acond runs, and this header is its ABI. Every function
 * the library exports is declared here with ACOND_EXPORT; the build uses -fvisibility=hidden, so
 * anything else is invisible outside the library (static, or hidden when shared between files).
 * The TypeScript side binds these symbols in src/sys/symbols/.
 *
 * Every function returns >= 0 on success or -errno on failure (errno is thread-local and
 * nonblocking FFI calls run on other threads, so it is never read in a second call). Child-side
 * code after fork/clone only uses async-signal-safe calls and ends in execve or _exit. */
#ifndef ACOND_SHIM_H
#define ACOND_SHIM_H
#include <errno.h>
#include <stdint.h>

#define ACOND_EXPORT __attribute__((visibility("default")))

/* For the shim's own sources: 0, or -errno of the libc call just made. */
#define SHIM_RET(expr) ((expr) < 0 ? -errno : 0)

/* ---- The ABI's layouts: the numbers the TypeScript codec must agree on ----
 * This header is their source. src/sys/abi.ts states the same values for the codec, and
 * tests/unit/sys/abi_test.ts compares the two through acond_abi_constant() (abi.c), which lists
 * every constant below by name; the lists are X-macros so that the enums and that table cannot
 * differ. A change here means the same change in src/sys/abi.ts and a new ACOND_ABI_VERSION. */
#define ACOND_ABI_VERSION 4

/* Steps of a container child (spawn_child.c), reported in its {step, errno} record; src/sys/
 * proc.ts has their names for error messages. Step 0 means no step (a failure of the parent). */
#define ACOND_STEPS(X) \
  X(WAIT_MAPS, 1)      \
  X(SETID, 2)          \
  X(PROPAGATION, 3)    \
  X(ROOTFS, 4)         \
  X(DEV, 5)            \
  X(PROC, 6)           \
  X(TMP, 7)            \
  X(RUN, 8)            \
  X(RUN_USER, 9)       \
  X(SHARED, 10)        \
  X(PIVOT, 11)         \
  X(WORKDIR, 12)       \
  X(SETSID, 13)        \
  X(FDS, 14)           \
  X(NO_NEW_PRIVS, 15)  \
  X(SIGNALS, 16)       \
  X(EXEC, 17)          \
  X(SETNS, 18)         \
  X(CLONE, 19)         \
  X(IPC, 20)           \
  X(SHM, 21)           \
  X(CGROUP, 22)

/* Slots of the int array of a shim_container_start/exec request (built by src/sys/proc.ts, with a
 * NUL-separated string blob). The NSFD slots are Exec's: fds of the target's namespaces, opened
 * by the caller, -1 for none. TIMEOUT_MS: the deadline of the whole request, from the call to
 * exec (<= 0: SPAWN_DEFAULT_TIMEOUT_MS); past it the child is SIGKILLed and the call returns
 * -ETIMEDOUT. CGROUP_FD: the container's cgroup.procs, opened by the caller (-1: none), which the
 * process writes itself into before anything else. From UIDS on, Start has NUSERS container-side
 * uids, each of which gets /run/user/<uid>. */
#define ACOND_SLOTS(X) \
  X(FLAGS, 0)          \
  X(ARGC, 1)           \
  X(ENVC, 2)           \
  X(NUSERS, 3)         \
  X(FD0, 4)            \
  X(FD1, 5)            \
  X(FD2, 6)            \
  X(UMASK, 7)          \
  X(NSFD_USER, 8)      \
  X(NSFD_MNT, 9)       \
  X(NSFD_IPC, 10)      \
  X(NSFD_UTS, 11)      \
  X(NSFD_PID, 12)      \
  X(NSFD_CGROUP, 13)   \
  X(TIMEOUT_MS, 14)    \
  X(CGROUP_FD, 15)     \
  X(UIDS, 16)

/* Request flags (the FLAGS slot). CTTY: stdin is a pty slave, make it the controlling terminal
 * (after setsid). RESTART: Exec as a Restart (new PID/IPC/UTS namespaces, fresh /proc, workdir). */
#define ACOND_FLAGS(X)   \
  X(NO_NEW_PRIVS, 1)     \
  X(SETSID, 2)           \
  X(CTTY, 4)             \
  X(RESTART, 8)

/* Slots of a request's out array: the pid (also on failure, when a process existed), the failed
 * step, and for Start the fds of the child's user and mount namespaces (or -errno). START_LEN and
 * EXEC_LEN are the lengths the caller provides. */
#define ACOND_OUTS(X) \
  X(PID, 0)           \
  X(STEP, 1)          \
  X(NS_USER, 2)       \
  X(NS_MNT, 3)        \
  X(START_LEN, 4)     \
  X(EXEC_LEN, 2)

/* Limits of a request. MAX_USERS counts the /run/user entries of a Start: the container root and
 * every extra uid of the manifest, so a manifest may map MAX_USERS - 1 uids. EPOLL_MAX_EVENTS:
 * most events one shim_epoll_wait returns (its out array holds twice as many ints).
 * SPAWN_DEFAULT_TIMEOUT_MS: a spawn request's deadline when TIMEOUT_MS is <= 0.
 * SPAWN_KILL_GRACE_MS: after a timeout, how long the parent waits for the SIGKILLed child to be
 * gone (its fds closed, so no longer on the stacks the parent mapped) before it leaves them.
 * TTY_STATE_SIZE: bytes of a terminal state saved by shim_tty_save (a struct termios fits).
 * DIGEST_MAX, DIGEST_BYTES: algorithms in one digest set, and the slot each digest gets (digest.c). */
#define ACOND_LIMITS(X)              \
  X(MAX_ARGS, 256)                   \
  X(MAX_ENV, 1024)                   \
  X(MAX_USERS, 33)                   \
  X(EPOLL_MAX_EVENTS, 64)            \
  X(SPAWN_DEFAULT_TIMEOUT_MS, 10000) \
  X(SPAWN_KILL_GRACE_MS, 2000)       \
  X(TTY_STATE_SIZE, 64)              \
  X(DIGEST_MAX, 4)                   \
  X(DIGEST_BYTES, 64)

/* Which step of shim_if_config failed (*step). */
#define ACOND_IF_STEPS(X) \
  X(ADDRESS, 1)           \
  X(UP, 2)                \
  X(ROUTE, 3)

#define ACOND_ENUM_ST(name, value) ST_##name = value,
#define ACOND_ENUM_I(name, value) I_##name = value,
#define ACOND_ENUM_F(name, value) F_##name = value,
#define ACOND_ENUM_OUT(name, value) OUT_##name = value,
#define ACOND_ENUM_LIMIT(name, value) name = value,
#define ACOND_ENUM_IF_STEP(name, value) IF_STEP_##name = value,
enum acond_step { ACOND_STEPS(ACOND_ENUM_ST) };
enum acond_slot { ACOND_SLOTS(ACOND_ENUM_I) };
enum acond_flag { ACOND_FLAGS(ACOND_ENUM_F) };
enum acond_out { ACOND_OUTS(ACOND_ENUM_OUT) };
enum acond_limit { ACOND_LIMITS(ACOND_ENUM_LIMIT) };
enum acond_if_step { ACOND_IF_STEPS(ACOND_ENUM_IF_STEP) };

/* One record of a shim_write_files batch (native byte order), followed by path_len path bytes (no
 * NUL) and data_len data bytes; records are packed back to back (src/sys/layerfiles.ts). Its size
 * and field offsets are ABI constants (FILE_RECORD_*). */
struct acond_file_record {
  uint32_t path_len;
  uint32_t mode;  /* permission bits only (<= 0777) */
  uint32_t flags; /* FILE_CHMOD: fchmod after creation (the umask may have cleared bits) */
  uint32_t reserved;
  int64_t mtime; /* seconds since the epoch (atime gets the same) */
  uint64_t data_len;
};
#define FILE_CHMOD 1u

/* ---- abi.c: the ABI's version and constants ---- */
ACOND_EXPORT int32_t acond_abi_version(void);
/* The i-th constant (from 0): its name (NUL-terminated, as src/sys/abi.ts spells it) into name
 * (namelen bytes) and its value into *value. 0, -ENOENT past the last one, -ERANGE if the name
 * does not fit. */
ACOND_EXPORT int32_t acond_abi_constant(uint32_t i, char *name, uint64_t namelen, int64_t *value);

/* ---- fs.c: file-system syscalls ---- */
ACOND_EXPORT int32_t shim_mount(const char *src, const char *target, const char *fstype,
                                uint64_t flags, const char *data);
ACOND_EXPORT int32_t shim_umount2(const char *target, int32_t flags);
ACOND_EXPORT int32_t shim_mknod(const char *path, uint32_t mode, uint32_t major, uint32_t minor);
ACOND_EXPORT int32_t shim_lchown(const char *path, int32_t uid, int32_t gid);
ACOND_EXPORT int32_t shim_lsetxattr(const char *path, const char *name, const uint8_t *value,
                                    uint64_t len);
ACOND_EXPORT void shim_sync(void);

/* ---- init.c: power, modules, network ---- */
ACOND_EXPORT int32_t shim_reboot(uint32_t cmd);
ACOND_EXPORT int32_t shim_finit_module(const char *path, const char *params, int32_t flags);
ACOND_EXPORT int32_t shim_if_config(const char *name, uint32_t addr_be, uint32_t mask_be,
                                    uint32_t gw_be, int32_t *step);

/* ---- layer.c: batched file writes ---- */
ACOND_EXPORT int64_t shim_write_files(const char *dir, const uint8_t *batch, uint64_t batch_len,
                                      uint32_t count, uint32_t *failed);

/* ---- digest.c: streaming digests (libcrypto, opened on first use) ---- */
/* A digest set hashes the same bytes with up to DIGEST_MAX algorithms; shim_digest_final
 * writes each digest into its own DIGEST_BYTES slot (the first bytes of the slot: 32 for
 * sha256, 48 for sha384, 64 for sha512) and returns how many. -ENOENT: no libcrypto.so.3. */
ACOND_EXPORT int32_t shim_digest_available(void);
ACOND_EXPORT int32_t shim_digest_new(const char *names, uint32_t count, void **out);
ACOND_EXPORT int32_t shim_digest_update(void *set, const uint8_t *data, uint64_t len);
ACOND_EXPORT int32_t shim_digest_final(void *set, uint8_t *out, uint64_t len);
ACOND_EXPORT void shim_digest_free(void *set);

/* ---- tdx.c: device ioctls ---- */
ACOND_EXPORT int32_t shim_ioctl_path(const char *path, int32_t flags, uint64_t req, void *arg);
ACOND_EXPORT int32_t shim_tdx_quote_ioctl(const char *path, uint64_t req, uint8_t *buf,
                                          uint64_t len);

/* ---- tty.c: the console's terminal settings (src/console/mux/) ---- */
ACOND_EXPORT int32_t shim_tty_save(int32_t fd, uint8_t *state, uint64_t len);
ACOND_EXPORT int32_t shim_tty_restore(int32_t fd, const uint8_t *state, uint64_t len);
ACOND_EXPORT int32_t shim_tty_raw(int32_t fd, const uint8_t *state, uint64_t len,
                                  int32_t output_processing);
ACOND_EXPORT int32_t shim_tty_winsize(int32_t fd, int32_t *out);

/* ---- spawn.c: container processes ---- */
ACOND_EXPORT int32_t shim_container_start(const int32_t *ints, const char *blob, uint64_t bloblen,
                                          int32_t *out);
ACOND_EXPORT int32_t shim_container_exec(const int32_t *ints, const char *blob, uint64_t bloblen,
                                         int32_t *out);

/* ---- reap.c: waitpid, subreaper, kill ---- */
ACOND_EXPORT int32_t shim_reap_one(int32_t *out);
ACOND_EXPORT int32_t shim_set_child_subreaper(void);
ACOND_EXPORT int32_t shim_kill(int32_t pid, int32_t sig);
/* Whether `pid` is a child of this process not yet reaped (running, stopped or a zombie): 1, or 0
 * (ECHILD: no such child, e.g. already reaped), or -errno. Never reaps (waitid WNOWAIT). */
ACOND_EXPORT int32_t shim_child_exists(int32_t pid);

/* ---- fd.c: pipes, reads and writes, epoll, namespaces, ptys ---- */
ACOND_EXPORT int32_t shim_pipe2(int32_t *fds, int32_t flags);
ACOND_EXPORT int32_t shim_set_nonblock(int32_t fd);
ACOND_EXPORT int32_t shim_open(const char *path, int32_t flags, uint32_t mode);
ACOND_EXPORT int32_t shim_close(int32_t fd);
ACOND_EXPORT int64_t shim_read(int32_t fd, uint8_t *buf, uint64_t len);
ACOND_EXPORT int64_t shim_write(int32_t fd, const uint8_t *buf, uint64_t len);
ACOND_EXPORT int32_t shim_epoll_create(void);
ACOND_EXPORT int32_t shim_epoll_ctl(int32_t epfd, int32_t op, int32_t fd, uint32_t events);
ACOND_EXPORT int32_t shim_epoll_wait(int32_t epfd, int32_t *out, int32_t max, int32_t timeout_ms);
ACOND_EXPORT int32_t shim_eventfd(void);
ACOND_EXPORT int32_t shim_open_ns(int32_t pid, const char *name);
ACOND_EXPORT int32_t shim_openpty(int32_t *fds, char *name, uint64_t namelen);
/* TIOCSWINSZ on a pty master: rows and cols 1..65535, else -EINVAL. */
ACOND_EXPORT int32_t shim_pty_resize(int32_t master, uint32_t rows, uint32_t cols);

#endif
