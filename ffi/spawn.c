/* Process creation for containers: the parent side and the protocol with the child. The child's
 * side (everything that runs after clone) is spawn_child.c; the raw syscalls it uses are
 * raw_syscall.h; the request layout is in spawn.h.
 *
 * Design (read before changing anything):
 *
 * - The child is created with clone(CLONE_VM) on a stack mmap'ed by the parent, so the ~100 MB
 *   Deno address space is not copied (fork costs ~3 ms, this costs ~0.1 ms). The child shares
 *   memory AND thread-local storage with the calling thread, so it must never touch errno or any
 *   libc state: it only reads the request the parent marshalled before the clone and uses the raw
 *   syscalls of raw_syscall.h (sys6), which return -errno instead of setting errno. It ends in
 *   execve or in exit_group after reporting {step, errno} through a CLOEXEC pipe (the "error
 *   pipe").
 * - The calling thread blocks every signal around clone, so no Deno signal handler can run in the
 *   child before the child has reset all dispositions to SIG_DFL and then unblocked everything.
 * - Start: clone(CLONE_VM | CLONE_NEWUSER | NEWNS | NEWPID | NEWIPC | NEWUTS) makes the child PID
 *   1 of its own namespaces at once. The parent writes /proc/<pid>/{uid,gid}_map (it is root in
 *   the initial user namespace, so any mapping is allowed), then writes one byte on the "go" pipe;
 *   the child waits for that byte before it switches to uid 0 (which the map turns into the
 *   container's host uid) and builds its root.
 * - Exec: setns into a PID namespace only affects children, and joining a user or mount namespace
 *   is refused to a thread of a multi-threaded process, so an intermediate is needed. It is a
 *   clone(CLONE_VM | CLONE_VFORK) child (the calling thread sleeps until it exits), joins the
 *   container's namespaces through fds the parent opened, and clones the real process with
 *   CLONE_PARENT, so that the process to exec is the daemon's own child (one reaper owns all).
 *   That clone is raw (raw_clone_run, on a second stack the parent mapped): the intermediate
 *   shares the calling thread's TLS, so glibc's clone() and its errno are off limits there.
 * - cgroups: each container process must be in the container's group before any of its code
 *   runs (a fork bomb as entry point must not fork once outside it). clone3(CLONE_INTO_CGROUP)
 *   would do it at creation, but both clones here run a function on a stack of ours (glibc
 *   clone() for Start, raw_clone_run in the Exec intermediate), so it would need a clone3
 *   trampoline, and its permission check uses the creds of the cloning task (the intermediate is
 *   container root by then). Instead the child's first step (after the maps, for Start; before
 *   anything, for Exec's final process) writes "0" into the group's cgroup.procs through an fd
 *   the daemon opened (I_CGROUP_FD): checked against the opener's creds (Linux >= 5.16), and
 *   still only our code runs; the container's first instruction comes after execve.
 * - The parent reads the error pipe to EOF. EOF with no record means exec succeeded (CLOEXEC
 *   closed the last write end); a record means the child failed at `step` with `errno` and has
 *   exited. Only after EOF is the child's stack unmapped.
 * - Every wait of the parent has a deadline (the request's TIMEOUT_MS slot): an Exec'd child sits
 *   in the container's PID namespace before it execs, so the container can stop it (kill -STOP
 *   -1), and a stopped child never reaches EOF. The error pipe is polled until the deadline;
 *   past it the child is SIGKILLed (which ends a stopped process too) and the call returns
 *   -ETIMEDOUT once EOF shows the child is gone (do_exit releases the memory before the files,
 *   so at EOF it no longer runs on our stacks). If even that takes longer than
 *   SPAWN_KILL_GRACE_MS, the stacks and the request are left mapped (never reused while the
 *   child might run on them) and the call still returns -ETIMEDOUT.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "acond_shim.h"
#include "spawn.h"

/* Splits the NUL-separated blob into the child's strings; 0 or -EINVAL. */
static int unpack(struct child *c, const int32_t *ints, const char *blob, uint64_t bloblen, int start) {
  const char *p = blob, *end = blob + bloblen;
#define NEXT(dst)                                   \
  do {                                              \
    if (p >= end) return -EINVAL;                   \
    (dst) = (char *)p;                              \
    p += strnlen(p, (size_t)(end - p)) + 1;         \
    if (p > end) return -EINVAL;                    \
  } while (0)
  int argc = ints[I_ARGC], envc = ints[I_ENVC], nusers = ints[I_NUSERS];
  if (argc < 1 || argc > MAX_ARGS || envc < 0 || envc > MAX_ENV || nusers < 0 || nusers > MAX_USERS)
    return -EINVAL;
  c->ints = ints;
  NEXT(c->path);
  for (int i = 0; i < argc; i++) NEXT(c->argv[i]);
  c->argv[argc] = 0;
  for (int i = 0; i < envc; i++) NEXT(c->envp[i]);
  c->envp[envc] = 0;
  if (!start) NEXT(c->workdir);
  if (start) {
    NEXT(c->rootfs);
    NEXT(c->workdir);
    NEXT(c->uid_map);
    NEXT(c->gid_map);
    NEXT(c->dev_src);
    NEXT(c->shared_src);
    NEXT(c->ipc_src);
    for (int i = 0; i < nusers; i++) NEXT(c->user_dirs[i]);
  }
  return 0;
#undef NEXT
}

