/* usdt — see usdt.h. */
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ampstat/usdt.h"

int usdt_arg_reg(const char *args, int n, int *bytes)
{
	/* pt_regs order (x86_64) */
	static const char *const r64[] = { "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9",
					   "r8", "rax", "rcx", "rdx", "rsi", "rdi" };
	static const char *const r32[] = { "r15d", "r14d", "r13d", "r12d", "ebp", "ebx", "r11d", "r10d",
					   "r9d", "r8d", "eax", "ecx", "edx", "esi", "edi" };
	char buf[512], *save = NULL, *tok;
	int i = 0;

	snprintf(buf, sizeof(buf), "%s", args);
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *at = strchr(tok, '@');

		if (++i != n)
			continue;
		if (!at || at[1] != '%')
			return -1;
		if (bytes)
			*bytes = abs(atoi(tok));
		for (int r = 0; r < 15; r++)
			if (!strcmp(at + 2, r64[r]) || !strcmp(at + 2, r32[r]))
				return r;
		return -1;
	}
	return -1;
}

/* the file offset of virtual address a in a PT_LOAD segment (exec: one
 * with code), 0 when none holds it */
static size_t file_off(Elf *e, size_t nph, uint64_t a, bool exec)
{
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_LOAD || (exec && !(ph.p_flags & PF_X)))
			continue;
		if (a >= ph.p_vaddr && a < ph.p_vaddr + (exec ? ph.p_filesz : ph.p_memsz))
			return a - ph.p_vaddr + ph.p_offset;
	}
	return 0;
}

int usdt_sites(const char *path, const char *prov, const char *name,
	       int (*fn)(const struct usdt_site *site, void *arg), void *arg)
{
	Elf *e = NULL;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	size_t shstr, nph;
	uint64_t base_addr = 0;
	bool have_base = false, stop = false;
	int fd, n = -1;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (!e || elf_getshdrstrndx(e, &shstr) || elf_getphdrnum(e, &nph))
		goto out;
	n = 0;
	while ((scn = elf_nextscn(e, scn))) {
		const char *sn;

		if (gelf_getshdr(scn, &sh) && (sn = elf_strptr(e, shstr, sh.sh_name)) &&
		    !strcmp(sn, ".stapsdt.base")) {
			base_addr = sh.sh_addr;
			have_base = true;
		}
	}
	while (!stop && (scn = elf_nextscn(e, scn))) {
		Elf_Data *d;
		GElf_Nhdr nh;
		size_t noff = 0, name_off, desc_off;
		const char *sn;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE ||
		    !(sn = elf_strptr(e, shstr, sh.sh_name)) || strcmp(sn, ".note.stapsdt"))
			continue;
		d = elf_getdata(scn, NULL);
		while (d && !stop && (noff = gelf_getnote(d, noff, &nh, &name_off, &desc_off)) > 0) {
			const char *desc = (const char *)d->d_buf + desc_off, *p, *end;
			uint64_t pc, base, sem;
			char args[512];
			struct usdt_site s;

			if (nh.n_type != 3 || nh.n_namesz != 8 || nh.n_descsz < 3 * 8 + 3 ||
			    memcmp((const char *)d->d_buf + name_off, "stapsdt", 8))
				continue;
			end = desc + nh.n_descsz;
			memcpy(&pc, desc, 8);
			memcpy(&base, desc + 8, 8);
			memcpy(&sem, desc + 16, 8);
			p = desc + 24;
			if (strnlen(p, (size_t)(end - p)) == (size_t)(end - p) || strcmp(p, prov))
				continue;
			p += strlen(p) + 1;
			if (p >= end || strnlen(p, (size_t)(end - p)) == (size_t)(end - p) || strcmp(p, name))
				continue;
			p += strlen(p) + 1;
			snprintf(args, sizeof(args), "%.*s", p < end ? (int)strnlen(p, (size_t)(end - p)) : 0,
				 p < end ? p : "");
			/* prelinked: the note's addresses moved with .stapsdt.base */
			if (have_base && base) {
				pc += base_addr - base;
				if (sem)
					sem += base_addr - base;
			}
			s.off = file_off(e, nph, pc, true);
			s.sem_off = sem ? file_off(e, nph, sem, false) : 0;
			s.args = args;
			n++;
			stop = fn(&s, arg) != 0;
		}
	}
out:
	if (e)
		elf_end(e);
	close(fd);
	return n;
}
