// The `aiayn` command as a user runs it (dist/cli/bin.js, built by pretest):
// outputs, exit codes (0 ok, 2 usage, 1 runtime) and one-line errors.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CharTokenizer, Transformer, generate, type GenerationOptions } from '../lib/index.js';

const bin = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));
let dir = '';
let modelDir = '';

function aiayn(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [bin, ...args], { input, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'aiayn-cli-'));
  modelDir = join(dir, 'model');
  const tokenizer = CharTokenizer.fromText('abcdefghij0123456789 ');
  const V = tokenizer.vocabSize;
  const config = { dModel: 16, heads: 2, dFF: 32, encoderLayers: 1, decoderLayers: 1, srcVocab: V, tgtVocab: V, maxPositions: 32, padId: 0, bosId: 1, eosId: 2, unkId: 3 };
  const model = Transformer.random(config, { seed: 3, tokenizer });
  model.save(modelDir);
  model.dispose();
  const bare = Transformer.random(config, { seed: 3 });
  bare.save(join(dir, 'no-tokenizer'));
  bare.dispose();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('aiayn CLI', () => {
  it('--help and --version exit 0', () => {
    const help = aiayn(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/generate .*\n[\s\S]*info[\s\S]*bench/);
    for (const cmd of ['generate', 'info', 'bench']) expect(aiayn([cmd, '--help']).stdout).toMatch(/--model/);
    expect(aiayn(['--version']).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('generate prints one line per TEXT argument, the same on both backends', () => {
    const native = aiayn(['generate', '--model', modelDir, '--max-new-tokens', '5', 'abc', 'hij 42']);
    expect(native.code).toBe(0);
    expect(native.stdout.split('\n')).toHaveLength(3);
    const reference = aiayn(['generate', '--model', modelDir, '--backend', 'reference', '--max-new-tokens', '5', 'abc', 'hij 42']);
    expect(reference.stdout).toBe(native.stdout);
  });

  it('generate reads lines from stdin', () => {
    const fromArgs = aiayn(['generate', '--model', modelDir, '--max-new-tokens', '4', 'abc', 'def']);
    const fromStdin = aiayn(['generate', '--model', modelDir, '--max-new-tokens', '4', '--batch-size', '1'], 'abc\ndef\n');
    expect(fromStdin.code).toBe(0);
    expect(fromStdin.stdout).toBe(fromArgs.stdout);
  });

  it('generate --num-beams and the sampling flags give what the library gives for the same options', () => {
    const model = Transformer.load(modelDir);
    const texts = ['abc', 'hij 42'];
    const expected = (options: GenerationOptions) =>
      generate(model, texts.map((t) => model.tokenizer!.encode(t, { eos: true })), { maxNewTokens: 6, ...options })
        .map((g) => model.tokenizer!.decode(g.sequences[0].ids) + '\n').join('');
    const beam = aiayn(['generate', '--model', modelDir, '--max-new-tokens', '6', '--num-beams', '3', '--length-penalty', '0.5', ...texts]);
    expect(beam.code, beam.stderr).toBe(0);
    expect(beam.stdout).toBe(expected({ numBeams: 3, lengthPenalty: 0.5 }));
    const flags = ['--temperature', '1.3', '--top-k', '5', '--top-p', '0.9', '--seed', '7'];
    const sampled = aiayn(['generate', '--model', modelDir, '--max-new-tokens', '6', ...flags, ...texts]);
    expect(sampled.code, sampled.stderr).toBe(0);
    expect(sampled.stdout).toBe(expected({ doSample: true, temperature: 1.3, topK: 5, topP: 0.9, seed: 7 }));
    expect(aiayn(['generate', '--model', modelDir, '--max-new-tokens', '6', '--batch-size', '1', ...flags, ...texts]).stdout).toBe(sampled.stdout);
    model.dispose();
  });

  it('info prints the runtime, and the config with --model', () => {
    const plain = JSON.parse(aiayn(['info']).stdout);
    expect(plain).toMatchObject({ isa: expect.any(String), threads: expect.any(Number) });
    const withModel = JSON.parse(aiayn(['info', '--model', modelDir]).stdout);
    expect(withModel.model.config.dModel).toBe(16);
  });

  it('bench prints native and reference tokens/s', () => {
    const r = aiayn(['bench', '--model', modelDir, '--batch', '2', '--src-len', '8', '--new-tokens', '4']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\| workload \| native fp32 tokens\/s \| reference fp32 tokens\/s \| reference fp32 \/ native fp32 \|/);
    expect(r.stdout).toMatch(/\| encoder 2x8 \| \d+ \| \d+ \| [\d.]+x \|/);
    expect(r.stdout).toMatch(/\| greedy 2x4 new \| \d+ \| \d+ \| [\d.]+x \|/);
  });

  it('bench measures every --dtype side by side', () => {
    const r = aiayn(['bench', '--model', modelDir, '--batch', '2', '--src-len', '8', '--new-tokens', '4', '--no-reference', '--dtype', 'fp32,bf16,int8']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\| workload \| native fp32 tokens\/s \| native bf16 tokens\/s \| native int8 tokens\/s \| native bf16 \/ native fp32 \| native int8 \/ native fp32 \|/);
    expect(r.stdout).toMatch(/\| greedy 2x4 new( \| \d+){3}( \| [\d.]+x){2} \|/);
  });

  it('usage errors exit 2 with one line on stderr', () => {
    const cases: Array<[string[], RegExp, string?]> = [
      [['generate', 'abc'], /required option '--model <dir>' not specified/],
      [['generate', '--model', modelDir, '--max-new-tokens', '0', 'x'], /--max-new-tokens must be a positive integer, got '0'/],
      [['generate', '--model', modelDir, '--backend', 'gpu', 'x'], /--backend.*gpu.*native, reference/],
      [['generate', '--model', modelDir, '--dtype', 'fp16', 'x'], /--dtype.*fp16.*fp32, bf16, int8/],
      [['bench', '--model', modelDir, '--dtype', 'fp32,fp8'], /--dtype must list dtypes among fp32, bf16, int8, got 'fp32,fp8'/],
      [['bench', '--model', modelDir, '--dtype', 'int8,int8'], /--dtype lists a dtype twice: 'int8,int8'/],
      [['generate', '--model', modelDir], /no input/, '\n\n'],
      [['generate', '--model', modelDir, '--top-p', '2', 'x'], /--top-p must be in \(0, 1\], got 2/],
      [['generate', '--model', modelDir, '--temperature', 'hot', 'x'], /--temperature must be a number, got 'hot'/],
      [['generate', '--model', modelDir, '--num-beams', '2', '--seed', '1', 'x'], /--num-beams > 1 cannot be combined with sampling flags/],
      [['generate', '--model', modelDir, '--length-penalty', '2', 'x'], /--length-penalty needs --num-beams > 1/],
      [['frobnicate'], /unknown command 'frobnicate'/],
    ];
    for (const [args, message, input] of cases) {
      const r = aiayn(args, input ?? '');
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
  });

  it('runtime errors exit 1 with one line naming the problem', () => {
    const missing = aiayn(['generate', '--model', join(dir, 'nope'), 'x']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^aiayn: model directory .*nope does not exist\n$/);
    const noTokenizer = aiayn(['generate', '--model', join(dir, 'no-tokenizer'), 'x']);
    expect(noTokenizer.code).toBe(1);
    expect(noTokenizer.stderr).toMatch(/no-tokenizer: the model has no tokenizer files/);
    mkdirSync(join(dir, 'empty'));
    const empty = aiayn(['info', '--model', join(dir, 'empty')]);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/^aiayn: .*empty[/\\]config.json: cannot read the model config/);
  });
});
