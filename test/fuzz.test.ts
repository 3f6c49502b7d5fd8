// The fuzzer (tools/fuzz) itself, and the committed corpora: every input that
// ever reached new coverage still keeps the invariant. Both run in plain Node
// child processes (the fuzzer reads V8's coverage of dist/ through node:inspector),
// so they test the built dist/ (`npm test` builds first).
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('fuzzing', () => {
  it('finds the planted bug of a toy target with a fixed seed', () => {
    const out = execFileSync(process.execPath, ['tools/fuzz/selftest.mjs', '2', '20000'], { encoding: 'utf8' });
    const result = JSON.parse(out.trim().split('\n').pop()!);
    expect(result.found?.problem).toMatch(/engine error TypeError: Cannot read properties of undefined/);
    expect(result.found.input.startsWith('{":')).toBe(true);
  });

  it('replays every seed and committed corpus input through its target: each returns or throws a clear Error', () => {
    const run = spawnSync(process.execPath, ['tools/fuzz/main.mjs', '--replay', '--crashes', 'fuzz-crashes'], { encoding: 'utf8' });
    expect(run.stdout).toMatch(/fuzz: no findings/);
    expect(run.status).toBe(0);
  });
});
