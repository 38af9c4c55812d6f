/**
 * The clean-up Hugging Face's slow `CLIPTokenizer` falls back to when ftfy is not installed:
 * `" ".join(BasicTokenizer(strip_accents=False, do_split_on_punc=False).tokenize(text))` — drop NUL, U+FFFD
 * and control characters (Unicode category C*, except \t \n \r), turn whitespace into spaces, put spaces around
 * CJK ideographs, NFC, split on whitespace, lower-case each piece. No accent stripping, no punctuation split.
 */

/** Python `str.isspace()`: what `str.split()` splits on. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: Python counts \x1c-\x1f as whitespace
const PY_WHITESPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;

/** BERT `_is_whitespace`: space, \t \n \r, and category Zs. */
const BERT_WHITESPACE = /[ \t\n\r]|\p{Zs}/u;
/** BERT `_is_control`: category C* except \t \n \r. */
const BERT_CONTROL = /[^\t\n\r]/u;
const CATEGORY_C = /\p{C}/u;

/** BERT `_is_chinese_char`: the CJK Unified Ideographs blocks (not Hangul or kana). */
function isCjk(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

export function basicClean(text: string): string {
  let cleaned = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    if (cp === 0 || cp === 0xfffd) continue;
    if (CATEGORY_C.test(ch) && BERT_CONTROL.test(ch)) continue;
    if (BERT_WHITESPACE.test(ch)) cleaned += ' ';
    else if (isCjk(cp)) cleaned += ` ${ch} `;
    else cleaned += ch;
  }
  return cleaned
    .normalize('NFC')
    .split(PY_WHITESPACE)
    .filter((piece) => piece.length > 0)
    .map((piece) => piece.toLowerCase())
    .join(' ');
}
