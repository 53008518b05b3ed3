/* The reaper's waitpid, the subreaper flag, and kill. */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "acond_shim.h"

/* One waitpid(-1, WNOHANG): pid (out = {pid, wstatus}), 0 when nothing is ready, or -errno. */
int32_t shim_reap_one(int32_t *out) {
  int st = 0;
  pid_t p;
  do {
    p = waitpid(-1, &st, WNOHANG | __WALL);
  } while (p < 0 && errno == EINTR);
  if (p < 0) return -errno;
  out[0] = p;
  out[1] = st;
  return p;
}

int32_t shim_set_child_subreaper(void) { return SHIM_RET(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)); }

int32_t shim_kill(int32_t pid, int32_t sig) { return SHIM_RET(kill(pid, sig)); }

int32_t shim_child_exists(int32_t pid) {
  siginfo_t si;
  int r;
  if (pid <= 0) return -EINVAL;
  do {
    r = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT | __WALL);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return 1;
  return errno == ECHILD ? 0 : -errno;
}
