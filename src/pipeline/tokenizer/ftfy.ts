/**
 * A port of ftfy 6 `fix_text` with its default configuration — the text clean-up Hugging Face's slow
 * `CLIPTokenizer` applies to every prompt when ftfy is installed (as it is for diffusers' reference runs).
 * Same steps in the same order, repeated until nothing changes, per line:
 *   unescape_html ("auto": off from the first line containing '<'), fix_encoding (mojibake: re-decode text
 *   that is UTF-8 read as a single-byte encoding, when the badness heuristic says so), fix_c1_controls,
 *   fix_latin_ligatures, fix_character_width, uncurl_quotes, fix_line_breaks, fix_surrogates,
 *   remove_terminal_escapes, remove_control_chars, NFC.
 * Strings are JS (UTF-16) rather than Python code-point strings; the only visible difference is that lone
 * surrogates cannot pair up across a fix here (they become U+FFFD, as unpaired ones do in ftfy).
 */
import { isBad, UTF8_DETECTOR_RE } from './ftfy-badness.js';
import { CHARMAP_ENCODINGS, CHARMAP_HIGH, type CharmapEncoding, HTML_ENTITIES, WINDOWS_1252_STRICT_C1 } from './ftfy-data.js';

// ---- HTML entities -----------------------------------------------------------------------------------------

const HTML_ENTITY_RE = /&#?[0-9A-Za-z]{1,24};/g;

/** Python `html.unescape` of a complete numeric reference `&#…;` (its invalid-codepoint rules). */
function numericCharRef(ref: string): string | null {
  const m = /^&#(?:([0-9]+)|[xX]([0-9a-fA-F]+));$/.exec(ref);
  if (!m) return null; // html.unescape would leave (part of) it, so ftfy leaves it
  const num = m[1] !== undefined ? Number.parseInt(m[1], 10) : Number.parseInt(m[2] as string, 16);
  if (num === 0) return '\ufffd';
  if (num === 0x0d) return '\r';
  if (num >= 0x80 && num <= 0x9f) {
    // html's _invalid_charrefs: Windows-1252 for 0x80..0x9F where it has a character, else the C1 control
    const c = WINDOWS_1252_STRICT_C1[num - 0x80] as string;
    return c === '\ufffd' ? String.fromCharCode(num) : c;
  }
  if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return '\ufffd';
  const invalid =
    (num >= 0x1 && num <= 0x8) ||
    num === 0xb ||
    (num >= 0xe && num <= 0x1f) ||
    (num >= 0x7f && num <= 0x9f) ||
    (num >= 0xfdd0 && num <= 0xfdef) ||
    (num & 0xfffe) === 0xfffe;
  return invalid ? '' : String.fromCodePoint(num);
}

/** ftfy `unescape_html`: HTML5 named entities with ';' (and all-caps forms), and numeric references. */
export function unescapeHtml(text: string): string {
  return text.replace(HTML_ENTITY_RE, (ref) => {
    const named = HTML_ENTITIES[ref];
    if (named !== undefined) return named;
    if (ref.startsWith('&#')) return numericCharRef(ref) ?? ref;
    return ref;
  });
}

// ---- single-byte encodings ---------------------------------------------------------------------------------

interface Charmap {
  /** Characters the encoding can produce (besides ASCII other than 0x1A). */
  chars: Set<string>;
  encode: Map<string, number>;
  decode: string[];
}

const CHARMAPS = new Map<CharmapEncoding, Charmap>();
for (const enc of CHARMAP_ENCODINGS) {
  const high = CHARMAP_HIGH[enc];
  const decode: string[] = [];
  const encode = new Map<string, number>();
  for (let b = 0; b < 0x80; b++) decode[b] = String.fromCharCode(b);
  for (let b = 0x80; b < 0x100; b++) decode[b] = high[b - 0x80] as string;
  decode[0x1a] = high[0x80] as string; // '\x1a', or U+FFFD in ftfy's sloppy codecs
  decode.forEach((c, b) => {
    encode.set(c, b);
  });
  CHARMAPS.set(enc, { chars: new Set(decode.filter((_, b) => b >= 0x80 || b === 0x1a)), encode, decode });
}

function isAscii(text: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ASCII range test
  return /^[\x00-\x7f]*$/.test(text);
}

/** ftfy `possible_encoding`: could `text` have come from decoding bytes in `enc`? */
function possibleEncoding(text: string, enc: CharmapEncoding): boolean {
  const { chars } = CHARMAPS.get(enc) as Charmap;
  for (const c of text) {
    const code = c.codePointAt(0) as number;
    if (code < 0x80 && code !== 0x1a) continue;
    if (!chars.has(c)) return false;
  }
  return true;
}

