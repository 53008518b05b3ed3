/* File-system syscalls Deno has no API for: mount family, mknod (overlay whiteouts), lchown. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "acond_shim.h"

int32_t shim_mount(const char *src, const char *target, const char *fstype, uint64_t flags,
                   const char *data) {
  return SHIM_RET(mount(src, target, fstype, (unsigned long)flags, data));
}

int32_t shim_umount2(const char *target, int32_t flags) { return SHIM_RET(umount2(target, flags)); }

/* mode carries the file type bits (S_IFCHR etc.); dev is split into major/minor. */
int32_t shim_mknod(const char *path, uint32_t mode, uint32_t major, uint32_t minor) {
  return SHIM_RET(mknod(path, (mode_t)mode, makedev(major, minor)));
}

int32_t shim_lchown(const char *path, int32_t uid, int32_t gid) {
  return SHIM_RET(lchown(path, (uid_t)uid, (gid_t)gid));
}

/* Sets a trusted.* or user.* xattr without following symlinks (overlay opaque directories). */
#include <sys/xattr.h>
int32_t shim_lsetxattr(const char *path, const char *name, const uint8_t *value, uint64_t len) {
  return SHIM_RET(lsetxattr(path, name, value, (size_t)len, 0));
}


void shim_sync(void) { sync(); }
