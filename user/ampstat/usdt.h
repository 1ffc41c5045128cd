/* usdt — the USDT probes (sys/sdt.h `.note.stapsdt` notes) of an ELF file,
 * for the subcommands that attach to amped's probes themselves (latency
 * reads an argument's register, cache attaches a plain uprobe). */
#ifndef AMPSTAT_USDT_H
#define AMPSTAT_USDT_H
#include <stddef.h>

struct usdt_site {
	size_t off;		/* file offset of the probe's address */
	size_t sem_off;		/* file offset of its semaphore, 0: none */
	const char *args;	/* its argument string ("8@%rdi -4@%esi ...") */
};

/* Calls fn(site, arg) for every site of probe prov:name in path (an
 * inlined function has several), until fn returns nonzero.  The number of
 * sites seen, or -1 when the file cannot be read as ELF. */
int usdt_sites(const char *path, const char *prov, const char *name,
	       int (*fn)(const struct usdt_site *site, void *arg), void *arg);
/* The register of argument n (from 1) of an argument string, as its index
 * in struct pt_regs (r15 = 0 .. di = 14), when the argument is a plain
 * register ("8@%rsi", "-4@%esi"), and its size in bytes in *bytes (when
 * not NULL); -1 otherwise. */
int usdt_arg_reg(const char *args, int n, int *bytes);
#endif
