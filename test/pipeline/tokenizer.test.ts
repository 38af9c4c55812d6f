/**
 * The CLIP tokenizer against test/fixtures/tokenizer (HF slow CLIPTokenizer, transformers 4.44, ftfy 6.2.3):
 * all 61 rows for the SD1 tokenizer (pad <|endoftext|>) and the SD2 tokenizer (pad "!", which is also an
 * added token), attention masks, untruncated lengths, the untruncated ids and BPE tokens of prompts.json, and
 * the no-ftfy fallback. Ids must match exactly.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadClipTokenizer } from '../../src/pipeline/tokenizer/node.js';
import { i64, readSafetensors } from '../helpers/read-safetensors.js';

const fixtures = join(import.meta.dirname, '../fixtures');
interface PromptRow {
  index: number;
  prompt: string;
  untruncated_ids: number[];
  untruncated_length: number;
  truncated: boolean;
  tokens: string[];
  hf_noftfy_differs: boolean;
  noftfy_untruncated_ids: number[] | null;
}
const prompts = JSON.parse(readFileSync(join(fixtures, 'tokenizer/prompts.json'), 'utf8')) as PromptRow[];
const t = readSafetensors(join(fixtures, 'tokenizer/cases/prompts.safetensors'));
const rows = (name: string) => {
  const flat = i64(t, name);
  return prompts.map((_, i) => flat.slice(i * 77, (i + 1) * 77));
};
const sd1 = loadClipTokenizer(join(fixtures, 'pipelines/sd1/tokenizer'));
const sd2 = loadClipTokenizer(join(fixtures, 'pipelines/sd2/tokenizer'));
const sd1NoFtfy = loadClipTokenizer(join(fixtures, 'pipelines/sd1/tokenizer'), { textCleanup: 'basic' });
const cases = prompts.map((p) => [p.index, JSON.stringify(p.prompt).slice(0, 60), p] as const);

describe('CLIP tokenizer = transformers CLIPTokenizer', () => {
  it('reads the special tokens from the tokenizer folders', () => {
    expect([sd1.bosTokenId, sd1.eosTokenId, sd1.padTokenId, sd1.unkTokenId, sd1.modelMaxLength]).toEqual([49406, 49407, 49407, 49407, 77]);
    expect([sd2.padToken, sd2.padTokenId]).toEqual(['!', 0]);
    expect(prompts.length).toBe(61);
  });

  const want1 = rows('input_ids_sd1');
  const want2 = rows('input_ids_sd2');
  const mask = rows('attention_mask');
  const lengths = i64(t, 'untruncated_length');
  it.each(cases)('%i %s: SD1 ids, mask, untruncated ids and tokens', (i, _label, p) => {
    const e = sd1.encode(p.prompt);
    expect(e.inputIds).toEqual(want1[i]);
    expect(e.attentionMask).toEqual(mask[i]);
    expect(e.untruncatedLength).toBe(lengths[i]);
    expect(e.truncated).toBe(p.truncated);
    expect([sd1.bosTokenId, ...sd1.encodeIds(p.prompt), sd1.eosTokenId]).toEqual(p.untruncated_ids);
    expect(['<|startoftext|>', ...sd1.tokenize(p.prompt), '<|endoftext|>']).toEqual(p.tokens);
  });

  it.each(cases)('%i %s: SD2 ids', (i, _label, p) => {
    expect(sd2.encode(p.prompt).inputIds).toEqual(want2[i]);
  });

  const wantNoFtfy = rows('input_ids_sd1_noftfy');
  it.each(cases)('%i %s: no-ftfy fallback', (i, _label, p) => {
    expect(sd1NoFtfy.encode(p.prompt).inputIds).toEqual(wantNoFtfy[i]);
    if (p.noftfy_untruncated_ids) expect([49406, ...sd1NoFtfy.encodeIds(p.prompt), 49407]).toEqual(p.noftfy_untruncated_ids);
  });

  it('truncation keeps BOS + 75 tokens + EOS and reports the removed text', () => {
    const p76 = prompts[48]!; // 76 × "lung": one token over
    const e = sd1.encode(p76.prompt);
    expect(e.truncated).toBe(true);
    expect(e.untruncatedLength).toBe(78);
    expect(e.inputIds.length).toBe(77);
    expect(e.removedText).toBe('lung');
    expect(sd1.encode(prompts[47]!.prompt).truncated).toBe(false); // 75 × "lung": exactly 77
    // diffusers logs batch_decode(untruncated_ids[:, 76:-1]); prompt 45 is cut inside "effusions".
    const long = sd1.encode(prompts[45]!.prompt);
    expect(long.removedText).toBe(sd1.decode(prompts[45]!.untruncated_ids.slice(76, -1)));
    expect(long.removedText.startsWith('fusions are present with adjacent bibasilar atelectasis.')).toBe(true);
    // No padding, no truncation.
    expect(sd1.encode('a photo', { padding: 'none' }).inputIds).toEqual([49406, 320, 1125, 49407]);
    expect(sd1.encode(p76.prompt, { truncation: false, padding: 'none' }).inputIds.length).toBe(78);
  });

  it('keeps a literal special token whole, as transformers does', () => {
    expect(sd1.encodeIds('a <|endoftext|> b')).toEqual([320, 49407, 321]);
    expect(sd2.encodeIds('wow!')).toEqual([...sd2.encodeIds('wow'), 0]);
  });
});
