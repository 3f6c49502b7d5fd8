// The `aiayn` command: generate, info, bench. Exit codes: 0 success, 2 usage
// error, 1 runtime error; errors are one line on stderr, never a stack trace.
import { existsSync, readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { Transformer } from '../model/transformer.js';
import { info } from '../runtime.js';
import { generateText, requireTokenizer } from './text.js';
import { runBench } from './bench.js';

/** A usage error: exit code 2. */
class UsageError extends Error {}

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
      throw new InvalidArgumentError(`${name} must be a positive integer, got '${value}'`);
    }
    return n;
  };
}

const backendOption = () =>
  new Option('--backend <name>', 'native (C++ kernels) or reference (pure TypeScript)').choices(['native', 'reference']).default('native');

function loadModel(dir: string, backend: 'native' | 'reference'): Transformer {
  if (!existsSync(dir)) throw new Error(`model directory ${dir} does not exist`);
  return Transformer.load(dir, { backend });
}

async function readStdinLines(): Promise<string[]> {
  if (process.stdin.isTTY) throw new UsageError('give TEXT arguments or pipe lines on stdin');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/).filter((line) => line.length > 0);
}

export function buildProgram(): Command {
  const program = new Command('aiayn')
    .description('Encoder-decoder Transformer inference on native SIMD kernels')
    .version(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version)
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text.split('\n')[0] + '\n') });

  program
    .command('generate')
    .description('greedy generation: one output line per input text (TEXT arguments, or lines on stdin)')
    .requiredOption('--model <dir>', 'model directory (config.json, model.safetensors, tokenizer.json)')
    .addOption(backendOption())
    .option('--max-new-tokens <n>', 'most tokens generated per input', positiveInt('--max-new-tokens'), 64)
    .option('--batch-size <n>', 'inputs generated together', positiveInt('--batch-size'), 32)
    .argument('[text...]', 'input texts')
    .action(async (texts: string[], opts: { model: string; backend: 'native' | 'reference'; maxNewTokens: number; batchSize: number }) => {
      const inputs = texts.length > 0 ? texts : await readStdinLines();
      if (inputs.length === 0) throw new UsageError('no input: give TEXT arguments or non-empty lines on stdin');
      const model = loadModel(opts.model, opts.backend);
      const tokenizer = requireTokenizer(model, opts.model);
      const maxNew = Math.min(opts.maxNewTokens, model.config.maxPositions);
      for (let i = 0; i < inputs.length; i += opts.batchSize) {
        const batch = inputs.slice(i, i + opts.batchSize);
        for (const line of generateText(model, tokenizer, batch, maxNew)) process.stdout.write(line + '\n');
      }
      model.dispose();
    });

  program
    .command('info')
    .description("version, ISA, threads; with --model, the model's config")
    .option('--model <dir>', 'model directory')
    .action((opts: { model?: string }) => {
      const about: Record<string, unknown> = { ...info() };
      if (opts.model !== undefined) {
        const model = loadModel(opts.model, 'native');
        about.model = { dir: opts.model, config: model.config, tokenizer: model.tokenizer ? model.tokenizer.vocabSize : null };
        model.dispose();
      }
      process.stdout.write(JSON.stringify(about, null, 2) + '\n');
    });

  program
    .command('bench')
    .description('end-to-end benchmark on a model: encoder and greedy generation tokens/s, native next to reference')
    .requiredOption('--model <dir>', 'model directory')
    .option('--batch <n>', 'batch size', positiveInt('--batch'), 16)
    .option('--src-len <n>', 'source tokens per row', positiveInt('--src-len'), 32)
    .option('--new-tokens <n>', 'generated tokens per row (EOS ignored)', positiveInt('--new-tokens'), 16)
    .option('--no-reference', 'skip the pure-TypeScript reference')
    .action((opts: { model: string; batch: number; srcLen: number; newTokens: number; reference: boolean }) => {
      runBench(opts.model, opts);
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander printed the message already (or help/version, which exit 0).
      return error.exitCode === 0 ? 0 : 2;
    }
    process.stderr.write(`aiayn: ${error instanceof Error ? error.message : String(error)}\n`);
    return error instanceof UsageError ? 2 : 1;
  }
}
