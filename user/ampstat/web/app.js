/* The live page of `ampstat serve`: polls /api/now every second and draws
 * rates from the differences of its counters.
 *
 * /api/now (schema 1) holds the counters of /metrics, read at one instant:
 *   { "schema": 1,
 *     "target":  { "pid": 123, "comm": "amped", "restarts": 0 },
 *     "t_s":     seconds since ampstat attached, when the counters were read,
 *     "states":  ["user","kernel","blocked_io","wait_idle","wait_other","runq","steal"],
 *     "roles":   [ { "role": "dispatcher", "threads": 1,
 *                    "seconds": [one counter per state, in "states" order],
 *                    "cs_voluntary": n, "cs_involuntary": n,
 *                    "cache_accessed": pages, "cache_missed": pages } ],
 *     "kernel":  [ { "class": "ksoftirqd", "seconds": s } ],
 *     "requests": n, or null when the server does not count them,
 *     "stalls":  null (not traced) or [ { "t_s": when, "ms": how long,
 *                  "state": "blocked-io", "syscall": "read", "request": "/x" } ],
 *     "latency": null (not traced) or { "le_s": [upper bounds], "counts":
 *                  [per bucket, the last one +Inf], "count": n, "sum_s": s },
 *     "bpf_seconds": ampstat's own BPF run time }
 * Counters only grow while one target is traced; when "target.restarts"
 * changes, the page starts its rates afresh. */
