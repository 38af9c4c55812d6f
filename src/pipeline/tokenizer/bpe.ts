/** Byte-level BPE as in openai/CLIP and HF `CLIPTokenizer.bpe`: words end in `</w>`, merges by rank. */

/** GPT-2 `bytes_to_unicode`: printable bytes map to themselves, the rest to U+0100.. in order. */
export const BYTE_ENCODER: readonly string[] = (() => {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const table: string[] = new Array(256);
  for (const b of bs) table[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (table[b] === undefined) table[b] = String.fromCharCode(256 + n++);
  }
  return table;
})();

const encoder = new TextEncoder();

/** UTF-8 bytes of `piece` as byte-unicode characters. */
export function byteEncode(piece: string): string {
  let out = '';
  for (const b of encoder.encode(piece)) out += BYTE_ENCODER[b];
  return out;
}

export class Bpe {
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, string[]>();

  /**
   * `merges`: "a b" lines in rank order (header line already removed). `verbatim` tokens map to themselves
   * (transformers seeds its BPE cache with the special tokens, so a literal "<|endoftext|>" stays whole).
   */
  constructor(merges: readonly string[], verbatim: readonly string[] = []) {
    merges.forEach((m, i) => {
      // transformers splits each line on whitespace: normalise to one space.
      this.ranks.set(m.trim().split(/\s+/).join(' '), i);
    });
    for (const t of verbatim) this.cache.set(t, [t]);
  }

  /** Splits one byte-encoded pre-token into BPE tokens (the last one carries `</w>`). */
  encode(token: string): string[] {
    const hit = this.cache.get(token);
    if (hit) return hit;
    const chars = Array.from(token);
    let word = chars.slice(0, -1);
    word.push(`${chars[chars.length - 1] ?? ''}</w>`);
    while (word.length > 1) {
      // The lowest-ranked adjacent pair; the first such pair wins ties, as Python's min over a set cannot
      // tie here because ranks are unique per pair.
      let best = -1;
      let bestRank = Number.POSITIVE_INFINITY;
      for (let i = 0; i + 1 < word.length; i++) {
        const r = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const first = word[best] as string;
      const second = word[best + 1] as string;
      const merged: string[] = [];
      for (let i = 0; i < word.length; ) {
        if (word[i] === first && i + 1 < word.length && word[i + 1] === second) {
          merged.push(first + second);
          i += 2;
        } else {
          merged.push(word[i] as string);
          i += 1;
        }
      }
      word = merged;
    }
    this.cache.set(token, word);
    return word;
  }
}
