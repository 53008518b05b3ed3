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

/* clone(2) that runs fn(arg) in the child, on the stack that ends at stack_top, and ends the
 * child with exit(fn's value); in the caller it returns the child's pid or -errno.
 *
 * Why it is written this way: a raw clone child resumes right after the syscall instruction with
 * the caller's registers but with %rsp = stack_top, where none of the caller's stack frame is, so
 * it must not go on in the caller's compiled C code (that code addresses its locals and return
 * address through the old stack). The assembly block therefore makes the call itself: in the
 * child (clone returned 0) it calls fn on the new stack and then exits, never leaving the block;
 * in the caller (pid or -errno) it falls through as an ordinary syscall. fn and arg travel in
 * r12 and r13, which the syscall preserves (it clobbers only rax, rcx and r11); as asm inputs
 * the compiler saves and restores them around the block in the caller. stack_top must be 16-byte
 * aligned (the x86_64 ABI's %rsp at a call). Without CLONE_SETTLS the child keeps the caller's
 * %fs, i.e. its TLS, so fn is bound by the rules above: raw syscalls only, no errno, no libc. */
static inline long raw_clone_run(unsigned long flags, void *stack_top, int (*fn)(void *),
                                 void *arg) {
  long ret;
  register long r10 __asm__("r10") = 0; /* child_tid: unused (no CLONE_CHILD_*TID) */
  register long r8 __asm__("r8") = 0;   /* tls: unused (no CLONE_SETTLS) */
  register int (*r12)(void *) __asm__("r12") = fn;
  register void *r13 __asm__("r13") = arg;
  __asm__ volatile("syscall\n\t"
                   "testq %%rax, %%rax\n\t"
                   "jnz 1f\n\t"
                   "xorl %%ebp, %%ebp\n\t" /* child: no frame chain back into the caller */
                   "movq %%r13, %%rdi\n\t"
                   "call *%%r12\n\t"
                   "movl %%eax, %%edi\n\t"
                   "movl %[nr_exit], %%eax\n\t"
                   "syscall\n\t"
                   "ud2\n"
                   "1:"
                   : "=a"(ret)
                   : "a"((long)SYS_clone), "D"(flags), "S"(stack_top), "d"(0L), "r"(r10), "r"(r8),
                     "r"(r12), "r"(r13), [nr_exit] "i"(SYS_exit)
                   : "rcx", "r11", "memory", "cc");
  return ret;
}

#endif
