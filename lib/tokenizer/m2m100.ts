// M2M100: sentencepiece.bpe.model pieces numbered by vocab.json, '__xx__'
// language tokens after the vocabulary; the source is [__src__] text </s> —
// transformers' M2M100Tokenizer.
import { describe } from '../tensor.js';
import type { TokenizerConfig } from './config.js';
import { cleanUpTokenization } from './decoders.js';
import { checkIds, vocabSizeOf } from './marian.js';
import { pyStrip, PythonSpecials } from './python-tokenizer.js';
import type { SentencePieceModel } from './sentencepiece.js';
import type { Tokenizer, TokenizerDecodeOptions, TokenizerEncodeOptions } from './tokenizer.js';

/**
 * The language codes, as transformers' M2M100Tokenizer defines them (its files do not list them):
 * '__xx__' tokens numbered from the end of vocab.json, in this order, for the config's `language_codes`.
 */
const LANGUAGE_CODES: Record<string, readonly string[]> = {
  m2m100: 'af am ar ast az ba be bg bn br bs ca ceb cs cy da de el en es et fa ff fi fr fy ga gd gl gu ha he hi hr ht hu hy id ig ilo is it ja jv ka kk km kn ko lb lg ln lo lt lv mg mk ml mn mr ms my ne nl no ns oc or pa pl ps pt ro ru sd si sk sl so sq sr ss su sv sw ta th tl tn tr uk ur uz vi wo xh yi yo zh zu'.split(' '),
  wmt21: 'en ha is ja cs ru zh de'.split(' '),
};

export class M2M100Tokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly padId: number | undefined;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  readonly unkId: number | undefined;
  readonly languages: ReadonlyMap<string, number>;
  readonly #model: SentencePieceModel;
  readonly #vocab: Map<string, number>;
  readonly #tokens = new Map<number, string>();
  readonly #languageTokens = new Map<string, number>();
  readonly #specials: PythonSpecials;
  readonly #config: TokenizerConfig;
  readonly #sourceLanguage: string;

  constructor(model: SentencePieceModel, vocab: Map<string, number>, config: TokenizerConfig, file: string) {
    this.#model = model;
    this.#vocab = vocab;
    this.#config = config;
    const set = config.raw.language_codes ?? 'm2m100';
    const codes = LANGUAGE_CODES[set as string];
    if (!codes) throw new Error(`${file}: language_codes must be "m2m100" or "wmt21", got ${JSON.stringify(set)}`);
    const languages = new Map(codes.map((code, i) => [code, vocab.size + i]));
    this.languages = languages;
    // Language tokens are neither added nor special tokens in transformers 5: only their ids are fixed.
    this.#specials = new PythonSpecials(config);
    for (const [token, id] of vocab) this.#tokens.set(id, token);
    for (const [code, id] of languages) {
      this.#tokens.set(id, `__${code}__`);
      this.#languageTokens.set(`__${code}__`, id);
    }
    for (const [id, token] of this.#specials.addedTokens) this.#tokens.set(id, token);
    this.vocabSize = vocabSizeOf(this.#tokens.keys());
    const idOf = (role: string) => (config.specials[role] === undefined ? undefined : this.tokenToId(config.specials[role]));
    this.padId = idOf('pad_token');
    this.bosId = idOf('bos_token');
    this.eosId = idOf('eos_token');
    this.unkId = idOf('unk_token');
    // transformers' default source language when the config names none.
    this.#sourceLanguage = config.srcLang ?? 'en';
    if (!languages.has(this.#sourceLanguage)) {
      throw new Error(`${file}: src_lang must be one of the ${set} language codes, got ${JSON.stringify(this.#sourceLanguage)}`);
    }
  }

  tokenToId(token: string): number | undefined {
    return this.#specials.addedIds.get(token) ?? this.#languageTokens.get(token) ?? this.#vocab.get(token);
  }

  idToToken(id: number): string | undefined {
    return this.#tokens.get(id);
  }

  encode(text: string, options: TokenizerEncodeOptions = {}): Int32Array {
    if (typeof text !== 'string') throw new TypeError(`text must be a string, got ${describe(text)}`);
    const language = options.sourceLanguage ?? this.#sourceLanguage;
    const languageId = this.languages.get(language);
    if (languageId === undefined) {
      throw new RangeError(`sourceLanguage must be one of ${[...this.languages.keys()].slice(0, 8).join(', ')}, …, got ${JSON.stringify(language)}`);
    }
    const tokens = this.#specials.tokenize(text, (chunk) => this.#model.encode(chunk).map((p) => p.piece));
    const unk = this.#vocab.get(this.#config.specials.unk_token ?? '<unk>');
    const ids = tokens.map((t) => {
      const id = this.tokenToId(t) ?? unk;
      if (id === undefined) throw new Error(`vocab.json: has no id for ${JSON.stringify(t)} nor for unk_token`);
      return id;
    });
    if (options.addSpecialTokens === false) return Int32Array.from(ids);
    return Int32Array.from([languageId, ...ids, ...(this.eosId === undefined ? [] : [this.eosId])]);
  }

  /** Ids past the vocabulary (the model's table has a few more: fairseq's madeup words) decode to unk_token, as in Python. */
  decode(ids: ArrayLike<number>, options: TokenizerDecodeOptions = {}): string {
    checkIds(ids, Number.MAX_SAFE_INTEGER);
    const skip = options.skipSpecialTokens ?? true;
    const specialIds = new Set([...this.#specials.allSpecial].map((t) => this.tokenToId(t)));
    let out = '';
    let pieces: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      if (skip && specialIds.has(ids[i])) continue;
      const token = this.#tokens.get(ids[i]) ?? this.#config.specials.unk_token ?? '';
      if (this.#specials.allSpecial.has(token)) {
        out += this.#model.decodePieces(pieces) + token;
        pieces = [];
      } else pieces.push(token);
    }
    out += this.#model.decodePieces(pieces);
    const text = pyStrip(out);
    return this.#config.cleanUpTokenizationSpaces ? cleanUpTokenization(text) : text;
  }
}
