/**
 * A batch folder end to end with a stand-in renderer (a seeded 8x8 image, no GPU): a fresh run writes every
 * PNG with its manifest line and sha256; resuming skips finished images, removes a killed run's temporary
 * files, cuts a torn manifest line, regenerates missing or changed files (saying so), adopts an image renamed
 * just before a kill without making it twice, refuses files that are not its own and changed settings, takes
 * over a dead run's lock but not a live one's, and stops between images when aborted.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodePng, encodePng } from '../../../src/io/png.js';
import { BatchLockedError, LOCK_FILE } from '../../../src/pipeline/batch/folder.js';
import type { BatchJob } from '../../../src/pipeline/batch/jobs.js';
import { type ManifestEntry, formatManifestLine } from '../../../src/pipeline/batch/manifest.js';
import { writeFileAtomic } from '../../../src/pipeline/batch/node-batch-fs.js';
import { type BatchOptions, BatchOutputExistsError, prepareBatch } from '../../../src/pipeline/batch/prepare.js';
import { type BatchImage, batchPng, runBatch } from '../../../src/pipeline/batch/run.js';
import { BatchSettingsChangedError, sha256Hex } from '../../../src/pipeline/batch/settings.js';

const root = mkdtempSync(join(tmpdir(), 'medgpu-batch-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
/** A fresh output folder and prompt file (3 prompts; the second makes 3 images: 7 images in all with 2 per prompt). */
function setup(): { dir: string; o: BatchOptions } {
  const dir = join(root, `out${n++}`);
  const prompts = join(root, `p${n}.jsonl`);
  writeFileSync(
    prompts,
    '{"prompt": "chest x-ray"}\n{"prompt": "effusion", "num_images": 3, "guidance": 2}\n{"prompt": "nodule", "seed": 9}\n',
  );
  return { dir, o: { dir, promptsFile: prompts, model: '/models/sd', steps: 2, baseSeed: 5n, numImagesPerPrompt: 2 } };
}

/** A renderer whose image is a function of the job's seed; counts its calls. */
function fakeRenderer() {
  const calls: string[] = [];
  const render = async (job: BatchJob): Promise<BatchImage> => {
    calls.push(job.file);
    let s = Number(job.seed % 2147483647n) || 1;
    const image = new Float32Array(8 * 8 * 3).map(() => {
      s = (s * 48271) % 2147483647;
      return s / 2147483647;
    });
    return { image, width: 8, height: 8, scheduler: 'FakeScheduler' };
  };
  return { render, calls };
}

