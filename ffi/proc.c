/* Process creation for containers, the reaper's waitpid, and the fd plumbing (pipes, epoll) the
 * daemon uses to talk to container processes.
 *
 * Design (read before changing anything):
 *
 * - The child is created with clone(CLONE_VM) on a stack mmap'ed by the parent, so the ~100 MB
 *   Deno address space is not copied (fork costs ~3 ms, this costs ~0.1 ms). The child shares
 *   memory AND thread-local storage with the calling thread, so it must never touch errno or any
 *   libc state: it only reads the request the parent marshalled before the clone and uses the raw
 *   syscalls below (sys6), which return -errno instead of setting errno. It ends in execve or in
 *   exit_group after reporting {step, errno} through a CLOEXEC pipe (the "error pipe").
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
 * - The parent reads the error pipe to EOF. EOF with no record means exec succeeded (CLOEXEC
 *   closed the last write end); a record means the child failed at `step` with `errno` and has
 *   exited. Only after EOF is the child's stack unmapped.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "acond_shim.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* ---- raw syscalls (x86_64): no errno, safe in a CLONE_VM child ---- */
static long sys6(long n, long a, long b, long c, long d, long e, long f) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}
#define S0(n) sys6((n), 0, 0, 0, 0, 0, 0)
#define S1(n, a) sys6((n), (long)(a), 0, 0, 0, 0, 0)
#define S2(n, a, b) sys6((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define S3(n, a, b, c) sys6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define S4(n, a, b, c, d) sys6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define S5(n, a, b, c, d, e) sys6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

/* Steps of the child, reported with the errno; src/sys/proc.ts names them (keep in sync). */
enum step {
  ST_WAIT_MAPS = 1,
  ST_SETID,
  ST_PROPAGATION,
  ST_ROOTFS,
  ST_DEV,
  ST_PROC,
  ST_TMP,
  ST_RUN,
  ST_RUN_USER,
  ST_SHARED,
  ST_PIVOT,
  ST_WORKDIR,
  ST_SETSID,
  ST_FDS,
  ST_NO_NEW_PRIVS,
  ST_SIGNALS,
  ST_EXEC,
  ST_SETNS,
  ST_CLONE,
  ST_IPC,
};

/* Request flags (ints[I_FLAGS]). */
#define F_NO_NEW_PRIVS 1
#define F_SETSID 2
#define F_CTTY 4 /* stdin is a pty slave: make it the controlling terminal (after setsid) */
#define F_RESTART 8 /* exec mode as a Restart: new PID/IPC/UTS namespaces, fresh /proc, workdir */

/* The request: an int array and a NUL-separated string blob, both built by src/sys/proc.ts. */
enum {
  I_FLAGS,
  I_ARGC,
  I_ENVC,
  I_NUSERS,
  I_FD0,
  I_FD1,
  I_FD2,
  I_UMASK,
  I_NSFD_USER, /* exec: fds of the target's namespaces (opened by the caller) */
  I_NSFD_MNT,
  I_NSFD_IPC,
  I_NSFD_UTS,
  I_NSFD_PID,
  I_NSFD_CGROUP,
  I_UIDS, /* start: nusers uids, then nusers gids follow */
};

#define MAX_ARGS 256
#define MAX_ENV 1024
#define MAX_USERS 64
#define STACK_SIZE (256 * 1024)

struct child {
  const int32_t *ints;
  char *path;
  char *argv[MAX_ARGS + 1];
  char *envp[MAX_ENV + 1];
  char *rootfs, *workdir, *uid_map, *gid_map, *dev_src, *shared_src, *ipc_src;
  char *user_dirs[MAX_USERS];
  int err_w;      /* error pipe, write end (CLOEXEC) */
  int go_r;       /* start: "maps written" pipe, read end */
  void *stack2;   /* exec: stack of the process the intermediate clones */
  int32_t *out;   /* exec: the intermediate stores the final pid in out[0] */
};

