/* proc — see proc.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include "ampstat/proc.h"

/* state and ppid from /proc/PID/stat; comm may hold ')' and spaces, so
 * parse after the last ')'. */
static int read_stat(pid_t pid, char *state, pid_t *ppid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = 0;
	p = strrchr(buf, ')');
	if (!p)
		return -EIO;
	int pp = 0;
	if (sscanf(p + 1, " %c %d", state, &pp) != 2)
		return -EIO;
	*ppid = pp;
	return 0;
}

int proc_alive(pid_t pid)
{
	char st;
	pid_t pp;

	/* kill(0) needs no file descriptor: when other programs exhaust the
	 * file table, failing to open /proc must not read as "exited" */
	if (kill(pid, 0) && errno == ESRCH)
		return 0;
	if (read_stat(pid, &st, &pp) == 0 && (st == 'Z' || st == 'X'))
		return 0;
	return 1;
}

int proc_comm(pid_t pid, char *buf, size_t n)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(buf, (int)n, f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

int proc_cmdline(pid_t pid, char *buf, size_t n)
{
	char path[64];
	ssize_t len;
	int fd;

	if (n == 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = read(fd, buf, n - 1);
	close(fd);
	if (len < 0)
		return -errno;
	/* a title longer than buf is cut: the patterns match its start */
	for (ssize_t i = 0; i < len; i++)
		if (buf[i] == 0)
			buf[i] = ' ';
	while (len > 0 && buf[len - 1] == ' ')
		len--;
	buf[len] = 0;
	return len ? 0 : -ENOENT;
}

int proc_exe_name(pid_t pid, char *buf, size_t n)
{
	static const char deleted[] = " (deleted)";
	char path[64], exe[4096], *base;
	size_t dl = sizeof(deleted) - 1, bl;
	ssize_t len;

	if (n == 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	len = readlink(path, exe, sizeof(exe) - 1);
	if (len < 0)
		return -errno;
	exe[len] = 0;
	/* the binary was replaced under a running server (a package upgrade) */
	if ((size_t)len > dl && strcmp(exe + len - dl, deleted) == 0)
		exe[len - dl] = 0;
	base = strrchr(exe, '/');
	base = base ? base + 1 : exe;
	bl = strlen(base);
	if (bl >= n)
		bl = n - 1;
	memcpy(buf, base, bl);
	buf[bl] = 0;
	return 0;
}

pid_t proc_tgid(pid_t pid)
{
	char path[64], line[256];
	pid_t tgid = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		int v;
		if (sscanf(line, "Tgid: %d", &v) == 1) {
			tgid = v;
			break;
		}
	}
	fclose(f);
	return tgid;
}

int proc_tasks(pid_t pid, pid_t *out, int max)
{
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while (n < max && (de = readdir(d))) {
		char *end;
		long t = strtol(de->d_name, &end, 10);

		if (*end || t <= 0)
			continue;
		out[n++] = (pid_t)t;
	}
	closedir(d);
	return n;
}

int proc_children(pid_t pid, pid_t *out, int max)
{
	struct pp { pid_t pid, ppid; } *all = NULL;
	int nall = 0, cap = 0, nout = 0;
	struct dirent *de;
	DIR *d = opendir("/proc");

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char st, *end;
		pid_t p = (pid_t)strtol(de->d_name, &end, 10), pp;

		if (*end || p <= 0 || read_stat(p, &st, &pp))
			continue;
		if (nall == cap) {
			struct pp *n = realloc(all, (cap ? cap * 2 : 256) * sizeof(*all));
			if (!n)
				break;
			all = n;
			cap = cap ? cap * 2 : 256;
		}
		all[nall].pid = p;
		all[nall++].ppid = pp;
	}
	closedir(d);
	/* breadth first over the parent links: out[] is the queue */
	for (int head = -1; head < nout; head++) {
		pid_t parent = head < 0 ? pid : out[head];
		for (int i = 0; i < nall && nout < max; i++)
			if (all[i].ppid == parent && all[i].pid != pid)
				out[nout++] = all[i].pid;
	}
	free(all);
	return nout;
}

/* The address the executable's first PT_LOAD was mapped at, minus its
 * link-time address: 0 for ET_EXEC, the ASLR base for PIE. */
static int load_bias(pid_t pid, Elf *e, uint64_t *bias)
{
	char path[64], line[4096], exe[4096];
	uint64_t lo_vaddr = UINT64_MAX;
	size_t nph = 0;
	GElf_Ehdr eh;
	ssize_t n;
	FILE *f;

	if (!gelf_getehdr(e, &eh) || elf_getphdrnum(e, &nph))
		return -EIO;
	if (eh.e_type == ET_EXEC) {
		*bias = 0;
		return 0;
	}
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;
		if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_LOAD && ph.p_vaddr < lo_vaddr)
			lo_vaddr = ph.p_vaddr;
	}
	if (lo_vaddr == UINT64_MAX)
		return -EIO;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n <= 0)
		return -errno;
	exe[n] = 0;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end, off;
		char *name = strchr(line, '/');

		if (!name)
			continue;
		name[strcspn(name, "\n")] = 0;
		if (sscanf(line, "%lx-%lx %*s %lx", &start, &end, &off) != 3)
			continue;
		if (off == 0 && strcmp(name, exe) == 0) {
			fclose(f);
			*bias = start - (lo_vaddr & ~0xfffULL);
			return 0;
		}
	}
	fclose(f);
	return -ENOENT;
}

