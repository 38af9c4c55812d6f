/** Reads a hub-layout tokenizer folder (vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json) in Node. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileFormatError } from '../../runtime/errors.js';
import { ClipTokenizer, type ClipTokenizerOptions } from './clip-tokenizer.js';

function readJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new FileFormatError('BAD_FILE', `${path}: not readable JSON (${(e as Error).message})`, { cause: e });
  }
}

export function loadClipTokenizer(dir: string, options: ClipTokenizerOptions = {}): ClipTokenizer {
  for (const f of ['vocab.json', 'merges.txt']) {
    if (!existsSync(join(dir, f))) {
      throw new FileFormatError(
        'BAD_FILE',
        `${dir}: no ${f}; a CLIP tokenizer folder needs vocab.json and merges.txt (the "tokenizer" folder of a diffusers model)`,
      );
    }
  }
  const optional = (f: string) => (existsSync(join(dir, f)) ? readJson(join(dir, f)) : undefined);
  return new ClipTokenizer(
    {
      vocab: readJson(join(dir, 'vocab.json')) as Record<string, number>,
      merges: readFileSync(join(dir, 'merges.txt'), 'utf8'),
      tokenizerConfig: optional('tokenizer_config.json'),
      specialTokensMap: optional('special_tokens_map.json'),
      source: dir,
    },
    options,
  );
}
