/* sym — see sym.h. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include "ampstat/sym.h"

struct fsym {
	uint64_t addr;			/* ELF st_value (link-time address) */
	uint64_t size;
	const char *name;		/* into the owning table's names */
};

struct ksym {
	uint64_t addr;
	const char *name;		/* "func" or "func [module]" */
};

/* One mapped file's symbols, loaded on first use. */
struct dso {
	char *path;			/* as /proc/PID/maps names it */
	dev_t dev;
	ino_t ino;
	bool loaded, failed;
	struct fsym *syms;
	size_t nsyms;
	char *names;			/* all names, NUL-separated */
	/* PT_LOAD segments, to turn a file offset into an ELF address */
	struct { uint64_t off, filesz, vaddr; } seg[16];
	int nseg;
};

struct map {
	uint64_t start, end, off;
	struct dso *dso;
};

struct sym {
	pid_t pid;
	struct map *maps;
	size_t nmaps;
	struct dso **dsos;
	size_t ndsos;
	time_t maps_read_s;		/* CLOCK_MONOTONIC second of the last read */
	struct ksym *ksyms;		/* sorted by address */
	size_t nksyms;
	char *knames;
	bool kloaded;
};

bool sym_is_kernel(uint64_t addr)
{
	return addr >= 0xffff800000000000ULL;
}

static time_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* ---------------------------------------------------------------- kernel */

static int ksym_cmp(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static void load_kallsyms(struct sym *s)
{
	size_t cap = 0, ncap = 0, nlen = 0;
	char line[512];
	FILE *f;

	s->kloaded = true;
	f = fopen("/proc/kallsyms", "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a;
		char type, name[256], mod[128] = "";
		int n = sscanf(line, "%llx %c %255s [%127[^]]]", &a, &type, name, mod);
		size_t need;

		if (n < 3 || !a)
			continue;
		/* text symbols only: a stack holds return addresses */
		if (type != 't' && type != 'T' && type != 'w' && type != 'W')
			continue;
		need = strlen(name) + (mod[0] ? strlen(mod) + 3 : 0) + 1;
		if (nlen + need > ncap) {
			size_t nc = ncap ? ncap * 2 : 1 << 20;
			char *nn;
			while (nc < nlen + need)
				nc *= 2;
			nn = realloc(s->knames, nc);
			if (!nn)
				break;
			/* names are offsets until the end: the buffer moves */
			s->knames = nn;
			ncap = nc;
		}
		if (s->nksyms == cap) {
			size_t nc = cap ? cap * 2 : 65536;
			struct ksym *nk = realloc(s->ksyms, nc * sizeof(*nk));
			if (!nk)
				break;
			s->ksyms = nk;
			cap = nc;
		}
		s->ksyms[s->nksyms].addr = a;
		s->ksyms[s->nksyms++].name = (const char *)(uintptr_t)nlen;
		nlen += (size_t)snprintf(s->knames + nlen, need, mod[0] ? "%s [%s]" : "%s", name, mod) + 1;
	}
	fclose(f);
	for (size_t i = 0; i < s->nksyms; i++)
		s->ksyms[i].name = s->knames + (uintptr_t)s->ksyms[i].name;
	qsort(s->ksyms, s->nksyms, sizeof(*s->ksyms), ksym_cmp);
}

static const char *resolve_kernel(struct sym *s, uint64_t addr, char *buf, size_t n)
{
	size_t lo = 0, hi;

	if (!s->kloaded)
		load_kallsyms(s);
	hi = s->nksyms;
	if (!hi || addr < s->ksyms[0].addr) {
		snprintf(buf, n, "0x%llx", (unsigned long long)addr);
		return buf;
	}
	while (hi - lo > 1) {	/* last entry with addr <= target */
		size_t mid = lo + (hi - lo) / 2;
		if (s->ksyms[mid].addr <= addr)
			lo = mid;
		else
			hi = mid;
	}
	const struct ksym *k = &s->ksyms[lo];
	const char *sp = strchr(k->name, ' ');
	if (sp)	/* "func [mod]": the offset goes after the function name */
		snprintf(buf, n, "%.*s+0x%llx%s", (int)(sp - k->name), k->name,
			 (unsigned long long)(addr - k->addr), sp);
	else
		snprintf(buf, n, "%s+0x%llx", k->name, (unsigned long long)(addr - k->addr));
	return buf;
}

/* ---------------------------------------------------------------- ELF files */

static int fsym_cmp(const void *a, const void *b)
{
	const struct fsym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	/* the sized symbol last: it wins the "last <= addr" search */
	return x->size < y->size ? -1 : x->size > y->size;
}

/* Symbols of one table (SHT_SYMTAB or SHT_DYNSYM); 0 when found some. */
static int read_table(struct dso *d, Elf *e, Elf32_Word type)
{
	Elf_Scn *scn = NULL;
	size_t cap = 0, nlen = 0, ncap = 0;

	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != type || !sh.sh_entsize)
			continue;
		data = elf_getdata(scn, NULL);
		for (size_t i = 0; data && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *nm;
			size_t l;

			if (!gelf_getsym(data, (int)i, &sym) || (GELF_ST_TYPE(sym.st_info) != STT_FUNC && GELF_ST_TYPE(sym.st_info) != STT_GNU_IFUNC) ||
			    sym.st_shndx == SHN_UNDEF || !sym.st_value)
				continue;
			nm = elf_strptr(e, sh.sh_link, sym.st_name);
			if (!nm || !*nm)
				continue;
			l = strlen(nm) + 1;
			if (nlen + l > ncap) {
				size_t nc = ncap ? ncap * 2 : 65536;
				char *nn;
				while (nc < nlen + l)
					nc *= 2;
				nn = realloc(d->names, nc);
				if (!nn)
					return -ENOMEM;
				d->names = nn;
				ncap = nc;
			}
			if (d->nsyms == cap) {
				size_t nc = cap ? cap * 2 : 1024;
				struct fsym *ns = realloc(d->syms, nc * sizeof(*ns));
				if (!ns)
					return -ENOMEM;
				d->syms = ns;
				cap = nc;
			}
			memcpy(d->names + nlen, nm, l);
			d->syms[d->nsyms].addr = sym.st_value;
			d->syms[d->nsyms].size = sym.st_size;
			d->syms[d->nsyms++].name = (const char *)(uintptr_t)nlen;
			nlen += l;
		}
	}
	for (size_t i = 0; i < d->nsyms; i++)
		d->syms[i].name = d->names + (uintptr_t)d->syms[i].name;
	return d->nsyms ? 0 : -ENOENT;
}

