// M2M100: sentencepiece.bpe.model pieces numbered by vocab.json, '__xx__'
// language tokens after the vocabulary; the source is [__src__] text </s> —
// transformers' M2M100Tokenizer.
import { describe } from '../tensor.js';
import type { TokenizerConfig } from './config.js';
import { cleanUpTokenization } from './decoders.js';
import { checkIds } from './marian.js';
import { pyStrip, PythonSpecials } from './python-tokenizer.js';
import type { SentencePieceModel } from './sentencepiece.js';
import type { Tokenizer, TokenizerDecodeOptions, TokenizerEncodeOptions } from './tokenizer.js';

const LANGUAGE_TOKEN = /^__([a-z]{2,3})__$/;

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
  readonly #specials: PythonSpecials;
  readonly #config: TokenizerConfig;
  readonly #sourceLanguage: string;

  constructor(model: SentencePieceModel, vocab: Map<string, number>, config: TokenizerConfig, file: string) {
    this.#model = model;
    this.#vocab = vocab;
    this.#config = config;
    this.#specials = new PythonSpecials(config);
    for (const [token, id] of vocab) this.#tokens.set(id, token);
    for (const [id, token] of this.#specials.addedTokens) this.#tokens.set(id, token);
    this.vocabSize = Math.max(...this.#tokens.keys()) + 1;
    const languages = new Map<string, number>();
    for (const [id, token] of this.#specials.addedTokens) {
      const m = LANGUAGE_TOKEN.exec(token);
      if (m) languages.set(m[1], id);
    }
    this.languages = languages;
    const idOf = (role: string) => (config.specials[role] === undefined ? undefined : this.tokenToId(config.specials[role]));
    this.padId = idOf('pad_token');
    this.bosId = idOf('bos_token');
    this.eosId = idOf('eos_token');
    this.unkId = idOf('unk_token');
    // transformers' default source language when the config names none.
    this.#sourceLanguage = config.srcLang ?? 'en';
    if (!languages.has(this.#sourceLanguage)) {
      throw new Error(`${file}: src_lang ${JSON.stringify(this.#sourceLanguage)} has no '__${this.#sourceLanguage}__' token in added_tokens_decoder`);
    }
  }

  tokenToId(token: string): number | undefined {
    return this.#specials.addedIds.get(token) ?? this.#vocab.get(token);
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

  decode(ids: ArrayLike<number>, options: TokenizerDecodeOptions = {}): string {
    checkIds(ids, this.vocabSize);
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
