/* seccomp_errno_exec.c - runs a program under a seccomp filter that fails one system call
 * with a chosen errno, as systemd's SystemCallFilter= with SystemCallErrorNumber= does.
 *
 *   seccomp_errno_exec SYSCALL_NR ERRNO PROGRAM [ARG...]
 *
 * Every other call is allowed. Calls of another architecture (a 32-bit ABI) are allowed too,
 * as under SystemCallArchitectures=native they would be killed before reaching the program.
 * Sets no_new_privs first, so it needs no privilege. Exits 126 if the filter cannot be set
 * or the program not run. Used by tests/integration/test_syscalls.py. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#else
#error "seccomp_errno_exec: add this architecture's AUDIT_ARCH_ value"
#endif

static int parse_number(const char *s, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > max)
        return EINVAL;
    *out = v;
    return 0;
}

static int install_filter(long nr, long err)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return errno;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
        return errno;
    return 0;
}

int main(int argc, char **argv)
{
    long nr = 0, err = 0;
    if (argc < 4 || parse_number(argv[1], 4095, &nr) != 0 || parse_number(argv[2], 4095, &err) != 0) {
        fprintf(stderr, "usage: seccomp_errno_exec SYSCALL_NR ERRNO PROGRAM [ARG...]\n");
        return 126;
    }
    int rc = install_filter(nr, err);
    if (rc != 0) {
        fprintf(stderr, "seccomp_errno_exec: seccomp filter: %s\n", strerror(rc));
        return 126;
    }
    execvp(argv[3], argv + 3);
    fprintf(stderr, "seccomp_errno_exec: %s: %s\n", argv[3], strerror(errno));
    return 126;
}
