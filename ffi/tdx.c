/* TDX guest ioctls on /dev/tdx_guest. The structs are packed in TypeScript (src/attest/tdx/
 * structs.ts, golden-byte tested); C only opens the device, issues the request and closes it.
 * The one struct built here is the legacy GET_QUOTE argument, because it carries a pointer. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "acond_shim.h"

/* open(path, flags | O_CLOEXEC); ioctl(fd, req, arg); close. arg is updated in place. */
int32_t shim_ioctl_path(const char *path, int32_t flags, uint64_t req, void *arg) {
  int fd = open(path, flags | O_CLOEXEC);
  if (fd < 0) return -errno;
  int r = ioctl(fd, (unsigned long)req, arg);
  int err = r < 0 ? errno : 0;
  close(fd);
  return err ? -err : r;
}

/* The legacy TDX_CMD_GET_QUOTE: arg = {u64 buf; u64 len}; buf holds the GetQuote header and the
 * QGS message and receives the response in place. */
int32_t shim_tdx_quote_ioctl(const char *path, uint64_t req, uint8_t *buf, uint64_t len) {
  struct {
    uint64_t buf;
    uint64_t len;
  } arg = {(uint64_t)(uintptr_t)buf, len};
  return shim_ioctl_path(path, O_RDWR, req, &arg);
}
