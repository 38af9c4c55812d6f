import { ConfigError } from '../runtime/errors.js';

/**
 * JSON as Python's `json.dump` writes it: standard JSON plus the bare tokens `NaN`, `Infinity` and
 * `-Infinity` (e.g. `"lambda_min_clipped": -Infinity` in DPM-Solver scheduler configs). Strict JSON text is
 * handed to `JSON.parse` directly; only text containing those tokens goes through this small parser.
 * Nesting is limited so a crafted file cannot exhaust the stack.
 */

const MAX_DEPTH = 512;

export function parseJsonLenient(text: string, file = '<json>'): unknown {
  // Fast path: most configs are strict JSON.
  try {
    return JSON.parse(text);
  } catch {
    // fall through: maybe NaN/Infinity, maybe an error we report with a position below
  }
  return new LenientParser(text, file).parseDocument();
}

class LenientParser {
  private pos = 0;
  private depth = 0;

  constructor(
    private readonly s: string,
    private readonly file: string,
  ) {}

  private fail(what: string): never {
    const before = this.s.slice(0, this.pos);
    const line = before.split('\n').length;
    const col = this.pos - before.lastIndexOf('\n');
    throw new ConfigError('BAD_CONFIG', `${this.file}: invalid JSON at line ${line}, column ${col}: ${what}`);
  }

  private ws(): void {
    while (this.pos < this.s.length) {
      const c = this.s.charCodeAt(this.pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.pos++;
      else break;
    }
  }

  parseDocument(): unknown {
    if (this.s.charCodeAt(0) === 0xfeff) this.pos = 1; // BOM
    const v = this.value();
    this.ws();
    if (this.pos !== this.s.length) this.fail('unexpected text after the value');
    return v;
  }

  private value(): unknown {
    this.ws();
    const c = this.s[this.pos];
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return this.string();
    if (this.s.startsWith('NaN', this.pos)) {
      this.pos += 3;
      return Number.NaN;
    }
    if (this.s.startsWith('Infinity', this.pos)) {
      this.pos += 8;
      return Number.POSITIVE_INFINITY;
    }
    if (this.s.startsWith('-Infinity', this.pos)) {
      this.pos += 9;
      return Number.NEGATIVE_INFINITY;
    }
    if (this.s.startsWith('true', this.pos)) {
      this.pos += 4;
      return true;
    }
    if (this.s.startsWith('false', this.pos)) {
      this.pos += 5;
      return false;
    }
    if (this.s.startsWith('null', this.pos)) {
      this.pos += 4;
      return null;
    }
    return this.number();
  }

  private enter(): void {
    if (++this.depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH}`);
  }

  private object(): Record<string, unknown> {
    this.enter();
    this.pos++; // {
    const out: Record<string, unknown> = {};
    this.ws();
    if (this.s[this.pos] === '}') {
      this.pos++;
      this.depth--;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.s[this.pos] !== '"') this.fail('expected a string key');
      const k = this.string();
      this.ws();
      if (this.s[this.pos] !== ':') this.fail('expected ":"');
      this.pos++;
      // defineProperty: a key named __proto__ stays a plain key, as with JSON.parse.
      Object.defineProperty(out, k, { value: this.value(), enumerable: true, writable: true, configurable: true });
      this.ws();
      const c = this.s[this.pos++];
      if (c === '}') break;
      if (c !== ',') this.fail('expected "," or "}"');
    }
    this.depth--;
    return out;
  }

  private array(): unknown[] {
    this.enter();
    this.pos++; // [
    const out: unknown[] = [];
    this.ws();
    if (this.s[this.pos] === ']') {
      this.pos++;
      this.depth--;
      return out;
    }
    for (;;) {
      out.push(this.value());
      this.ws();
      const c = this.s[this.pos++];
      if (c === ']') break;
      if (c !== ',') this.fail('expected "," or "]"');
    }
    this.depth--;
    return out;
  }

  private string(): string {
    // Find the closing quote (skipping escapes) and let JSON.parse decode the literal exactly.
    const start = this.pos;
    this.pos++;
    while (this.pos < this.s.length) {
      const c = this.s[this.pos];
      if (c === '\\') this.pos += 2;
      else if (c === '"') break;
      else this.pos++;
    }
    if (this.pos >= this.s.length) this.fail('unterminated string');
    this.pos++;
    try {
      return JSON.parse(this.s.slice(start, this.pos)) as string;
    } catch {
      this.pos = start;
      return this.fail('invalid string literal');
    }
  }

  private number(): number {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.s.slice(this.pos, this.pos + 400));
    if (!m) this.fail(`unexpected ${this.pos < this.s.length ? JSON.stringify(this.s[this.pos]) : 'end of text'}`);
    this.pos += (m as RegExpExecArray)[0].length;
    return Number((m as RegExpExecArray)[0]);
  }
}