static void load_dso(struct sym *s, struct dso *d, const struct map *m)
{
	char path[128];
	size_t nph = 0;
	Elf *e = NULL;
	int fd;

	d->loaded = true;
	if (elf_version(EV_CURRENT) == EV_NONE) {
		d->failed = true;
		return;
	}
	/* map_files reaches the mapped file itself, whatever happened to its
	 * name since; the path is the fallback (no CAP_SYS_ADMIN, old kernel) */
	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", (int)s->pid,
		 (unsigned long long)m->start, (unsigned long long)m->end);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fd = open(d->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		d->failed = true;
		return;
	}
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (!e || elf_kind(e) != ELF_K_ELF || elf_getphdrnum(e, &nph)) {
		d->failed = true;
		goto cleanup;
	}
	for (size_t i = 0; i < nph && d->nseg < 16; i++) {
		GElf_Phdr ph;
		if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_LOAD) {
			d->seg[d->nseg].off = ph.p_offset;
			d->seg[d->nseg].filesz = ph.p_filesz;
			d->seg[d->nseg++].vaddr = ph.p_vaddr;
		}
	}
	if (read_table(d, e, SHT_SYMTAB)) {
		free(d->syms);
		free(d->names);
		d->syms = NULL;
		d->names = NULL;
		d->nsyms = 0;
		read_table(d, e, SHT_DYNSYM);
	}
	qsort(d->syms, d->nsyms, sizeof(*d->syms), fsym_cmp);
cleanup:
	if (e)
		elf_end(e);
	close(fd);
}

/* ---------------------------------------------------------------- maps */

static struct dso *get_dso(struct sym *s, const char *path, dev_t dev, ino_t ino)
{
	struct dso *d, **nd;

	for (size_t i = 0; i < s->ndsos; i++)
		if (s->dsos[i]->dev == dev && s->dsos[i]->ino == ino && !strcmp(s->dsos[i]->path, path))
			return s->dsos[i];
	d = calloc(1, sizeof(*d));
	nd = realloc(s->dsos, (s->ndsos + 1) * sizeof(*nd));
	if (!d || !nd) {
		free(d);
		if (nd)
			s->dsos = nd;
		return NULL;
	}
	s->dsos = nd;
	d->path = strdup(path);
	if (!d->path) {
		free(d);
		return NULL;
	}
	d->dev = dev;
	d->ino = ino;
	s->dsos[s->ndsos++] = d;
	return d;
}

