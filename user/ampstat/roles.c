/* roles — see roles.h. */
#include <errno.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ampstat/roles.h"

struct role {
	char name[32];
	regex_t re;
	bool compiled;
};

static const char *builtin[][2] = {
	{ "dispatcher", "^amped-disp$" },
	{ "helpers", "^amped-help-" },
	{ "workers", "^amped-work-" },
	{ "boss", "^amped-boss$" },
	{ "iou-wrk", "^iou-wrk-" },
};
#define NBUILTIN (int)(sizeof(builtin) / sizeof(builtin[0]))

static struct role roles[ROLES_MAX];
static int nuser, ntotal;	/* user roles first, then built-ins, then "other" */

static int compile(struct role *r, const char *name, size_t nlen, const char *re)
{
	char msg[128];
	int e;

	if (nlen == 0 || nlen >= sizeof(r->name)) {
		fprintf(stderr, "ampstat: role name must be 1-%zu characters\n", sizeof(r->name) - 1);
		return -EINVAL;
	}
	memcpy(r->name, name, nlen);
	r->name[nlen] = 0;
	e = regcomp(&r->re, re, REG_EXTENDED | REG_NOSUB);
	if (e) {
		regerror(e, &r->re, msg, sizeof(msg));
		fprintf(stderr, "ampstat: --role %s: %s\n", r->name, msg);
		return -EINVAL;
	}
	r->compiled = true;
	return 0;
}

static int init_builtin(void)
{
	if (ntotal)
		return 0;
	for (int i = 0; i < NBUILTIN; i++)
		if (compile(&roles[nuser + i], builtin[i][0], strlen(builtin[i][0]), builtin[i][1]))
			return -EINVAL;
	snprintf(roles[nuser + NBUILTIN].name, sizeof(roles[0].name), "other");
	ntotal = nuser + NBUILTIN + 1;
	return 0;
}

int roles_add(const char *spec)
{
	const char *eq = strchr(spec, '=');

	if (ntotal) {
		fprintf(stderr, "ampstat: roles must be added before use\n");
		return -EINVAL;
	}
	if (!eq) {
		fprintf(stderr, "ampstat: --role wants NAME=REGEX, got '%s'\n", spec);
		return -EINVAL;
	}
	if (nuser + NBUILTIN + 1 >= ROLES_MAX)
		return -ENOSPC;
	if (compile(&roles[nuser], spec, (size_t)(eq - spec), eq + 1))
		return -EINVAL;
	nuser++;
	return 0;
}

int roles_of(const char *comm)
{
	if (init_builtin())
		return 0;
	for (int i = 0; i < ntotal - 1; i++)
		if (roles[i].compiled && regexec(&roles[i].re, comm, 0, NULL, 0) == 0)
			return i;
	return ntotal - 1;
}

int roles_count(void)
{
	init_builtin();
	return ntotal;
}

const char *roles_name(int i)
{
	init_builtin();
	return i >= 0 && i < ntotal ? roles[i].name : "?";
}

void roles_free(void)
{
	for (int i = 0; i < ROLES_MAX; i++)
		if (roles[i].compiled) {
			regfree(&roles[i].re);
			roles[i].compiled = false;
		}
	nuser = ntotal = 0;
}
