// The fuzzer (tools/fuzz) itself, and the committed corpora: every input that
// ever reached new coverage still keeps the invariant. Fuzz runs are plain Node
// child processes (the fuzzer reads V8's coverage of dist/ through node:inspector),
// so they test the built dist/ (`npm test` builds first).
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { violation } from '../tools/fuzz/invariant.mjs';
import { decodeMessage, encodeMessage } from '../tools/fuzz/protobuf.mjs';

describe('fuzzing', () => {
  it('holds errors to the invariant: ours naming the file pass, engine errors, wrong classes and unnamed files do not', () => {
    const names = { names: ['/m/config.json'] };
    expect(violation(new Error('/m/config.json: "d_model" must be an integer >= 0, got -1'), names)).toBeUndefined();
    expect(violation(new Error('/m/config.json: not valid JSON (x)', { cause: new SyntaxError('Unexpected token') }), names)).toBeUndefined();
    expect(violation(new TypeError("Cannot read properties of undefined (reading 'x')"), names)).toMatch(/^engine error/);
    expect(violation(new Error('/m/config.json: bad', { cause: new RangeError('Invalid typed array length: -1') }), names)).toMatch(/^engine error/);
    expect(violation(new SyntaxError('Unexpected end of JSON input'), names)).toMatch(/^threw SyntaxError/);
    expect(violation(new Error('d_model must be an integer'), names)).toMatch(/does not name the file/);
    expect(violation('a string', names)).toMatch(/non-Error/);
  });

  it('decodes and re-encodes a SentencePiece model byte for byte (the protobuf mutator starts from that)', () => {
    const bytes = new Uint8Array(readFileSync('test/fixtures/hf/marian/source.spm'));
    expect(Buffer.from(encodeMessage(decodeMessage(bytes))).equals(Buffer.from(bytes))).toBe(true);
  });

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
