// Typed reads of tokenizer files: every malformed field is an Error naming the file and the field.

export type Json = Record<string, unknown>;

export class FileReader {
  constructor(readonly file: string) {}

  fail(field: string, expected: string, actual: unknown): never {
    const shown = JSON.stringify(actual);
    throw new Error(`${this.file}: ${field} must be ${expected}, got ${shown === undefined ? String(actual) : shown.length > 80 ? shown.slice(0, 77) + '...' : shown}`);
  }

  object(v: unknown, field: string): Json {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.fail(field, 'an object', v);
    return v as Json;
  }

  array(v: unknown, field: string): unknown[] {
    if (!Array.isArray(v)) this.fail(field, 'an array', v);
    return v;
  }

  string(v: unknown, field: string): string {
    if (typeof v !== 'string') this.fail(field, 'a string', v);
    return v;
  }

  number(v: unknown, field: string): number {
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(field, 'a number', v);
    return v;
  }

  integer(v: unknown, field: string): number {
    if (!Number.isSafeInteger(v) || (v as number) < 0) this.fail(field, 'an integer ≥ 0', v);
    return v as number;
  }

  boolean(v: unknown, field: string, fallback?: boolean): boolean {
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'boolean') this.fail(field, 'a boolean', v);
    return v;
  }

  optionalString(v: unknown, field: string): string | undefined {
    return v === undefined || v === null ? undefined : this.string(v, field);
  }

  unsupported(field: string, type: unknown): never {
    throw new Error(`${this.file}: ${field} of type ${JSON.stringify(type)} is not supported`);
  }
}
