/* The fd plumbing the daemon uses to talk to container processes: pipes, raw reads and writes,
 * epoll, eventfd, namespace files and ptys. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "acond_shim.h"

/* fds[0] read end, fds[1] write end; flags: O_CLOEXEC and/or O_NONBLOCK for both ends. */
int32_t shim_pipe2(int32_t *fds, int32_t flags) {
  int p[2];
  if (pipe2(p, flags) < 0) return -errno;
  fds[0] = p[0];
  fds[1] = p[1];
  return 0;
}

int32_t shim_set_nonblock(int32_t fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return -errno;
  return SHIM_RET(fcntl(fd, F_SETFL, fl | O_NONBLOCK));
}

int32_t shim_open(const char *path, int32_t flags, uint32_t mode) {
  int fd = open(path, flags | O_CLOEXEC, (mode_t)mode);
  return fd < 0 ? -errno : fd;
}

int32_t shim_close(int32_t fd) { return SHIM_RET(close(fd)); }

int64_t shim_read(int32_t fd, uint8_t *buf, uint64_t len) {
  ssize_t n;
  do {
    n = read(fd, buf, len);
  } while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : n;
}

int64_t shim_write(int32_t fd, const uint8_t *buf, uint64_t len) {
  ssize_t n;
  do {
    n = write(fd, buf, len);
  } while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : n;
}

int32_t shim_epoll_create(void) {
  int fd = epoll_create1(EPOLL_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

/* op: 1 add, 2 del, 3 mod (EPOLL_CTL_*); the event's data is the fd itself. */
int32_t shim_epoll_ctl(int32_t epfd, int32_t op, int32_t fd, uint32_t events) {
  struct epoll_event ev = {.events = events, .data = {.u64 = (uint64_t)(uint32_t)fd}};
  return SHIM_RET(epoll_ctl(epfd, op, fd, &ev));
}

/* Waits; out gets pairs {fd, events}. Returns the number of ready fds or -errno. */
int32_t shim_epoll_wait(int32_t epfd, int32_t *out, int32_t max, int32_t timeout_ms) {
  struct epoll_event evs[EPOLL_MAX_EVENTS];
  if (max > EPOLL_MAX_EVENTS) max = EPOLL_MAX_EVENTS;
  int n;
  do {
    n = epoll_wait(epfd, evs, max, timeout_ms);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  for (int i = 0; i < n; i++) {
    out[2 * i] = (int32_t)evs[i].data.u64;
    out[2 * i + 1] = (int32_t)evs[i].events;
  }
  return n;
}

int32_t shim_eventfd(void) {
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  return fd < 0 ? -errno : fd;
}

/* Opens a namespace file of a process (for Exec's setns), CLOEXEC. */
int32_t shim_open_ns(int32_t pid, const char *name) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/%s", pid, name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

/* A pty pair for an interactive Exec: fds = {master, slave} (both CLOEXEC), name = slave path. */
int32_t shim_openpty(int32_t *fds, char *name, uint64_t namelen) {
  int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0) return -errno;
  int err = 0;
  if (grantpt(m) < 0 || unlockpt(m) < 0) err = -errno;
  if (!err && ptsname_r(m, name, (size_t)namelen) != 0) err = -errno;
  int s = -1;
  if (!err) {
    s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) err = -errno;
  }
  if (err) {
    close(m);
    return err;
  }
  fds[0] = m;
  fds[1] = s;
  return 0;
}

/* A terminal's window size (TIOCSWINSZ on its master: the slave's foreground process group gets
 * SIGWINCH). rows and cols must be 1..65535 (struct winsize holds unsigned shorts). */
int32_t shim_pty_resize(int32_t master, uint32_t rows, uint32_t cols) {
  if (rows == 0 || cols == 0 || rows > 0xffff || cols > 0xffff) return -EINVAL;
  struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
  return SHIM_RET(ioctl(master, TIOCSWINSZ, &ws));
}
