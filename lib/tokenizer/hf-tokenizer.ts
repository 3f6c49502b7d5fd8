// A Hugging Face tokenizer.json (the `tokenizers` crate's format): added
// tokens, normalizer, pre-tokenizer, BPE or Unigram model, post-processor and
// decoder, each as the crate runs it.
import { describe } from '../tensor.js';
import { AddedTokenMatcher, type AddedToken, type Segment } from './added-tokens.js';
import { Bpe } from './bpe.js';
import type { TokenizerConfig } from './config.js';
import { cleanUpTokenization, readDecoder, type Decoder } from './decoders.js';
import { FileReader } from './json.js';
import { readNormalizer, type Normalizer } from './normalizers.js';
import { readPostProcessor, type TemplatePiece } from './post-processors.js';
import { readPreTokenizer, type PreTokenizer, type Word } from './pre-tokenizers.js';
import type { Tokenizer, TokenizerDecodeOptions, TokenizerEncodeOptions } from './tokenizer.js';
import { Unigram } from './unigram.js';

/** mBART's 'fr_XX', NLLB's 'fra_Latn': the shapes of language-code tokens in tokenizer.json families. */
const LANGUAGE_CODE = /^(?:[a-z]{2,3}_[A-Z]{2}|[a-z]{3}_[A-Z][a-z]{3})$/;

interface Model {
  tokenize(word: string, out: number[]): void;
}

