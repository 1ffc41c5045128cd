/* mode — see mode.h. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "ampstat/mode.h"
#include "ampstat/proc.h"
#include "ampstat/roles.h"

#define MAX_KIDS 1024

__u64 mode_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

int mode_check(pid_t *pid, char *comm, size_t n)
{
	pid_t tg;

	if (geteuid() != 0) {
		fprintf(stderr, "ampstat: must run as root: loading BPF programs needs "
				"CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN\n");
		return 1;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		fprintf(stderr, "ampstat: this kernel has no BTF (/sys/kernel/btf/vmlinux: %s); "
				"ampstat's CO-RE programs need CONFIG_DEBUG_INFO_BTF=y\n", strerror(errno));
		return 1;
	}
	if (!proc_alive(*pid)) {
		fprintf(stderr, "ampstat: no such process: %d\n", (int)*pid);
		return 1;
	}
	tg = proc_tgid(*pid);
	if (tg > 0 && tg != *pid) {
		fprintf(stderr, "ampstat: %d is a thread of process %d: tracing %d\n", (int)*pid,
			(int)tg, (int)tg);
		*pid = tg;
	}
	if (proc_comm(*pid, comm, n))
		snprintf(comm, n, "?");
	/* every subcommand checks here before it counts roles */
	roles_target(*pid);
	return 0;
}

int mode_targets_open(struct mode_targets *mt, int targets_fd, int fast_fd)
{
	mt->targets_fd = targets_fd;
	mt->fast_len = ((sizeof(struct ampstat_fast) + 4095) / 4096) * 4096;
	mt->fast = mmap(NULL, mt->fast_len, PROT_READ | PROT_WRITE, MAP_SHARED, fast_fd, 0);
	if (mt->fast == MAP_FAILED) {
		mt->fast = NULL;
		return -errno;
	}
	return 0;
}

/* the protocol of include/ampstat_targets.h: our slots only, the slot before the
 * count */
int mode_targets_add(struct mode_targets *mt, pid_t tgid)
{
	__u32 k = (__u32)tgid, one = 1, i;

	if (bpf_map_update_elem(mt->targets_fd, &k, &one, BPF_NOEXIST))
		return errno == EEXIST ? 0 : -errno;
	i = mt->fast->nuser;
	if (i < AMPSTAT_FAST_USER) {
		__atomic_store_n(&mt->fast->tgid[i], k, __ATOMIC_SEQ_CST);
		__atomic_store_n(&mt->fast->nuser, i + 1, __ATOMIC_SEQ_CST);
	} else {
		__atomic_store_n(&mt->fast->overflow, 1, __ATOMIC_SEQ_CST);
	}
	return 0;
}

void mode_targets_children(struct mode_targets *mt, pid_t pid)
{
	pid_t kids[MAX_KIDS];
	int n = proc_children(pid, kids, MAX_KIDS);

	for (int i = 0; i < n; i++)
		mode_targets_add(mt, kids[i]);
}

void mode_targets_close(struct mode_targets *mt)
{
	if (mt && mt->fast)
		munmap(mt->fast, mt->fast_len);
	if (mt)
		mt->fast = NULL;
}

int mode_progs(struct bpf_object *obj, struct tr_prog *out, int max)
{
	struct bpf_program *p;
	int n = 0;

	bpf_object__for_each_program(p, obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		if (n >= max)
			break;
		if (bpf_program__fd(p) < 0 || (bpf_program__type(p) == BPF_PROG_TYPE_TRACING &&
		    bpf_program__expected_attach_type(p) == BPF_TRACE_ITER))
			continue;
		out[n].name = bpf_program__name(p);
		out[n].run_ns = out[n].runs = out[n].missed = 0;
		if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len) == 0) {
			out[n].run_ns = info.run_time_ns;
			out[n].runs = info.run_cnt;
			out[n].missed = info.recursion_misses;
		}
		n++;
	}
	return n;
}

__u64 mode_task_cpu_ns(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = (int)fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	if (n <= 0 || hz <= 0)
		return 0;
	buf[n] = 0;
	/* fields after the name, which may hold spaces and parentheses */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (ut + st) * (1000000000ULL / (unsigned long long)hz);
}

