// web_check.mjs — drives Debian's chromium (headless, through playwright-core,
// which never downloads a browser here) against the live page of
// `ampstat serve`, for tests/69-ampstat-web.t.
//
// usage: node web_check.mjs NODE_MODULES BASE_URL SCREENSHOT [FLAME_HTML FLAME_SHOT]
//
// Prints one line per check, "CHECK 0|1 description" (0 = passed), and
// "INFO key value" lines; exits 0 when it could run the checks at all.
// The numbers of the page are checked against /metrics by sandwiching:
// scrape /metrics (M1), wait until the page has shown a reading of
// /api/now that was requested after M1 finished, read the page, scrape
// again (M2).  Every counter only grows, so M1 <= page <= M2 must hold
// exactly, up to the page's rounding (3 decimals: 0.0005 s).
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [mods, base, shot, flameHtml, flameShot] = process.argv.slice(2);
if (!shot) {
	console.error('usage: node web_check.mjs NODE_MODULES BASE_URL SCREENSHOT [FLAME_HTML FLAME_SHOT]');
	process.exit(2);
}
const { chromium } = createRequire(join(mods, 'x.js'))('playwright-core');
const check = (pass, what) => console.log(`CHECK ${pass ? 0 : 1} ${what}`);
const info = (k, v) => console.log(`INFO ${k} ${v}`);

// "name{labels} value" lines of the text format into a map
async function scrape() {
	const r = await fetch(base + '/metrics');
	const m = new Map();
	for (const line of (await r.text()).split('\n')) {
		if (!line || line.startsWith('#')) continue;
		const i = line.lastIndexOf(' ');
		m.set(line.slice(0, i), Number(line.slice(i + 1)));
	}
	return m;
}