export class HFTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly padId: number | undefined;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  readonly unkId: number | undefined;
  readonly languages: ReadonlyMap<string, number>;
  readonly #model: Model;
  readonly #isBpe: boolean;
  /** id -> token: a Map, since ids come from the file and may be sparse (an array would be sized by the largest). */
  readonly #tokens = new Map<number, string>();
  readonly #ids = new Map<string, number>();
  readonly #special = new Set<number>();
  readonly #rawAdded: AddedTokenMatcher;
  readonly #normalizedAdded: AddedTokenMatcher;
  readonly #normalizer: Normalizer | undefined;
  readonly #preTokenizer: PreTokenizer | undefined;
  readonly #template: TemplatePiece[] | undefined;
  readonly #decoder: Decoder | undefined;
  readonly #cleanUp: boolean;

  /** `json`: the parsed tokenizer.json read from `file`; `config`: tokenizer_config.json's special tokens. */
  constructor(json: unknown, file: string, config?: TokenizerConfig) {
    const r: FileReader = new FileReader(file);
    const j = r.object(json, 'the file');
    const m = r.object(j.model, 'model');
    const tokens = this.#tokens;
    let modelUnk: number | undefined;
    if (m.type === 'BPE') {
      if (m.dropout !== null && m.dropout !== undefined && m.dropout !== 0) r.fail('model.dropout', 'null (BPE dropout is random)', m.dropout);
      const vocab = new Map<string, number>();
      for (const [token, id] of Object.entries(r.object(m.vocab, 'model.vocab'))) {
        const n = r.integer(id, `model.vocab[${JSON.stringify(token)}]`);
        vocab.set(token, n);
        tokens.set(n, token);
      }
      const merges = r.array(m.merges, 'model.merges').map((merge, i): [string, string] => {
        if (Array.isArray(merge) && merge.length === 2 && typeof merge[0] === 'string' && typeof merge[1] === 'string') return [merge[0], merge[1]];
        const parts = typeof merge === 'string' ? merge.split(' ') : [];
        if (parts.length !== 2) r.fail(`model.merges[${i}]`, '"a b" or ["a", "b"]', merge);
        return [parts[0], parts[1]];
      });
      const unkToken = r.optionalString(m.unk_token, 'model.unk_token');
      try {
        this.#model = new Bpe(vocab, {
          merges,
          unkToken,
          continuingSubwordPrefix: r.optionalString(m.continuing_subword_prefix, 'model.continuing_subword_prefix'),
          endOfWordSuffix: r.optionalString(m.end_of_word_suffix, 'model.end_of_word_suffix'),
          fuseUnk: r.boolean(m.fuse_unk, 'model.fuse_unk', false),
          byteFallback: r.boolean(m.byte_fallback, 'model.byte_fallback', false),
          ignoreMerges: r.boolean(m.ignore_merges, 'model.ignore_merges', false),
        });
      } catch (error) {
        throw new Error(`${file}: model.${(error as Error).message}`, { cause: error });
      }
      modelUnk = unkToken === undefined ? undefined : vocab.get(unkToken);
    } else if (m.type === 'Unigram') {
      const vocab = r.array(m.vocab, 'model.vocab').map((entry, i): [string, number] => {
        const e = r.array(entry, `model.vocab[${i}]`);
        return [r.string(e[0], `model.vocab[${i}][0]`), r.number(e[1], `model.vocab[${i}][1]`)];
      });
      vocab.forEach(([token], id) => tokens.set(id, token));
      if (m.unk_id !== null && m.unk_id !== undefined) {
        modelUnk = r.integer(m.unk_id, 'model.unk_id');
        if (modelUnk >= vocab.length) r.fail('model.unk_id', `an id below ${vocab.length}`, modelUnk);
      }
      this.#model = new Unigram(vocab, modelUnk, r.boolean(m.byte_fallback, 'model.byte_fallback', false));
    } else {
      r.unsupported('model.type', m.type);
    }
    this.#isBpe = m.type === 'BPE';

    const added: AddedToken[] = r.array(j.added_tokens ?? [], 'added_tokens').map((t, i) => {
      const f = `added_tokens[${i}]`;
      const o = r.object(t, f);
      return {
        id: r.integer(o.id, `${f}.id`),
        content: r.string(o.content, `${f}.content`),
        special: r.boolean(o.special, `${f}.special`, false),
        singleWord: r.boolean(o.single_word, `${f}.single_word`, false),
        lstrip: r.boolean(o.lstrip, `${f}.lstrip`, false),
        rstrip: r.boolean(o.rstrip, `${f}.rstrip`, false),
        normalized: r.boolean(o.normalized, `${f}.normalized`, true),
      };
    });
    for (const t of added) tokens.set(t.id, t.content);
    // In id order, so that of two ids with one token the larger wins (as the tokenizers crate's vocab does).
    const ids = [...tokens.keys()].sort((a, b) => a - b);
    for (const id of ids) this.#ids.set(tokens.get(id)!, id);
    for (const t of added) this.#ids.set(t.content, t.id);
    this.vocabSize = ids.length === 0 ? 0 : ids[ids.length - 1] + 1;
    const specialContents = new Set(added.filter((t) => t.special).map((t) => t.content));
    for (const [id, t] of tokens) if (specialContents.has(t)) this.#special.add(id);

    this.#normalizer = readNormalizer(r, j.normalizer, 'normalizer');
    this.#preTokenizer = readPreTokenizer(r, j.pre_tokenizer, 'pre_tokenizer');
    this.#template = readPostProcessor(r, j.post_processor, 'post_processor');
    this.#decoder = readDecoder(r, j.decoder, 'decoder');
    this.#rawAdded = new AddedTokenMatcher(added.filter((t) => !t.normalized));
    // Normalized added tokens are matched in normalized text, so their content is normalized too.
    this.#normalizedAdded = new AddedTokenMatcher(
      added.filter((t) => t.normalized).map((t) => ({ ...t, content: this.#normalizer ? this.#normalizer(t.content) : t.content })),
    );

    const specials = config?.specials ?? {};
    const idOf = (role: string) => (specials[role] === undefined ? undefined : this.#ids.get(specials[role]));
    this.padId = idOf('pad_token');
    this.bosId = idOf('bos_token');
    this.eosId = idOf('eos_token');
    this.unkId = idOf('unk_token') ?? modelUnk;
    this.languages = new Map(added.filter((t) => t.special && LANGUAGE_CODE.test(t.content)).map((t) => [t.content, t.id]));
    this.#cleanUp = config?.cleanUpTokenizationSpaces ?? false;
  }

  encode(text: string, options: TokenizerEncodeOptions = {}): Int32Array {
    if (typeof text !== 'string') throw new TypeError(`text must be a string, got ${describe(text)}`);
    const ids: number[] = [];
    let first = true; // the next piece starts the input
    for (const raw of this.#rawAdded.split(text)) {
      if (raw.id !== undefined) {
        ids.push(raw.id);
      } else {
        const normalized = this.#normalizer ? this.#normalizer(raw.text) : raw.text;
        for (const piece of this.#normalizedAdded.split(normalized)) this.#tokenizePiece(piece, first, ids);
      }
      first = false;
    }
    return Int32Array.from(this.#addSpecialTokens(ids, options));
  }

  #tokenizePiece(piece: Segment, first: boolean, ids: number[]): void {
    if (piece.id !== undefined) {
      ids.push(piece.id);
      return;
    }
    if (piece.text.length === 0) return;
    let words: Word[] = [{ text: piece.text, first }];
    if (this.#preTokenizer) words = this.#preTokenizer(words);
    for (const w of words) this.#model.tokenize(w.text, ids);
  }

  #addSpecialTokens(ids: number[], options: TokenizerEncodeOptions): number[] {
    const language = options.sourceLanguage;
    if (language !== undefined) {
      if (typeof language !== 'string') throw new TypeError(`sourceLanguage must be a string, got ${describe(language)}`);
      if (!this.languages.has(language) || !this.#template?.some((p) => !p.sequence && this.languages.has(p.token))) {
        const known = [...this.languages.keys()];
        throw new RangeError(`sourceLanguage must be ${known.length > 0 ? `one of ${known.slice(0, 8).join(', ')}${known.length > 8 ? ', …' : ''}` : 'undefined (this tokenizer has no language codes)'}, got ${JSON.stringify(language)}`);
      }
    }
    if (options.addSpecialTokens === false || !this.#template) return ids;
    return this.#template.flatMap((p) => {
      if (p.sequence) return ids;
      if (language !== undefined && this.languages.has(p.token)) return [this.languages.get(language)!];
      return p.ids;
    });
  }

  decode(ids: ArrayLike<number>, options: TokenizerDecodeOptions = {}): string {
    const skip = options.skipSpecialTokens ?? true;
    const tokens: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      // Past the vocabulary (a model's table may be padded, as T5's is) there is no token: skipped, as the tokenizers crate does.
      if (!Number.isInteger(id) || id < 0) throw new RangeError(`ids[${i}] must be an integer id >= 0, got ${id}`);
      const token = this.#tokens.get(id);
      if (token === undefined || (skip && this.#special.has(id))) continue;
      tokens.push(token);
    }
    const text = this.#decoder ? this.#decoder(tokens).join('') : tokens.join(' ');
    // transformers skips the clean-up for BPE models (it would remove real spaces).
    return this.#cleanUp && !this.#isBpe ? cleanUpTokenization(text) : text;
  }

  tokenToId(token: string): number | undefined {
    return this.#ids.get(token);
  }

  idToToken(id: number): string | undefined {
    return Number.isInteger(id) && id >= 0 ? this.#tokens.get(id) : undefined;
  }
}
