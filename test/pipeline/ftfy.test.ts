/**
 * The ftfy port on the examples ftfy documents (its README and docstrings, ftfy 6.x): expected outputs are
 * ftfy's own, not ours. The tokenizer fixture test covers the prompts; these cover the machinery behind them
 * (multi-layer mojibake, byte-A0 restoration, entities, widths, ligatures, escapes).
 */
import { describe, expect, it } from 'vitest';
import { fixEncoding, fixText, unescapeHtml } from '../../src/pipeline/tokenizer/ftfy.js';
import { isBad } from '../../src/pipeline/tokenizer/ftfy-badness.js';

describe('ftfy fix_text (documented examples)', () => {
  it.each([
    ['\u00e2\u0153\u201d No problems', '\u2714 No problems'],
    ['&macr;\\_(\u00e3\x83\x84)_/&macr;', '\u00af\\_(\u30c4)_/\u00af'],
    ['\uff2c\uff2f\uff35\uff24\u3000\uff2e\uff2f\uff29\uff33\uff25\uff33', 'LOUD NOISES'],
    ['sch\u00c3\u00b6n', 'sch\u00f6n'],
    [
      'The Mona Lisa doesn\u00c3\u0192\u00c2\u00a2\u00c3\u00a2\u00e2\u20ac\u0161\u00c2\u00ac\u00c3\u00a2\u00e2\u20ac\u017e\u00c2\u00a2t have eyebrows.',
      "The Mona Lisa doesn't have eyebrows.",
    ],
    ['\u00c3 perturber la r\u00c3\u00a9flexion', '\u00e0 perturber la r\u00e9flexion'],
    ['\u00c3\u00a0 perturber la r\u00c3\u00a9flexion', '\u00e0 perturber la r\u00e9flexion'],
    ['HTML entities &lt;3', 'HTML entities <3'],
    ['<em>HTML entities in HTML &lt;3</em>', '<em>HTML entities in HTML &lt;3</em>'],
    ['\x01\x1b[36;44mI&#x92;m blue, da ba dee da ba doo&#133;\x1b[0m', "I'm blue, da ba dee da ba doo\u2026"],
    ['\ufeffParty like\nit&rsquo;s 1999!', "Party like\nit's 1999!"],
    ['\u201chere\u2019s a test\u201d', '"here\'s a test"'],
    ['\ufb02u\ufb03e\ufb06', 'fluffiest'],
    ['\uff35\uff80\uff70\uff9d', 'U\u30bf\u30fc\u30f3'],
    ['Content-type: text/plain\r\n\r\nHi.', 'Content-type: text/plain\n\nHi.'],
    ['This is how Microsoft \r trolls Mac users', 'This is how Microsoft \n trolls Mac users'],
    ['two things:\u20291. Unicode\u20282. Spite', 'two things:\n1. Unicode\n2. Spite'],
    ['caf\u00c3\u00a9 \u00e2\u20ac\u201d pleural', 'caf\u00e9 \u2014 pleural'],
    ['already fine: na\u00efve caf\u00e9 \u2014 \u00b1 5 mm', 'already fine: na\u00efve caf\u00e9 \u2014 \u00b1 5 mm'],
  ])('%j', (input, want) => {
    expect(fixText(input)).toBe(want);
  });

  it('fix_encoding examples', () => {
    expect(fixEncoding('\u00c3\u00b3')).toBe('\u00f3');
    expect(fixEncoding('s\u00c3\u00b3')).toBe('s\u00f3');
    expect(fixEncoding('voil\u00c3 le travail')).toBe('voil\u00e0 le travail');
    expect(fixEncoding('&ATILDE;&SUP3;')).toBe('&ATILDE;&SUP3;');
  });

  it('unescape_html examples (HTML5 names with ";", all-caps forms of lower-case names, numeric references)', () => {
    expect(unescapeHtml('&lt;tag&gt;')).toBe('<tag>');
    expect(unescapeHtml('&Jscr;ohn &HilbertSpace;ancock')).toBe('\u{1d4a5}ohn \u210bancock');
    expect(unescapeHtml('&checkmark;')).toBe('\u2713');
    expect(unescapeHtml('P&eacute;rez')).toBe('P\u00e9rez');
    expect(unescapeHtml('P&EACUTE;REZ')).toBe('P\u00c9REZ');
    expect(unescapeHtml('BUNDESSTRA&SZLIG;E')).toBe('BUNDESSTRASSE');
    expect(unescapeHtml('&ntilde; &Ntilde; &NTILDE; &nTILDE;')).toBe('\u00f1 \u00d1 \u00d1 &nTILDE;');
    expect(unescapeHtml('this&not that &amp &#65; &#x41; &#0; &#12a;')).toBe('this&not that &amp A A \ufffd &#12a;');
  });

  it('badness: flags mojibake, not ordinary accented text', () => {
    expect(isBad('caf\u00c3\u00a9')).toBe(true);
    expect(isBad('\u00e2\u20ac\u201d')).toBe(true);
    expect(isBad('na\u00efve caf\u00e9, r\u00e9sum\u00e9, Gr\u00f6\u00dfe')).toBe(false);
    expect(isBad('\u2264 2 cm \u2014 moderate')).toBe(false);
  });
});
