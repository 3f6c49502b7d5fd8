// Text in, text out for generate() and the engine: the model's tokenizer reads
// the sources, and language codes become what each family expects — a forced
// first target token (mBART, M2M100, NLLB) or, for Marian's multilingual
// models, the >>code<< token the source starts with.
import { describe } from '../tensor.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';

/** A tokenizer's language codes -> ids (Tokenizer.languages). */
export type Languages = ReadonlyMap<string, number>;
import type { GenerationOptions } from './options.js';

export interface LanguageOptions {
  /** The target language ('por_Latn', 'fr_XX', 'fr', '>>fra<<' …, as the tokenizer's `languages` name them). */
  targetLanguage?: string;
  /** The source language for tokenizers that mark it (NLLB, mBART, M2M100); default the tokenizer's. */
  sourceLanguage?: string;
}

/** Options with their language fields resolved: forcedBosTokenId, or a source prefix id (Marian). */
export interface ResolvedLanguages {
  options: GenerationOptions;
  sourcePrefix: number | undefined;
  sourceLanguage: string | undefined;
}

function languageId(languages: Languages | undefined, name: string, code: unknown): number {
  if (typeof code !== 'string') throw new TypeError(`options.${name} must be a string, got ${describe(code)}`);
  const id = languages?.get(code);
  if (id === undefined) {
    const known = languages ? [...languages.keys()] : [];
    const list = known.length === 0 ? 'the model has no language codes' : `known: ${known.slice(0, 12).join(', ')}${known.length > 12 ? ', …' : ''}`;
    throw new RangeError(`options.${name} ${JSON.stringify(code)} is not a language of the model's tokenizer (${list})`);
  }
  return id;
}

/** Splits the language fields off `options` and resolves them with a tokenizer's `languages`. */
export function resolveLanguages(languages: Languages | undefined, options: GenerationOptions & LanguageOptions): ResolvedLanguages {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`options must be an object, got ${describe(options)}`);
  }
  const { targetLanguage, sourceLanguage, ...rest } = options;
  if (sourceLanguage !== undefined) languageId(languages, 'sourceLanguage', sourceLanguage);
  if (targetLanguage === undefined) return { options: rest, sourcePrefix: undefined, sourceLanguage };
  const id = languageId(languages, 'targetLanguage', targetLanguage);
  if (/^>>.+<<$/.test(targetLanguage)) return { options: rest, sourcePrefix: id, sourceLanguage };
  if (rest.forcedBosTokenId !== undefined && rest.forcedBosTokenId !== id) {
    throw new RangeError(`options.targetLanguage ${JSON.stringify(targetLanguage)} (id ${id}) contradicts options.forcedBosTokenId ${rest.forcedBosTokenId}`);
  }
  return { options: { ...rest, forcedBosTokenId: id }, sourcePrefix: undefined, sourceLanguage };
}

/** Source ids of `text` with `tokenizer`, after a Marian language token when one is asked for. */
export function encodeText(tokenizer: Tokenizer, text: unknown, name: string, languages: ResolvedLanguages): Int32Array {
  if (typeof text !== 'string') throw new TypeError(`${name} must be a string, got ${describe(text)}`);
  const ids = tokenizer.encode(text, languages.sourceLanguage === undefined ? undefined : { sourceLanguage: languages.sourceLanguage });
  if (languages.sourcePrefix === undefined) return ids;
  const out = new Int32Array(ids.length + 1);
  out[0] = languages.sourcePrefix;
  out.set(ids, 1);
  return out;
}
