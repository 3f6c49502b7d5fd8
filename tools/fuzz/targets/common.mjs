// What the targets share: the repository's paths, scratch directories on tmpfs
// (each execution writes its input as a file there), fixture directories with
// one file replaced, and the exercise that runs a loaded tokenizer.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
export const DIST = join(REPO, 'dist');
export const HF = join(REPO, 'test/fixtures/hf');

export function read(...parts) {
  return new Uint8Array(readFileSync(join(REPO, ...parts)));
}

export function utf8(text) {
  return new TextEncoder().encode(text);
}

/** A fresh directory on tmpfs when there is one (inputs are written once per execution). */
export function scratch(name) {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  return mkdtempSync(join(base, `aiayn-fuzz-${name}-`));
}

/** A scratch directory holding links to `fixture`'s files, all but `replaced` (which the target writes). */
export function linkedFixture(name, fixture, replaced, skip = /^expected\./) {
  const dir = scratch(name);
  for (const f of readdirSync(fixture)) {
    if (f !== replaced && !skip.test(f)) symlinkSync(join(fixture, f), join(dir, f));
  }
  return dir;
}

export function remove(dir) {
  rmSync(dir, { recursive: true, force: true });
}

export function write(path, input) {
  writeFileSync(path, input);
}

const TEXTS = ['Hello world', '', '  two  spaces  ', 'Ünïcödé — 日本語 🙂', '<unk> </s> <pad> >>fra<<', 'a'.repeat(200)];

/**
 * Uses a tokenizer that loaded: encodes, decodes its ids and the first ids of
 * the vocabulary. An error here is tagged phase 'use' (it need not name the
 * file, but must still be a clear Error of ours).
 */
export function exercise(tokenizer) {
  try {
    if (tokenizer === undefined) return;
    for (const text of TEXTS) {
      const ids = tokenizer.encode(text);
      tokenizer.decode(ids);
      tokenizer.decode(ids, { skipSpecialTokens: false });
    }
    const n = Math.min(tokenizer.vocabSize, 64);
    tokenizer.decode(Array.from({ length: n }, (_, i) => i), { skipSpecialTokens: false });
    for (let i = 0; i < n; i++) tokenizer.idToToken(i);
  } catch (error) {
    if (error instanceof Error) error.phase = 'use';
    throw error;
  }
}

/** Names an error must contain: the file for load errors, nothing for errors while using a loaded tokenizer. */
export function namesFor(error, names) {
  return error?.phase === 'use' ? [] : names;
}