static void child_fail(const struct child *c, int step, long err) {
  int32_t rec[2] = {step, (int32_t)-err};
  S3(SYS_write, c->err_w, rec, sizeof rec);
  S1(SYS_exit_group, 127);
  for (;;) {
  }
}
#define TRY(step, expr)                  \
  do {                                   \
    long r_ = (expr);                    \
    if (r_ < 0) child_fail(c, step, r_); \
  } while (0)

/* statfs f_flags (ST_*) to the mount flags a bind remount must keep (locked ones included). */
static unsigned long kept_flags(const char *path) {
  struct statfs st;
  if (S2(SYS_statfs, path, &st) < 0) return 0;
  unsigned long f = 0;
  if (st.f_flags & ST_RDONLY) f |= MS_RDONLY;
  if (st.f_flags & ST_NOSUID) f |= MS_NOSUID;
  if (st.f_flags & ST_NODEV) f |= MS_NODEV;
  if (st.f_flags & ST_NOEXEC) f |= MS_NOEXEC;
  if (st.f_flags & ST_NOATIME) f |= MS_NOATIME;
  if (st.f_flags & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (st.f_flags & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

/* A bind mount ignores nosuid/nodev/noexec: apply them with a remount of the bind. */
static long bind_with(const char *src, const char *dst, int rec, unsigned long extra) {
  long r = S5(SYS_mount, src, dst, 0, MS_BIND | (rec ? MS_REC : 0), 0);
  if (r < 0) return r;
  return S5(SYS_mount, 0, dst, 0, MS_BIND | MS_REMOUNT | kept_flags(dst) | extra, 0);
}

/* Everything from setsid to execve: common to Start and Exec. */
static void child_finish(const struct child *c) {
  const int32_t *in = c->ints;
  S1(SYS_umask, in[I_UMASK]);
  if (in[I_FLAGS] & F_SETSID) TRY(ST_SETSID, S0(SYS_setsid));
  /* The caller's fds are >= 3 (0-2 are the daemon's stdio), so dup2 order cannot clobber one. */
  TRY(ST_FDS, S2(SYS_dup2, in[I_FD0], 0));
  TRY(ST_FDS, S2(SYS_dup2, in[I_FD1], 1));
  TRY(ST_FDS, S2(SYS_dup2, in[I_FD2], 2));
  if (in[I_FLAGS] & F_CTTY) TRY(ST_FDS, S3(SYS_ioctl, 0, TIOCSCTTY, 0));
  /* No daemon fd survives exec (the error pipe's write end is closed by exec too). */
  TRY(ST_FDS, S3(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC));
  if (in[I_FLAGS] & F_NO_NEW_PRIVS) TRY(ST_NO_NEW_PRIVS, S5(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
  struct { /* the kernel's struct sigaction (x86_64) */
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
  } dfl = {SIG_DFL, 0, 0, 0};
  for (int s = 1; s <= 64; s++) {
    if (s == SIGKILL || s == SIGSTOP) continue;
    S4(SYS_rt_sigaction, s, &dfl, 0, 8);
  }
  uint64_t none = 0;
  TRY(ST_SIGNALS, S4(SYS_rt_sigprocmask, SIG_SETMASK, &none, 0, 8));
  long r = S3(SYS_execve, c->path, c->argv, c->envp);
  child_fail(c, ST_EXEC, r);
}

static long become_root(void) {
  long r = S3(SYS_setresgid, 0, 0, 0);
  if (r == 0) r = S2(SYS_setgroups, 0, 0);
  if (r == 0) r = S3(SYS_setresuid, 0, 0, 0);
  return r;
}

static int start_child(void *arg) {
  const struct child *c = arg;
  const int32_t *in = c->ints;
  char b;
  long r = S3(SYS_read, c->go_r, &b, 1);
  if (r != 1) child_fail(c, ST_WAIT_MAPS, r < 0 ? r : -EPIPE);
  /* Nothing mounted below may propagate back to the daemon's namespace. */
  TRY(ST_PROPAGATION, S5(SYS_mount, 0, "/", 0, MS_REC | MS_PRIVATE, 0));
  /* Host paths first, while still host uid 0: the daemon's state directories are 0700 root, and
   * uid 0 is their owner (capabilities in the new namespace do not override DAC on inodes whose
   * owner is unmapped there). */
  /* The overlay mount was copied into this less privileged namespace, so it is locked and
   * pivot_root refuses to move it; a bind of it onto itself made here is not locked. */
  TRY(ST_ROOTFS, S5(SYS_mount, c->rootfs, c->rootfs, 0, MS_BIND | MS_REC, 0));
  TRY(ST_ROOTFS, S1(SYS_chdir, c->rootfs));
  TRY(ST_DEV, bind_with(c->dev_src, "dev", 1, MS_NOSUID | MS_NOEXEC));
  if (c->shared_src[0]) TRY(ST_SHARED, bind_with(c->shared_src, "shared", 0, MS_NOSUID | MS_NODEV | MS_NOEXEC));
  /* The container's own attestation socket over /shared/acon.sock, in this namespace only: what
   * arrives on it comes from this container, whatever uid the caller runs as. */
  if (c->ipc_src[0]) TRY(ST_IPC, S5(SYS_mount, c->ipc_src, "shared/acon.sock", 0, MS_BIND, 0));
  /* Then become the container root, so the file systems created next are owned by it. */
  TRY(ST_SETID, become_root());
  TRY(ST_PROC, S5(SYS_mount, "proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0));
  TRY(ST_TMP, S5(SYS_mount, "tmpfs", "tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"));
  TRY(ST_RUN, S5(SYS_mount, "tmpfs", "run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755"));
  if (in[I_NUSERS] > 0) TRY(ST_RUN_USER, S2(SYS_mkdir, "run/user", 0755));
  for (int i = 0; i < in[I_NUSERS]; i++) {
    TRY(ST_RUN_USER, S2(SYS_mkdir, c->user_dirs[i], 0700));
    TRY(ST_RUN_USER, S2(SYS_chmod, c->user_dirs[i], 0700));
    TRY(ST_RUN_USER, S3(SYS_lchown, c->user_dirs[i], in[I_UIDS + i], in[I_UIDS + i]));
  }
  /* pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves only
   * the container's tree (pivot_root(2), "new_root and put_old may be the same directory"). */
  long pr = S2(SYS_pivot_root, ".", ".");
  if (pr == 0) {
    TRY(ST_PIVOT, S2(SYS_umount2, ".", MNT_DETACH));
  } else if (pr == -EINVAL) {
    /* The namespace's root is the initial rootfs (PID 1 on an initramfs), which pivot_root
     * cannot move. Stack the container tree on top of "/" instead: every path walk that reaches
     * the rootfs root (by "/" or by ".." from anywhere, chroot escapes included) steps into the
     * topmost mount there, which is this tree, so the rootfs below is unreachable. */
    TRY(ST_PIVOT, S5(SYS_mount, ".", "/", 0, MS_BIND | MS_REC, 0));
    TRY(ST_PIVOT, S1(SYS_chdir, "/"));
    TRY(ST_PIVOT, S1(SYS_chdir, ".."));
    TRY(ST_PIVOT, S1(SYS_chroot, "."));
  } else {
    child_fail(c, ST_PIVOT, pr);
  }
  TRY(ST_PIVOT, S1(SYS_chdir, "/"));
  if (S1(SYS_chdir, c->workdir) < 0) TRY(ST_WORKDIR, S1(SYS_chdir, "/"));
  child_finish(c);
  return 0;
}

static int exec_final(void *arg) {
  const struct child *c = arg;
  if (c->ints[I_FLAGS] & F_RESTART) {
    /* The kept mount namespace still has the /proc of the previous (dead) PID namespace. The
     * kernel allows a new proc mount in a user namespace only while a proc mount is fully
     * visible in the mount namespace, and that old one is the only one: mount on top of it
     * (it stays hidden underneath, pinning only the dead PID namespace's small struct). */
    TRY(ST_PROC, S5(SYS_mount, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0));
  }
  if (S1(SYS_chdir, c->workdir) < 0) TRY(ST_WORKDIR, S1(SYS_chdir, "/"));
  child_finish(c);
  return 0;
}

static int exec_intermediate(void *arg) {
  struct child *c = arg;
  const int32_t *in = c->ints;
  /* The user namespace first: it grants the capabilities the others are checked against. */
  static const int order[] = {I_NSFD_USER, I_NSFD_MNT, I_NSFD_IPC, I_NSFD_UTS, I_NSFD_CGROUP, I_NSFD_PID};
  for (unsigned i = 0; i < sizeof order / sizeof order[0]; i++) {
    if (in[order[i]] >= 0) TRY(ST_SETNS, S2(SYS_setns, in[order[i]], 0));
  }
  TRY(ST_SETID, become_root());
  /* CLONE_PARENT: the daemon, not this intermediate, is the parent (and the reaper) of the
   * process; its exit signal is inherited from this intermediate (SIGCHLD). */
  long flags = CLONE_VM | CLONE_PARENT;
  /* Restart keeps the user and mount namespaces (Image.md) but not PID, IPC (nor UTS). */
  if (in[I_FLAGS] & F_RESTART) flags |= CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
  long pid = clone(exec_final, (char *)c->stack2 + STACK_SIZE, flags, c);
  if (pid < 0) child_fail(c, ST_CLONE, -EAGAIN);
  c->out[0] = (int32_t)pid;
  S1(SYS_exit, 0);
  return 0;
}

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


/* Reads the error pipe to EOF: 0 if empty (exec'd), else the reported -errno with *step set. */
static int read_result(int fd, int32_t *step) {
  int32_t rec[2];
  size_t got = 0;
  for (;;) {
    ssize_t n = read(fd, (char *)rec + got, got < sizeof rec ? sizeof rec - got : sizeof rec);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (got < sizeof rec) got += (size_t)n;
  }
  if (got == 0) return 0;
  if (got < sizeof rec) {
    *step = 0;
    return -EIO;
  }
  *step = rec[0];
  return rec[1] > 0 ? -rec[1] : -EIO;
}

/* out[0] = pid (also on failure, when a process existed), out[1] = failed step; Start also gives
 * out[2], out[3] = fds of the child's user and mount namespaces (or -errno). Returns 0 when the
 * program was exec'd, else -errno of the failed step. */
static int32_t spawn(const int32_t *ints, const char *blob, uint64_t bloblen, int32_t *out, int start) {
  struct child *c = calloc(1, sizeof *c);
  if (!c) return -ENOMEM;
  int32_t ret = unpack(c, ints, blob, bloblen, start);
  out[0] = 0;
  out[1] = 0;
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
  long pid;
  if (start) {
    pid = clone(start_child, (char *)stack + STACK_SIZE,
                CLONE_VM | CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD, c);
  } else {
    /* The intermediate stores the final pid in out[0] before it exits; VFORK waits for that. */
    pid = clone(exec_intermediate, (char *)stack + STACK_SIZE, CLONE_VM | CLONE_VFORK | SIGCHLD, c);
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
    out[0] = (int32_t)pid;
    char path[64];
    /* Keep the user and mount namespaces reachable (a Restart joins them again): opened while
     * the child waits for its maps, so even an entry point that exits at once leaves them. */
    out[2] = shim_open_ns((int32_t)pid, "user");
    out[3] = shim_open_ns((int32_t)pid, "mnt");
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
      out[1] = ST_WAIT_MAPS;
      kill((pid_t)pid, SIGKILL);
    }
    close(go_p[1]);
    go_p[1] = -1;
  }
  int32_t step = 0;
  int r = read_result(err_p[0], &step);
  if (ret == 0 && r < 0) {
    ret = r;
    out[1] = step;
  }
done:
  if (err_p[0] >= 0) close(err_p[0]);
  if (err_p[1] >= 0) close(err_p[1]);
  if (go_p[0] >= 0) close(go_p[0]);
  if (go_p[1] >= 0) close(go_p[1]);
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

/* ---- reaping and signals ---- */

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

/* ---- fds ---- */

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
  struct epoll_event evs[64];
  if (max > 64) max = 64;
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
