/**
 * Prompt files: .txt (blank and # lines skipped, CRLF and a BOM tolerated) and .jsonl (per-line overrides),
 * and every bad line a PromptFileError naming the file and its line number; properties over random prompts
 * interleaved with blank and comment lines.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { PromptFileError, parsePromptFile, promptFileFormat } from '../../../src/pipeline/batch/prompt-file.js';

const RUNS = Number(process.env.FC_RUNS ?? 50);

describe('txt prompt files', () => {
  it('keeps one trimmed prompt per line with its line number; skips blank and # lines; CRLF and BOM are fine', () => {
    const text = '\uFEFFchest x-ray\r\n# a comment\r\n\r\n   \n  left pleural effusion  \n  # indented comment\nno # comment inside\n';
    expect(parsePromptFile(text, 'p.txt', 'txt')).toEqual([
      { prompt: 'chest x-ray', line: 1 },
      { prompt: 'left pleural effusion', line: 5 },
      { prompt: 'no # comment inside', line: 7 },
    ]);
  });

  it('a file with no prompt is an error naming it', () => {
    expect(() => parsePromptFile('# only\n\n', 'p.txt', 'txt')).toThrow(/p\.txt: no prompts/);
  });

  const promptText = fc
    .string({ minLength: 1, maxLength: 30, unit: 'grapheme' })
    .map((s) => s.replace(/[\r\n]/g, ' ').trim())
    .filter((s) => s.length > 0 && !s.startsWith('#') && !s.startsWith('\uFEFF'));
  const filler = fc.constantFrom('', '   ', '# note', '  #x');
  test.prop([fc.array(fc.tuple(fc.array(filler, { maxLength: 3 }), promptText), { minLength: 1, maxLength: 20 }), fc.boolean()], {
    numRuns: RUNS,
  })('random prompts between blank/comment lines come back in order with their line numbers', (blocks, crlf) => {
    const lines: string[] = [];
    const want: { prompt: string; line: number }[] = [];
    for (const [fill, p] of blocks) {
      lines.push(...fill);
      lines.push(p);
      want.push({ prompt: p, line: lines.length });
    }
    expect(parsePromptFile(lines.join(crlf ? '\r\n' : '\n'), 'p.txt', 'txt')).toEqual(want);
  });
});

describe('jsonl prompt files', () => {
  it('reads every key; seeds as numbers or decimal strings (64-bit)', () => {
    const text = [
      '{"prompt": "a"}',
      '',
      '{"prompt": "b", "negative_prompt": "blurry", "seed": 42, "guidance": 3.5, "num_images": 4}',
      '{"prompt": "c", "seed": "18446744073709551615", "guidance": 0}',
    ].join('\n');
    expect(parsePromptFile(text, 'p.jsonl', 'jsonl')).toEqual([
      { prompt: 'a', line: 1 },
      { prompt: 'b', negativePrompt: 'blurry', seed: 42n, guidance: 3.5, numImages: 4, line: 3 },
      { prompt: 'c', seed: 18446744073709551615n, guidance: 0, line: 4 },
    ]);
  });

  const bad: [string, RegExp][] = [
    ['{"prompt": "a"', /p\.jsonl:2: not valid JSON/],
    ['["a"]', /p\.jsonl:2: each line must be a JSON object/],
    ['"a"', /p\.jsonl:2: each line must be a JSON object/],
    [
      '{"prompt": "a", "negative": "x"}',
      /p\.jsonl:2: unknown key "negative"; allowed: prompt, negative_prompt, seed, guidance, num_images/,
    ],
    ['{"negative_prompt": "x"}', /p\.jsonl:2: "prompt" must be a non-empty string/],
    ['{"prompt": "  "}', /p\.jsonl:2: "prompt" must be a non-empty string/],
    ['{"prompt": "a", "negative_prompt": 3}', /p\.jsonl:2: "negative_prompt" must be a string/],
    ['{"prompt": "a", "seed": -1}', /p\.jsonl:2: "seed" must be an integer in \[0, 2\^64\)/],
    ['{"prompt": "a", "seed": 1.5}', /"seed" must be an integer/],
    ['{"prompt": "a", "seed": 18446744073709551616}', /"seed" must be an integer.*decimal string/],
    ['{"prompt": "a", "seed": "18446744073709551616"}', /"seed" must be an integer/],
    ['{"prompt": "a", "seed": "0x10"}', /"seed" must be an integer/],
    ['{"prompt": "a", "guidance": "7"}', /"guidance" must be a number ≥ 0/],
    ['{"prompt": "a", "guidance": -1}', /"guidance" must be a number ≥ 0/],
    ['{"prompt": "a", "num_images": 0}', /"num_images" must be an integer in \[1, 100000\]/],
    ['{"prompt": "a", "num_images": 2.5}', /"num_images" must be an integer/],
  ];
  it.each(bad)('bad line %s is a PromptFileError naming the line', (line, message) => {
    const run = () => parsePromptFile(`{"prompt": "ok"}\n${line}\n`, 'p.jsonl', 'jsonl');
    expect(run).toThrow(PromptFileError);
    expect(run).toThrow(message);
    try {
      run();
    } catch (e) {
      expect((e as PromptFileError).line).toBe(2);
      expect((e as PromptFileError).code).toBe('BAD_FILE');
    }
  });

  it('a file of blank lines has no prompts', () => {
    expect(() => parsePromptFile('\n\n', 'p.jsonl', 'jsonl')).toThrow(/p\.jsonl: no prompts/);
  });
});

it('the format comes from the extension; anything else is an error', () => {
  expect(promptFileFormat('a/B.TXT')).toBe('txt');
  expect(promptFileFormat('x.jsonl')).toBe('jsonl');
  expect(() => promptFileFormat('x.json')).toThrow(/x\.json: unknown prompt file type: use \.txt .* or \.jsonl/);
});
