/* reqs — see reqs.h. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <errno.h>
#include "amped_usdt.h"
#include "ampstat/proc.h"
#include "ampstat/reqs.h"

/* Is pid's executable the file (dev, ino)? */
static bool same_exe(pid_t pid, dev_t dev, ino_t ino)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	return stat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

void reqs_init(struct reqs *r, pid_t pid)
{
	char path[64];
	struct stat st;

	memset(r, 0, sizeof(*r));
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if (stat(path, &st) == 0 && proc_sym_addr(pid, "amped_current", &r->addr) == 0) {
		r->exe_dev = st.st_dev;
		r->exe_ino = st.st_ino;
		r->have_sym = true;
	}
}

/* The sum of src k's requests_done over its slots.  0 ok, -errno.  The
 * slot count is read once: amped sets it before it listens. */
static int src_read(struct reqs *r, int k, uint64_t *sum)
{
	pid_t pid = r->src[k].tgid;
	uint64_t v;
	int e;

	if (!r->src[k].nslots) {
		uint32_t ns;
		struct iovec l = { &ns, sizeof(ns) },
			     rv = { (void *)(uintptr_t)(r->addr + offsetof(struct amped_current, nslots)),
				    sizeof(ns) };
		if (process_vm_readv(pid, &l, 1, &rv, 1, 0) != (ssize_t)sizeof(ns))
			return -errno;
		r->src[k].nslots = ns < 1 ? 1 : ns > AMPED_DISP_MAX ? AMPED_DISP_MAX : ns;
	}
	*sum = 0;
	for (unsigned i = 0; i < r->src[k].nslots; i++) {
		e = proc_read_u64(pid, r->addr + i * sizeof(struct amped_current) +
				  offsetof(struct amped_current, requests_done), &v);
		if (e)
			return e;
		*sum += v;
	}
	return 0;
}

uint64_t reqs_read(struct reqs *r, const pid_t *tg, int n, bool baseline)
{
	uint64_t d = 0;
	int keep = 0;

	if (!r->have_sym)
		return 0;
	for (int j = 0; j < r->n; j++) {
		bool in = false;
		for (int i = 0; i < n && !in; i++)
			in = tg[i] == r->src[j].tgid;
		if (in)
			r->src[keep++] = r->src[j];
	}
	r->n = keep;
	for (int i = 0; i < n; i++) {
		int k = 0;
		uint64_t v = 0;

		while (k < r->n && r->src[k].tgid != tg[i])
			k++;
		if (k == r->n) {
			if (r->n == REQS_MAX_TGIDS)
				continue;
			r->n++;
			memset(&r->src[k], 0, sizeof(r->src[k]));
			r->src[k].tgid = tg[i];
			r->src[k].no_sym = !same_exe(tg[i], r->exe_dev, r->exe_ino);
		}
		if (r->src[k].no_sym || src_read(r, k, &v))
			continue;
		r->known = true;
		if (r->src[k].have_last && v >= r->src[k].last)
			d += v - r->src[k].last;
		else if (!r->src[k].have_last && !baseline)
			d += v;
		r->src[k].last = v;
		r->src[k].have_last = true;
	}
	return d;
}
