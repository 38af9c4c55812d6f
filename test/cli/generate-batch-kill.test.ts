/**
 * The kill test of `medgpu generate --prompts`: a 52-image batch on the bundled tiny pipeline is SIGKILLed at
 * random moments (one during start-up, the others mid-generation after a random number of images and a random
 * delay), checked after every kill (each manifest line names a whole file with its sha256, no image reported
 * done is missing), then finished. The folder must hold exactly one manifest line and one PNG per image, every
 * hash matching, no temporary file or lock left, and images identical to those of an uninterrupted run of a
 * subset of the prompts (and to a single-prompt `generate --seed` of one of them). Before the last run, a
 * Ctrl-C (SIGINT) must stop cleanly after the current image, and a SIGTERM at the next denoising step without
 * recording the image in progress.
 *
 * Each child is a fresh process: they share a private shader cache that starts empty, so the first one pays
 * the cold kernel compilation as CI does and the later ones reuse it, as on a user's machine. The kill
 * schedule comes from KILL_SEED (random by default; it is in every failure message).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { decodePng } from '../../src/io/png.js';

const repo = join(import.meta.dirname, '../..');
const root = mkdtempSync(join(tmpdir(), 'medgpu-kill-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const KILL_SEED = Number(process.env.KILL_SEED ?? Math.floor(Math.random() * 2 ** 31));
/** mulberry32: the kill schedule's random numbers in [0, 1). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
const random = rng(KILL_SEED);
const why = `KILL_SEED=${KILL_SEED}`;

// 13 prompts x 4 images = 52 images; some lines carry their own seed, guidance or negative prompt.
const PROMPTS = [
  '{"prompt": "chest x-ray, no findings"}',
  '{"prompt": "left pleural effusion", "negative_prompt": "blurry"}',
  '{"prompt": "right upper lobe nodule", "seed": 1234}',
  '{"prompt": "cardiomegaly", "guidance": 1}',
  '{"prompt": "pneumothorax"}',
  '{"prompt": "bilateral infiltrates", "guidance": 3}',
  '{"prompt": "atelectasis"}',
  '{"prompt": "hiatal hernia"}',
  '{"prompt": "rib fracture", "seed": "4294967296"}',
  '{"prompt": "pulmonary edema"}',
  '{"prompt": "consolidation"}',
  '{"prompt": "emphysema"}',
  '{"prompt": "lung mass ≥ 3 cm"}',
];
const PER_PROMPT = 4;
const TOTAL = PROMPTS.length * PER_PROMPT;

const env: NodeJS.ProcessEnv = { ...process.env, MESA_SHADER_CACHE_DIR: join(root, 'shader-cache'), NO_COLOR: '1' };
delete env.MESA_SHADER_CACHE_DISABLE;

function args(prompts: string, out: string): string[] {
  return [
    '--prompts',
    prompts,
    '--num-images-per-prompt',
    String(PER_PROMPT),
    '--steps',
    '2',
    '--seed',
    '3',
    '--width',
    '32',
    '--height',
    '32',
    '--out',
    out,
  ];
}

/** A child `medgpu generate`, with its output lines as they come. */
class Child {
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly proc: ChildProcess;
  private waiters: (() => void)[] = [];

  constructor(cliArgs: string[]) {
    this.proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'generate', ...cliArgs], { cwd: repo, env });
    const onData = (buf: Buffer) => {
      this.lines.push(...buf.toString().split('\n').filter(Boolean));
      for (const w of this.waiters) w();
    };
    this.proc.stdout?.on('data', onData);
    this.proc.stderr?.on('data', onData);
    this.exited = new Promise((resolve) => this.proc.on('close', (code, signal) => resolve({ code, signal })));
    this.exited.then(() => {
      for (const w of this.waiters) w();
    });
  }

  /** Images this run reported finished (`[k/N] file ...` lines). */
  reported(): string[] {
    return this.lines.flatMap((l) => /^\[\d+\/\d+\] (\S+\.png) /.exec(l)?.[1] ?? []);
  }

  /** Resolves when `ready()` holds or the child has exited (false then). */
  async until(ready: () => boolean): Promise<boolean> {
    let exited = false;
    this.exited.then(() => {
      exited = true;
    });
    while (!ready()) {
      if (exited) return false;
      await new Promise<void>((r) => this.waiters.push(r));
      this.waiters = [];
    }
    return true;
  }

  signal(sig: NodeJS.Signals): void {
    this.proc.kill(sig);
  }
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function manifestLines(dir: string): { file: string; sha256: string; seed: string; prompt_index: number; image_index: number }[] {
  let text: string;
  try {
    text = readFileSync(join(dir, 'manifest.jsonl'), 'utf8');
  } catch {
    return [];
  }
  // The last piece is '' after a final newline, or the line a kill cut while it was appended (the next run cuts it off).
  return text
    .split('\n')
    .slice(0, -1)
    .map((l) => JSON.parse(l));
}

