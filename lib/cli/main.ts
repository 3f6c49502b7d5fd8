// The `aiayn` command: generate, info, bench. Exit codes: 0 success, 2 usage
// error, 1 runtime error; errors are one line on stderr, never a stack trace.
import { existsSync, readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { WeightDType } from '../backend/backend.js';
import { WEIGHT_DTYPES } from '../backend/dtypes.js';
import { Transformer } from '../model/transformer.js';
import { info } from '../runtime.js';
import { generateText, requireTokenizer } from './text.js';
import { resolveGenerationOptions, type GenerationOptions } from '../generate/options.js';
import { resolveLanguages, type LanguageOptions } from '../generate/text.js';
import { runBench } from './bench.js';
import { runServe, type ServeCommandOptions } from './serve.js';

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

/** Comma-separated weight dtypes, each once. */
function dtypeList(value: string): WeightDType[] {
  const list = value.split(',').map((s) => s.trim());
  for (const d of list) {
    if (!WEIGHT_DTYPES.includes(d as WeightDType)) {
      throw new InvalidArgumentError(`--dtype must list dtypes among ${WEIGHT_DTYPES.join(', ')}, got '${value}'`);
    }
  }
  if (new Set(list).size !== list.length) throw new InvalidArgumentError(`--dtype lists a dtype twice: '${value}'`);
  return list as WeightDType[];
}

function finiteNumber(name: string) {
  return (value: string): number => {
    const x = Number(value);
    if (value.trim() === '' || !Number.isFinite(x)) throw new InvalidArgumentError(`${name} must be a number, got '${value}'`);
    return x;
  };
}

function nonNegativeInt(name: string) {
  return (value: string): number => (value === '0' ? 0 : positiveInt(name)(value));
}

interface GenerateFlags extends DTypeFlags {
  model: string;
  backend: 'native' | 'reference';
  maxNewTokens?: number;
  batchSize: number;
  numBeams?: number;
  lengthPenalty?: number;
  targetLanguage?: string;
  sourceLanguage?: string;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
}

/**
 * The generation options the flags ask for, over the model's defaults:
 * sampling when any sampling flag is given.
 */
function generationOptions(f: GenerateFlags, model: Transformer): GenerationOptions & LanguageOptions {
  const sampling = f.temperature !== undefined || f.topK !== undefined || f.topP !== undefined || f.seed !== undefined;
  if (sampling && (f.numBeams ?? 1) > 1) throw new UsageError('--num-beams > 1 cannot be combined with sampling flags (--temperature, --top-k, --top-p, --seed)');
  const options: GenerationOptions & LanguageOptions = {};
  if (f.maxNewTokens !== undefined) options.maxNewTokens = Math.min(f.maxNewTokens, model.config.maxPositions);
  // Sampling flags mean one sequence sampled, whatever the model's default beams.
  if (f.numBeams !== undefined || sampling) options.numBeams = f.numBeams ?? 1;
  if (f.lengthPenalty !== undefined) options.lengthPenalty = f.lengthPenalty;
  if (f.targetLanguage !== undefined) options.targetLanguage = f.targetLanguage;
  if (f.sourceLanguage !== undefined) options.sourceLanguage = f.sourceLanguage;
  if (sampling) {
    options.doSample = true;
    for (const key of ['temperature', 'topK', 'topP', 'seed'] as const) if (f[key] !== undefined) options[key] = f[key];
  }
  try {
    const resolved = resolveGenerationOptions(resolveLanguages(model.tokenizer?.languages, options).options, model.config, [], model.generation);
    if (!sampling && resolved.numBeams === 1 && f.lengthPenalty !== undefined) throw new UsageError('--length-penalty needs --num-beams > 1');
  } catch (error) {
    if (error instanceof UsageError) throw error;
    // Name the flag, not the option: options.topP -> --top-p.
    const flag = (name: string) => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    throw new UsageError((error as Error).message.replace(/options\.(\w+)/g, (_, name: string) => flag(name)));
  }
  return options;
}

const backendOption = () =>
  new Option('--backend <name>', 'native (C++ kernels) or reference (pure TypeScript)').choices(['native', 'reference']).default('native');

interface DTypeFlags {
  dtype: WeightDType;
  outputDtype?: WeightDType;
}

const dtypeOption = () =>
  new Option('--dtype <dtype>', "linear layers' weights: fp32, bf16 (half the memory) or int8 (a quarter)").choices(WEIGHT_DTYPES).default('fp32');
const outputDtypeOption = () =>
  new Option('--output-dtype <dtype>', 'the output projection\'s weights, if not --dtype (fp32 keeps the logits exact)').choices(WEIGHT_DTYPES);

function loadModel(dir: string, backend: 'native' | 'reference', dtypes: DTypeFlags = { dtype: 'fp32' }): Transformer {
  if (!existsSync(dir)) throw new Error(`model directory ${dir} does not exist`);
  return Transformer.load(dir, { backend, dtype: dtypes.dtype, outputDtype: dtypes.outputDtype });
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
    .description('one output line per input text (TEXT arguments, or lines on stdin): greedy, beam search or sampling')
    .requiredOption('--model <dir>', 'model directory (config.json, model.safetensors, tokenizer.json)')
    .addOption(backendOption())
    .addOption(dtypeOption())
    .addOption(outputDtypeOption())
    .option('--max-new-tokens <n>', "most tokens generated per input, a forced first token counted (default: the model's generation config, else 64)", positiveInt('--max-new-tokens'))
    .option('--batch-size <n>', 'inputs generated together', positiveInt('--batch-size'), 32)
    .option('--num-beams <n>', "beam search with n beams, 1: greedy (default: the model's generation config, else 1)", positiveInt('--num-beams'))
    .option('--target-language <code>', "target language, as the model's tokenizer names it (por_Latn, fr_XX, fr, >>fra<<)")
    .option('--source-language <code>', "source language for tokenizers that mark it (NLLB, mBART, M2M100); default the tokenizer's")
    .option('--length-penalty <x>', 'beam scores are sum(log p) / length ** x', finiteNumber('--length-penalty'))
    .option('--temperature <x>', 'sample, dividing the logits by x (> 0)', finiteNumber('--temperature'))
    .option('--top-k <n>', 'sample among the k most likely tokens', positiveInt('--top-k'))
    .option('--top-p <x>', 'sample among the most likely tokens holding probability x', finiteNumber('--top-p'))
    .option('--seed <n>', 'seed for sampling (same seed, same output)', nonNegativeInt('--seed'))
    .argument('[text...]', 'input texts')
    .action(async (texts: string[], opts: GenerateFlags) => {
      const inputs = texts.length > 0 ? texts : await readStdinLines();
      if (inputs.length === 0) throw new UsageError('no input: give TEXT arguments or non-empty lines on stdin');
      const model = loadModel(opts.model, opts.backend, opts);
      try {
        requireTokenizer(model, opts.model);
        const options = generationOptions(opts, model);
        for (let i = 0; i < inputs.length; i += opts.batchSize) {
          const batch = inputs.slice(i, i + opts.batchSize);
          // Input i samples from seed + i, whatever the batch size.
          const seeded = options.seed === undefined ? options : { ...options, seed: options.seed + i };
          for (const line of generateText(model, batch, seeded)) process.stdout.write(line + '\n');
        }
      } finally {
        model.dispose();
      }
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
    .option('--dtype <list>', 'weight dtypes to measure side by side, comma-separated (fp32, bf16, int8)', dtypeList, ['fp32'])
    .action((opts: { model: string; batch: number; srcLen: number; newTokens: number; reference: boolean; dtype: WeightDType[] }) => {
      runBench(opts.model, opts);
    });

  /** An integer flag in [min, max] (the serve command's). */
  function intInRange(name: string, min: number, max: number) {
    return (value: string): number => {
      const n = Number(value);
      if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer in [${min}, ${max}], got '${value}'`);
      return n;
    };
  }

  /** A byte count: an integer, optionally with a binary unit (4GiB, 512M, 64k). */
  function bytesFlag(name: string) {
    return (value: string): number => {
      const m = /^(\d+)\s*(?:([kmgt])(?:i?b)?)?$/i.exec(value);
      const n = m ? Number(m[1]) * 1024 ** (m[2] ? 'kmgt'.indexOf(m[2].toLowerCase()) + 1 : 0) : NaN;
      if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive number of bytes (e.g. 4294967296 or 4GiB), got '${value}'`);
      return n;
    };
  }

  program
    .command('serve')
    .description('HTTP server: OpenAI-compatible /v1/completions, TGI-compatible /generate and /generate_stream, /health, /metrics')
    .requiredOption('--model <dir>', 'model directory (config.json, model.safetensors, tokenizer.json)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port (0: any free port)', intInRange('--port', 0, 65535), 8080)
    .addOption(backendOption())
    .addOption(dtypeOption())
    .addOption(outputDtypeOption())
    .option('--max-batch <n>', 'most rows (beams, sequences) decoded together (default 32)', positiveInt('--max-batch'))
    .option('--max-queue <n>', 'most requests waiting for rows; more are answered 429 (default 256)', intInRange('--max-queue', 0, 1 << 20))
    .option('--threads <n>', 'kernel threads (default: AIAYN_THREADS, else the physical cores)', positiveInt('--threads'))
    .option('--max-kv-bytes <bytes>', "most memory the batch's KV caches may hold (e.g. 4GiB); larger requests are refused, others wait (default: a quarter of RAM)", bytesFlag('--max-kv-bytes'))
    .option('--max-restarts <n>', "restarts of a crashed engine worker allowed per minute before the server reports it down (default 3; 0: never)", intInRange('--max-restarts', 0, 1 << 20))
    .option('--max-body-bytes <n>', 'largest request body; larger ones are answered 413 (default 1048576)', positiveInt('--max-body-bytes'))
    .option('--max-prompt-tokens <n>', "most source tokens per prompt (default: the model's maxPositions)", positiveInt('--max-prompt-tokens'))
    .option('--max-tokens-cap <n>', "largest max_tokens / max_new_tokens a request may ask (default: the model's maxPositions)", positiveInt('--max-tokens-cap'))
    .option('--drain-timeout <ms>', 'on SIGTERM/SIGINT, how long in-flight requests may take to finish', intInRange('--drain-timeout', 0, 2 ** 31 - 1), 60_000)
    .action(async (opts: ServeCommandOptions) => {
      await runServe(opts);
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
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(message.startsWith('aiayn: ') ? `${message}\n` : `aiayn: ${message}\n`);
    return error instanceof UsageError ? 2 : 1;
  }
}
