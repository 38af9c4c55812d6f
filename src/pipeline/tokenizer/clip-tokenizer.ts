/**
 * The CLIP BPE tokenizer as Hugging Face's slow `CLIPTokenizer` (transformers 4.44) runs it for Stable
 * Diffusion: added/special tokens are split out first (exact, case-sensitive matches — SD2's pad token "!" is
 * one, so "wow!!" ends in two "!" tokens there and one "!!</w>" token in SD1), each remaining chunk is cleaned
 * (ftfy `fix_text` + whitespace collapse + strip + lower-case, or the no-ftfy BasicTokenizer fallback), split
 * by the CLIP regex, byte-encoded and BPE-merged with `</w>` word ends. `encode` adds BOS/EOS, truncates to
 * `maxLength` (77), pads with the config's pad token and reports the untruncated length and the removed text.
 * Built from parsed file contents so it works in a browser; `loadClipTokenizer` (node.ts) reads a folder.
 */
import { ConfigError, MedgpuError } from '../../runtime/errors.js';
import { basicClean } from './basic-clean.js';
import { BYTE_ENCODER, Bpe, byteEncode } from './bpe.js';
import { fixText } from './ftfy.js';

export interface ClipTokenizerFiles {
  /** vocab.json: token → id. */
  vocab: Readonly<Record<string, number>>;
  /** merges.txt, whole (a `#version` header line, then one "a b" merge per line). */
  merges: string;
  /** tokenizer_config.json (special tokens, `added_tokens_decoder`, `model_max_length`). */
  tokenizerConfig?: Readonly<Record<string, unknown>>;
  /** special_tokens_map.json (overrides the config's special tokens, as transformers does). */
  specialTokensMap?: Readonly<Record<string, unknown>>;
  /** Name for error messages (the folder). */
  source?: string;
}

export interface ClipTokenizerOptions {
  /**
   * `'ftfy'` (default): what transformers does with ftfy installed, as in the diffusers reference setup.
   * `'basic'`: transformers' fallback without ftfy (BasicTokenizer clean-up).
   */
  textCleanup?: 'ftfy' | 'basic';
}

export interface EncodeOptions {
  /** Total length with BOS and EOS (default: the tokenizer's `model_max_length`, 77 for CLIP). */
  maxLength?: number;
  /** `'max_length'` (default) pads to maxLength; `'none'` does not pad. */
  padding?: 'max_length' | 'none';
  /** Cut to maxLength keeping BOS…EOS (default true). */
  truncation?: boolean;
}

export interface ClipEncoding {
  inputIds: number[];
  /** 1 for real tokens (BOS and EOS included), 0 for padding. */
  attentionMask: number[];
  /** BOS + all BPE tokens + EOS before truncation. */
  untruncatedLength: number;
  truncated: boolean;
  /** The part of the prompt cut off by truncation, decoded (diffusers logs it as a warning); '' if none. */
  removedText: string;
}

