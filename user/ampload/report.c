/* report — merge the threads' statistics, compute confidence intervals and
 * print the human summary and the JSON document (rep_).
 *
 * Confidence intervals use batch means: the measured run is cut into
 * cfg->batches consecutive batches (by intended send time, or by request
 * number under --requests) and the spread of the per-batch means (and
 * per-batch p99s) gives the standard error.  Consecutive latencies are
 * strongly correlated under load — the queue carries over — so the sample
 * standard deviation of all requests would give intervals far too narrow;
 * batches long compared with the queue's relaxation time are nearly
 * independent.  The lag-1 correlation of the batch means is reported: when
 * it is large, the batches (the run) were too short for the interval. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ampload.h"

/* Standard normal quantile (Acklam's rational approximation, |err| < 1.2e-9
 * relative after the refinement below is skipped; plenty for intervals). */
static double normal_quantile(double p)
{
	static const double a[] = { -3.969683028665376e+01, 2.209460984245205e+02,
		-2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01,
		2.506628277459239e+00 };
	static const double b[] = { -5.447609879822406e+01, 1.615858368580409e+02,
		-1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01 };
	static const double c[] = { -7.784894002430293e-03, -3.223964580411365e-01,
		-2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00,
		2.938163982698783e+00 };
	static const double d[] = { 7.784695709041462e-03, 3.224671290700398e-01,
		2.445134137142996e+00, 3.754408661907416e+00 };
	double q, r;

	if (p <= 0)
		return -INFINITY;
	if (p >= 1)
		return INFINITY;
	if (p < 0.02425) {
		q = sqrt(-2 * log(p));
		return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
		       ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
	}
	if (p > 1 - 0.02425)
		return -normal_quantile(1 - p);
	q = p - 0.5;
	r = q * q;
	return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
	       (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/* Student-t quantile by the Cornish-Fisher expansion around the normal
 * (Abramowitz & Stegun 26.7.5): within 0.1% of the table for df >= 5 at
 * the usual levels, which is what batch counts of 10-100 need. */
double rep_t_quantile(double p, int df)
{
	double z = normal_quantile(p), v = df, z2 = z * z;
	double g1 = (z2 + 1) * z / 4;
	double g2 = ((5 * z2 + 16) * z2 + 3) * z / 96;
	double g3 = (((3 * z2 + 19) * z2 + 17) * z2 - 15) * z / 384;
	double g4 = ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) * z / 92160;

	if (df < 1)
		return NAN;
	return z + g1 / v + g2 / (v * v) + g3 / (v * v * v) + g4 / (v * v * v * v);
}

struct ci {
	int batches;		/* non-empty batches used */
	double center, half, r1;	/* r1: lag-1 autocorrelation of batch values */
};

static struct ci batch_ci(const double *x, int n, double center, double level)
{
	struct ci c = { .batches = n, .center = center, .half = NAN, .r1 = NAN };
	double m = 0, s2 = 0, cov = 0;

	if (n < 2)
		return c;
	for (int i = 0; i < n; i++)
		m += x[i];
	m /= n;
	for (int i = 0; i < n; i++)
		s2 += (x[i] - m) * (x[i] - m);
	for (int i = 1; i < n; i++)
		cov += (x[i] - m) * (x[i - 1] - m);
	c.r1 = s2 > 0 ? cov / s2 : 0;
	s2 /= n - 1;
	c.half = rep_t_quantile(0.5 + level / 2, n - 1) * sqrt(s2 / n);
	return c;
}

static double ms(double ns)
{
	return ns / 1e6;
}

/* Coefficient of variation from count, sum and sum of squares. */
static double cv(uint64_t n, double sum, double sumsq)
{
	double m, v;

	if (n < 2 || sum <= 0)
		return 0;
	m = sum / (double)n;
	v = sumsq / (double)n - m * m;
	return v > 0 ? sqrt(v) / m : 0;
}

static const char *mode_name(enum al_mode m)
{
	return m == AL_CLOSED ? "closed" : m == AL_OPEN ? "open" : "partly-open";
}

static const char *dist_name(enum al_dist d)
{
	return d == AL_DET ? "deterministic" : d == AL_UNIFORM ? "uniform" : "poisson";
}

/* A JSON string: quotes, backslashes and control bytes escaped. */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_hist(FILE *f, const char *name, const struct lh *h, int buckets)
{
	fprintf(f, "  \"%s\": {\"count\": %llu, \"min_ms\": %.6f, \"mean_ms\": %.6f, "
		   "\"stddev_ms\": %.6f, \"max_ms\": %.6f, \"p50_ms\": %.6f, \"p90_ms\": %.6f, "
		   "\"p95_ms\": %.6f, \"p99_ms\": %.6f, \"p999_ms\": %.6f",
		name, (unsigned long long)h->n, h->n ? ms((double)h->min_ns) : 0,
		ms(lh_mean_ns(h)), ms(lh_stddev_ns(h)), ms((double)h->max_ns),
		ms((double)lh_quantile_ns(h, 0.5)), ms((double)lh_quantile_ns(h, 0.9)),
		ms((double)lh_quantile_ns(h, 0.95)), ms((double)lh_quantile_ns(h, 0.99)),
		ms((double)lh_quantile_ns(h, 0.999)));
	if (buckets) {
		/* Non-empty buckets as [low_ns, width_ns, count]. */
		const char *sep = "";
		fprintf(f, ", \"clamped\": %llu, \"buckets\": [", (unsigned long long)h->clamped);
		for (unsigned i = 0; i < LH_BUCKETS; i++) {
			if (!h->count[i])
				continue;
			fprintf(f, "%s[%llu, %llu, %llu]", sep,
				(unsigned long long)lh_bucket_low(i),
				(unsigned long long)lh_bucket_width(i),
				(unsigned long long)h->count[i]);
			sep = ", ";
		}
		fprintf(f, "]");
	}
	fprintf(f, "}");
}

static void print_hist(const char *label, const struct lh *h)
{
	if (!h->n) {
		printf("  %-11s -\n", label);
		return;
	}
	printf("  %-11s mean %.3f ms  p50 %.3f  p99 %.3f  max %.3f ms\n", label,
	       ms(lh_mean_ns(h)), ms((double)lh_quantile_ns(h, 0.5)),
	       ms((double)lh_quantile_ns(h, 0.99)), ms((double)h->max_ns));
}

int rep_write(const struct al_config *cfg, struct al_stats *const *st, int nthreads,
	      double elapsed_s)
{
	struct al_stats *a = calloc(1, sizeof(*a));
	double *bm = NULL, *bq = NULL, dur_s, target = 0, errors = 0, xput;
	struct ci ci_mean, ci_p99;
	char warn[8][256];
	int nwarn = 0, nb = 0, rc = -1;
	FILE *f = NULL;

	if (!a)
		goto oom;
	a->batch = calloc((size_t)cfg->batches, sizeof(*a->batch));
	bm = calloc((size_t)cfg->batches, sizeof(*bm));
	bq = calloc((size_t)cfg->batches, sizeof(*bq));
	if (!a->batch || !bm || !bq)
		goto oom;
	lh_init(&a->lat);
	lh_init(&a->connect);
	lh_init(&a->ttfb);
	lh_init(&a->from_send);
	lh_init(&a->late);
	for (int b = 0; b < cfg->batches; b++)
		lh_init(&a->batch[b]);
	for (int i = 0; i < nthreads; i++) {
		const struct al_stats *s = st[i];
		lh_merge(&a->lat, &s->lat);
		lh_merge(&a->connect, &s->connect);
		lh_merge(&a->ttfb, &s->ttfb);
		lh_merge(&a->from_send, &s->from_send);
		lh_merge(&a->late, &s->late);
		for (int b = 0; b < cfg->batches; b++)
			lh_merge(&a->batch[b], &s->batch[b]);
		a->done += s->done;
		a->done_in_window += s->done_in_window;
		a->sent += s->sent;
		for (int k = 0; k < AL_E_COUNT; k++)
			a->errors[k] += s->errors[k];
		a->sla_over += s->sla_over;
		a->body_bytes += s->body_bytes;
		a->conns_opened += s->conns_opened;
		a->sessions += s->sessions;
		a->backlogged += s->backlogged;
		for (int k = 0; k < 6; k++)
			a->status[k] += s->status[k];
		a->unfinished += s->unfinished;
		a->warmup_done += s->warmup_done;
		a->think_sum_ns += s->think_sum_ns;
		a->gap_n += s->gap_n;
		a->gap_sum_ns += s->gap_sum_ns;
		a->gap_sumsq_ns2 += s->gap_sumsq_ns2;
		a->agap_sum_ns += s->agap_sum_ns;
		a->agap_sumsq_ns2 += s->agap_sumsq_ns2;
		a->think_n += s->think_n;
		if (s->first_ns && (!a->first_ns || s->first_ns < a->first_ns))
			a->first_ns = s->first_ns;
		if (s->last_ns > a->last_ns)
			a->last_ns = s->last_ns;
		if (s->nsec > a->nsec)
			a->nsec = s->nsec;
	}
	if (a->nsec) {
		a->sec = calloc(a->nsec, sizeof(*a->sec));
		if (!a->sec)
			goto oom;
		for (int i = 0; i < nthreads; i++) {
			for (size_t k = 0; k < st[i]->nsec; k++) {
				struct al_second *d = &a->sec[k];
				const struct al_second *s = &st[i]->sec[k];
				d->sent += s->sent;
				d->done += s->done;
				d->errors += s->errors;
				d->body_bytes += s->body_bytes;
				d->lat_sum_ns += s->lat_sum_ns;
				if (s->lat_max_ns > d->lat_max_ns)
					d->lat_max_ns = s->lat_max_ns;
			}
		}
		while (a->nsec && !a->sec[a->nsec - 1].sent && !a->sec[a->nsec - 1].done &&
		       !a->sec[a->nsec - 1].errors)
			a->nsec--;
	}
	for (int b = 0; b < cfg->batches; b++) {
		if (!a->batch[b].n)
			continue;
		bm[nb] = lh_mean_ns(&a->batch[b]);
		bq[nb] = (double)lh_quantile_ns(&a->batch[b], 0.99);
		nb++;
	}
	ci_mean = batch_ci(bm, nb, lh_mean_ns(&a->lat), cfg->ci);
	ci_p99 = batch_ci(bq, nb, (double)lh_quantile_ns(&a->lat, 0.99), cfg->ci);

	/* The measured window: the requested duration, or (under
	 * --requests) first intended send to last response. */
	if (cfg->duration_s > 0)
		dur_s = cfg->duration_s;
	else
		dur_s = a->last_ns > a->first_ns ? (double)(a->last_ns - a->first_ns) / 1e9 : 0;
	if (cfg->mode == AL_OPEN)
		target = cfg->tr ? 0 : cfg->rate;
	else if (cfg->mode == AL_PARTLY)
		target = cfg->p_return < 1 ? cfg->rate / (1 - cfg->p_return) : 0;
	for (int k = 0; k < AL_E_COUNT; k++)
		errors += (double)a->errors[k];
	/* Throughput counts responses inside the measured window: requests
	 * sent in it but answered during the drain show a server that fell
	 * behind, not one that kept up. */
	xput = dur_s > 0 ? (double)a->done_in_window / dur_s : 0;

#define WARN(...) do { if (nwarn < 8) snprintf(warn[nwarn++], sizeof(warn[0]), __VA_ARGS__); } while (0)
	if (!a->done)
		WARN("no request completed in the measured window");
	if (nb < 2)
		WARN("too few batches with data for a confidence interval");
	else if (ci_mean.half > 0.05 * ci_mean.center)
		WARN("run too short: the %.0f%% interval of the mean is +-%.1f%% (want <= 5%%)",
		     cfg->ci * 100, 100 * ci_mean.half / ci_mean.center);
	if (nb >= 4 && ci_mean.r1 > 0.5)
		WARN("batch means are correlated (lag-1 r = %.2f): batches too short for the interval to be trusted",
		     ci_mean.r1);
	if (a->done && a->done < 20u * (uint64_t)cfg->batches)
		WARN("fewer than 20 requests per batch");
	if (target > 0 && dur_s > 0 && (double)a->sent / dur_s < 0.99 * target &&
	    cfg->mode == AL_OPEN)
		WARN("generator sent %.1f req/s of %.1f req/s target", (double)a->sent / dur_s, target);
	if (a->late.n && lh_quantile_ns(&a->late, 0.99) > 1000000)
		WARN("generator was late: p99 send lateness %.3f ms; the generator, not only the server, limited this run",
		     ms((double)lh_quantile_ns(&a->late, 0.99)));
	if (a->unfinished)
		WARN("%llu requests unfinished at the end", (unsigned long long)a->unfinished);
#undef WARN

	if (!cfg->quiet) {
		printf("ampload: %s loop", mode_name(cfg->mode));
		if (cfg->mode == AL_CLOSED)
			printf(", %d users, think %.3f ms (%s)", cfg->conns, cfg->think_ms,
			       cfg->think_dist == AL_THINK_EXP ? "exponential" : "fixed");
		else if (cfg->tr)
			printf(", trace replay at %.2fx speed", cfg->speed);
		else if (cfg->mode == AL_OPEN)
			printf(", %s arrivals at %.1f req/s", dist_name(cfg->dist), cfg->rate);
		else
			printf(", %s sessions at %.1f/s, p-return %.3f, think %.3f ms",
			       dist_name(cfg->dist), cfg->rate, cfg->p_return, cfg->think_ms);
		printf(", %d thread%s, %.2f s measured after %.2f s warm-up\n", cfg->threads,
		       cfg->threads == 1 ? "" : "s", dur_s, cfg->warmup_s);
		printf("  %-11s %llu done, %llu sent, %.0f errors, %llu unfinished\n", "requests",
		       (unsigned long long)a->done, (unsigned long long)a->sent, errors,
		       (unsigned long long)a->unfinished);
		if (dur_s > 0) {
			printf("  %-11s %.1f req/s, %.3f MB/s body, %.1f conn/s", "throughput",
			       xput, a->body_bytes / dur_s / 1e6,
			       elapsed_s > 0 ? a->conns_opened / elapsed_s : 0);
			if (target > 0)
				printf("; sent %.1f req/s of %.1f target", a->sent / dur_s, target);
			printf("\n");
		}
		if (a->lat.n) {
			const struct lh *h = &a->lat;
			printf("  %-11s min %.3f  mean %.3f  max %.3f  sd %.3f ms\n", "latency",
			       ms((double)h->min_ns), ms(lh_mean_ns(h)), ms((double)h->max_ns),
			       ms(lh_stddev_ns(h)));
			printf("  %-11s p50 %.3f  p90 %.3f  p95 %.3f  p99 %.3f  p99.9 %.3f ms\n", "",
			       ms((double)lh_quantile_ns(h, 0.5)), ms((double)lh_quantile_ns(h, 0.9)),
			       ms((double)lh_quantile_ns(h, 0.95)), ms((double)lh_quantile_ns(h, 0.99)),
			       ms((double)lh_quantile_ns(h, 0.999)));
		}
		if (nb >= 2)
			printf("  %-11s mean %.3f +- %.3f ms (%.1f%%), p99 %.3f +- %.3f ms; %d batches, lag-1 r %.2f\n",
			       "CI", ms(ci_mean.center), ms(ci_mean.half),
			       100 * ci_mean.half / ci_mean.center, ms(ci_p99.center),
			       ms(ci_p99.half), nb, ci_mean.r1);
		if (cfg->sla_ms >= 0)
			printf("  %-11s %.3f%% of requests over %.3f ms\n", "SLA",
			       a->done ? 100.0 * a->sla_over / a->done : 0, cfg->sla_ms);
		print_hist("connect", &a->connect);
		print_hist("first byte", &a->ttfb);
		print_hist("from send", &a->from_send);
		if (a->late.n)
			printf("  %-11s send lateness p50 %.3f  p99 %.3f  max %.3f ms\n", "generator",
			       ms((double)lh_quantile_ns(&a->late, 0.5)),
			       ms((double)lh_quantile_ns(&a->late, 0.99)), ms((double)a->late.max_ns));
		if (a->gap_n)
			printf("  %-11s arrival gaps: CV %.3f as scheduled, %.3f as sent\n", "",
			       cv(a->gap_n, a->gap_sum_ns, a->gap_sumsq_ns2),
			       cv(a->gap_n, a->agap_sum_ns, a->agap_sumsq_ns2));
		if (a->think_n)
			printf("  %-11s think time mean %.3f ms (as drawn)\n", "",
			       ms(a->think_sum_ns / (double)a->think_n));
		if (errors > 0) {
			printf("  %-11s", "errors");
			for (int k = 0; k < AL_E_COUNT; k++)
				if (a->errors[k])
					printf(" %s %llu", al_err_names[k], (unsigned long long)a->errors[k]);
			printf("\n");
		}
		for (int i = 0; i < nwarn; i++)
			printf("  warning: %s\n", warn[i]);
		fflush(stdout);
	}

	if (cfg->json_path) {
		const char *sep = "";
		f = !strcmp(cfg->json_path, "-") ? stdout : fopen(cfg->json_path, "w");
		if (!f) {
			fprintf(stderr, "ampload: %s: %s\n", cfg->json_path, strerror(errno));
			goto cleanup;
		}
		fprintf(f, "{\n  \"mode\": \"%s\", \"url\": ", mode_name(cfg->mode));
		json_str(f, cfg->url);
		fprintf(f, ", \"threads\": %d, \"conns\": %d, "
			   "\"arrivals\": \"%s\", \"rate\": %.6f, \"p_return\": %.6f, \"think_ms\": %.6f, "
			   "\"think_dist\": \"%s\", \"seed\": %llu,\n",
			cfg->threads, cfg->conns, dist_name(cfg->dist),
			cfg->rate, cfg->p_return, cfg->think_ms,
			cfg->think_dist == AL_THINK_EXP ? "exp" : "fixed", (unsigned long long)cfg->seed);
		fprintf(f, "  \"warmup_s\": %.6f, \"duration_s\": %.6f, \"elapsed_s\": %.6f,\n",
			cfg->warmup_s, dur_s, elapsed_s);
		fprintf(f, "  \"requests\": %llu, \"sent\": %llu, \"errors_total\": %.0f, "
			   "\"unfinished\": %llu, \"warmup_requests\": %llu, \"sessions\": %llu, "
			   "\"backlogged\": %llu, \"connections\": %llu,\n",
			(unsigned long long)a->done, (unsigned long long)a->sent, errors,
			(unsigned long long)a->unfinished, (unsigned long long)a->warmup_done,
			(unsigned long long)a->sessions, (unsigned long long)a->backlogged,
			(unsigned long long)a->conns_opened);
		fprintf(f, "  \"throughput_rps\": %.6f, \"sent_rps\": %.6f, \"target_rps\": %.6f, "
			   "\"bandwidth_Bps\": %.3f, \"body_bytes\": %llu, \"conn_rate\": %.6f,\n",
			xput, dur_s > 0 ? a->sent / dur_s : 0, target,
			dur_s > 0 ? a->body_bytes / dur_s : 0, (unsigned long long)a->body_bytes,
			elapsed_s > 0 ? a->conns_opened / elapsed_s : 0);
		fprintf(f, "  \"arrival_gaps\": {\"count\": %llu, \"mean_ms\": %.6f, \"cv_intended\": %.6f, "
			   "\"cv_sent\": %.6f},\n", (unsigned long long)a->gap_n,
			a->gap_n ? ms(a->gap_sum_ns / (double)a->gap_n) : 0,
			cv(a->gap_n, a->gap_sum_ns, a->gap_sumsq_ns2),
			cv(a->gap_n, a->agap_sum_ns, a->agap_sumsq_ns2));
		fprintf(f, "  \"think_mean_ms\": %.6f,\n",
			a->think_n ? ms(a->think_sum_ns / (double)a->think_n) : 0);
		fprintf(f, "  \"sla_ms\": %.6f, \"sla_over\": %llu, \"sla_over_share\": %.6f,\n",
			cfg->sla_ms, (unsigned long long)a->sla_over,
			a->done ? (double)a->sla_over / a->done : 0);
		fprintf(f, "  \"errors\": {");
		for (int k = 0; k < AL_E_COUNT; k++)
			fprintf(f, "%s\"%s\": %llu", k ? ", " : "", al_err_names[k],
				(unsigned long long)a->errors[k]);
		fprintf(f, "},\n  \"status\": {\"1xx\": %llu, \"2xx\": %llu, \"3xx\": %llu, "
			   "\"4xx\": %llu, \"5xx\": %llu, \"other\": %llu},\n",
			(unsigned long long)a->status[1], (unsigned long long)a->status[2],
			(unsigned long long)a->status[3], (unsigned long long)a->status[4],
			(unsigned long long)a->status[5], (unsigned long long)a->status[0]);
		fprintf(f, "  \"ci\": {\"level\": %.4f, \"batches\": %d, \"mean_ms\": %.6f, "
			   "\"mean_half_ms\": %.6f, \"mean_lo_ms\": %.6f, \"mean_hi_ms\": %.6f, "
			   "\"p99_ms\": %.6f, \"p99_half_ms\": %.6f, \"p99_lo_ms\": %.6f, "
			   "\"p99_hi_ms\": %.6f, \"lag1_r\": %.4f},\n",
			cfg->ci, nb, ms(ci_mean.center), nb >= 2 ? ms(ci_mean.half) : -1,
			nb >= 2 ? ms(ci_mean.center - ci_mean.half) : -1,
			nb >= 2 ? ms(ci_mean.center + ci_mean.half) : -1, ms(ci_p99.center),
			nb >= 2 ? ms(ci_p99.half) : -1, nb >= 2 ? ms(ci_p99.center - ci_p99.half) : -1,
			nb >= 2 ? ms(ci_p99.center + ci_p99.half) : -1,
			nb >= 2 && !isnan(ci_mean.r1) ? ci_mean.r1 : 0);
		json_hist(f, "latency", &a->lat, 1);
		fprintf(f, ",\n");
		json_hist(f, "connect", &a->connect, 0);
		fprintf(f, ",\n");
		json_hist(f, "first_byte", &a->ttfb, 0);
		fprintf(f, ",\n");
		json_hist(f, "from_send", &a->from_send, 0);
		fprintf(f, ",\n");
		json_hist(f, "lateness", &a->late, 0);
		fprintf(f, ",\n  \"batch_means_ms\": [");
		for (int i = 0; i < nb; i++)
			fprintf(f, "%s%.6f", i ? ", " : "", ms(bm[i]));
		fprintf(f, "],\n  \"per_second\": [");
		for (size_t k = 0; k < a->nsec; k++) {
			const struct al_second *s = &a->sec[k];
			fprintf(f, "%s\n    {\"t\": %zu, \"warmup\": %s, \"sent\": %llu, \"done\": %llu, "
				   "\"errors\": %llu, \"body_bytes\": %llu, \"mean_ms\": %.6f, \"max_ms\": %.6f}",
				sep, k, (double)k + 1 <= cfg->warmup_s ? "true" : "false",
				(unsigned long long)s->sent, (unsigned long long)s->done,
				(unsigned long long)s->errors, (unsigned long long)s->body_bytes,
				s->done ? ms(s->lat_sum_ns / (double)s->done) : 0,
				ms((double)s->lat_max_ns));
			sep = ",";
		}
		fprintf(f, "],\n  \"warnings\": [");
		for (int i = 0; i < nwarn; i++) {
			fprintf(f, "%s", i ? ", " : "");
			json_str(f, warn[i]);
		}
		fprintf(f, "]\n}\n");
		if (f != stdout && fclose(f) != 0) {
			f = NULL;
			fprintf(stderr, "ampload: %s: %s\n", cfg->json_path, strerror(errno));
			goto cleanup;
		}
		f = NULL;
	}
	rc = 0;
	goto cleanup;
oom:
	fprintf(stderr, "ampload: out of memory\n");
cleanup:
	if (f && f != stdout)
		fclose(f);
	if (a) {
		free(a->batch);
		free(a->sec);
	}
	free(a);
	free(bm);
	free(bq);
	return rc;
}