/* the traced set: from its map, or pid and its descendants */
static int traced(struct mode_targets *mt, pid_t pid, pid_t *out, int max)
{
	__u32 key, next;
	void *prev = NULL;
	int n = 0;

	if (!mt->fast) {
		out[0] = pid;
		return 1 + proc_children(pid, out + 1, max - 1);
	}
	while (n < max && bpf_map_get_next_key(mt->targets_fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		out[n++] = (pid_t)key;
	}
	return n;
}

void mode_cpu_sample(struct mode_targets *mt, pid_t pid)
{
	pid_t tg[MODE_CPU_MAX];
	int n = traced(mt, pid, tg, MODE_CPU_MAX);

	for (int k = 0; k < n; k++) {
		pid_t key = tg[k];
		__u64 c;
		int i;

		c = mode_task_cpu_ns(key);
		for (i = 0; i < mt->ncpu; i++)
			if (mt->cpu_tgid[i] == (pid_t)key)
				break;
		if (i == mt->ncpu) {
			if (mt->ncpu == MODE_CPU_MAX)
				continue;
			mt->ncpu++;
			mt->cpu_tgid[i] = (pid_t)key;
			mt->cpu_first[i] = mt->cpu_started ? 0 : c;
			mt->cpu_last[i] = mt->cpu_first[i];
		}
		if (c > mt->cpu_last[i])
			mt->cpu_last[i] = c;
	}
	mt->cpu_started = true;
}

__u64 mode_cpu_ns(const struct mode_targets *mt)
{
	__u64 t = 0;

	for (int i = 0; i < mt->ncpu; i++)
		t += mt->cpu_last[i] - mt->cpu_first[i];
	return t;
}

static int print_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int print_all(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	return vfprintf(stderr, fmt, ap);
}

void mode_libbpf_print(bool verbose)
{
	libbpf_set_print(verbose ? print_all : print_quiet);
}

bool mode_parse_long(const char *s, long *v)
{
	char *end;

	errno = 0;
	*v = strtol(s, &end, 10);
	return !errno && end != s && !*end;
}

bool mode_parse_double(const char *s, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	return !errno && end != s && !*end && isfinite(*v);
}

bool mode_parse_pid(const char *s, pid_t *pid)
{
	long v;

	if (!mode_parse_long(s, &v) || v <= 0 || v > 0x3fffffff) {
		fprintf(stderr, "ampstat: bad pid '%s'\n", s);
		return false;
	}
	*pid = (pid_t)v;
	return true;
}

bool mode_parse_secs(const char *s, double *v)
{
	if (!mode_parse_double(s, v) || *v <= 0 || *v > 86400) {
		fprintf(stderr, "ampstat: duration must be 0-86400 s, got '%s'\n", s);
		return false;
	}
	return true;
}

bool mode_parse_top(const char *s, long max, int *top)
{
	long v;

	if (!mode_parse_long(s, &v) || v < 0 || v > max) {
		fprintf(stderr, "ampstat: bad --top '%s'\n", s);
		return false;
	}
	*top = (int)v;
	return true;
}

void mode_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

void mode_usage_maps(FILE *f, const char *sub)
{
	fprintf(f,
"While it runs, its maps are pinned in %s/PID/%s/\n"
"(bpftool map dump pinned ...).  Its tracepoint programs are tp_btf, or\n"
"their raw_tp twins where the kernel's BTF lacks a tracepoint;\n"
"AMPSTAT_FORCE_RAW_TP=1 in the environment forces raw_tp.\n\n", MODE_PIN_ROOT, sub);
}

/* ------------------------------------------------- tracepoint flavours */

int mode_tp_select(struct bpf_object *obj)
{
	const char *force = getenv("AMPSTAT_FORCE_RAW_TP");
	bool forced = force && *force && strcmp(force, "0");
	struct btf *vmlinux = NULL;
	bool loaded = false;
	struct bpf_program *p;
	char list[256] = "";
	int nraw = 0;

	bpf_object__for_each_program(p, obj) {
		const char *sec = bpf_program__section_name(p), *tp;
		struct bpf_program *twin;
		char name[192];
		bool raw = forced;

		if (strncmp(sec, "tp_btf/", 7))
			continue;
		tp = sec + 7;
		snprintf(name, sizeof(name), "%s_raw", bpf_program__name(p));
		twin = bpf_object__find_program_by_name(obj, name);
		if (!twin)
			continue;
		if (!bpf_program__autoload(p)) {	/* the caller left it out */
			bpf_program__set_autoload(twin, false);
			continue;
		}
		if (!raw) {
			if (!loaded) {
				vmlinux = btf__load_vmlinux_btf();	/* NULL: no BTF at all */
				loaded = true;
			}
			snprintf(name, sizeof(name), "btf_trace_%s", tp);
			raw = !vmlinux || btf__find_by_name_kind(vmlinux, name, BTF_KIND_TYPEDEF) < 0;
		}
		bpf_program__set_autoload(p, !raw);
		bpf_program__set_autoload(twin, raw);
		if (raw) {
			nraw++;
			if (!strstr(list, tp) && strlen(list) + strlen(tp) + 3 < sizeof(list))
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
					 list[0] ? ", " : "", tp);
		}
	}
	btf__free(vmlinux);
	if (nraw)
		fprintf(stderr, "ampstat: raw_tp instead of tp_btf for %s (%s)\n", list,
			forced ? "AMPSTAT_FORCE_RAW_TP is set" : "the kernel's BTF does not describe them");
	return nraw;
}