const CLIP_PATTERN = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/giu;
/** The 48 894 merges of CLIP's vocabulary (`49152 - 256 - 2`): transformers reads no more than these. */
const MAX_MERGES = 49152 - 256 - 2;
/** Python `\s` for `re.sub(r"\s+", " ", text)` (str.isspace) and `str.strip()`. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: Python's whitespace includes \x1c-\x1f
const PY_WHITESPACE_RUN = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/g;

function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

interface AddedToken {
  content: string;
  id: number;
  lstrip: boolean;
  rstrip: boolean;
}

export class ClipTokenizer {
  readonly vocab: ReadonlyMap<string, number>;
  readonly bosToken: string;
  readonly eosToken: string;
  readonly padToken: string;
  readonly unkToken: string;
  readonly bosTokenId: number;
  readonly eosTokenId: number;
  readonly padTokenId: number;
  readonly unkTokenId: number;
  readonly modelMaxLength: number;
  readonly textCleanup: 'ftfy' | 'basic';
  private readonly idToToken: Map<number, string>;
  private readonly bpe: Bpe;
  private readonly added = new Map<string, AddedToken>();
  private readonly addedRe: RegExp | null;
  private readonly byteDecoder = new Map<string, number>(BYTE_ENCODER.map((c, b) => [c, b]));

  constructor(files: ClipTokenizerFiles, options: ClipTokenizerOptions = {}) {
    const source = files.source ?? 'tokenizer';
    this.textCleanup = options.textCleanup ?? 'ftfy';
    this.vocab = new Map(Object.entries(files.vocab));
    this.idToToken = new Map([...this.vocab].map(([t, i]) => [i, t]));
    const lines = files.merges.replace(/\s+$/, '').split('\n');
    if (!lines[0]?.startsWith('#version')) {
      throw new ConfigError(
        'BAD_CONFIG',
        `${source}/merges.txt: expected a "#version" header line, got ${JSON.stringify(lines[0]?.slice(0, 40))}`,
      );
    }
    this.bpe = new Bpe(lines.slice(1, 1 + MAX_MERGES), ['<|startoftext|>', '<|endoftext|>']);

    const config = files.tokenizerConfig ?? {};
    const map = files.specialTokensMap ?? {};
    const special = (key: string, fallback: string) => tokenContent(map[key]) ?? tokenContent(config[key]) ?? fallback;
    this.bosToken = special('bos_token', '<|startoftext|>');
    this.eosToken = special('eos_token', '<|endoftext|>');
    this.unkToken = special('unk_token', '<|endoftext|>');
    this.padToken = special('pad_token', '<|endoftext|>');
    const maxLen = config.model_max_length;
    this.modelMaxLength = typeof maxLen === 'number' && maxLen > 0 && maxLen < 1e6 ? maxLen : 77;

    // Added tokens: the config's added_tokens_decoder, plus the special tokens (transformers adds those too).
    const decoder = (config.added_tokens_decoder ?? {}) as Record<string, Record<string, unknown>>;
    for (const [id, tok] of Object.entries(decoder)) {
      const content = tokenContent(tok);
      if (content === undefined) continue;
      this.added.set(content, { content, id: Number(id), lstrip: tok.lstrip === true, rstrip: tok.rstrip === true });
    }
    for (const content of [this.bosToken, this.eosToken, this.unkToken, this.padToken]) {
      if (this.added.has(content)) continue;
      const id = this.vocab.get(content);
      if (id === undefined) {
        throw new ConfigError(
          'BAD_CONFIG',
          `${source}: special token ${JSON.stringify(content)} is neither in vocab.json nor in added_tokens_decoder`,
        );
      }
      this.added.set(content, { content, id, lstrip: false, rstrip: false });
    }
    for (const t of this.added.values()) this.idToToken.set(t.id, t.content);
    const idOf = (t: string) => this.added.get(t)?.id as number;
    this.bosTokenId = idOf(this.bosToken);
    this.eosTokenId = idOf(this.eosToken);
    this.unkTokenId = idOf(this.unkToken);
    this.padTokenId = idOf(this.padToken);
    // Longest first, so overlapping added tokens match like transformers' trie (longest at a position).
    const alternatives = [...this.added.keys()].sort((a, b) => b.length - a.length).map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    this.addedRe = alternatives.length > 0 ? new RegExp(alternatives.join('|'), 'g') : null;
  }

  /** The clean-up applied to a chunk of text before the CLIP regex. */
  cleanText(text: string): string {
    if (this.textCleanup === 'basic') return basicClean(text);
    return fixText(text).replace(PY_WHITESPACE_RUN, ' ').trim().toLowerCase();
  }

  /** Splits out added tokens; each piece is an added token or a text chunk. */
  private splitAdded(text: string): { text: string; added: boolean }[] {
    if (!this.addedRe) return [{ text, added: false }];
    const pieces: { text: string; added: boolean }[] = [];
    let last = 0;
    for (const m of text.matchAll(this.addedRe)) {
      pieces.push({ text: text.slice(last, m.index), added: false });
      pieces.push({ text: m[0], added: true });
      last = (m.index as number) + m[0].length;
    }
    pieces.push({ text: text.slice(last), added: false });
    // lstrip/rstrip of added tokens eat the whitespace next to them.
    pieces.forEach((p, i) => {
      if (!p.added) return;
      const tok = this.added.get(p.text) as AddedToken;
      const left = pieces[i - 1];
      const right = pieces[i + 1];
      if (tok.rstrip && right) right.text = right.text.replace(/^\s+/, '');
      if (tok.lstrip && left) left.text = left.text.replace(/\s+$/, '');
    });
    return pieces.filter((p) => p.text.length > 0);
  }

  /** BPE tokens of `text` (no BOS/EOS). */
  tokenize(text: string): string[] {
    const tokens: string[] = [];
    for (const piece of this.splitAdded(text)) {
      if (piece.added) {
        tokens.push(piece.text);
        continue;
      }
      for (const word of this.cleanText(piece.text).matchAll(CLIP_PATTERN)) tokens.push(...this.bpe.encode(byteEncode(word[0])));
    }
    return tokens;
  }

  convertTokensToIds(tokens: readonly string[]): number[] {
    return tokens.map((t) => this.added.get(t)?.id ?? this.vocab.get(t) ?? this.unkTokenId);
  }

  /** Token ids of `text` without BOS/EOS. */
  encodeIds(text: string): number[] {
    return this.convertTokensToIds(this.tokenize(text));
  }

  /** `tokenizer(text, padding="max_length", max_length=77, truncation=True)` plus what truncation removed. */
  encode(text: string, options: EncodeOptions = {}): ClipEncoding {
    const maxLength = options.maxLength ?? this.modelMaxLength;
    if (!Number.isInteger(maxLength) || maxLength < 2) {
      throw new MedgpuError('BAD_ARGUMENT', `maxLength must be an integer ≥ 2 (room for BOS and EOS), got ${maxLength}`);
    }
    const ids = this.encodeIds(text);
    const untruncatedLength = ids.length + 2;
    const truncate = (options.truncation ?? true) && untruncatedLength > maxLength;
    const kept = truncate ? ids.slice(0, maxLength - 2) : ids;
    const inputIds = [this.bosTokenId, ...kept, this.eosTokenId];
    const attentionMask = inputIds.map(() => 1);
    if ((options.padding ?? 'max_length') === 'max_length') {
      while (inputIds.length < maxLength) {
        inputIds.push(this.padTokenId);
        attentionMask.push(0);
      }
    }
    return {
      inputIds,
      attentionMask,
      untruncatedLength,
      truncated: truncate,
      removedText: truncate ? this.decode(ids.slice(maxLength - 2)) : '',
    };
  }

  /** transformers `decode` (no special-token skipping, `clean_up_tokenization_spaces`). */
  decode(ids: readonly number[]): string {
    const text = ids.map((id) => this.idToToken.get(id) ?? '').join('');
    const bytes: number[] = [];
    for (const c of text) {
      const b = this.byteDecoder.get(c);
      if (b !== undefined) bytes.push(b);
    }
    const decoded = new TextDecoder('utf-8').decode(Uint8Array.from(bytes)).replace(/<\/w>/g, ' ').trim();
    return decoded
      .replace(/ \./g, '.')
      .replace(/ \?/g, '?')
      .replace(/ !/g, '!')
      .replace(/ ,/g, ',')
      .replace(/ ' /g, "'")
      .replace(/ n't/g, "n't")
      .replace(/ 'm/g, "'m")
      .replace(/ 's/g, "'s")
      .replace(/ 've/g, "'ve")
      .replace(/ 're/g, "'re");
  }
}
