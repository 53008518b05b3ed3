/* Shared by spawn.c (the parent side) and spawn_child.c (the child side) of container process
 * creation: the request layout and the child's context. Hidden: for the shim's own sources. */
#ifndef ACOND_SPAWN_H
#define ACOND_SPAWN_H
#include <stdint.h>

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

/* The children's entry points (clone(2) fn signature; arg is the struct child). */
int spawn_start_child(void *arg);
int spawn_exec_intermediate(void *arg);

#endif
