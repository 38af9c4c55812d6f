/**
 * `medgpu quality` as a library call (Node): reads the folders, runs `assessQuality`, and writes the report
 * folder — `quality.json`, `index.html`, `thumbs/*.png` — and, with `filter`, a filtered manifest next to the
 * input's (so its `file` paths stay valid). Nothing existing is replaced without `overwrite`; every target is
 * checked before any work starts.
 */
import type { Image } from '../io/image.js';
import { OutputExistsError } from '../io/output.js';
import type { MedVAE } from '../pipeline/medvae/medvae.js';
import { type QualityPhase, assessQuality } from './assess.js';
import { filteredManifest, folderItems, readImageFolder } from './folder.js';
import type { HistogramThresholds } from './histogram-flags.js';
import type { NearCopyOptions } from './near-copy.js';
import { type Plane, resizeArea } from './plane.js';
import { type QualityReport, qualityReportJson } from './report.js';
import { renderQualityHtml } from './report-html.js';

export const FILTERED_MANIFEST_NAME = 'manifest.filtered.jsonl';
const THUMB_SIDE = 128;

export interface QualityRunOptions {
  /** The synthetic images' folder. */
  input: string;
  /** A folder of real images (enables near-copy and out-of-distribution checks). */
  reference?: string;
  /** Report folder. Default `<input>/quality`. */
  out?: string;
  /** Also write `<input>/manifest.filtered.jsonl` (or `filterOut`) with the images that earned no flag. */
  filter?: boolean;
  filterOut?: string;
  overwrite?: boolean;
  histogram?: Partial<HistogramThresholds>;
  nearCopy?: Partial<NearCopyOptions>;
  medvae?: MedVAE;
  /** Write thumbnails (default true). */
  thumbnails?: boolean;
  onProgress?: (phase: QualityPhase, done: number, total: number) => void;
  createdAt?: string;
}

export interface QualityRunResult {
  report: QualityReport;
  json: string;
  html: string;
  filteredManifest: string | null;
}

/** An 8-bit gray thumbnail of at most 128 pixels a side, aspect kept. */
function thumbnailImage(p: Plane): Image {
  const k = Math.min(1, THUMB_SIDE / Math.max(p.width, p.height));
  const t = resizeArea(p, Math.max(1, Math.round(p.width * k)), Math.max(1, Math.round(p.height * k)));
  const data = Uint8Array.from(t.data, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
  return { width: t.width, height: t.height, channels: 1, bitDepth: 8, data };
}

export async function runQuality(o: QualityRunOptions): Promise<QualityRunResult> {
  const { join, makeDir, pathKind, writeChunks } = await import('../io/node-fs.js');
  const { encodePng } = await import('../io/png.js');
  const out = o.out ?? join(o.input, 'quality');
  const json = join(out, 'quality.json');
  const html = join(out, 'index.html');
  const filterPath = o.filter ? (o.filterOut ?? join(o.input, FILTERED_MANIFEST_NAME)) : null;
  if (!o.overwrite) {
    for (const p of [json, html, ...(filterPath ? [filterPath] : [])])
      if ((await pathKind(p)) !== 'missing') throw new OutputExistsError(p);
  }
  const folder = await readImageFolder(o.input);
  const refFolder = o.reference ? await readImageFolder(o.reference) : null;
  const withThumbs = o.thumbnails ?? true;
  if (withThumbs) await makeDir(join(out, 'thumbs'));
  else await makeDir(out);
  const report = await assessQuality(await folderItems(folder), refFolder ? await folderItems(refFolder) : null, {
    input: o.input,
    manifest: folder.manifest,
    referenceFolder: o.reference,
    histogram: o.histogram,
    nearCopy: o.nearCopy,
    medvae: o.medvae,
    onProgress: o.onProgress,
    createdAt: o.createdAt,
    thumbnail: withThumbs
      ? async (kind, index, _item, plane) => {
          const name = `thumbs/${kind === 'images' ? 'img' : 'ref'}-${String(index).padStart(5, '0')}.png`;
          await writeChunks(join(out, name), [encodePng(thumbnailImage(plane))], { overwrite: true });
          return name;
        }
      : undefined,
  });
  const enc = new TextEncoder();
  await writeChunks(json, [enc.encode(qualityReportJson(report))], { overwrite: o.overwrite });
  await writeChunks(html, [enc.encode(renderQualityHtml(report))], { overwrite: o.overwrite });
  if (filterPath) {
    const flagged = new Set(report.images.filter((im) => im.flags.length).map((im) => im.file));
    await writeChunks(filterPath, [enc.encode(filteredManifest(folder, flagged))], { overwrite: o.overwrite });
  }
  return { report, json, html, filteredManifest: filterPath };
}