static int write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  size_t len = strlen(text);
  ssize_t n = write(fd, text, len);
  int err = n < 0 ? -errno : ((size_t)n == len ? 0 : -EIO);
  close(fd);
  return err;
}

static int64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Waits until fd can be read without blocking (data or EOF), at most until `deadline` (now_ms
 * time): 1 ready, 0 deadline passed, -errno. */
static int wait_readable(int fd, int64_t deadline) {
  for (;;) {
    int64_t left = deadline - now_ms();
    if (left <= 0) return 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -errno;
    if (r > 0) return 1;
  }
}

/* Reads the error pipe to EOF, until `deadline` at most: 0 if empty (exec'd), else the reported
 * -errno with *step set; -ETIMEDOUT (and *step 0) when the deadline passed before EOF.
 * The first record's bytes go into rec; anything after it (there should be none: a child writes
 * one record and exits) into drain, which is only read to find EOF. Each read is bounded by the
 * free space of the one buffer it writes to, and only made once poll says it will not block. */
static int read_result(int fd, int32_t *step, int64_t deadline) {
  int32_t rec[2];
  char drain[64];
  size_t got = 0;
  for (;;) {
    int w = wait_readable(fd, deadline);
    if (w <= 0) {
      *step = 0;
      return w == 0 ? -ETIMEDOUT : w;
    }
    char *dst = drain;
    size_t room = sizeof drain;
    if (got < sizeof rec) {
      dst = (char *)rec + got;
      room = sizeof rec - got;
    }
    ssize_t n = read(fd, dst, room);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (dst != drain) got += (size_t)n;
  }
  if (got == 0) return 0;
  if (got < sizeof rec) {
    *step = 0;
    return -EIO;
  }
  *step = rec[0];
  return rec[1] > 0 ? -rec[1] : -EIO;
}

/* out (the OUT_* slots of acond_shim.h) gets the pid (also on failure, when a process existed)
 * and the failed step; Start also gives the fds of the child's user and mount namespaces (or
 * -errno). Returns 0 when the program was exec'd, else -errno of the failed step. */
