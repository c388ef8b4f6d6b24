/* The exec calls that take their arguments as a variadic list: execl, execlp and
 * execle. The C library's own versions call its internal execve, which the preload
 * library does not see, so a node listener would not reach the new program; these
 * collect the list into an argv array (on the stack, as the C library does) and call
 * execv, execvp and execve, which the library interposes. Rust cannot define a
 * variadic function, and a cdylib exports only Rust symbols, so exports.rs exports
 * execl, execlp and execle as trampolines that jump here with the caller's registers
 * and stack untouched. */
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

/* Counts the arguments after `arg` up to the terminating NULL. */
static size_t count(const char *arg, va_list ap) {
    size_t n = 1;
    if (arg == NULL)
        return 0;
    while (va_arg(ap, const char *) != NULL)
        n++;
    return n;
}

/* Declares `argv`: `arg` and the arguments after it, NULL-terminated, in the
 * caller's frame (a variable-length array, as the C library does). Leaves `ap`
 * started just past the last argument (before the terminating NULL unless `arg`
 * was it); the caller ends it. */
#define COLLECT_ARGV(argv, arg, ap)                 \
    va_start(ap, arg);                              \
    size_t argv##_n = count(arg, ap);               \
    va_end(ap);                                     \
    const char *argv[argv##_n + 1];                 \
    argv[0] = arg;                                  \
    va_start(ap, arg);                              \
    for (size_t i = 1; i < argv##_n; i++)           \
        argv[i] = va_arg(ap, const char *);         \
    argv[argv##_n] = NULL

int dpnode_preload_execl(const char *path, const char *arg, ...) {
    va_list ap;
    COLLECT_ARGV(argv, arg, ap);
    va_end(ap);
    return execv(path, (char *const *)argv);
}

int dpnode_preload_execlp(const char *file, const char *arg, ...) {
    va_list ap;
    COLLECT_ARGV(argv, arg, ap);
    va_end(ap);
    return execvp(file, (char *const *)argv);
}

int dpnode_preload_execle(const char *path, const char *arg, ...) {
    va_list ap;
    COLLECT_ARGV(argv, arg, ap);
    /* The terminating NULL (if arg was not it), then the environment. */
    if (arg != NULL)
        (void)va_arg(ap, const char *);
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return execve(path, (char *const *)argv, envp);
}
