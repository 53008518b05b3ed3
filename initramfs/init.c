/* /init of the acond initramfs: the smallest possible bridge from the kernel to acond.
 * Deno aborts if anything asks for its executable path before /proc exists, and the bundled
 * acond imports node:crypto at load time, which does; so /proc is mounted here, then acond is
 * exec'd as PID 1 (the compiled binary when the image has one, else the bundle under deno).
 * If that fails there is nothing to serve: power off instead of letting the kernel panic. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <unistd.h>

static char *const env[] = {
    "HOME=/",
    "PATH=/bin",
    "DENO_DIR=/var/cache/deno",
    "DENO_NO_UPDATE_CHECK=1",
    "DENO_NO_PACKAGE_JSON=1",
    "NO_COLOR=1",
    "ACOND_SHIM=/app/libacond_shim.so",
    NULL,
};

int main(void) {
  if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0 && errno != EBUSY)
    fprintf(stderr, "init: mount /proc: %s\n", strerror(errno));
  if (access("/bin/acond", X_OK) == 0) {
    char *const argv[] = {"/bin/acond", "--init", NULL};
    execve(argv[0], argv, env);
    fprintf(stderr, "init: exec /bin/acond: %s\n", strerror(errno));
  } else {
    /* The V8 flags as in dist/acond (scripts/build): a young generation of at most 8 MiB. */
    char *const argv[] = {"/bin/deno", "run", "-A", "--no-config", "--cached-only",
                          "--unstable-no-legacy-abort", "--unstable-vsock",
                          "--v8-flags=--max-semi-space-size=8", "/app/acond.js", "--init", NULL};
    execve(argv[0], argv, env);
    fprintf(stderr, "init: exec /bin/deno: %s\n", strerror(errno));
  }
  sync();
  reboot(RB_POWER_OFF);
  for (;;) pause();
}
