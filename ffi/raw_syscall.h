/* Raw Linux syscalls for code that runs in a CLONE_VM child (spawn_child.c): the child shares
 * memory and thread-local storage with a daemon thread, so it must not touch errno or any libc
 * state. These return -errno instead of setting errno. Hidden: for the shim's own sources. */
#ifndef ACOND_RAW_SYSCALL_H
#define ACOND_RAW_SYSCALL_H
#include <sys/syscall.h>

/* The inline assembly, the syscall numbers' meaning and the kernel struct layouts used with them
 * (struct sigaction in spawn_child.c) are x86_64's. Another architecture needs its own version of
 * this file, not a silent mis-build. */
#if !defined(__x86_64__)
#error "raw_syscall.h: only x86_64 is implemented (add this architecture's syscall convention)"
#endif

static inline long sys6(long n, long a, long b, long c, long d, long e, long f) {
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

#endif
