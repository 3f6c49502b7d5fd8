// A bare SentencePiece model (*.model) as a Tokenizer: the library's own ids,
// then </s> (the model's eos_id) unless addSpecialTokens is false.
import { describe } from '../tensor.js';
import { checkIds } from './marian.js';
import { PieceType, type SentencePieceModel } from './sentencepiece.js';
import type { Tokenizer, TokenizerDecodeOptions, TokenizerEncodeOptions } from './tokenizer.js';

export class SentencePieceTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly padId: number | undefined;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  readonly unkId: number | undefined;
  readonly languages: ReadonlyMap<string, number> = new Map();
  readonly #model: SentencePieceModel;

  constructor(model: SentencePieceModel) {
    this.#model = model;
    this.vocabSize = model.size;
    const id = (i: number) => (i >= 0 && i < model.size ? i : undefined);
    this.padId = id(model.padId);
    this.bosId = id(model.bosId);
    this.eosId = id(model.eosId);
    this.unkId = id(model.unkId);
  }

  encode(text: string, options: TokenizerEncodeOptions = {}): Int32Array {
    if (typeof text !== 'string') throw new TypeError(`text must be a string, got ${describe(text)}`);
    if (options.sourceLanguage !== undefined) throw new RangeError(`sourceLanguage must be undefined (this tokenizer has no language codes), got ${JSON.stringify(options.sourceLanguage)}`);
    const ids = this.#model.encode(text).map((p) => p.id);
    if (options.addSpecialTokens !== false && this.eosId !== undefined) ids.push(this.eosId);
    return Int32Array.from(ids);
  }

  /** As the library's DecodeIds; with skipSpecialTokens false, control pieces (<s>, </s>) are written out. */
  decode(ids: ArrayLike<number>, options: TokenizerDecodeOptions = {}): string {
    checkIds(ids, this.vocabSize);
    const skip = options.skipSpecialTokens ?? true;
    let out = '';
    let pieces: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const p = this.#model.pieces[ids[i]];
      if (p.type === PieceType.Control && !skip) {
        out += this.#model.decodePieces(pieces) + p.piece;
        pieces = [];
      } else pieces.push(p.piece);
    }
    return out + this.#model.decodePieces(pieces);
  }

  tokenToId(token: string): number | undefined {
    return this.#model.has(token) ? this.#model.pieceToId(token) : undefined;
  }

  idToToken(id: number): string | undefined {
    return Number.isInteger(id) && id >= 0 && id < this.vocabSize ? this.#model.pieces[id].piece : undefined;
  }
}
