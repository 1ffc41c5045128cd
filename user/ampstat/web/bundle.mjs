// bundle.mjs — the live page of `ampstat serve` as one self-contained HTML
// file: index.html with style.css, uPlot (from node_modules, installed by
// `npm ci` from package-lock.json) and app.js inlined where its /*@NAME@*/
// markers stand.  No CDN, nothing fetched at run time but /api/now.
// usage: node bundle.mjs SRC_DIR NODE_MODULES_DIR OUT_HTML
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [src, mods, out] = process.argv.slice(2);
if (!out) {
	console.error('usage: node bundle.mjs SRC_DIR NODE_MODULES_DIR OUT_HTML');
	process.exit(2);
}
const read = (p) => readFileSync(p, 'utf8');
// "</script" or "</style" inside inlined code would end the element early
const inline = (text) => text.replace(/<\/(script|style)/gi, '<\\/$1');
const parts = {
	UPLOT_CSS: read(join(mods, 'uplot/dist/uPlot.min.css')),
	STYLE: read(join(src, 'style.css')),
	UPLOT_JS: read(join(mods, 'uplot/dist/uPlot.iife.min.js')),
	APP_JS: read(join(src, 'app.js')),
};
let html = read(join(src, 'index.html'));
for (const [name, text] of Object.entries(parts)) {
	const marker = `/*@${name}@*/`;
	if (!html.includes(marker)) {
		console.error(`bundle.mjs: marker ${marker} missing in index.html`);
		process.exit(1);
	}
	html = html.replace(marker, () => inline(text));
}
if (/\b(src|href)=["']?(https?:)?\/\//i.test(html)) {
	console.error('bundle.mjs: the page refers to another host');
	process.exit(1);
}
writeFileSync(out, html);