const profile = mkdtempSync(join(tmpdir(), 'ampstat-chromium-'));
const ctx = await chromium.launchPersistentContext(profile, {
	executablePath: '/usr/bin/chromium',
	headless: true,
	viewport: { width: 1280, height: 1000 },
	args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		'--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
	const page = ctx.pages()[0] || await ctx.newPage();
	const errors = [], foreign = [];
	page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
	page.on('pageerror', (e) => errors.push(String(e)));
	page.on('request', (q) => { if (!q.url().startsWith(base) && !q.url().startsWith('data:')) foreign.push(q.url()); });
	await page.goto(base + '/', { waitUntil: 'load' });
	const updates = () => page.evaluate(() => +(document.body.getAttribute('data-updates') || 0));
	await page.waitForFunction(() => +(document.body.getAttribute('data-updates') || 0) >= 4, null, { timeout: 20000 });

	const m1 = await scrape();
	const n = await updates();
	await page.waitForFunction((k) => +(document.body.getAttribute('data-updates') || 0) >= k, n + 2, { timeout: 20000 });
	const shown = await page.evaluate(() => {
		const t = document.getElementById('totals'), cells = {};
		for (const td of t.querySelectorAll('tr[data-role] td[data-key]'))
			cells[td.parentElement.getAttribute('data-role') + '/' + td.getAttribute('data-key')] = td.textContent;
		return {
			t_s: Number(t.getAttribute('data-t-s')),
			cells,
			requests: document.getElementById('req-total').textContent,
			rps: document.getElementById('rps').textContent,
			hit: document.getElementById('hit-total').textContent,
			roles: [...document.querySelectorAll('#roles .role')].map((e) => e.getAttribute('data-role')),
			legends: [...document.querySelectorAll('#roles .role')].map((e) =>
				[...e.querySelectorAll('.u-legend .u-label')].map((l) => l.textContent)),
			canvases: document.querySelectorAll('#roles canvas').length,
			kernel: [...document.querySelectorAll('#kernel tr[data-class]')].map((e) => e.getAttribute('data-class')),
			stalls: document.getElementById('stalls').textContent,
			latency: document.getElementById('latency').textContent,
			latCanvas: document.querySelectorAll('#latency canvas').length,
			latCount: (/^(\d+) requests/.exec((document.getElementById('lat-summary') || {}).textContent || '') || [])[1],
		};
	});
	const m2 = await scrape();

	// the chart names the target's roles: those /metrics gives live threads
	const live = [...m2.keys()].filter((k) => k.startsWith('ampstat_role_threads{') && m2.get(k) > 0)
		.map((k) => /role="([^"]*)"/.exec(k)[1]).sort();
	info('roles_metrics', live.join(','));
	info('roles_page', shown.roles.join(','));
	check(live.length >= 2 && live.every((r) => shown.roles.includes(r)),
		`the page has a chart for each role with threads in /metrics (${live.join(', ')})`);
	check(shown.canvases >= shown.roles.length && shown.legends.every((l) => ['user', 'kernel', 'blocked_io',
		'wait_idle', 'wait_other', 'runq', 'steal'].every((s) => l.includes(s))),
		`each role's chart is drawn (${shown.canvases} canvases) with the seven states in its legend`);

	// sandwich: M1 <= page <= M2 for every role x state counter
	const ts1 = m1.get('ampstat_trace_seconds'), ts2 = m2.get('ampstat_trace_seconds');
	check(ts1 <= shown.t_s && shown.t_s <= ts2, `the page's reading lies between the scrapes (${ts1} <= ${shown.t_s} <= ${ts2})`);
	let compared = 0, outside = [];
	for (const [key, text] of Object.entries(shown.cells)) {
		const [role, state] = key.split('/');
		let series;
		if (['user', 'kernel', 'blocked_io', 'wait_idle', 'wait_other', 'runq', 'steal'].includes(state))
			series = [`ampstat_role_seconds_total{role="${role}",state="${state}"}`];
		else if (state === 'cache_accessed')
			series = [`ampstat_role_cache_accessed_pages_total{role="${role}"}`];
		else if (state === 'cache_missed')
			series = [`ampstat_role_cache_missed_pages_total{role="${role}"}`];
		else
			continue;
		const s = series.find((x) => m1.has(x) && m2.has(x));
		if (!s) { outside.push(`${key}: not in /metrics`); continue; }
		const v = Number(text), slack = state.startsWith('cache') ? 0 : 0.0005;
		compared++;
		if (!(m1.get(s) - slack <= v && v <= m2.get(s) + slack))
			outside.push(`${key}: ${m1.get(s)} <= ${v} <= ${m2.get(s)} fails`);
	}
	const req = Number(shown.requests), r1 = m1.get('ampstat_requests_total'), r2 = m2.get('ampstat_requests_total');
	compared++;
	if (!(r1 <= req && req <= r2)) outside.push(`requests: ${r1} <= ${req} <= ${r2} fails`);
	info('compared', compared);
	info('requests', `${r1} <= ${req} <= ${r2}`);
	const disp = (m) => m.get('ampstat_role_seconds_total{role="dispatcher",state="kernel"}');
	info('dispatcher_kernel', `${disp(m1)} <= ${shown.cells['dispatcher/kernel']} <= ${disp(m2)}`);
	check(compared >= 10 && outside.length === 0,
		`${compared} numbers of the page lie between the two scrapes of /metrics${outside.length ? ': ' + outside.slice(0, 3).join('; ') : ''}`);
	check(Number(shown.rps) > 0, `requests/s shown under load (${shown.rps})`);
	info('hit_ratio', shown.hit);
	check(shown.kernel.includes('ksoftirqd') && shown.kernel.includes('kworker'),
		`the kernel row lists kernel-thread classes (${shown.kernel.join(', ')})`);
	{
		const c1 = m1.get('ampstat_request_duration_seconds_count'), c2 = m2.get('ampstat_request_duration_seconds_count');
		const c = Number(shown.latCount);
		info('latency_count', `${c1} <= ${c} <= ${c2}`);
		check(shown.latCanvas === 1 && c1 <= c && c <= c2 && c > 0,
			`the latency histogram is drawn, its count between the scrapes' (${c1} <= ${c} <= ${c2})`);
	}
	info('stalls_view', JSON.stringify(shown.stalls.slice(0, 120)));
	check(/^(no stall yet|when \(s ago\)ms)/.test(shown.stalls),
		`the stalls view is on: a table or "no stall yet" (${shown.stalls.slice(0, 40)})`);
	info('latency_view', JSON.stringify(shown.latency.slice(0, 120)));
	await page.screenshot({ path: shot, fullPage: true });
	check(errors.length === 0, `no console errors${errors.length ? ': ' + errors.slice(0, 3).join(' | ') : ''}`);
	check(foreign.length === 0, `nothing fetched but from ampstat itself${foreign.length ? ': ' + foreign.slice(0, 3).join(' ') : ''}`);

	if (flameHtml) {
		const fp = await ctx.newPage(), ferr = [];
		fp.on('console', (m) => { if (m.type() === 'error') ferr.push(m.text()); });
		fp.on('pageerror', (e) => ferr.push(String(e)));
		await fp.goto('file://' + flameHtml, { waitUntil: 'load' });
		const before = await fp.evaluate(() => document.querySelectorAll('g.f').length);
		// click the widest frame at depth 1 (a role): it must fill the width
		const after = await fp.evaluate(() => {
			const svg = document.querySelector('svg'), W = +svg.dataset.w;
			const d1 = [...document.querySelectorAll('g.f[data-d="1"]')];
			if (!d1.length) return null;
			const z = d1.reduce((a, b) => (+a.querySelector('rect').getAttribute('width') >=
				+b.querySelector('rect').getAttribute('width') ? a : b));
			z.querySelector('rect').dispatchEvent(new MouseEvent('click', { bubbles: true }));
			return { W, w: +z.querySelector('rect').getAttribute('width'), name: z.querySelector('title').textContent.split('\n')[0],
				hidden: [...document.querySelectorAll('g.f')].filter((g) => g.style.display === 'none').length };
		});
		await fp.screenshot({ path: flameShot, fullPage: true });
		check(before > 3 && after && Math.abs(after.w - after.W) < 0.01,
			`flame graph: ${before} frames; a click on "${after && after.name}" zooms it to the full width (${after && after.w} of ${after && after.W})`);
		check(ferr.length === 0, `flame graph: no console errors${ferr.length ? ': ' + ferr.slice(0, 3).join(' | ') : ''}`);
	}
} finally {
	await ctx.close();
	rmSync(profile, { recursive: true, force: true });
}