static int32_t spawn(const int32_t *ints, const char *blob, uint64_t bloblen, int32_t *out, int start) {
  struct child *c = calloc(1, sizeof *c);
  if (!c) return -ENOMEM;
  int32_t ret = unpack(c, ints, blob, bloblen, start);
  int64_t deadline = now_ms() + (ints[I_TIMEOUT_MS] > 0 ? ints[I_TIMEOUT_MS] : SPAWN_DEFAULT_TIMEOUT_MS);
  int abandoned = 0; /* a child that outlived its SIGKILL may still run on the stacks */
  out[OUT_PID] = 0;
  out[OUT_STEP] = 0;
  int err_p[2] = {-1, -1}, go_p[2] = {-1, -1};
  void *stack = MAP_FAILED, *stack2 = MAP_FAILED;
  if (ret < 0) goto done;
  if (pipe2(err_p, O_CLOEXEC) < 0 || (start && pipe2(go_p, O_CLOEXEC) < 0)) {
    ret = -errno;
    goto done;
  }
  stack = mmap(0, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (!start) stack2 = mmap(0, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED || (!start && stack2 == MAP_FAILED)) {
    ret = -ENOMEM;
    goto done;
  }
  c->err_w = err_p[1];
  c->go_r = go_p[0];
  c->stack2 = stack2;
  c->out = out;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  /* glibc's clone() is fine on this side: it runs on an ordinary daemon thread (clone_errno is
   * read right after, in this thread), and in the child it only calls fn on the new stack. The
   * intermediate, which is such a child, uses raw_clone_run instead (spawn_child.c). */
  long pid;
  if (start) {
    pid = clone(spawn_start_child, (char *)stack + STACK_SIZE,
                CLONE_VM | CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD, c);
  } else {
    /* The intermediate stores the final pid in out[OUT_PID] before it exits; VFORK waits. */
    pid = clone(spawn_exec_intermediate, (char *)stack + STACK_SIZE, CLONE_VM | CLONE_VFORK | SIGCHLD, c);
  }
  int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, 0);
  close(err_p[1]);
  err_p[1] = -1;
  if (start) {
    close(go_p[0]);
    go_p[0] = -1;
  }
  if (pid < 0) {
    ret = -clone_errno;
    goto done;
  }
  if (start) {
    out[OUT_PID] = (int32_t)pid;
    char path[64];
    /* Keep the user and mount namespaces reachable (a Restart joins them again): opened while
     * the child waits for its maps, so even an entry point that exits at once leaves them. */
    out[OUT_NS_USER] = shim_open_ns((int32_t)pid, "user");
    out[OUT_NS_MNT] = shim_open_ns((int32_t)pid, "mnt");
    snprintf(path, sizeof path, "/proc/%ld/uid_map", pid);
    ret = write_file(path, c->uid_map);
    if (ret == 0) {
      snprintf(path, sizeof path, "/proc/%ld/gid_map", pid);
      ret = write_file(path, c->gid_map);
    }
    if (ret == 0) {
      char b = 1;
      if (write(go_p[1], &b, 1) != 1) ret = -errno;
    }
    if (ret < 0) {
      out[OUT_STEP] = ST_WAIT_MAPS;
      kill((pid_t)pid, SIGKILL);
    }
    close(go_p[1]);
    go_p[1] = -1;
  }
  int32_t step = 0;
  int r = read_result(err_p[0], &step, deadline);
  if (r == -ETIMEDOUT) {
    /* Stopped or stuck before exec (Exec: out[OUT_PID] is the process the intermediate made). */
    if (out[OUT_PID] > 0) kill((pid_t)out[OUT_PID], SIGKILL);
    int32_t ignored;
    if (read_result(err_p[0], &ignored, now_ms() + SPAWN_KILL_GRACE_MS) == -ETIMEDOUT) abandoned = 1;
    ret = -ETIMEDOUT;
    out[OUT_STEP] = 0;
  } else if (ret == 0 && r < 0) {
    ret = r;
    out[OUT_STEP] = step;
  }
done:
  if (err_p[0] >= 0) close(err_p[0]);
  if (err_p[1] >= 0) close(err_p[1]);
  if (go_p[0] >= 0) close(go_p[0]);
  if (go_p[1] >= 0) close(go_p[1]);
  if (abandoned) return ret; /* the stacks and c stay: the child may still be on them */
  if (stack != MAP_FAILED) munmap(stack, STACK_SIZE);
  if (stack2 != MAP_FAILED) munmap(stack2, STACK_SIZE);
  free(c);
  return ret;
}

int32_t shim_container_start(const int32_t *ints, const char *blob, uint64_t bloblen, int32_t *out) {
  return spawn(ints, blob, bloblen, out, 1);
}

int32_t shim_container_exec(const int32_t *ints, const char *blob, uint64_t bloblen, int32_t *out) {
  return spawn(ints, blob, bloblen, out, 0);
}
