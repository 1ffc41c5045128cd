/* fileset — SPECweb99-like file sets and Zipf popularity (fs_).
 *
 * Sizes follow SPECweb99's four classes: 35% of files 100-900 B, 50%
 * 1-9 KB, 14% 10-90 KB, 1% 100-900 KB, each class in nine equal steps.
 * The manifest lists files in popularity rank order ("path size" per line,
 * '#' comments); rank r (from 1) is requested with probability
 * proportional to 1/r^alpha, so alpha = 0 is uniform. */
#include <errno.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "ampload.h"
#include "rng.h"

#define FS_MANIFEST "manifest.txt"

static uint64_t class_size(struct rng *r)
{
	static const uint64_t base[4] = { 100, 1000, 10000, 100000 };
	double u = rng_u01(r);
	int cls = u <= 0.35 ? 0 : u <= 0.85 ? 1 : u <= 0.99 ? 2 : 3;
	return base[cls] * (1 + rng_below(r, 9));
}

int fs_generate(const char *dir, size_t files, uint64_t seed, char *err, size_t errlen)
{
	char path[4096], buf[65536];
	struct rng r, fill;
	FILE *man = NULL, *f = NULL;
	int rc = -1;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
		goto cleanup;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, FS_MANIFEST);
	man = fopen(path, "w");
	if (!man) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto cleanup;
	}
	fprintf(man, "# ampload fileset: %zu files, seed %llu; rank order, \"path size_bytes\"\n",
		files, (unsigned long long)seed);
	rng_seed(&r, seed, 5);
	rng_seed(&fill, seed, 6);
	for (size_t i = 0; i < files; i++) {
		uint64_t size = class_size(&r), left;
		char name[64];

		snprintf(name, sizeof(name), "f%06zu.bin", i + 1);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		f = fopen(path, "w");
		if (!f) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto cleanup;
		}
		for (left = size; left;) {
			size_t n = left < sizeof(buf) ? (size_t)left : sizeof(buf);
			for (size_t j = 0; j < n; j += 8) {
				uint64_t x = rng_next(&fill);
				memcpy(buf + j, &x, n - j < 8 ? n - j : 8);
			}
			if (fwrite(buf, 1, n, f) != n) {
				snprintf(err, errlen, "%s: write failed", path);
				goto cleanup;
			}
			left -= n;
		}
		if (fclose(f) != 0) {
			f = NULL;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto cleanup;
		}
		f = NULL;
		fprintf(man, "%s %llu\n", name, (unsigned long long)size);
	}
	if (fclose(man) != 0) {
		man = NULL;
		snprintf(err, errlen, "manifest: %s", strerror(errno));
		goto cleanup;
	}
	man = NULL;
	rc = 0;
cleanup:
	if (f)
		fclose(f);
	if (man)
		fclose(man);
	return rc;
}

int fs_load(struct fs_set *fs, const char *manifest, double alpha, char *err, size_t errlen)
{
	FILE *f = fopen(manifest, "r");
	char *line = NULL;
	size_t cap = 0, lineno = 0, alloc = 0;
	ssize_t len;
	double sum = 0;
	int rc = -1;

	memset(fs, 0, sizeof(*fs));
	if (!f) {
		snprintf(err, errlen, "%s: %s", manifest, strerror(errno));
		return -1;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		char name[2048];
		unsigned long long size = 0;
		lineno++;
		if (len == 0 || line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "%2047s %llu", name, &size) < 1) {
			snprintf(err, errlen, "%s:%zu: expected \"path size_bytes\"", manifest, lineno);
			goto cleanup;
		}
		if (fs->n == alloc) {
			size_t na = alloc ? 2 * alloc : 256;
			char **p = realloc(fs->path, na * sizeof(*p));
			uint64_t *s;
			if (!p)
				goto oom;
			fs->path = p;
			s = realloc(fs->size_bytes, na * sizeof(*s));
			if (!s)
				goto oom;
			fs->size_bytes = s;
			alloc = na;
		}
		/* Paths are relative to the URL's directory. */
		fs->path[fs->n] = strdup(name[0] == '/' ? name + 1 : name);
		if (!fs->path[fs->n])
			goto oom;
		fs->size_bytes[fs->n++] = size;
	}
	if (!fs->n) {
		snprintf(err, errlen, "%s: no files listed", manifest);
		goto cleanup;
	}
	fs->cdf = malloc(fs->n * sizeof(*fs->cdf));
	if (!fs->cdf)
		goto oom;
	for (size_t i = 0; i < fs->n; i++) {
		sum += alpha == 0 ? 1.0 : 1.0 / pow((double)(i + 1), alpha);
		fs->cdf[i] = sum;
	}
	for (size_t i = 0; i < fs->n; i++)
		fs->cdf[i] /= sum;
	fs->cdf[fs->n - 1] = 1.0;
	rc = 0;
	goto cleanup;
oom:
	snprintf(err, errlen, "out of memory");
cleanup:
	free(line);
	fclose(f);
	if (rc < 0)
		fs_free(fs);
	return rc;
}

size_t fs_pick(const struct fs_set *fs, double u)
{
	size_t lo = 0, hi = fs->n - 1;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (fs->cdf[mid] >= u)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

void fs_free(struct fs_set *fs)
{
	if (!fs)
		return;
	for (size_t i = 0; i < fs->n; i++)
		free(fs->path[i]);
	free(fs->path);
	free(fs->size_bytes);
	free(fs->cdf);
	memset(fs, 0, sizeof(*fs));
}
