/* sym — addresses of a process's user code and of the kernel, as names.
 *
 * User addresses are resolved through the process's executable mappings
 * (/proc/PID/maps) and the ELF symbol tables (.symtab, else .dynsym) of the
 * mapped files, read with libelf through /proc/PID/map_files (so a file
 * deleted or replaced since it was mapped, or one in another mount
 * namespace, is still found); kernel addresses through /proc/kallsyms
 * (root sees the real addresses).  Files are read lazily, once each.
 *
 *   sym_open(pid)        a resolver for pid's address space; pid <= 0 for
 *                        the kernel only.  NULL with errno on failure (a
 *                        process that is gone: ESRCH / ENOENT).
 *   sym_resolve(s, addr, buf, n)
 *                        writes "func+0xoff" (user: "func+0xoff" as well;
 *                        an address in a mapped file without a symbol
 *                        covering it: "[libfoo.so.1+0xoff]"; an address in no
 *                        known mapping, or a kernel address with no kallsyms
 *                        entry: "0x..."), and a " [module]" suffix for kernel
 *                        modules.  Returns buf.  Kernel addresses are told by
 *                        their value (x86_64: the upper half).  A user address
 *                        in no mapping makes it re-read /proc/PID/maps, at most
 *                        once a second (libraries loaded later).
 *   sym_file(s, addr)    the basename of the file mapped at user address
 *                        addr ("libc.so.6"), valid until sym_close; NULL
 *                        for a kernel address or one in no known mapping
 *                        (call sym_resolve first: it re-reads the maps).
 *   sym_is_kernel(addr)  true for a kernel address.
 *   sym_close(s)         frees everything; accepts NULL.
 *
 * Not thread-safe: one resolver per thread.
 */
#ifndef AMPSTAT_SYM_H
#define AMPSTAT_SYM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sym;

struct sym *sym_open(pid_t pid);
const char *sym_resolve(struct sym *s, uint64_t addr, char *buf, size_t n);
const char *sym_file(struct sym *s, uint64_t addr);
bool sym_is_kernel(uint64_t addr);
void sym_close(struct sym *s);

#endif
