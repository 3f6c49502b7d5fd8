// Marian (OPUS-MT): the source text through source.spm, pieces numbered by
// vocab.json, a leading '>>xx<<' language code kept whole, then </s>; decoding
// through the target vocabulary (target_vocab.json when the vocabularies are
// separate) and a SentencePiece model's decode_pieces — transformers' MarianTokenizer.
import { readFileSync } from 'node:fs';
import { describe } from '../tensor.js';
import type { TokenizerConfig } from './config.js';
import { cleanUpTokenization } from './decoders.js';
import { FileReader } from './json.js';
import { pyStrip, PythonSpecials } from './python-tokenizer.js';
import { SentencePieceModel } from './sentencepiece.js';
import type { Tokenizer, TokenizerDecodeOptions, TokenizerEncodeOptions } from './tokenizer.js';

/** A vocab.json: token → id. */
export function readVocab(path: string, json: unknown): Map<string, number> {
  const r = new FileReader(path);
  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(r.object(json, 'the file'))) vocab.set(token, r.integer(id, JSON.stringify(token)));
  return vocab;
}

export function readModel(path: string): SentencePieceModel {
  let buf: Uint8Array;
  try {
    buf = readFileSync(path);
  } catch (error) {
    throw new Error(`${path}: cannot read (${(error as Error).message})`, { cause: error });
  }
  return new SentencePieceModel(buf, path);
}

/**
 * The largest of `ids` plus one (0 for none). A loop, not Math.max(...ids):
 * spreading a vocabulary of a few hundred thousand ids overflows the stack.
 */
export function vocabSizeOf(...ids: Iterable<number>[]): number {
  let largest = -1;
  for (const each of ids) for (const id of each) largest = Math.max(largest, id);
  return largest + 1;
}

export function checkIds(ids: ArrayLike<number>, vocabSize: number): void {
  if (ids === null || typeof ids !== 'object' || typeof ids.length !== 'number') throw new TypeError(`ids must be an array of integers, got ${describe(ids)}`);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new RangeError(`ids[${i}] must be an integer in [0, ${vocabSize - 1}], got ${id}`);
  }
}

export interface MarianFiles {
  source: SentencePieceModel;
  target: SentencePieceModel;
  /** vocab.json. */
  vocab: Map<string, number>;
  /** target_vocab.json, when the vocabularies are separate. */
  targetVocab?: Map<string, number>;
  config: TokenizerConfig;
}

export interface MarianDecodeOptions extends TokenizerDecodeOptions {
  /** Detokenize with source.spm (Python's `use_source_tokenizer`); ids still map through the decoder vocabulary. */
  useSourceTokenizer?: boolean;
}

export class MarianTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly padId: number | undefined;
  readonly bosId: number | undefined = undefined;
  readonly eosId: number | undefined;
  readonly unkId: number | undefined;
  readonly languages: ReadonlyMap<string, number>;
  readonly #f: MarianFiles;
  readonly #specials: PythonSpecials;
  readonly #decoderTokens = new Map<number, string>();
  /** Shared vocabularies decode with the source model (as transformers does), separate ones with the target's. */
  readonly #decodeModel: SentencePieceModel;

  constructor(files: MarianFiles) {
    this.#f = files;
    const { config, vocab } = files;
    this.#specials = new PythonSpecials(config);
    for (const [token, id] of files.targetVocab ?? vocab) this.#decoderTokens.set(id, token);
    this.#decodeModel = files.targetVocab ? files.target : files.source;
    this.vocabSize = vocabSizeOf(vocab.values(), this.#specials.addedTokens.keys(), files.targetVocab?.values() ?? []);
    const idOf = (role: string) => (config.specials[role] === undefined ? undefined : this.tokenToId(config.specials[role]));
    this.padId = idOf('pad_token');
    this.eosId = idOf('eos_token');
    this.unkId = idOf('unk_token');
    this.languages = new Map(files.targetVocab ? [] : [...vocab].filter(([t]) => t.startsWith('>>') && t.endsWith('<<')));
  }

  /** Source-side lookup (added tokens, then vocab.json), as `convert_tokens_to_ids`. */
  tokenToId(token: string): number | undefined {
    return this.#specials.addedIds.get(token) ?? this.#f.vocab.get(token);
  }

  /** Target-side, as `convert_ids_to_tokens` when decoding. */
  idToToken(id: number): string | undefined {
    return this.#specials.addedTokens.get(id) ?? this.#decoderTokens.get(id);
  }

  encode(text: string, options: TokenizerEncodeOptions = {}): Int32Array {
    if (typeof text !== 'string') throw new TypeError(`text must be a string, got ${describe(text)}`);
    if (options.sourceLanguage !== undefined) {
      throw new RangeError(`sourceLanguage must be undefined for Marian (a target language is a '>>xx<<' prefix of the text), got ${JSON.stringify(options.sourceLanguage)}`);
    }
    const tokens = this.#specials.tokenize(text, (chunk) => {
      // A leading '>>xx<<' is a token of its own.
      const end = chunk.startsWith('>>') ? chunk.indexOf('<<') : -1;
      const code = end >= 0 ? [chunk.slice(0, end + 2)] : [];
      return [...code, ...this.#f.source.encode(end >= 0 ? chunk.slice(end + 2) : chunk).map((p) => p.piece)];
    });
    const unk = this.#f.vocab.get(this.#f.config.specials.unk_token ?? '<unk>');
    const ids = tokens.map((t) => {
      const id = this.tokenToId(t) ?? unk;
      if (id === undefined) throw new Error(`vocab.json: has no id for ${JSON.stringify(t)} nor for unk_token`);
      return id;
    });
    if (options.addSpecialTokens !== false && this.eosId !== undefined) ids.push(this.eosId);
    return Int32Array.from(ids);
  }

  decode(ids: ArrayLike<number>, options: MarianDecodeOptions = {}): string {
    checkIds(ids, this.vocabSize);
    const skip = options.skipSpecialTokens ?? true;
    const specialIds = new Set([...this.#specials.allSpecial].map((t) => this.tokenToId(t)));
    const model = options.useSourceTokenizer === undefined ? this.#decodeModel : options.useSourceTokenizer ? this.#f.source : this.#f.target;
    let out = '';
    let pieces: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (skip && specialIds.has(id)) continue;
      const token = this.idToToken(id) ?? (id < model.size ? model.pieces[id].piece : undefined) ?? this.#f.config.specials.unk_token ?? '';
      if (this.#specials.allSpecial.has(token)) {
        out += model.decodePieces(pieces) + token + ' ';
        pieces = [];
      } else pieces.push(token);
    }
    out += model.decodePieces(pieces);
    const text = pyStrip(out.replaceAll('\u2581', ' '));
    return this.#f.config.cleanUpTokenizationSpaces ? cleanUpTokenization(text) : text;
  }
}
