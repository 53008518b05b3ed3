/* The child side of container process creation: everything that runs after clone, in a child
 * that shares memory and TLS with a daemon thread (see the design comment in spawn.c). Only raw
 * syscalls (raw_syscall.h), only data the parent marshalled into struct child, no allocation;
 * every path ends in execve or in exit_group after a {step, errno} record on the error pipe. */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>

#include "acond_shim.h"
#include "raw_syscall.h"
#include "spawn.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

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

/* The container's cgroup (see "cgroups" in spawn.c): this process writes "0" (itself) into the
 * group's cgroup.procs, through the fd the daemon opened. The kernel checks the write against the
 * opener's credentials (Linux >= 5.16), so it works from inside the container's user namespace. */
static void join_cgroup(const struct child *c) {
  if (c->ints[I_CGROUP_FD] >= 0) TRY(ST_CGROUP, S3(SYS_write, c->ints[I_CGROUP_FD], "0", 1));
}

/* Each container's own /dev/shm, a size-limited tmpfs (its pages are charged to the container's
 * memory cgroup too); the mount point is made in the bind of the VM's /dev if it lacks one. */
#define SHM_OPTS "mode=1777,size=64m"

static long become_root(void) {
  long r = S3(SYS_setresgid, 0, 0, 0);
  if (r == 0) r = S2(SYS_setgroups, 0, 0);
  if (r == 0) r = S3(SYS_setresuid, 0, 0, 0);
  return r;
}

int spawn_start_child(void *arg) {
  const struct child *c = arg;
  const int32_t *in = c->ints;
  char b;
  long r = S3(SYS_read, c->go_r, &b, 1);
  if (r != 1) child_fail(c, ST_WAIT_MAPS, r < 0 ? r : -EPIPE);
  join_cgroup(c);
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
  long shm = S2(SYS_mkdir, "dev/shm", 01777);
  if (shm < 0 && shm != -EEXIST) child_fail(c, ST_SHM, shm);
  if (c->shared_src[0]) TRY(ST_SHARED, bind_with(c->shared_src, "shared", 0, MS_NOSUID | MS_NODEV | MS_NOEXEC));
  /* The container's own attestation socket over /shared/acon.sock, in this namespace only: what
   * arrives on it comes from this container, whatever uid the caller runs as. */
  if (c->ipc_src[0]) TRY(ST_IPC, S5(SYS_mount, c->ipc_src, "shared/acon.sock", 0, MS_BIND, 0));
  /* Then become the container root, so the file systems created next are owned by it. */
  TRY(ST_SETID, become_root());
  TRY(ST_PROC, S5(SYS_mount, "proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0));
  TRY(ST_TMP, S5(SYS_mount, "tmpfs", "tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"));
  TRY(ST_RUN, S5(SYS_mount, "tmpfs", "run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755"));
  TRY(ST_SHM, S5(SYS_mount, "tmpfs", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, SHM_OPTS));
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
  join_cgroup(c);
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

int spawn_exec_intermediate(void *arg) {
  struct child *c = arg;
  const int32_t *in = c->ints;
  /* The process this makes shares the daemon's memory until it execs, and it sits in the
   * container's PID namespace, where the container root could ptrace it (or open its
   * /proc/<pid>/mem): make the shared mm non-dumpable, so only CAP_SYS_PTRACE in the initial user
   * namespace may. This is the daemon's own mm, so the daemon stays non-dumpable (the kernel does
   * the same at become_root's uid change when fs.suid_dumpable is 0); exec gives the new program
   * its own mm, dumpable as usual. */
  TRY(ST_SETNS, S5(SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0));
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
  /* Not glibc's clone(): this intermediate shares the calling daemon thread's TLS, and the
   * wrapper would set that thread's errno on failure. The raw clone runs exec_final on stack2
   * (its own stack, mapped by the parent) and reports the kernel's real errno. */
  long pid = raw_clone_run((unsigned long)flags, (char *)c->stack2 + STACK_SIZE, exec_final, c);
  if (pid < 0) child_fail(c, ST_CLONE, pid);
  c->out[OUT_PID] = (int32_t)pid;
  S1(SYS_exit, 0);
  return 0;
}