struct bpf_program *mode_tp_prog(struct bpf_program *tp_btf, struct bpf_program *raw)
{
	return bpf_program__autoload(tp_btf) ? tp_btf : raw;
}

/* ------------------------------------------------------------- pins */

/* The ids of the maps that loaded programs use: a pinned map nobody's
 * program uses was left by an ampstat that was killed. */
static int used_map_ids(__u32 **out)
{
	__u32 id = 0, *ids = NULL;
	int n = 0, cap = 0;

	while (bpf_prog_get_next_id(id, &id) == 0) {
		struct bpf_prog_info pi = {};
		__u32 len = sizeof(pi), nm;
		int fd = bpf_prog_get_fd_by_id(id);

		if (fd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(fd, &pi, &len) == 0 && (nm = pi.nr_map_ids) > 0) {
			if (n + (int)nm > cap) {
				__u32 *m = realloc(ids, sizeof(*ids) * (size_t)(cap = 2 * (n + (int)nm)));
				if (!m) {
					close(fd);
					free(ids);
					return -ENOMEM;
				}
				ids = m;
			}
			memset(&pi, 0, sizeof(pi));
			pi.nr_map_ids = nm;
			pi.map_ids = (__u64)(unsigned long)(ids + n);
			len = sizeof(pi);
			if (bpf_obj_get_info_by_fd(fd, &pi, &len) == 0)
				n += (int)(pi.nr_map_ids < nm ? pi.nr_map_ids : nm);
		}
		close(fd);
	}
	*out = ids;
	return n;
}

/* Does some loaded program use a map pinned in dir?  (-1: cannot tell) */
static int pins_live(const char *dir, __u32 *used, int nused)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int live = 0;

	if (!d)
		return 0;
	while (!live && (de = readdir(d))) {
		struct bpf_map_info mi = {};
		__u32 len = sizeof(mi);
		char p[512];
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%.250s/%.250s", dir, de->d_name);
		fd = bpf_obj_get(p);
		if (fd < 0)
			continue;
		if (nused < 0 || bpf_obj_get_info_by_fd(fd, &mi, &len))
			live = -1;
		for (int i = 0; !live && i < nused; i++)
			live = used[i] == mi.id;
		close(fd);
	}
	closedir(d);
	return live;
}

