/* openat2_shim — LD_PRELOAD for the valgrind test only (tests/73-valgrind.t).
 *
 * valgrind 3.19 (Debian 12) does not implement openat2 (syscall 437): under
 * memcheck it fails with ENOSYS, amped has no fallback, and every file would
 * be a 500, leaving the file-serving code unchecked.  This shim catches
 * syscall(SYS_openat2, ...) made through libc and does a plain openat()
 * with the same flags instead.  It drops RESOLVE_BENEATH: symlinks leaving
 * the root are NOT refused under it, so it must never be used outside that
 * test (which serves only its own fixture to its own client). */
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

long syscall(long n, ...)
{
	static long (*real)(long, ...);
	va_list ap;
	long a[6];

	va_start(ap, n);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (n == SYS_openat2) {
		const struct open_how *how = (const struct open_how *)a[2];
		return openat((int)a[0], (const char *)a[1], (int)how->flags, (mode_t)how->mode);
	}
	if (!real)
		real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	return real(n, a[0], a[1], a[2], a[3], a[4], a[5]);
}