static int read_maps(struct sym *s)
{
	char path[64], line[4096 + 256];
	size_t cap = 0;
	FILE *f;

	s->maps_read_s = mono_s();
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)s->pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	free(s->maps);
	s->maps = NULL;
	s->nmaps = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long start, end, off, ino;
		unsigned int maj, min;
		char perms[8];
		int pos = 0;
		char *name;
		struct dso *d;

		if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &off, &maj, &min,
			   &ino, &pos) < 7 || perms[2] != 'x')
			continue;
		name = line + pos;
		name[strcspn(name, "\n")] = 0;
		if (name[0] != '/')
			continue;	/* [vdso], anonymous JIT code: no file */
		d = get_dso(s, name, (dev_t)makedev(maj, min), (ino_t)ino);
		if (!d)
			continue;
		if (s->nmaps == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct map *nm = realloc(s->maps, nc * sizeof(*nm));
			if (!nm)
				break;
			s->maps = nm;
			cap = nc;
		}
		s->maps[s->nmaps++] = (struct map){ start, end, off, d };
	}
	fclose(f);
	return 0;
}

static const struct map *find_map(struct sym *s, uint64_t addr)
{
	for (size_t i = 0; i < s->nmaps; i++)
		if (addr >= s->maps[i].start && addr < s->maps[i].end)
			return &s->maps[i];
	return NULL;
}

static const char *base_name(const char *p)
{
	const char *b = strrchr(p, '/');

	return b ? b + 1 : p;
}

static const char *resolve_user(struct sym *s, uint64_t addr, char *buf, size_t n)
{
	const struct map *m = find_map(s, addr);
	uint64_t foff, vaddr = 0;
	struct dso *d;
	bool in_seg = false;

	if (!m && s->pid > 0 && mono_s() != s->maps_read_s && read_maps(s) == 0)
		m = find_map(s, addr);
	if (!m) {
		snprintf(buf, n, "0x%llx", (unsigned long long)addr);
		return buf;
	}
	d = m->dso;
	foff = addr - m->start + m->off;
	if (!d->loaded)
		load_dso(s, d, m);
	for (int i = 0; i < d->nseg; i++) {
		if (foff >= d->seg[i].off && foff < d->seg[i].off + d->seg[i].filesz) {
			vaddr = foff - d->seg[i].off + d->seg[i].vaddr;
			in_seg = true;
			break;
		}
	}
	if (in_seg && d->nsyms && vaddr >= d->syms[0].addr) {
		size_t lo = 0, hi = d->nsyms;
		while (hi - lo > 1) {
			size_t mid = lo + (hi - lo) / 2;
			if (d->syms[mid].addr <= vaddr)
				lo = mid;
			else
				hi = mid;
		}
		const struct fsym *f = &d->syms[lo];
		/* past a sized symbol's end: code no symbol covers (a PLT stub,
		 * a stripped static function) */
		if (!f->size || vaddr < f->addr + f->size) {
			snprintf(buf, n, "%s+0x%llx", f->name, (unsigned long long)(vaddr - f->addr));
			return buf;
		}
	}
	snprintf(buf, n, "[%s+0x%llx]", base_name(d->path), (unsigned long long)foff);
	return buf;
}

/* ---------------------------------------------------------------- API */

const char *sym_file(struct sym *s, uint64_t addr)
{
	const struct map *m;

	if (!s || sym_is_kernel(addr))
		return NULL;
	m = find_map(s, addr);
	return m ? base_name(m->dso->path) : NULL;
}

struct sym *sym_open(pid_t pid)
{
	struct sym *s = calloc(1, sizeof(*s));
	int e;

	if (!s)
		return NULL;
	s->pid = pid;
	if (pid > 0 && (e = read_maps(s))) {
		free(s);
		errno = -e;
		return NULL;
	}
	return s;
}

const char *sym_resolve(struct sym *s, uint64_t addr, char *buf, size_t n)
{
	if (!n)
		return buf;
	if (!s) {
		snprintf(buf, n, "0x%llx", (unsigned long long)addr);
		return buf;
	}
	if (sym_is_kernel(addr))
		return resolve_kernel(s, addr, buf, n);
	return resolve_user(s, addr, buf, n);
}

void sym_close(struct sym *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->ndsos; i++) {
		free(s->dsos[i]->path);
		free(s->dsos[i]->syms);
		free(s->dsos[i]->names);
		free(s->dsos[i]);
	}
	free(s->dsos);
	free(s->maps);
	free(s->ksyms);
	free(s->knames);
	free(s);
}
