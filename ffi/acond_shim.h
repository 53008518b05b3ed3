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

/* ---- tdx.c: device ioctls ---- */
ACOND_EXPORT int32_t shim_ioctl_path(const char *path, int32_t flags, uint64_t req, void *arg);
ACOND_EXPORT int32_t shim_tdx_quote_ioctl(const char *path, uint64_t req, uint8_t *buf,
                                          uint64_t len);

/* ---- spawn.c: container processes ---- */
ACOND_EXPORT int32_t shim_container_start(const int32_t *ints, const char *blob, uint64_t bloblen,
                                          int32_t *out);
ACOND_EXPORT int32_t shim_container_exec(const int32_t *ints, const char *blob, uint64_t bloblen,
                                         int32_t *out);

/* ---- reap.c: waitpid, subreaper, kill ---- */
ACOND_EXPORT int32_t shim_reap_one(int32_t *out);
ACOND_EXPORT int32_t shim_set_child_subreaper(void);
ACOND_EXPORT int32_t shim_kill(int32_t pid, int32_t sig);

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

#endif
