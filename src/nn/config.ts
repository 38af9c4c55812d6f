/**
 * Typed reading of model configs (diffusers/transformers `config.json`, MedVAE yaml): each getter checks the
 * type, applies the library's default, and throws a ConfigError naming the file and key when a value is
 * missing or of the wrong kind, instead of failing later with a shape error deep inside a model.
 */
import { ConfigError } from '../runtime/errors.js';

export type ConfigObject = Readonly<Record<string, unknown>>;

export class ConfigReader {
  constructor(
    readonly raw: ConfigObject,
    /** Where the config came from, for messages (e.g. `unet/config.json`). */
    readonly source: string,
  ) {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      throw new ConfigError('BAD_CONFIG', `${source}: a config must be a JSON object`);
    }
  }

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  private fail(key: string, want: string): never {
    throw new ConfigError('BAD_CONFIG', `${this.source}: "${key}" must be ${want}, got ${JSON.stringify(this.raw[key])}`);
  }

  private value(key: string, fallback: unknown): unknown {
    const v = this.raw[key];
    if (v === undefined || v === null) {
      if (fallback === undefined) throw new ConfigError('BAD_CONFIG', `${this.source}: required key "${key}" is missing`);
      return fallback;
    }
    return v;
  }

  number(key: string, fallback?: number): number {
    const v = this.value(key, fallback);
    if (typeof v !== 'number' || Number.isNaN(v)) this.fail(key, 'a number');
    return v;
  }

  int(key: string, fallback?: number): number {
    const v = this.number(key, fallback);
    if (!Number.isInteger(v)) this.fail(key, 'an integer');
    return v;
  }

  /** A positive integer (channel counts, layer counts). */
  count(key: string, fallback?: number): number {
    const v = this.int(key, fallback);
    if (v < 1) this.fail(key, 'a positive integer');
    return v;
  }

  bool(key: string, fallback?: boolean): boolean {
    const v = this.value(key, fallback);
    if (typeof v !== 'boolean') this.fail(key, 'true or false');
    return v;
  }

  string(key: string, fallback?: string): string {
    const v = this.value(key, fallback);
    if (typeof v !== 'string') this.fail(key, 'a string');
    return v;
  }

  /** One of `allowed` (a clear error lists them). */
  oneOf<T extends string>(key: string, allowed: readonly T[], fallback?: T): T {
    const v = this.string(key, fallback);
    if (!allowed.includes(v as T)) this.fail(key, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
    return v as T;
  }

  numbers(key: string, fallback?: readonly number[]): number[] {
    const v = this.value(key, fallback);
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'number')) this.fail(key, 'a list of numbers');
    return [...(v as number[])];
  }

  strings(key: string, fallback?: readonly string[]): string[] {
    const v = this.value(key, fallback);
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) this.fail(key, 'a list of strings');
    return [...(v as string[])];
  }

  /** An int or a per-block list of ints (diffusers `attention_head_dim`, `transformer_layers_per_block`). */
  intOrList(key: string, length: number, fallback?: number | readonly number[]): number[] {
    const v = this.value(key, fallback);
    if (typeof v === 'number' && Number.isInteger(v)) return Array<number>(length).fill(v);
    if (Array.isArray(v) && v.length === length && v.every((x) => Number.isInteger(x))) return [...(v as number[])];
    this.fail(key, `an integer or a list of ${length} integers`);
  }

  /** A nested object as its own reader (`ddconfig`, `model.params`). */
  object(key: string): ConfigReader {
    const v = this.value(key, undefined);
    if (typeof v !== 'object' || Array.isArray(v)) this.fail(key, 'an object');
    return new ConfigReader(v as ConfigObject, `${this.source}:${key}`);
  }

  /** Rejects a config whose `key` is set to anything but the values this implementation supports. */
  require<T>(key: string, supported: readonly T[], fallback: T): T {
    const v = this.value(key, fallback) as T;
    if (!supported.includes(v)) {
      throw new ConfigError(
        'BAD_CONFIG',
        `${this.source}: "${key}" = ${JSON.stringify(v)} is not supported (supported: ${supported.map((s) => JSON.stringify(s)).join(', ')})`,
      );
    }
    return v;
  }
}
