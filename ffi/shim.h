/* acond's C shim: the only native code acond runs. Every function returns >= 0 on success or
 * -errno on failure (errno is thread-local and nonblocking FFI calls run on other threads, so it
 * is never read in a second call). Child-side code after fork/clone only uses async-signal-safe
 * calls and ends in execve or _exit. */
#ifndef ACOND_SHIM_H
#define ACOND_SHIM_H
#include <errno.h>
#include <stdint.h>

#define SHIM_RET(expr) ((expr) < 0 ? -errno : 0)

#endif
