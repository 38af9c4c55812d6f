/**
 * The quality report as one static HTML page (inline CSS, no script): summary, per-prompt diversity table,
 * flagged images with their reasons and nearest reference image, and every image as a thumbnail. Thumbnails are
 * the report's own small PNG files (relative paths). Every piece of text that comes from the data — prompts,
 * file names, details — goes through `escapeHtml`.
 */
import type { ImageReport, PromptReport, QualityReport } from './report.js';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

const num = (v: number | null, digits = 3) => (v === null ? '–' : v.toFixed(digits));

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2330;background:#f6f7f9}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px;border-bottom:1px solid #d8dbe2;padding-bottom:4px}
.meta{color:#5b6475;font-size:12px}.cards{display:flex;gap:12px;flex-wrap:wrap;margin-top:14px}
.card{background:#fff;border:1px solid #d8dbe2;border-radius:8px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:20px}.card span{color:#5b6475;font-size:12px}
table{border-collapse:collapse;background:#fff;width:100%}th,td{border:1px solid #d8dbe2;padding:6px 8px;text-align:left;vertical-align:middle}
th{background:#eef0f4;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.bar{height:8px;background:#e3e6ec;border-radius:4px;width:120px}.bar i{display:block;height:8px;border-radius:4px;background:#4a7bd0}
.strip img{width:48px;height:48px;object-fit:cover;margin-right:3px;border-radius:3px;background:#000}
.grid{display:flex;flex-wrap:wrap;gap:10px}.tile{background:#fff;border:1px solid #d8dbe2;border-radius:8px;padding:8px;width:300px}
.tile.flagged{border-color:#d0594a}.pair{display:flex;gap:8px}.pair figure{margin:0;text-align:center;font-size:11px;color:#5b6475}
.pair img{width:128px;height:128px;object-fit:contain;background:#000;border-radius:4px}
.badge{display:inline-block;font-size:11px;padding:1px 6px;border-radius:9px;background:#fbe3df;color:#9b2c1f;margin:2px 4px 2px 0}
.ok{background:#e2f3e6;color:#22643a}.file{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}
ul.reasons{margin:6px 0 0;padding-left:18px;font-size:12px}.thumbs{display:flex;flex-wrap:wrap;gap:6px}
.thumbs figure{margin:0;width:96px;font-size:10px;text-align:center;color:#5b6475}.thumbs img{width:96px;height:96px;object-fit:contain;background:#000;border-radius:3px}
.thumbs figure.flagged img{outline:3px solid #d0594a}`;

function img(src: string | null | undefined, alt: string): string {
  return src ? `<img src="${escapeHtml(src)}" alt="${escapeHtml(alt)}" loading="lazy">` : '';
}

function promptRow(p: PromptReport, thumbs: Map<string, string | null>): string {
  const d = p.diversity;
  const bar =
    d.meanMsSsim === null
      ? ''
      : `<div class="bar"><i style="width:${(100 * Math.min(1, Math.max(0, d.meanMsSsim))).toFixed(1)}%"></i></div>`;
  const strip = p.files
    .slice(0, 8)
    .map((f) => img(thumbs.get(f), f))
    .join('');
  return `<tr><td>${p.prompt === null ? '<i>(no prompt)</i>' : escapeHtml(p.prompt)}</td><td class="n">${d.images}</td><td class="n">${d.pairs}</td>
<td class="n">${num(d.meanMsSsim)}</td><td>${bar}</td><td class="n">${num(d.minMsSsim)} – ${num(d.maxMsSsim)}</td><td class="n">${d.scales || '–'}</td><td class="strip">${strip}</td></tr>`;
}

function flaggedTile(im: ImageReport, r: QualityReport): string {
  const near = im.nearestBySsim;
  const nearThumb = near ? r.reference?.thumbnails[near.file] : undefined;
  const latent = im.nearestByLatent ? `<br>latent: ${escapeHtml(im.nearestByLatent.file)} (cos ${num(im.nearestByLatent.cosine)})` : '';
  const refFig = near
    ? `<figure>${img(nearThumb, near.file)}<figcaption>nearest real: ${escapeHtml(near.file)}<br>SSIM ${num(near.ssim)}${latent}</figcaption></figure>`
    : '';
  return `<div class="tile flagged"><div class="pair"><figure>${img(im.thumbnail, im.file)}<figcaption class="file">${escapeHtml(im.file)}</figcaption></figure>${refFig}</div>
<div>${im.prompt === null ? '' : `<b>prompt:</b> ${escapeHtml(im.prompt)}`}${im.seed === null ? '' : ` <b>seed:</b> ${escapeHtml(im.seed)}`}</div>
<ul class="reasons">${im.flags.map((f) => `<li><span class="badge">${escapeHtml(f.flag)}</span>${escapeHtml(f.detail)}</li>`).join('')}</ul></div>`;
}

/** The report page (UTF-8 HTML text). */
export function renderQualityHtml(r: QualityReport): string {
  const s = r.summary;
  const thumbs = new Map(r.images.map((im) => [im.file, im.thumbnail]));
  const cards = [
    [String(s.images), 'images'],
    [String(s.flagged), 'flagged'],
    [String(s.prompts), 'prompts'],
    [num(s.meanPromptMsSsim), 'mean per-prompt MS-SSIM (lower = more diverse)'],
    ...(r.reference ? [[String(r.reference.images), 'reference images'] as const] : []),
    ...Object.entries(s.byFlag).map(([f, n]) => [String(n), f] as const),
  ]
    .map(([v, l]) => `<div class="card"><b>${escapeHtml(v as string)}</b><span>${escapeHtml(l as string)}</span></div>`)
    .join('');
  const flagged = r.images.filter((im) => im.flags.length);
  const settings = r.settings;
  const ref = r.reference
    ? `<p>Reference: <span class="file">${escapeHtml(r.reference.folder)}</span>, ${r.reference.images} images; out-of-distribution threshold (largest leave-one-out histogram W1) ${num(r.reference.oodThreshold, 4)}.</p>`
    : '<p>No reference folder: near-copy and out-of-distribution checks were not run (pass <code>--reference REAL_DIR</code>).</p>';
  const all = r.images
    .map(
      (im) =>
        `<figure class="${im.flags.length ? 'flagged' : ''}">${img(im.thumbnail, im.file)}<figcaption class="file">${escapeHtml(im.file)}</figcaption>${
          im.flags.length
            ? im.flags.map((f) => `<span class="badge">${escapeHtml(f.flag)}</span>`).join('')
            : '<span class="badge ok">ok</span>'
        }</figure>`,
    )
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>medgpu quality report: ${escapeHtml(r.input)}</title><style>${CSS}</style></head>
<body>
<h1>Dataset quality report</h1>
<div class="meta">${escapeHtml(r.input)}${r.manifest ? ` (manifest ${escapeHtml(r.manifest)})` : ''} · ${escapeHtml(r.createdAt)} · medgpu</div>
<div class="cards">${cards}</div>
${ref}
<h2>Diversity per prompt</h2>
<p class="meta">Mean pairwise MS-SSIM between the images of one prompt: 1 = identical images, lower = more diverse.</p>
<table><thead><tr><th>prompt</th><th>images</th><th>pairs</th><th>mean MS-SSIM</th><th></th><th>min – max</th><th>scales</th><th>images</th></tr></thead>
<tbody>${r.prompts.map((p) => promptRow(p, thumbs)).join('\n')}</tbody></table>
<h2>Flagged images (${flagged.length})</h2>
${flagged.length ? `<div class="grid">${flagged.map((im) => flaggedTile(im, r)).join('\n')}</div>` : '<p>None.</p>'}
<h2>All images</h2>
<div class="thumbs">${all}</div>
<h2>Settings</h2>
<p class="meta">blank: std &lt; ${settings.histogram.blankStd}; saturated: clipped fraction &gt; ${settings.histogram.saturatedFraction}; low contrast: p99 − p1 &lt; ${settings.histogram.lowContrastRange};
near copy: SSIM ≥ ${settings.nearCopy.ssimThreshold} on a ${settings.nearCopy.grid}² grid${settings.nearCopy.medvaeModel ? `, MedVAE (${escapeHtml(settings.nearCopy.medvaeModel)}) latent cosine ≥ ${settings.nearCopy.latentCosineThreshold}` : ''}.<br>${escapeHtml(settings.conventions)}</p>
</body></html>
`;
}
