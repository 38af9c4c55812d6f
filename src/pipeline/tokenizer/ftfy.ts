/**
 * The subset of ftfy 6 `fix_text` (default config) that CLIP prompts meet, applied in ftfy's order:
 * HTML entities (only when the text has no '<'), mojibake (UTF-8 read as Windows-1252), Latin ligatures,
 * fullwidth/halfwidth characters, curly quotes, line breaks, control characters, then NFC. ftfy's full
 * heuristics (its "badness" score over arbitrary encodings) are not reproduced: mojibake is fixed where a run of
 * characters re-encodes to valid multi-byte UTF-8, which is the common case and what the fixtures contain.
 */

const NAMED_ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: '\u00a0',
  ndash: '\u2013',
  mdash: '\u2014',
  hellip: '\u2026',
  deg: '\u00b0',
  plusmn: '\u00b1',
  times: '\u00d7',
  micro: '\u00b5',
  middot: '\u00b7',
  lsquo: '\u2018',
  rsquo: '\u2019',
  ldquo: '\u201c',
  rdquo: '\u201d',
  copy: '\u00a9',
  reg: '\u00ae',
  ge: '\u2265',
  le: '\u2264',
  rarr: '\u2192',
  larr: '\u2190',
};

/** Entity unescaping of the common named entities (any case of the name, as `html.unescape`) and numeric refs. */
export function unescapeHtml(text: string): string {
  return text.replace(/&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[A-Za-z][A-Za-z0-9]{0,7});/g, (whole, body: string) => {
    if (body.startsWith('#')) {
      const cp = body[1] === 'x' || body[1] === 'X' ? Number.parseInt(body.slice(2), 16) : Number.parseInt(body.slice(1), 10);
      if (cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return '\ufffd';
      return String.fromCodePoint(cp);
    }
    return NAMED_ENTITIES[body] ?? NAMED_ENTITIES[body.toLowerCase()] ?? whole;
  });
}

/** Windows-1252 bytes 0x80..0x9F (ftfy's "sloppy" variant maps the 5 undefined ones to C1 controls). */
const CP1252_HIGH =
  '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';
const CP1252_BYTE = new Map<string, number>();
for (let b = 0; b < 256; b++) {
  const ch = b >= 0x80 && b < 0xa0 ? (CP1252_HIGH[b - 0x80] as string) : String.fromCharCode(b);
  CP1252_BYTE.set(ch, b);
}

/** A lead byte then the right number of continuation bytes, all as their Windows-1252 characters. */
const cont =
  '[\u0080-\u00bf\u20ac\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u017d\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u017e\u0178]';
const MOJIBAKE = new RegExp(`[\u00c2-\u00df]${cont}|[\u00e0-\u00ef]${cont}{2}|[\u00f0-\u00f4]${cont}{3}`, 'g');
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Re-decodes runs that are UTF-8 bytes shown as Windows-1252 ("cafÃ©" -> "café"), leaving anything else. */
export function fixMojibake(text: string): string {
  return text.replace(MOJIBAKE, (run) => {
    const bytes = Uint8Array.from(Array.from(run, (ch) => CP1252_BYTE.get(ch) ?? 0));
    try {
      return utf8.decode(bytes);
    } catch {
      return run;
    }
  });
}

const LIGATURES: Record<string, string> = {
  '\u0132': 'IJ',
  '\u0133': 'ij',
  '\u0149': '\u02bcn',
  '\u01f1': 'DZ',
  '\u01f2': 'Dz',
  '\u01f3': 'dz',
  '\u01c4': 'D\u017d',
  '\u01c5': 'D\u017e',
  '\u01c6': 'd\u017e',
  '\u01c7': 'LJ',
  '\u01c8': 'Lj',
  '\u01c9': 'lj',
  '\u01ca': 'NJ',
  '\u01cb': 'Nj',
  '\u01cc': 'nj',
  '\ufb00': 'ff',
  '\ufb01': 'fi',
  '\ufb02': 'fl',
  '\ufb03': 'ffi',
  '\ufb04': 'ffl',
  '\ufb05': '\u017ft',
  '\ufb06': 'st',
};

/** ftfy `remove_control_chars`: C0 controls except \t \n \f \r, DEL, bidi-deprecated, BOM, interlinear, tags. */
const CONTROL =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are exactly the control characters ftfy removes
  /[\u0000-\u0008\u000b\u000e-\u001f\u007f\u206a-\u206f\ufeff\ufff9-\ufffc]|\u{1d173}|\u{1d174}|\u{1d175}|\u{1d176}|\u{1d177}|\u{1d178}|\u{1d179}|\u{1d17a}|[\u{e0000}-\u{e007f}]/gu;

export function fixText(input: string): string {
  const unescapeEntities = !input.includes('<');
  let text = input;
  // ftfy repeats its fixes until nothing changes.
  for (let pass = 0; pass < 4; pass++) {
    const before = text;
    if (unescapeEntities) text = unescapeHtml(text);
    text = fixMojibake(text);
    text = text.replace(/[\u0132\u0133\u0149\u01c4-\u01cc\u01f1-\u01f3\ufb00-\ufb06]/g, (c) => LIGATURES[c] ?? c);
    // fix_character_width: NFKC of U+FF01..U+FFEF, ideographic space to a space.
    text = text.replace(/[\uff01-\uffef\u3000]/g, (c) => (c === '\u3000' ? ' ' : c.normalize('NFKC')));
    text = text.replace(/[\u02bc\u2018-\u201b]/g, "'").replace(/[\u201c-\u201f]/g, '"');
    text = text.replace(/\r\n|[\r\u2028\u2029\u0085]/g, '\n');
    text = text.replace(CONTROL, '');
    text = text.normalize('NFC');
    if (text === before) break;
  }
  return text;
}