/** Every manifest line names a whole file with its hash, once. */
function expectConsistent(dir: string, when: string): string[] {
  const m = manifestLines(dir);
  const files = m.map((e) => e.file);
  expect(new Set(files).size, `${why}: duplicate manifest lines ${when}`).toBe(files.length);
  for (const e of m) expect(sha256(readFileSync(join(dir, e.file))), `${why}: ${e.file} ${when}`).toBe(e.sha256);
  return files;
}

it(`a ${TOTAL}-image batch survives SIGKILLs at random moments and resumes to a complete, verified folder`, {
  timeout: 300_000,
}, async () => {
  const prompts = join(root, 'prompts.jsonl');
  writeFileSync(prompts, `${PROMPTS.join('\n')}\n`);
  const out = join(root, 'out');
  const t0 = Date.now();
  let perImageMs = 400;
  const log: string[] = [];

  // Kill 1 at a random moment of start-up (loading, the cold kernel compilation, or the first images).
  // Kills 2-4 after the run has made a random number (0-3) of images, at a random point of the next one.
  for (let k = 0; k < 4; k++) {
    const child = new Child(args(prompts, out));
    let generating = false;
    if (k === 0) {
      await Promise.race([sleep(300 + random() * 3000), child.exited]);
    } else {
      const after = Math.floor(random() * 4);
      generating = await child.until(() => child.lines.some((l) => l.startsWith('loaded ')) && child.reported().length >= after);
      const ms = Math.round(random() * perImageMs * 1.2);
      await Promise.race([sleep(ms), child.exited]);
      log.push(`kill ${k}: ${ms} ms after image ${after}`);
    }
    child.signal('SIGKILL');
    const { signal } = await child.exited;
    expect(signal, `${why}: run ${k} ended before it was killed:\n${child.lines.join('\n')}`).toBe('SIGKILL');
    if (k > 0) expect(generating, `${why}: run ${k} was killed before generating:\n${child.lines.join('\n')}`).toBe(true);
    const recorded = expectConsistent(out, `after kill ${k}`);
    for (const f of child.reported()) expect(recorded, `${why}: ${f} was reported done but is not in the manifest`).toContain(f);
    // The next kill's delay comes from this run's image times without its first image, which also loads and
    // compiles kernels (a cold first image once made the delay outlast a whole 50-image run); capped so a
    // freak slow image cannot do the same.
    const times = child.lines
      .flatMap((l) => /in (\d+\.\d+) s \|/.exec(l)?.[1] ?? [])
      .map(Number)
      .slice(1);
    if (times.length) perImageMs = Math.min(1500, 1000 * (times.sort((a, b) => a - b)[(times.length - 1) >> 1] as number));
  }

  /**
   * A run that gets `sig` once it has made an image: it exits with `code`, says `said`, and leaves the folder
   * consistent, with every image it reported recorded and nothing beside the recorded images but the batch
   * files (no temporary file, no lock).
   */
  const stopAfterOneImage = async (sig: NodeJS.Signals, code: number, said: RegExp[], when: string) => {
    const child = new Child(args(prompts, out));
    await child.until(() => child.reported().length >= 1);
    child.signal(sig);
    const stop = await child.exited;
    const text = child.lines.join('\n');
    expect(stop, `${why}:\n${text}`).toEqual({ code, signal: null });
    for (const re of said) expect(text).toMatch(re);
    const recorded = expectConsistent(out, when);
    for (const f of child.reported()) expect(recorded).toContain(f);
    expect(
      readdirSync(out)
        .filter((f) => !recorded.includes(f))
        .sort(),
    ).toEqual(['batch.json', 'manifest.jsonl']);
  };
  // Ctrl-C (SIGINT) finishes the image in progress, records it, releases the folder and exits with 130.
  await stopAfterOneImage(
    'SIGINT',
    130,
    [
      /interrupted: finishing the current image, then stopping/,
      /stopped after \d+ new images \(\d+\/52 done\); run the same command again to resume/,
    ],
    'after Ctrl-C',
  );
  // SIGTERM (a scheduler's or `timeout`'s stop) cancels the image in progress at its next step, records
  // nothing half-made, releases the folder and exits with 143.
  await stopAfterOneImage('SIGTERM', 143, [/terminated: stopping at the next step/], 'after SIGTERM');

  const last = new Child(args(prompts, out));
  const end = await last.exited;
  expect(end, `${why}:\n${log.join('\n')}\n${last.lines.join('\n')}`).toEqual({ code: 0, signal: null });
  const files = expectConsistent(out, 'at the end');
  expect(files.length).toBe(TOTAL);
  const m = manifestLines(out);
  expect(new Set(m.map((e) => `${e.prompt_index}/${e.image_index}`)).size).toBe(TOTAL);
  expect(Math.max(...m.map((e) => e.prompt_index))).toBe(PROMPTS.length - 1);
  expect(Math.max(...m.map((e) => e.image_index))).toBe(PER_PROMPT - 1);
  expect(readdirSync(out).sort(), `${why}: temp files, a lock or stray PNGs are left`).toEqual(
    [...files, 'batch.json', 'manifest.jsonl'].sort(),
  );
  const t1 = Date.now();

  // An uninterrupted run of the first three prompts makes the same images (same names, pixels, seeds).
  const subsetPrompts = join(root, 'subset.jsonl');
  writeFileSync(subsetPrompts, `${PROMPTS.slice(0, 3).join('\n')}\n`);
  const subsetOut = join(root, 'subset');
  const subset = new Child(args(subsetPrompts, subsetOut));
  expect((await subset.exited).code, subset.lines.join('\n')).toBe(0);
  const subsetFiles = manifestLines(subsetOut).map((e) => e.file);
  expect(subsetFiles.length).toBe(3 * PER_PROMPT);
  for (const f of subsetFiles) {
    const a = decodePng(readFileSync(join(out, f)), f);
    const b = decodePng(readFileSync(join(subsetOut, f)), f);
    expect(Buffer.from(a.data).equals(Buffer.from(b.data)), `${why}: ${f} differs from the uninterrupted run`).toBe(true);
    expect({ ...a.text, batch_id: '' }).toEqual({ ...b.text, batch_id: '' });
  }

  // One image of the batch is `medgpu generate -p <prompt> --seed <its seed>` (same settings).
  const one = m.find((e) => e.prompt_index === 1 && e.image_index === 2);
  if (!one) throw new Error('image 1/2 is missing');
  const single = join(root, 'single');
  const seed = one.seed;
  const s = new Child([
    '-p',
    'left pleural effusion',
    '-n',
    'blurry',
    '--seed',
    seed,
    '--steps',
    '2',
    '--width',
    '32',
    '--height',
    '32',
    '--out',
    single,
  ]);
  expect((await s.exited).code, s.lines.join('\n')).toBe(0);
  const [singleFile] = readdirSync(single);
  const a = decodePng(readFileSync(join(out, one.file)), one.file);
  const b = decodePng(readFileSync(join(single, singleFile as string)), 'single');
  expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
  console.log(
    `kill test (${why}): ${((t1 - t0) / 1000).toFixed(1)} s for the killed and resumed batch, ${((Date.now() - t1) / 1000).toFixed(1)} s for the checks; ${log.join('; ')}`,
  );
});
