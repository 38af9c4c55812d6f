/**
 * The manifest reader: a kill can cut only the line being appended (the last), so any cut of the last line,
 * at any byte, leaves the earlier entries and the byte length to truncate to; a bad line before the last is an
 * edit, reported with its line number.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { type ManifestEntry, formatManifestLine, parseManifest } from '../../../src/pipeline/batch/manifest.js';

const RUNS = Number(process.env.FC_RUNS ?? 50);
const enc = (s: string) => new TextEncoder().encode(s);

function entry(i: number, prompt = `prompt ${i} ≥ é`): ManifestEntry {
  return {
    file: `${i}.png`,
    sha256: i.toString(16).padStart(64, '0'),
    prompt,
    negative_prompt: '',
    seed: String(1000 + i),
    prompt_index: i,
    image_index: 0,
    steps: 2,
    guidance: 7.5,
    scheduler: 'PNDMScheduler',
    model: '/m',
    dtype: 'f32',
    width: 64,
    height: 64,
    batch_id: 'abc',
    engine: 'medgpu 0.1.0',
    time: '2025-01-01T00:00:00.000Z',
    elapsed_ms: 12,
  };
}

describe('manifest.jsonl', () => {
  it('reads whole lines back (blank lines skipped)', () => {
    const text = `${formatManifestLine(entry(0))}\n${formatManifestLine(entry(1))}`;
    const m = parseManifest(enc(text), 'm');
    expect(m.entries.map((e) => [e.entry, e.line])).toEqual([
      [entry(0), 1],
      [entry(1), 3],
    ]);
    expect(m).toMatchObject({ tornLine: null, validBytes: enc(text).length });
    expect(parseManifest(new Uint8Array(), 'm')).toEqual({ entries: [], validBytes: 0, tornLine: null });
  });

  test.prop([fc.integer({ min: 1, max: 6 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })], { numRuns: RUNS })(
    'a last line cut at any byte is reported torn; the whole lines before it are kept',
    (n, cutAt) => {
      const lines = Array.from({ length: n }, (_, i) => enc(formatManifestLine(entry(i))));
      const whole = lines.slice(0, -1).reduce((s, l) => s + l.length, 0);
      const last = lines[n - 1] as Uint8Array;
      // Any prefix of the last line including the complete line without its newline (UTF-8 may be cut mid-character).
      const keep = Math.floor(cutAt * last.length);
      const bytes = new Uint8Array(whole + keep);
      let at = 0;
      for (const l of lines.slice(0, -1)) {
        bytes.set(l, at);
        at += l.length;
      }
      bytes.set(last.subarray(0, keep), at);
      const m = parseManifest(bytes, 'm');
      expect(m.entries.map((e) => e.entry.file)).toEqual(lines.slice(0, -1).map((_, i) => `${i}.png`));
      expect(m.validBytes).toBe(whole);
      expect(m.tornLine).toBe(keep === 0 ? null : n);
    },
  );

  it('a garbage last line that ends in a newline (e.g. zeros after a crash) is torn too', () => {
    const text = `${formatManifestLine(entry(0))}\u0000\u0000\n`;
    expect(parseManifest(enc(text), 'm')).toMatchObject({ tornLine: 2, validBytes: enc(formatManifestLine(entry(0))).length });
  });

  it('a bad line before the last is an error naming it', () => {
    const bad = [
      '{"file": "x.png"}',
      'not json',
      JSON.stringify({ ...entry(5), sha256: 'abc' }),
      JSON.stringify({ ...entry(5), prompt_index: '1' }),
    ];
    for (const b of bad) {
      const text = `${formatManifestLine(entry(0))}${b}\n${formatManifestLine(entry(1))}`;
      expect(() => parseManifest(enc(text), 'dir/manifest.jsonl')).toThrow(/^dir\/manifest\.jsonl:2: .*this file was edited/);
    }
  });
});