(function () {
	'use strict';
	var POLL_MS = 1000, KEEP = 120;
	var COLOURS = {
		user: '#43a047', kernel: '#e53935', blocked_io: '#8e24aa',
		wait_idle: '#b0bec5', wait_other: '#ffb300', runq: '#1e88e5', steal: '#6d4c41'
	};
	var prev = null, charts = {}, rpsChart = null, latChart = null;
	var hist = { t: [], rps: [] };

	function $(id) { return document.getElementById(id); }
	function el(tag, attrs, text) {
		var e = document.createElement(tag);
		for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
		if (text !== undefined) e.textContent = text;
		return e;
	}
	function fmt(v, d) { return v === null || v === undefined || !isFinite(v) ? '–' : v.toFixed(d); }
	function width(node) { return Math.max(300, node.clientWidth - 12); }
	function push(arr, v) { arr.push(v); if (arr.length > KEEP) arr.shift(); }
	/* the legend shows the latest value until the cursor picks another */
	var XAXIS = { incrs: [1, 2, 5, 10, 15, 30, 60] };	/* whole seconds, as the readings come */
	var TIME = { label: 'time', value: function (u, v) { return v === null || v === undefined ? 'now' : new Date(v * 1000).toLocaleTimeString(); } };
	function latest(arr, idx, d) {
		var v = arr[idx === null || idx === undefined ? arr.length - 1 : idx];
		return v === null || v === undefined ? '–' : v.toFixed(d);
	}

	/* one stacked chart per role: the series are cumulative sums drawn from
	 * the top down, each filled to zero, so each band shows one state; the
	 * legend shows the state's own rate, not the sum */
	function roleChart(name, states) {
		var box = el('div', { 'class': 'role', 'data-role': name });
		var h = el('h3', null, name + ' ');
		h.appendChild(el('small', { id: 'threads-' + name }, ''));
		box.appendChild(h);
		$('roles').appendChild(box);
		var c = { t: [], raw: states.map(function () { return []; }), states: states };
		var series = [TIME];
		for (var i = states.length - 1; i >= 0; i--) {
			(function (si) {
				series.push({
					label: states[si], stroke: COLOURS[states[si]] || '#555',
					fill: COLOURS[states[si]] || '#555', width: 1, points: { show: false },
					value: function (u, v, s, idx) { return latest(c.raw[si], idx, 3); }
				});
			})(i);
		}
		c.plot = new uPlot({
			width: width($('roles')) / ($('roles').clientWidth > 900 ? 2 : 1) - 10, height: 200,
			series: series, scales: { y: { range: function (u, lo, hi) { return [0, Math.max(1, hi)]; } } },
			axes: [XAXIS, { label: 'threads busy', size: 50 }], legend: { live: true }
		}, [[]].concat(states.map(function () { return []; })), box);
		charts[name] = c;
		return c;
	}

	function redrawRole(c) {
		var n = c.states.length, data = [c.t];
		for (var k = n - 1; k >= 0; k--) {
			var col = c.t.map(function (_, i) {
				var s = 0;
				for (var j = 0; j <= k; j++) s += c.raw[j][i];
				return s;
			});
			data.push(col);
		}
		c.plot.setData(data);
	}

	function totals(now) {
		var t = $('totals');
		t.textContent = '';
		t.setAttribute('data-t-s', now.t_s.toFixed(6));
		var head = el('tr');
		head.appendChild(el('th', null, 'role'));
		head.appendChild(el('th', null, 'threads'));
		now.states.forEach(function (s) {
			var th = el('th');
			th.appendChild(el('span', { 'class': 'swatch', style: 'background:' + COLOURS[s] }));
			th.appendChild(document.createTextNode(s));
			head.appendChild(th);
		});
		['cache pages accessed', 'cache pages missed'].forEach(function (s) { head.appendChild(el('th', null, s)); });
		t.appendChild(head);
		now.roles.forEach(function (r) {
			var tr = el('tr', { 'data-role': r.role });
			tr.appendChild(el('td', null, r.role));
			tr.appendChild(el('td', { 'data-key': 'threads' }, String(r.threads)));
			r.seconds.forEach(function (v, i) {
				tr.appendChild(el('td', { 'data-key': now.states[i] }, v.toFixed(3)));
			});
			tr.appendChild(el('td', { 'data-key': 'cache_accessed' }, String(r.cache_accessed)));
			tr.appendChild(el('td', { 'data-key': 'cache_missed' }, String(r.cache_missed)));
			t.appendChild(tr);
		});
		var tr = el('tr', { 'data-role': '' });
		tr.appendChild(el('td', null, 'requests'));
		tr.appendChild(el('td', { id: 'req-total', colspan: String(now.states.length + 3) },
			now.requests === null ? 'not counted by this server' : String(now.requests)));
		t.appendChild(tr);
	}

	function kernelRow(now, dt) {
		var tb = $('kernel').querySelector('tbody'), sum = 0;
		tb.textContent = '';
		var head = el('tr');
		['class', 'CPU s/s', 'seconds since attach'].forEach(function (s) { head.appendChild(el('th', null, s)); });
		tb.appendChild(head);
		now.kernel.forEach(function (k) {
			var p = prev && prev.kernel.filter(function (q) { return q.class === k.class; })[0];
			var rate = p && dt > 0 ? (k.seconds - p.seconds) / dt : null;
			if (rate !== null) sum += rate;
			var tr = el('tr', { 'data-class': k.class });
			tr.appendChild(el('td', null, k.class));
			tr.appendChild(el('td', null, fmt(rate, 4)));
			tr.appendChild(el('td', null, k.seconds.toFixed(3)));
			tb.appendChild(tr);
		});
		$('kern').textContent = prev ? fmt(sum, 3) : '–';
	}

	function stalls(now) {
		var box = $('stalls');
		box.textContent = '';
		if (!now.stalls) {
			box.appendChild(el('p', { 'class': 'muted' }, 'stalls are not traced by this ampstat serve'));
			return;
		}
		if (!now.stalls.length) {
			box.appendChild(el('p', { 'class': 'muted' }, 'no stall yet'));
			return;
		}
		var t = el('table', { 'class': 'grid' }), head = el('tr');
		['when (s ago)', 'ms', 'state', 'syscall', 'request'].forEach(function (s) { head.appendChild(el('th', null, s)); });
		t.appendChild(head);
		now.stalls.slice().reverse().forEach(function (s) {
			var tr = el('tr');
			tr.appendChild(el('td', null, fmt(now.t_s - s.t_s, 1)));
			tr.appendChild(el('td', null, fmt(s.ms, 2)));
			tr.appendChild(el('td', null, s.state));
			tr.appendChild(el('td', null, s.syscall || ''));
			tr.appendChild(el('td', null, s.request || '(none)'));
			t.appendChild(tr);
		});
		box.appendChild(t);
	}

	function latency(now) {
		var box = $('latency');
		if (!now.latency) {
			if (latChart) { latChart.destroy(); latChart = null; }
			box.textContent = '';
			box.appendChild(el('p', { 'class': 'muted' }, 'latency tracing is off'));
			return;
		}
		var L = now.latency, x = L.counts.map(function (_, i) { return i; });
		/* bucket bounds are powers of two in ns: 3 digits are enough */
		var labels = L.le_s.map(function (s) {
			return '≤' + (s < 1e-3 ? +(s * 1e6).toPrecision(3) + ' µs' : s < 1 ? +(s * 1e3).toPrecision(3) + ' ms' : +s.toPrecision(3) + ' s');
		});
		labels.push('> ' + labels[labels.length - 1].slice(1));
		if (!latChart) {
			box.textContent = '';
			latChart = new uPlot({
				width: width(box), height: 200,
				series: [{ label: 'bucket', value: function (u, v) { return v === null ? '–' : labels[v]; } },
					{ label: 'requests', stroke: '#5e35b1', fill: '#9575cd', width: 1,
					  paths: uPlot.paths.bars({ size: [0.8, 40] }), points: { show: false } }],
				scales: { x: { time: false } },
				axes: [{ values: function (u, vals) { return vals.map(function (v) { return labels[v] || ''; }); } }, {}]
			}, [x, L.counts], box);
			box.appendChild(el('p', { id: 'lat-summary', 'class': 'muted' }, ''));
		} else {
			latChart.setData([x, L.counts]);
		}
		$('lat-summary').textContent = L.count + ' requests, mean ' +
			fmt(L.count ? L.sum_s / L.count * 1e3 : null, 3) + ' ms';
	}

	function update(now) {
		if (prev && (now.target.pid !== prev.target.pid || now.target.restarts !== prev.target.restarts))
			prev = null;	/* a new target: rates start afresh */
		var dt = prev ? now.t_s - prev.t_s : 0, wall = Date.now() / 1000;
		$('target').textContent = 'pid ' + now.target.pid + ' (' + now.target.comm + ')' +
			(now.target.restarts ? ', ' + now.target.restarts + ' restart(s)' : '');
		$('uptime').textContent = fmt(now.t_s, 0) + ' s';
		now.roles.forEach(function (r) {
			var c = charts[r.role] || roleChart(r.role, now.states);
			$('threads-' + r.role).textContent = r.threads + ' thread' + (r.threads === 1 ? '' : 's');
			var p = prev && prev.roles.filter(function (q) { return q.role === r.role; })[0];
			if (!p || dt <= 0) return;
			push(c.t, wall);
			r.seconds.forEach(function (v, i) { push(c.raw[i], Math.max(0, (v - p.seconds[i]) / dt)); });
			redrawRole(c);
		});
		if (prev && dt > 0) {
			var rps = now.requests === null ? null : (now.requests - prev.requests) / dt;
			var acc = 0, miss = 0;
			now.roles.forEach(function (r) {
				var p = prev.roles.filter(function (q) { return q.role === r.role; })[0];
				if (p) { acc += r.cache_accessed - p.cache_accessed; miss += r.cache_missed - p.cache_missed; }
			});
			$('rps').textContent = fmt(rps, 0);
			$('hit').textContent = acc > 0 ? fmt(100 * Math.max(0, 1 - miss / acc), 1) + ' %' : '–';
			push(hist.t, wall);
			push(hist.rps, rps);
			if (!rpsChart)
				rpsChart = new uPlot({
					width: width($('rps-chart')), height: 180,
					series: [TIME, { label: 'requests/s', stroke: '#00897b', width: 2, points: { show: false },
						value: function (u, v, s, idx) { return latest(hist.rps, idx, 0); } }],
					scales: { y: { range: function (u, lo, hi) { return [0, Math.max(1, hi * 1.1)]; } } },
					axes: [XAXIS, {}]
				}, [hist.t, hist.rps], $('rps-chart'));
			else
				rpsChart.setData([hist.t, hist.rps]);
		}
		var ta = 0, tm = 0;
		now.roles.forEach(function (r) { ta += r.cache_accessed; tm += r.cache_missed; });
		$('hit-total').textContent = ta > 0 ? fmt(100 * Math.max(0, 1 - tm / ta), 1) + ' %' : '–';
		kernelRow(now, dt);
		stalls(now);
		latency(now);
		totals(now);
		prev = now;
	}

	function poll() {
		fetch('/api/now', { cache: 'no-store' })
			.then(function (r) {
				if (!r.ok) throw new Error('HTTP ' + r.status);
				return r.json();
			})
			.then(function (now) {
				update(now);
				var s = $('status');
				s.className = 'status';
				s.textContent = 'live, updated ' + new Date().toLocaleTimeString();
				document.body.setAttribute('data-updates', String(+(document.body.getAttribute('data-updates') || 0) + 1));
			})
			.catch(function (e) {
				var s = $('status');
				s.className = 'status bad';
				s.textContent = 'no figures: ' + e.message;
			})
			.then(function () { setTimeout(poll, POLL_MS); });
	}
	poll();
})();
