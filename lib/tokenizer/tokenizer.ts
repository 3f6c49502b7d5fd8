// The one interface every tokenizer implements: the character tokenizer of
// aiayn's own models and the Hugging Face families (tokenizer.json,
// SentencePiece, Marian). Encodings match Python's tokenizers id for id.

export interface TokenizerEncodeOptions {
  /** Add the special tokens the model reads (eos, language codes …), as Python's `add_special_tokens`. Default true. */
  addSpecialTokens?: boolean;
  /** Source language code for families that have them ('fr_XX', 'por_Latn', 'fr' for M2M100 …); default from the files. */
  sourceLanguage?: string;
}

export interface TokenizerDecodeOptions {
  /** Drop special tokens, as Python's `skip_special_tokens`. Default true. */
  skipSpecialTokens?: boolean;
}

export interface Tokenizer {
  /** Ids are in [0, vocabSize). */
  readonly vocabSize: number;
  readonly padId: number | undefined;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  readonly unkId: number | undefined;
  /**
   * Ids of language codes, keyed as Python's tokenizer names them: its `src_lang`/`tgt_lang` values
   * ('por_Latn' for NLLB, 'fr_XX' for mBART, 'fr' for M2M100's '__fr__') or, for Marian, the
   * '>>fra<<' tokens a source text starts with. Empty when the family has none.
   */
  readonly languages: ReadonlyMap<string, number>;
  /** The ids a model reads for `text`, as Python's `tokenizer(text)["input_ids"]`. */
  encode(text: string, options?: TokenizerEncodeOptions): Int32Array;
  /** As Python's `tokenizer.decode(ids, skip_special_tokens=…)`. */
  decode(ids: ArrayLike<number>, options?: TokenizerDecodeOptions): string;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
}
