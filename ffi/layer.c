/* Layer extraction: writes a batch of new regular files in one call. A layer is mostly small files;
 * one FFI crossing per batch (instead of several per file) and a few syscalls per file keep the
 * per-file cost near GNU tar's, and called nonblocking the writes run on another thread while the
 * parser goes on. The caller (src/image/tar.ts) has already decided every path is safe; this code
 * enforces it again: each file is created O_EXCL relative to the layer directory, and the kernel
 * refuses any path that would leave that directory or pass through a symlink. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "acond_shim.h"

/* The record layout (struct acond_file_record, FILE_CHMOD) is the ABI's: acond_shim.h. */
#define MAX_PATH 4095

static int create_beneath(int dirfd, const char *path, mode_t mode) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  how.mode = mode;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  int fd;
  do {
    fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0 && errno == ENOSYS) {
    /* Kernels before 5.6: O_EXCL|O_NOFOLLOW still never follows a symlink at the last component,
     * and the parents are directories this extraction created. */
    do {
      fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    } while (fd < 0 && errno == EINTR);
  }
  return fd;
}

static int write_all(int fd, const uint8_t *p, uint64_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n > (1u << 30) ? (1u << 30) : (size_t)n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (uint64_t)w;
  }
  return 0;
}

/* Writes one file; -errno on failure (a partly written file is left for the caller to delete
 * with the whole layer directory). */
static int write_one(int dirfd, const char *path, const struct acond_file_record *r, const uint8_t *data) {
  int fd = create_beneath(dirfd, path, (mode_t)r->mode);
  if (fd < 0) return -errno;
  int err = 0;
  if (write_all(fd, data, r->data_len) < 0) err = -errno;
  if (!err && (r->flags & FILE_CHMOD) && fchmod(fd, (mode_t)r->mode) < 0) err = -errno;
  if (!err) {
    struct timespec ts[2] = {{.tv_sec = r->mtime, .tv_nsec = 0}, {.tv_sec = r->mtime, .tv_nsec = 0}};
    if (futimens(fd, ts) < 0) err = -errno;
  }
  if (close(fd) < 0 && !err && errno != EINTR) err = -errno;
  return err;
}

/* Writes `count` records of `batch` (batch_len bytes) under the directory `dir`. Returns the number
 * of files written, or -errno with *failed set to the index of the record that failed (EINVAL for a
 * malformed record: out of bounds, empty, absolute, too long or containing NUL). */
int64_t shim_write_files(const char *dir, const uint8_t *batch, uint64_t batch_len, uint32_t count,
                         uint32_t *failed) {
  *failed = 0;
  int dirfd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dirfd < 0) return -errno;
  char path[MAX_PATH + 1];
  uint64_t off = 0;
  int err = 0;
  uint32_t i;
  for (i = 0; i < count; i++) {
    struct acond_file_record r;
    if (batch_len - off < sizeof r) {
      err = -EINVAL;
      break;
    }
    memcpy(&r, batch + off, sizeof r);
    off += sizeof r;
    if (r.path_len == 0 || r.path_len > MAX_PATH || r.mode > 0777 || batch_len - off < r.path_len ||
        batch_len - off - r.path_len < r.data_len) {
      err = -EINVAL;
      break;
    }
    memcpy(path, batch + off, r.path_len);
    path[r.path_len] = 0;
    off += r.path_len;
    if (path[0] == '/' || memchr(path, 0, r.path_len) != NULL) {
      err = -EINVAL;
      break;
    }
    err = write_one(dirfd, path, &r, batch + off);
    if (err) break;
    off += r.data_len;
  }
  close(dirfd);
  if (err) {
    *failed = i;
    return err;
  }
  return (int64_t)count;
}
