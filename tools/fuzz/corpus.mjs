// Corpus directories: one file per input, named by its SHA-1 (libFuzzer's layout).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const CORPUS_ROOT = new URL('./corpus/', import.meta.url).pathname;

export function hashOf(input) {
  return createHash('sha1').update(input).digest('hex');
}

/** The inputs in `dir`, sorted by name (so a replay is in a fixed order); none when it does not exist. */
export function readCorpus(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => !f.startsWith('.'))
    .sort()
    .map((f) => new Uint8Array(readFileSync(join(dir, f))));
}

export function writeInput(dir, input, prefix = '') {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, prefix + hashOf(input));
  writeFileSync(path, input);
  return path;
}
