import { ConfigError } from '../../runtime/errors.js';

/**
 * JSON.parse that also accepts the bare `NaN`, `Infinity` and `-Infinity` tokens Python's `json` module writes
 * (every DPM-Solver `scheduler_config.json` on the hub has `"lambda_min_clipped": -Infinity`). The tokens are
 * only recognised outside strings.
 */
export function parseLenientJson(text: string, source = 'JSON'): unknown {
  const SENTINEL = '\u0000medgpu-nonfinite:';
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === '"') {
      // Copy a string literal verbatim, escapes included.
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    const rest = text.slice(i, i + 9);
    const token = rest.startsWith('-Infinity')
      ? '-Infinity'
      : rest.startsWith('Infinity')
        ? 'Infinity'
        : rest.startsWith('NaN')
          ? 'NaN'
          : null;
    if (token) {
      out += JSON.stringify(SENTINEL + token);
      i += token.length;
      continue;
    }
    out += c;
    i++;
  }
  try {
    return JSON.parse(out, (_key, value: unknown) =>
      typeof value === 'string' && value.startsWith(SENTINEL) ? Number(value.slice(SENTINEL.length)) : value,
    );
  } catch (e) {
    throw new ConfigError('BAD_CONFIG', `${source}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
}
