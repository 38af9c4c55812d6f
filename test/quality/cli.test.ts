/**
 * `medgpu quality` end to end on a small generated folder (64×64 RGB PNGs as `medgpu generate` writes them, a
 * manifest.jsonl with sha256, and a reference folder of 6 gray "radiographs"): planted problems — a blank image,
 * a saturated one, a copy of a real image, a file whose checksum does not match — are flagged with exactly their
 * reason and nothing else is; the near-duplicate prompt is less diverse than the varied one; quality.json,
 * index.html (prompt text escaped, thumbnails present) and the filtered manifest (the passing lines, verbatim)
 * are written; an existing report is not replaced without --overwrite; a folder without manifest takes prompts
 * from the PNG text chunks. The CLI itself runs once as a process (argument parsing, exit code, --json).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Image } from '../../src/io/image.js';
import { encodePng } from '../../src/io/png.js';
import type { Plane } from '../../src/quality/plane.js';
import type { QualityReport } from '../../src/quality/report.js';
import { runQuality } from '../../src/quality/run.js';
import { constantPlane, noiseOf, plus, xrayLike } from './planes.js';

const root = mkdtempSync(join(tmpdir(), 'medgpu-quality-'));
const gen = join(root, 'generated');
const real = join(root, 'real');
const VARIED = 'varied chest x-ray';
const SAME = 'nearly the same <script>alert("x")</script> & \'quoted\'';

/** An RGB PNG (three equal channels, like a Stable Diffusion radiograph) with optional tEXt metadata. */
function png(p: Plane, text?: Record<string, string>): Uint8Array {
  const data = new Uint8Array(p.width * p.height * 3);
  for (let i = 0; i < p.data.length; i++) data.fill(Math.round((p.data[i] as number) * 255), 3 * i, 3 * i + 3);
  const img: Image = { width: p.width, height: p.height, channels: 3, bitDepth: 8, data };
  return encodePng(img, { text });
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

interface Planted {
  file: string;
  prompt: string;
  seed: number;
  plane: Plane;
  badSha?: boolean;
}

const realPlanes = Array.from({ length: 6 }, (_, i) => xrayLike(100 + i, 64, 64));
const samePlane = xrayLike(900, 64, 64);
const saturated = () => {
  const p = xrayLike(41, 64, 64);
  return { ...p, data: p.data.map((v, i) => (i % 10 < 7 ? (i % 2 ? 1 : 0) : v)) };
};
const planted: Planted[] = [
  ...[0, 1, 2].map((i) => ({ file: `varied-${i}.png`, prompt: VARIED, seed: i, plane: xrayLike(300 + i, 64, 64) })),
  ...[0, 1, 2].map((i) => ({ file: `same-${i}.png`, prompt: SAME, seed: i, plane: plus(samePlane, noiseOf(64, 64, i), 0.02) })),
  { file: 'blank.png', prompt: 'odd', seed: 1, plane: constantPlane(64, 64, 0.5) },
  { file: 'saturated.png', prompt: 'odd', seed: 2, plane: saturated() },
  { file: 'copy.png', prompt: 'odd', seed: 3, plane: realPlanes[2] as Plane },
  { file: 'tampered.png', prompt: 'odd', seed: 4, plane: xrayLike(310, 64, 64), badSha: true },
];
const expectedFlags: Record<string, string[]> = {
  'blank.png': ['blank', 'low-contrast', 'out-of-distribution'],
  'saturated.png': ['saturated', 'out-of-distribution'],
  'copy.png': ['near-copy'],
  'tampered.png': ['checksum-mismatch'],
};
const manifestLines: string[] = [];

beforeAll(() => {
  mkdirSync(gen);
  mkdirSync(real);
  for (const [i, p] of realPlanes.entries()) writeFileSync(join(real, `real-${i}.png`), png(p));
  for (const p of planted) {
    const bytes = png(p.plane, { prompt: p.prompt, seed: String(p.seed) });
    writeFileSync(join(gen, p.file), bytes);
    const line = JSON.stringify({ file: p.file, prompt: p.prompt, seed: p.seed, sha256: p.badSha ? sha(new Uint8Array(1)) : sha(bytes) });
    manifestLines.push(line);
  }
  writeFileSync(join(gen, 'manifest.jsonl'), `${manifestLines.join('\n')}\n`);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('runQuality on a generated folder with a reference folder', () => {
  let report: QualityReport;

  test('flags exactly the planted problems, each with its reason', async () => {
    const r = await runQuality({ input: gen, reference: real, filter: true });
    report = r.report;
    const flags = Object.fromEntries(
      report.images.filter((im) => im.flags.length).map((im) => [im.file, im.flags.map((f) => f.flag).sort()]),
    );
    expect(flags).toEqual(Object.fromEntries(Object.entries(expectedFlags).map(([k, v]) => [k, [...v].sort()])));
    expect(report.summary).toMatchObject({ images: 10, flagged: 4, prompts: 3 });
    expect(report.images.find((im) => im.file === 'copy.png')?.nearestBySsim).toEqual({ file: 'real-2.png', ssim: expect.closeTo(1, 6) });
    expect(report.reference?.images).toBe(6);
    expect(report.manifest).toBe(join(gen, 'manifest.jsonl'));
  });

  test('diversity: the near-duplicate prompt has a higher mean MS-SSIM than the varied one (3 images, 3 pairs each)', () => {
    const by = (p: string) => report.prompts.find((x) => x.prompt === p)?.diversity;
    expect(by(SAME)).toMatchObject({ images: 3, pairs: 3, scales: 3, width: 64, height: 64 });
    expect(by(SAME)?.meanMsSsim).toBeGreaterThan(0.9);
    expect(by(VARIED)?.meanMsSsim).toBeLessThan((by(SAME)?.meanMsSsim as number) - 0.2);
  });

  test('quality.json, index.html (escaped prompt, thumbnails) and the filtered manifest are written', () => {
    const out = join(gen, 'quality');
    const json = JSON.parse(readFileSync(join(out, 'quality.json'), 'utf8')) as QualityReport;
    expect(json.format).toBe('medgpu-quality-report');
    expect(json.images.map((im) => im.file)).toEqual(planted.map((p) => p.file));
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    expect(html).toContain('nearly the same &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;');
    expect(html).not.toContain('<script>');
    expect(html).toMatch(/Flagged images \(4\)/);
    const thumbs = readdirSync(join(out, 'thumbs'));
    expect(thumbs.filter((t) => t.startsWith('img-'))).toHaveLength(10);
    expect(thumbs.filter((t) => t.startsWith('ref-'))).toHaveLength(6);
    for (const im of json.images) expect(html).toContain(`src="${im.thumbnail}"`);
    const filtered = readFileSync(join(gen, 'manifest.filtered.jsonl'), 'utf8');
    const passing = planted.map((p, i) => (expectedFlags[p.file] ? null : manifestLines[i])).filter((l) => l !== null);
    expect(filtered).toBe(`${passing.join('\n')}\n`);
  });

  test('an existing report is not replaced without overwrite; with it, it is', async () => {
    await expect(runQuality({ input: gen, reference: real })).rejects.toThrow(/quality\.json already exists; refusing to overwrite/);
    await expect(runQuality({ input: gen, filter: true, out: join(root, 'other') })).rejects.toThrow(
      /manifest\.filtered\.jsonl already exists/,
    );
    const r = await runQuality({ input: gen, overwrite: true, createdAt: 'fixed' });
    expect(r.report.createdAt).toBe('fixed');
    // Without a reference: no near-copy / OOD checks, the other flags stay.
    expect(r.report.images.find((im) => im.file === 'copy.png')?.flags).toEqual([]);
    expect(r.report.reference).toBeNull();
  });

  test('without a manifest, every image in the folder, with prompt and seed from the PNG text', async () => {
    const bare = join(root, 'bare');
    mkdirSync(bare);
    for (const p of planted.slice(0, 6)) writeFileSync(join(bare, p.file), readFileSync(join(gen, p.file)));
    const r = await runQuality({ input: bare, filter: true });
    expect(r.report.manifest).toBeNull();
    expect(r.report.prompts.map((p) => [p.prompt, p.files.length])).toEqual([
      [SAME, 3],
      [VARIED, 3],
    ]);
    const lines = readFileSync(join(bare, 'manifest.filtered.jsonl'), 'utf8').trim().split('\n');
    expect(JSON.parse(lines[0] as string)).toEqual({ file: 'same-0.png', prompt: SAME, seed: '0' });
  });

  test('bad inputs: a manifest line without "file", a listed file that is missing, an empty folder', async () => {
    const bad = join(root, 'bad');
    mkdirSync(bad);
    await expect(runQuality({ input: bad })).rejects.toThrow(/holds no PNG or JPEG images/);
    writeFileSync(join(bad, 'manifest.jsonl'), '{"file": "a.png"}\n');
    await expect(runQuality({ input: bad })).rejects.toThrow(
      /manifest\.jsonl lists a\.png, which is not in .*; remove the line or restore the file/,
    );
    writeFileSync(join(bad, 'a.png'), png(xrayLike(1, 32, 32)));
    writeFileSync(join(bad, 'manifest.jsonl'), '{"file": "a.png"}\n{"prompt": "x"}\n');
    await expect(runQuality({ input: bad })).rejects.toThrow(/manifest\.jsonl:2: each line must be a JSON object with a "file" string/);
    writeFileSync(join(bad, 'manifest.jsonl'), '{"file": "../a.png"}\n');
    await expect(runQuality({ input: bad })).rejects.toThrow(
      /manifest\.jsonl:1: "file" "\.\.\/a\.png" must be a relative path inside the folder/,
    );
  });
});

describe('the medgpu quality command', () => {
  test('--json prints the report; exit code 2 and the FILE_EXISTS message when the report exists', async () => {
    const run = promisify(execFile);
    const cli = join(import.meta.dirname, '../../src/cli/main.ts');
    const tsx = join(import.meta.dirname, '../../node_modules/.bin/tsx');
    const out = join(root, 'cli-report');
    const { stdout } = await run(tsx, [cli, 'quality', gen, '--reference', real, '--out', out, '--json', '--near-copy-ssim', '0.99']);
    const r = JSON.parse(stdout) as QualityReport;
    expect(r.settings.nearCopy.ssimThreshold).toBe(0.99);
    expect(r.summary.byFlag['near-copy']).toBe(1);
    expect(existsSync(join(out, 'index.html'))).toBe(true);
    const again = await run(tsx, [cli, 'quality', gen, '--out', out]).catch((e: { code: number; stderr: string }) => e);
    expect((again as { code: number }).code).toBe(2);
    expect((again as { stderr: string }).stderr).toMatch(/quality\.json already exists; refusing to overwrite it .*\[FILE_EXISTS\]/);
  }, 60_000);
});
