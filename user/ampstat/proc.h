/* proc — what ampstat learns about a target from /proc and its memory.
 *
 *   proc_alive(pid)           0 if the process is gone or a zombie, else 1
 *                             (also when /proc cannot be read).
 *   proc_comm(pid, buf, n)    0 and the name, or -errno.
 *   proc_cmdline(pid, buf, n)
 *                             0 and the process title: /proc/PID/cmdline
 *                             with its NULs as spaces and trailing ones
 *                             cut (what ps shows; nginx rewrites it to
 *                             "nginx: worker process"), or -errno; an
 *                             empty title (a kernel thread) is -ENOENT.
 *   proc_exe_name(pid, buf, n)
 *                             0 and the basename of the process's
 *                             executable (/proc/PID/exe, without a
 *                             " (deleted)" suffix), or -errno.
 *   proc_tgid(pid)            the process a thread id belongs to (pid itself
 *                             for a process), or -errno.
 *   proc_tasks(pid, out, max)
 *                             the thread ids of process pid
 *                             (/proc/PID/task), at most max; returns how
 *                             many, or -errno (the process is gone).
 *   proc_children(pid, out, max)
 *                             the pids of pid's descendants (processes, any
 *                             depth), at most max; returns how many.
 *   proc_sym_addr(pid, name, &addr)
 *                             0 and the run-time address of the data symbol
 *                             `name` in the target's executable (ELF symtab
 *                             + load bias from /proc/PID/maps); -ENOENT if the
 *                             binary has no such symbol, other -errno.
 *   proc_find_exe(name)       the server whose executable's basename is
 *                             name: of the processes running it, one whose
 *                             parent does not (a forking server's workers
 *                             run it too), the earliest started; 0 when
 *                             none runs it, or -errno.
 *   proc_read_pidfile(path)   the pid in a pid file (decimal, optional
 *                             newline), -ENOENT when there is none, -EINVAL
 *                             for anything else in it, other -errno.
 *   proc_read_u64(pid, addr, &v)
 *                             0 and the u64 at addr (process_vm_readv, read
 *                             until two reads agree, so a counter being
 *                             written is never seen torn), or -errno.
 */
#ifndef AMPSTAT_PROC_H
#define AMPSTAT_PROC_H
#include <stdint.h>
#include <sys/types.h>

int proc_alive(pid_t pid);
int proc_comm(pid_t pid, char *buf, size_t n);
int proc_cmdline(pid_t pid, char *buf, size_t n);
int proc_exe_name(pid_t pid, char *buf, size_t n);
pid_t proc_tgid(pid_t pid);
int proc_tasks(pid_t pid, pid_t *out, int max);
int proc_children(pid_t pid, pid_t *out, int max);
int proc_sym_addr(pid_t pid, const char *name, uint64_t *addr);
int proc_read_u64(pid_t pid, uint64_t addr, uint64_t *v);
pid_t proc_find_exe(const char *name);
pid_t proc_read_pidfile(const char *path);

#endif
