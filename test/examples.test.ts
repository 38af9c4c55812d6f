/**
 * The README's API example cannot rot: README.md shows examples/api.ts (bar its first comment line, importing
 * from 'medgpu' instead of the source), `npm run typecheck` checks the file, and this test runs it on the
 * bundled tiny models and checks what it prints.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';

const root = join(import.meta.dirname, '..');
const example = readFileSync(join(root, 'examples/api.ts'), 'utf8');

describe('examples/api.ts (the README API example)', () => {
  test('README.md shows it, importing from medgpu', () => {
    const body = example.split('\n').slice(1).join('\n').replace("from '../src/index.js'", "from 'medgpu'").trimEnd();
    expect(body).toContain("from 'medgpu'");
    expect(readFileSync(join(root, 'README.md'), 'utf8')).toContain(`\`\`\`ts\n${body}\n\`\`\``);
  });

  test('runs: a 64×64 image from the tiny pipeline, a 32³ CT through a 8³ latent back to 32³', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'examples/api.ts'], { cwd: root });
    expect(stdout).toContain('1 image 64×64');
    expect(stdout).toContain('CT 32×32×32 → latent 8×8×8 → reconstruction 32×32×32');
  }, 120_000);
});
