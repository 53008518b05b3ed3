/* Shared by spawn.c (the parent side) and spawn_child.c (the child side) of container process
 * creation: the request layout and the child's context. Hidden: for the shim's own sources. */
#ifndef ACOND_SPAWN_H
#define ACOND_SPAWN_H
#include <stdint.h>

#include "acond_shim.h"

/* The request layout (steps, slots, flags, limits) is the ABI's: acond_shim.h. */
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
  int32_t *out;   /* exec: the intermediate stores the final pid in out[OUT_PID] */
};

/* The children's entry points (clone(2) fn signature; arg is the struct child). */
int spawn_start_child(void *arg);
int spawn_exec_intermediate(void *arg);

#endif