/** Bytes as a Latin-1 string, so that byte-level regexes can be plain JS regexes. */
function encodeToByteString(text: string, enc: CharmapEncoding): string {
  const { encode } = CHARMAPS.get(enc) as Charmap;
  let out = '';
  for (const c of text) out += String.fromCharCode(encode.get(c) as number);
  return out;
}

function byteStringToBytes(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/**
 * ftfy's "utf-8-variants" codec: UTF-8, plus CESU-8 surrogate pairs (ED A0-AF xx ED B0-BF xx) and Java's
 * overlong null (C0 80). Throws on anything else invalid.
 */
function decodeUtf8Variants(bytes: string): string {
  const special = /\xed([\xa0-\xaf])([\x80-\xbf])\xed([\xb0-\xbf])([\x80-\xbf])|\xc0\x80/g;
  let out = '';
  let last = 0;
  for (const m of bytes.matchAll(special)) {
    out += utf8Strict.decode(byteStringToBytes(bytes.slice(last, m.index)));
    if (m[0] === '\xc0\x80') out += '\u0000';
    else {
      const hi = 0xd000 | (((m[1] as string).charCodeAt(0) & 0x3f) << 6) | ((m[2] as string).charCodeAt(0) & 0x3f);
      const lo = 0xd000 | (((m[3] as string).charCodeAt(0) & 0x3f) << 6) | ((m[4] as string).charCodeAt(0) & 0x3f);
      out += String.fromCharCode(hi, lo);
    }
    last = (m.index as number) + m[0].length;
  }
  return out + utf8Strict.decode(byteStringToBytes(bytes.slice(last)));
}

// Byte-level regexes of ftfy.chardata / ftfy.fixes, on Latin-1 byte strings.
const ALTERED_UTF8_RE =
  /[\xc2\xc3\xc5\xce\xd0\xd9][ ]|[\xe2\xe3][ ][\x80-\x84\x86-\x9f\xa1-\xbf]|[\xe0-\xe3][\x80-\x84\x86-\x9f\xa1-\xbf][ ]|[\xf0][ ][\x80-\xbf][\x80-\xbf]|[\xf0][\x80-\xbf][ ][\x80-\xbf]|[\xf0][\x80-\xbf][\x80-\xbf][ ]/g;
const A_GRAVE_WORD_RE = /\xc3 (?! |quele|quela|quilo|s )/g;
const LOSSY_UTF8_RE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: 0x1A is ftfy's stand-in for a lost byte
  /[\xc2-\xdf][\x1a]|[\xc2-\xc3][?]|\xed[\xa0-\xaf][\x1a?]\xed[\xb0-\xbf][\x1a?\x80-\xbf]|\xed[\xa0-\xaf][\x1a?\x80-\xbf]\xed[\xb0-\xbf][\x1a?]|[\xe0-\xef][\x1a?][\x1a\x80-\xbf]|[\xe0-\xef][\x1a\x80-\xbf][\x1a?]|[\xf0-\xf4][\x1a?][\x1a\x80-\xbf][\x1a\x80-\xbf]|[\xf0-\xf4][\x1a\x80-\xbf][\x1a?][\x1a\x80-\xbf]|[\xf0-\xf4][\x1a\x80-\xbf][\x1a\x80-\xbf][\x1a?]|\x1a/g;

/** ftfy `restore_byte_a0`: a space that stands where UTF-8 needs byte A0 (NBSP mangled into a space). */
function restoreByteA0(bytes: string): string {
  return bytes.replace(A_GRAVE_WORD_RE, '\xc3\xa0 ').replace(ALTERED_UTF8_RE, (m) => m.replace(/ /g, '\xa0'));
}

/** ftfy `replace_lossy_sequences`: UTF-8 sequences with a lost byte become U+FFFD's UTF-8. */
function replaceLossySequences(bytes: string): string {
  return bytes.replace(LOSSY_UTF8_RE, '\xef\xbf\xbd');
}

// ---- fix_encoding ------------------------------------------------------------------------------------------

const C1_CONTROL_RE = /[\x80-\x9f]/g;

/** ftfy `fix_c1_controls`: remaining C1 controls as their Windows-1252 characters. */
function fixC1Controls(text: string): string {
  const sloppy = CHARMAPS.get('sloppy-windows-1252') as Charmap;
  return text.replace(C1_CONTROL_RE, (c) => sloppy.decode[c.charCodeAt(0)] as string);
}

/** ftfy `decode_inconsistent_utf8`: fix UTF-8 mojibake embedded in otherwise fine text. */
function decodeInconsistentUtf8(text: string): string {
  return text.replace(UTF8_DETECTOR_RE, (sub) => (sub.length < text.length && isBad(sub) ? fixEncoding(sub) : sub));
}

function fixEncodingOneStep(text: string): string {
  if (text.length === 0 || isAscii(text) || !isBad(text)) return text;
  const possible: CharmapEncoding[] = [];
  for (const enc of CHARMAP_ENCODINGS) {
    if (!possibleEncoding(text, enc)) continue;
    possible.push(enc);
    let bytes = encodeToByteString(text, enc);
    // Not in MacRoman, where it would match an en dash followed by a space.
    if (enc !== 'macroman' && bytes.search(ALTERED_UTF8_RE) >= 0) bytes = restoreByteA0(bytes);
    if (enc.startsWith('sloppy')) bytes = replaceLossySequences(bytes);
    try {
      return bytes.includes('\xed') || bytes.includes('\xc0') ? decodeUtf8Variants(bytes) : utf8Strict.decode(byteStringToBytes(bytes));
    } catch {
      // not UTF-8 in this encoding: try the next one
    }
  }
  if (text.search(UTF8_DETECTOR_RE) >= 0) {
    const fixed = decodeInconsistentUtf8(text);
    if (fixed !== text) return fixed;
  }
  // ftfy checks for "windows-1252" among the possible encodings, which only ever lists the sloppy variant, so
  // Latin-1 text is re-read as strict Windows-1252 (unless a byte has no character there: then it stays).
  if (possible.includes('latin-1')) {
    const fixed = text.replace(C1_CONTROL_RE, (c) => WINDOWS_1252_STRICT_C1[c.charCodeAt(0) - 0x80] as string);
    if (!fixed.includes('\ufffd') || text.includes('\ufffd')) {
      if (fixed !== text) return fixed;
    }
  }
  if (text.search(C1_CONTROL_RE) >= 0) return fixC1Controls(text);
  return text;
}

/** ftfy `fix_encoding`: undo mojibake, step by step, until nothing changes. */
export function fixEncoding(text: string): string {
  let current = text;
  for (;;) {
    const next = fixEncodingOneStep(current);
    if (next === current) return current;
    current = next;
  }
}

// ---- the other fixers --------------------------------------------------------------------------------------

const LIGATURES: Readonly<Record<string, string>> = {
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
const LIGATURE_RE = /[\u0132\u0133\u0149\u01c4-\u01cc\u01f1-\u01f3\ufb00-\ufb06]/g;

/** ftfy `fix_character_width`: U+FF01..U+FFEF to their NFKC forms, ideographic space to a space. */
const WIDTH_RE = /[\uff01-\uffef\u3000]/g;
function fixCharacterWidth(text: string): string {
  return text.replace(WIDTH_RE, (c) => (c === '\u3000' ? ' ' : c.normalize('NFKC')));
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts a terminal escape
const ANSI_RE = /\x1b\[((?:\p{Nd}|;)*)([a-zA-Z])/gu;
/** ftfy `remove_control_chars` (6.3 list): C0 except \t \n \f \r, DEL, deprecated Arabic format chars, BOM, U+FFF9..U+FFFC. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the control characters ftfy removes
const CONTROL_RE = /[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g;

function fixSegmentOnce(segment: string, unescapeEntities: boolean): string {
  let text = segment;
  if (unescapeEntities) text = unescapeHtml(text);
  text = fixEncoding(text);
  text = fixC1Controls(text);
  text = text.replace(LIGATURE_RE, (c) => LIGATURES[c] ?? c);
  text = fixCharacterWidth(text);
  text = text.replace(/[\u201c-\u201f]/g, '"').replace(/[\u02bc\u2018-\u201b]/g, "'");
  text = text.replace(/\r\n/g, '\n').replace(/[\r\u2028\u2029\u0085]/g, '\n');
  text = text.replace(/\p{Cs}/gu, '\ufffd');
  text = text.replace(ANSI_RE, '');
  text = text.replace(CONTROL_RE, '');
  return text.normalize('NFC');
}

/** ftfy `fix_text` with the default `TextFixerConfig`. */
export function fixText(input: string): string {
  let out = '';
  let unescapeEntities = true;
  let pos = 0;
  while (pos < input.length) {
    const nl = input.indexOf('\n', pos);
    const end = nl < 0 ? input.length : nl + 1;
    let segment = input.slice(pos, end);
    if (unescapeEntities && segment.includes('<')) unescapeEntities = false;
    for (;;) {
      const fixed = fixSegmentOnce(segment, unescapeEntities);
      if (fixed === segment) break;
      segment = fixed;
    }
    out += segment;
    pos = end;
  }
  return out;
}