int proc_sym_addr(pid_t pid, const char *name, uint64_t *addr)
{
	char path[64];
	Elf_Scn *scn = NULL;
	int fd, err = -ENOENT;
	Elf *e = NULL;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EIO;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (!e) {
		err = -EIO;
		goto cleanup;
	}
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !sh.sh_entsize)
			continue;
		data = elf_getdata(scn, NULL);
		for (size_t i = 0; data && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *s;

			if (!gelf_getsym(data, (int)i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_OBJECT)
				continue;
			s = elf_strptr(e, sh.sh_link, sym.st_name);
			if (s && strcmp(s, name) == 0) {
				uint64_t bias;
				err = load_bias(pid, e, &bias);
				if (!err)
					*addr = sym.st_value + bias;
				goto cleanup;
			}
		}
	}
cleanup:
	if (e)
		elf_end(e);
	close(fd);
	return err;
}

int proc_read_u64(pid_t pid, uint64_t addr, uint64_t *v)
{
	uint64_t a, b;

	for (int i = 0; i < 8; i++) {
		struct iovec l = { &a, sizeof(a) }, r = { (void *)(uintptr_t)addr, sizeof(a) };
		if (process_vm_readv(pid, &l, 1, &r, 1, 0) != (ssize_t)sizeof(a))
			return -errno;
		l.iov_base = &b;
		if (process_vm_readv(pid, &l, 1, &r, 1, 0) != (ssize_t)sizeof(b))
			return -errno;
		if (b >= a && b - a < 4096) {
			*v = b;
			return 0;
		}
	}
	*v = b;
	return 0;
}

/* the parent and start time (clock ticks after boot) from /proc/PID/stat;
 * the name in parentheses may hold anything, so fields count from the
 * last ')' */
static int proc_ppid_start(pid_t pid, pid_t *ppid, unsigned long long *start)
{
	char path[64], line[1024], *p;
	FILE *f;
	int field = 2;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	p = fgets(line, sizeof(line), f);
	fclose(f);
	if (!p || !(p = strrchr(line, ')')))
		return -EINVAL;
	for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " ")) {
		field++;
		if (field == 4)
			*ppid = (pid_t)strtol(tok, NULL, 10);
		else if (field == 22) {
			*start = strtoull(tok, NULL, 10);
			return 0;
		}
	}
	return -EINVAL;
}

pid_t proc_find_exe(const char *name)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t best = 0;
	unsigned long long best_start = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char exe[256];
		pid_t pid = (pid_t)strtol(de->d_name, NULL, 10), ppid = 0;
		unsigned long long start = 0;

		if (pid <= 0 || proc_exe_name(pid, exe, sizeof(exe)) || strcmp(exe, name) ||
		    proc_ppid_start(pid, &ppid, &start) || !proc_alive(pid))
			continue;
		if (ppid > 0 && !proc_exe_name(ppid, exe, sizeof(exe)) && !strcmp(exe, name))
			continue;	/* a worker of a server running the same binary */
		if (!best || start < best_start) {
			best = pid;
			best_start = start;
		}
	}
	closedir(d);
	return best;
}

pid_t proc_read_pidfile(const char *path)
{
	char buf[32], *end;
	FILE *f = fopen(path, "re");
	size_t n;
	long v;

	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	errno = 0;
	v = strtol(buf, &end, 10);
	if (end == buf || errno || v <= 0 || v > 4194304 || (*end && strcmp(end, "\n")))
		return -EINVAL;
	return (pid_t)v;
}