function manifest(dir: string): ManifestEntry[] {
  return readFileSync(join(dir, 'manifest.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ManifestEntry);
}

/** The folder is complete: one manifest line per job, each file present with its sha256, no temp or stray files. */
async function expectComplete(dir: string, jobs: readonly BatchJob[]): Promise<void> {
  const m = manifest(dir);
  expect(m.map((e) => e.file).sort()).toEqual(jobs.map((j) => j.file).sort());
  for (const e of m) expect(await sha256Hex(readFileSync(join(dir, e.file)))).toBe(e.sha256);
  expect(readdirSync(dir).sort()).toEqual([...jobs.map((j) => j.file), 'batch.json', 'manifest.jsonl'].sort());
}

async function runAll(o: BatchOptions, render = fakeRenderer().render, signal?: AbortSignal) {
  const b = await prepareBatch(o);
  try {
    return { batch: b, result: await runBatch(b, render, { signal }) };
  } finally {
    await b.release();
  }
}

describe('batch folder', () => {
  it('a fresh run writes every image, its manifest line (settings, seed, sha256, time) and batch.json', async () => {
    const { dir, o } = setup();
    const { batch, result } = await runAll(o);
    expect(result).toEqual({ generated: 7, done: 7, total: 7, stopped: false });
    expect(batch.resumed).toBe(false);
    await expectComplete(dir, batch.jobs);
    const [first] = manifest(dir);
    expect(first).toMatchObject({
      file: batch.jobs[0]?.file,
      prompt: 'chest x-ray',
      seed: String(batch.jobs[0]?.seed),
      prompt_index: 0,
      image_index: 0,
      steps: 2,
      guidance: 7.5,
      scheduler: 'FakeScheduler',
      model: '/models/sd',
      dtype: 'f32',
      width: 8,
      height: 8,
      batch_id: batch.record.id,
      engine: 'medgpu 0.1.0',
    });
    expect(typeof first?.elapsed_ms).toBe('number');
    expect(Number.isNaN(Date.parse(first?.time ?? ''))).toBe(false);
    expect(manifest(dir).map((e) => [e.prompt_index, e.image_index, e.guidance, e.seed])).toEqual([
      [0, 0, 7.5, String(batch.jobs[0]?.seed)],
      [0, 1, 7.5, String(batch.jobs[1]?.seed)],
      [1, 0, 2, String(batch.jobs[2]?.seed)],
      [1, 1, 2, String(batch.jobs[3]?.seed)],
      [1, 2, 2, String(batch.jobs[4]?.seed)],
      [2, 0, 7.5, '9'],
      [2, 1, 7.5, '10'],
    ]);
    const png = decodePng(readFileSync(join(dir, batch.jobs[2]?.file as string)), 'png');
    expect(png.text).toMatchObject({
      prompt: 'effusion',
      seed: String(batch.jobs[2]?.seed),
      batch_id: batch.record.id,
      prompt_index: '1',
      image_index: '0',
    });
    expect(JSON.parse(readFileSync(join(dir, 'batch.json'), 'utf8'))).toMatchObject({
      id: batch.record.id,
      settings: { baseSeed: '5', steps: 2 },
    });
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('a re-run makes nothing; without --seed it reuses the recorded base seed', async () => {
    const { dir, o } = setup();
    await runAll(o);
    const before = readFileSync(join(dir, 'manifest.jsonl'));
    const f = fakeRenderer();
    const { batch, result } = await runAll({ ...o, baseSeed: undefined }, f.render);
    expect(batch.resumed).toBe(true);
    expect(result).toEqual({ generated: 0, done: 7, total: 7, stopped: false });
    expect(f.calls).toEqual([]);
    expect(readFileSync(join(dir, 'manifest.jsonl'))).toEqual(before);
  });

  it('an abort stops between images; the next run makes exactly the rest, with the same bytes as one run', async () => {
    const { dir, o } = setup();
    const ac = new AbortController();
    const f = fakeRenderer();
    const render = async (job: BatchJob) => {
      if (f.calls.length === 2) ac.abort();
      return f.render(job);
    };
    const first = await runAll(o, render, ac.signal);
    expect(first.result).toEqual({ generated: 3, done: 3, total: 7, stopped: true });
    const g = fakeRenderer();
    const second = await runAll(o, g.render);
    expect(second.result).toEqual({ generated: 4, done: 7, total: 7, stopped: false });
    expect(g.calls).toEqual(first.batch.jobs.slice(3).map((j) => j.file));
    await expectComplete(dir, second.batch.jobs);
    const { dir: dir2, o: o2 } = setup();
    await runAll({ ...o2, promptsFile: o.promptsFile });
    for (const j of second.batch.jobs) expect(readFileSync(join(dir, j.file))).toEqual(readFileSync(join(dir2, j.file)));
  });

  it('a renderer cancelled mid-image (it throws after the abort) stops the run without that image', async () => {
    const { dir, o } = setup();
    const ac = new AbortController();
    const f = fakeRenderer();
    const render = async (job: BatchJob) => {
      if (f.calls.length === 2) {
        ac.abort();
        throw new Error('generation was cancelled at step 3');
      }
      return f.render(job);
    };
    const first = await runAll(o, render, ac.signal);
    expect(first.result).toEqual({ generated: 2, done: 2, total: 7, stopped: true });
    expect(manifest(dir).length).toBe(2);
    const { result, batch } = await runAll(o);
    expect(result).toEqual({ generated: 5, done: 7, total: 7, stopped: false });
    await expectComplete(dir, batch.jobs);
  });

  it('cleans up after a kill: stale temp files, a torn manifest line; adopts an image renamed before its line', async () => {
    const { dir, o } = setup();
    const ac = new AbortController();
    const f = fakeRenderer();
    const stopAfterTwo = async (job: BatchJob) => {
      if (f.calls.length === 1) ac.abort();
      return f.render(job);
    };
    await runAll(o, stopAfterTwo, ac.signal);
    const b = await prepareBatch(o);
    const jobs = b.jobs;
    await b.release();
    // A kill after job 2's rename but before its manifest line, during job 3's temp write, and mid-append of a line.
    const img2 = batchPng(await fakeRenderer().render(jobs[2] as BatchJob), jobs[2] as BatchJob, b.record);
    await writeFileAtomic(join(dir, jobs[2]?.file as string), img2);
    writeFileSync(join(dir, `${jobs[3]?.file}.tmp-999999999`), img2.subarray(0, 100));
    const torn = formatManifestLine({ ...manifest(dir)[0], file: 'x' } as ManifestEntry).slice(0, 40);
    writeFileSync(join(dir, 'manifest.jsonl'), readFileSync(join(dir, 'manifest.jsonl'), 'utf8') + torn);
    const g = fakeRenderer();
    const { batch, result } = await runAll(o, g.render);
    expect(batch.notes).toEqual([
      `removed ${jobs[3]?.file}.tmp-999999999, a partial file left by an interrupted run`,
      'cut the last manifest line (3), which an interrupted run left incomplete',
      `${jobs[2]?.file} was written by an interrupted run just before its manifest line: verified and added`,
    ]);
    expect(g.calls).toEqual(jobs.slice(3).map((j) => j.file));
    expect(result).toMatchObject({ generated: 4, done: 7 });
    await expectComplete(dir, jobs);
    const adopted = manifest(dir).find((e) => e.file === jobs[2]?.file);
    expect(adopted).toMatchObject({ elapsed_ms: null, sha256: await sha256Hex(img2), scheduler: 'FakeScheduler', width: 8 });
  });

  it('regenerates a missing or changed file, says so, and keeps one manifest line per image', async () => {
    const { dir, o } = setup();
    const { batch } = await runAll(o);
    const [a, b] = [batch.jobs[1]?.file as string, batch.jobs[4]?.file as string];
    const original = readFileSync(join(dir, b));
    rmSync(join(dir, a));
    writeFileSync(join(dir, b), encodePng({ width: 1, height: 1, channels: 1, bitDepth: 8, data: new Uint8Array(1) }));
    const f = fakeRenderer();
    const again = await runAll(o, f.render);
    expect(again.batch.notes).toEqual([
      `${a} is in the manifest but missing: generating it again`,
      `${b} does not match its manifest sha256 (changed since it was written): generating it again`,
    ]);
    expect(f.calls).toEqual([a, b]);
    await expectComplete(dir, batch.jobs);
    expect(readFileSync(join(dir, b))).toEqual(original);
  });

  it('refuses to overwrite a file it did not write (unless overwrite), before generating anything', async () => {
    const { dir, o } = setup();
    const b = await prepareBatch(o);
    await b.release();
    const target = join(dir, b.jobs[3]?.file as string);
    writeFileSync(target, 'not ours');
    writeFileSync(join(dir, 'unrelated.png'), 'fine');
    const f = fakeRenderer();
    await expect(runAll(o, f.render)).rejects.toThrow(BatchOutputExistsError);
    await expect(runAll(o, f.render)).rejects.toThrow(
      /1 file\(s\) at names this batch writes, which are not in its manifest: .*-effusion-.*\.png\. Refusing to overwrite/,
    );
    expect(f.calls).toEqual([]);
    expect(readFileSync(target, 'utf8')).toBe('not ours');
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    const { result } = await runAll({ ...o, overwrite: true }, f.render);
    expect(result.generated).toBe(7);
    expect(readFileSync(join(dir, 'unrelated.png'), 'utf8')).toBe('fine');
  });

  it('refuses to resume with other settings, naming each change', async () => {
    const { dir, o } = setup();
    await runAll(o);
    const changed = runAll({ ...o, steps: 3, model: '/models/other', baseSeed: 6n, width: 64 });
    await expect(changed).rejects.toThrow(BatchSettingsChangedError);
    await expect(runAll({ ...o, steps: 3, model: '/models/other', baseSeed: 6n, width: 64 })).rejects.toThrow(
      `${dir} holds a batch made with other settings (model (--model) "/models/sd" → "/models/other"; steps (--steps) 2 → 3; width (--width) null → 64; base seed (--seed) "5" → "6"); resuming would mix two datasets. Use another --out folder`,
    );
    writeFileSync(o.promptsFile, `${readFileSync(o.promptsFile, 'utf8')}{"prompt": "new"}\n`);
    await expect(runAll(o)).rejects.toThrow(
      /prompt file contents \(sha256\) "?[0-9a-f]{12}…"? → "?[0-9a-f]{12}…"?; number of prompts 3 → 4/,
    );
  });

  it('a manifest without batch.json is not a batch folder', async () => {
    const { dir, o } = setup();
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir);
    writeFileSync(join(dir, 'manifest.jsonl'), '');
    await expect(runAll(o)).rejects.toThrow(/manifest\.jsonl exists but .*batch\.json does not/);
  });

  it("takes over a dead run's lock, and refuses a live one's", async () => {
    const { dir, o } = setup();
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir);
    writeFileSync(join(dir, LOCK_FILE), '999999999\n');
    expect((await runAll(o)).result.generated).toBe(7);
    writeFileSync(join(dir, LOCK_FILE), `${process.ppid}\n`);
    await expect(runAll(o)).rejects.toThrow(BatchLockedError);
    await expect(runAll(o)).rejects.toThrow(`is being written by another medgpu batch (process ${process.ppid})`);
    rmSync(join(dir, LOCK_FILE));
  });

  it('a renderer failure keeps the images finished before it', async () => {
    const { dir, o } = setup();
    const f = fakeRenderer();
    const failing = async (job: BatchJob) => {
      if (f.calls.length === 4) throw new Error('device lost');
      return f.render(job);
    };
    await expect(runAll(o, failing)).rejects.toThrow('device lost');
    expect(manifest(dir).length).toBe(4);
    const { result, batch } = await runAll(o);
    expect(result.generated).toBe(3);
    await expectComplete(dir, batch.jobs);
  });
});

it('writeFileAtomic replaces the target in one step and leaves no temporary file', async () => {
  const dir = mkdtempSync(join(root, 'atomic-'));
  const p = join(dir, 'f.bin');
  await writeFileAtomic(p, new Uint8Array([1, 2, 3]));
  await writeFileAtomic(p, 'text');
  expect(readFileSync(p, 'utf8')).toBe('text');
  expect(readdirSync(dir)).toEqual(['f.bin']);
  await expect(writeFileAtomic(join(dir, 'missing', 'f'), 'x')).rejects.toThrow(/ENOENT/);
  expect(readdirSync(dir)).toEqual(['f.bin']);
});