static void rm_pin_dir(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	while (d && (de = readdir(d))) {
		char p[512];

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%.250s/%.250s", dir, de->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

/* The pins of dead processes, and of ampstats that were killed: a folder
 * PIN_ROOT/PID/SUB per subcommand, and top's maps in PIN_ROOT/PID itself. */
static void clean_stale(void)
{
	DIR *root = opendir(MODE_PIN_ROOT);
	struct dirent *de;
	__u32 *used = NULL;
	int nused = -2;

	while (root && (de = readdir(root))) {
		char pdir[300], *end;
		long pid = strtol(de->d_name, &end, 10);
		bool dead = kill((pid_t)pid, 0) && errno == ESRCH;
		struct dirent *se;
		DIR *d;

		if (*end || pid <= 0)
			continue;
		snprintf(pdir, sizeof(pdir), "%s/%.64s", MODE_PIN_ROOT, de->d_name);
		if (!dead && nused == -2)
			nused = used_map_ids(&used);
		d = opendir(pdir);
		while (d && (se = readdir(d))) {
			char sub[512];

			if (se->d_name[0] == '.' || se->d_type != DT_DIR)
				continue;
			snprintf(sub, sizeof(sub), "%.250s/%.250s", pdir, se->d_name);
			if (dead || !pins_live(sub, used, nused))
				rm_pin_dir(sub);
		}
		if (d)
			closedir(d);
		/* top's files; the folder goes when nothing is left in it */
		if (dead || !pins_live(pdir, used, nused))
			rm_pin_dir(pdir);
	}
	if (root)
		closedir(root);
	free(used);
}

static bool pin_wanted(const char *name, const char *const *only)
{
	if (!only)
		return true;
	for (; *only; only++)
		if (!strcmp(*only, name))
			return true;
	return false;
}

static int pin_maps(struct mode_pin *mp, struct bpf_object *obj, pid_t pid, const char *sub,
		    const char *const *only, char *err, size_t errlen)
{
	struct statfs sfs;
	struct bpf_map *m;
	char dir[sizeof(mp->dir)];

	if ((statfs("/sys/fs/bpf", &sfs) || sfs.f_type != BPF_FS_MAGIC) &&
	    mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
		snprintf(err, errlen, "cannot mount bpffs on /sys/fs/bpf: %s", strerror(errno));
		return -1;
	}
	if (mkdir(MODE_PIN_ROOT, 0700) && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", MODE_PIN_ROOT, strerror(errno));
		return -1;
	}
	clean_stale();
	snprintf(dir, sizeof(dir), "%s/%d", MODE_PIN_ROOT, (int)pid);
	if (mkdir(dir, 0700) && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	mp->top = !sub;
	if (sub) {
		snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/%s", sub);
		if (mkdir(dir, 0700)) {
			snprintf(err, errlen, "%s: %s%s", dir, strerror(errno),
				 errno == EEXIST ? " (another ampstat traces this process)" : "");
			return -1;
		}
	}
	snprintf(mp->dir, sizeof(mp->dir), "%s", dir);
	bpf_object__for_each_map(m, obj) {
		char p[sizeof(dir) + 64];

		if (bpf_map__is_internal(m) || bpf_map__fd(m) < 0 || mp->n == MODE_PIN_MAX ||
		    !pin_wanted(bpf_map__name(m), only))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, bpf_map__name(m));
		if (bpf_map__pin(m, p)) {
			/* top's maps sit beside the subcommands' folders: the
			 * first one taken tells of another top */
			snprintf(err, errlen, "pin %s: %s%s", p, strerror(errno),
				 errno == EEXIST ? " (another ampstat traces this process)" : "");
			return -1;
		}
		snprintf(mp->names[mp->n++], sizeof(mp->names[0]), "%s", bpf_map__name(m));
	}
	return 0;
}

int mode_pin(struct mode_pin *mp, struct bpf_object *obj, pid_t pid, const char *sub,
	     const char *const *only)
{
	char err[400];

	memset(mp, 0, sizeof(*mp));
	if (pin_maps(mp, obj, pid, sub, only, err, sizeof(err))) {
		fprintf(stderr, "ampstat: warning: maps not pinned: %s\n", err);
		mode_unpin(mp);
		return -1;
	}
	fprintf(stderr, "ampstat: maps pinned in %s\n", mp->dir);
	return 0;
}

void mode_unpin(struct mode_pin *mp)
{
	char *slash;

	if (!mp || !mp->dir[0])
		return;
	for (int i = 0; i < mp->n; i++) {
		char p[sizeof(mp->dir) + 64];

		snprintf(p, sizeof(p), "%s/%s", mp->dir, mp->names[i]);
		unlink(p);
	}
	rmdir(mp->dir);		/* PIN_ROOT/PID: stays while others use it */
	slash = strrchr(mp->dir, '/');
	*slash = 0;
	if (!mp->top)
		rmdir(mp->dir);
	mp->dir[0] = 0;
	mp->n = 0;
}
