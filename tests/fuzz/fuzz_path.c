/* fuzz_path — libFuzzer harness for request-target decoding and path
 * normalisation (hp_decode_path in http.h), the one gate between a
 * client's bytes and a file name under the document root.
 *
 * Input: byte 0 picks the output size (small sizes exercise the -3
 * bound at every position), the rest is the request-target.  The output
 * buffer is malloc'd at exactly that size, so a write past out_size is an
 * ASan report.  Properties checked on success:
 *   - out is NUL-terminated at the returned length and holds no NUL;
 *   - no segment is "", "." or ".." (no leading, trailing or double '/');
 *   - no backslash, no control byte;
 *   - the decoder is idempotent: percent-encoding out and decoding it
 *     again gives out back (so the server's cache key and the file name
 *     the helper opens cannot disagree);
 *   - a larger out_size never changes a successful answer.
 * A violated property aborts (libFuzzer reports a crash). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "http.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz_path: %s:%d: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

static void check_segments(const char *out, size_t n)
{
	size_t s = 0;

	if (n == 0)
		return;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && out[i] != '/') {
			unsigned char c = (unsigned char)out[i];
			CHECK(c >= 0x20 && c != 0x7f && c != '\\');
			continue;
		}
		size_t len = i - s;
		CHECK(len > 0);
		CHECK(!(len == 1 && out[s] == '.'));
		CHECK(!(len == 2 && out[s] == '.' && out[s + 1] == '.'));
		s = i + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t sizes[] = { 1, 2, 3, 4, 5, 8, 16, 64 };
	size_t out_size;
	const char *t;
	size_t n;
	char *out, big[8192], again[8192], enc[3 * 4096 + 2];
	int ts = -1, ts2 = -1, r, r2;

	if (size == 0)
		return 0;
	out_size = data[0] < 0xc0 ? 4096 : sizes[data[0] & 7];
	t = (const char *)data + 1;
	n = size - 1;
	out = malloc(out_size);
	if (!out)
		return 0;
	r = hp_decode_path(t, n, out, out_size, &ts);
	CHECK(r >= -3);
	if (r < 0) {
		CHECK(ts == 0);
	} else {
		CHECK((size_t)r < out_size && out[r] == '\0' && strlen(out) == (size_t)r);
		CHECK(ts == 0 || ts == 1);
		CHECK(r > 0 || ts == 1);	/* the root is a directory */
		check_segments(out, (size_t)r);

		/* Room never changes a success. */
		r2 = hp_decode_path(t, n, big, sizeof(big), &ts2);
		CHECK(r2 == r && ts2 == ts && memcmp(big, out, (size_t)r + 1) == 0);

		/* Idempotence through percent-encoding. */
		if ((size_t)r < 4096) {
			static const char hex[] = "0123456789ABCDEF";
			size_t e = 0;
			enc[e++] = '/';
			for (int i = 0; i < r; i++) {
				unsigned char c = (unsigned char)out[i];
				if (c == '/' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
					enc[e++] = (char)c;
				} else {
					enc[e++] = '%';
					enc[e++] = hex[c >> 4];
					enc[e++] = hex[c & 15];
				}
			}
			r2 = hp_decode_path(enc, e, again, sizeof(again), &ts2);
			CHECK(r2 == r && memcmp(again, out, (size_t)r + 1) == 0);
			(void)hp_mime_type(out, (size_t)r);
		}
	}
	free(out);
	return 0;
}
