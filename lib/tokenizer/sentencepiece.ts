// A SentencePiece model file (*.model, *.spm: a ModelProto) and the
// sentencepiece library's own encoding and decoding of it: its normalizer
// (precompiled charsmap, longest match; whitespace rules), Unigram Viterbi with
// float32 path scores or BPE by piece score, unknown runs merged, byte fallback.
import { Heap } from './heap.js';
import { CharsMap } from './precompiled.js';
import { PrefixMap } from './prefix-map.js';
import { readFields, WireType, type Field } from './protobuf.js';
import { utf8Length } from './unicode.js';
import { byteToken, UNK_PENALTY, viterbi } from './unigram.js';

export const enum PieceType {
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
}

export interface Piece {
  piece: string;
  score: number;
  type: PieceType;
}

/** An encoded piece: its string (an unknown run's text, or <0xXX>) and id. */
export interface EncodedPiece {
  piece: string;
  id: number;
}

const SPACE = '\u2581';
const SPACE_BYTES = [0xe2, 0x96, 0x81];
const FLT_MIN = 1.1754943508222875e-38;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function utf8CharLength(lead: number): number {
  return lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
}

export class SentencePieceModel {
  readonly pieces: Piece[] = [];
  modelType = 1; // UNIGRAM
  unkId = 0;
  bosId = 1;
  eosId = 2;
  padId = -1;
  byteFallback = false;
  unkSurface = ' \u2047 ';
  addDummyPrefix = true;
  removeExtraWhitespaces = true;
  escapeWhitespaces = true;
  readonly #source: string;
  #charsMap: CharsMap | undefined;
  /** NORMAL, USER_DEFINED and UNUSED pieces (what the library matches against text). */
  readonly #matchable = new Map<string, number>();
  /** Every piece, first id wins. */
  readonly #ids = new Map<string, number>();
  #userDefined = new PrefixMap();
  #userDefinedBytes: Uint8Array[] = [];
  #lattice = new PrefixMap();
  #minScore = Infinity;
  #maxScore = FLT_MIN;

  /** Parses a serialized ModelProto; `source` (the file) names it in errors. */
  constructor(buf: Uint8Array, source: string) {
    this.#source = source;
    let trainer: Uint8Array | undefined;
    let normalizer: Uint8Array | undefined;
    for (const f of readFields(buf, source)) {
      if (f.number === 1) this.pieces.push(this.#readPiece(f));
      else if (f.number === 2) trainer = this.#bytes(f, 'trainer_spec');
      else if (f.number === 3) normalizer = this.#bytes(f, 'normalizer_spec');
      else if (f.number === 5 && this.#bytes(f, 'denormalizer_spec').length > 0) {
        for (const d of readFields(f.bytes, `${source}: denormalizer_spec`)) {
          if (d.number === 2 && d.bytes.length > 0) throw new Error(`${source}: denormalizer_spec.precompiled_charsmap is not supported`);
        }
      }
    }
    if (this.pieces.length === 0) throw new Error(`${source}: no pieces (not a SentencePiece model?)`);
    if (trainer) this.#readTrainer(trainer);
    if (normalizer) this.#readNormalizer(normalizer);
    if (this.modelType !== 1 && this.modelType !== 2) throw new Error(`${source}: trainer_spec.model_type ${this.modelType} is not supported (UNIGRAM = 1, BPE = 2)`);
    this.pieces.forEach((p, id) => {
      if (!this.#ids.has(p.piece)) this.#ids.set(p.piece, id);
      if (p.type === PieceType.Normal || p.type === PieceType.UserDefined || p.type === PieceType.Unused) {
        if (this.#matchable.has(p.piece)) throw new Error(`${source}: piece ${JSON.stringify(p.piece)} is defined twice`);
        this.#matchable.set(p.piece, id);
        if (p.type !== PieceType.Unused) this.#lattice.set(p.piece, id);
      }
      if (p.type === PieceType.UserDefined) {
        this.#userDefined.set(p.piece, id);
        this.#userDefinedBytes.push(encoder.encode(p.piece));
      }
      if (p.type === PieceType.Normal) {
        this.#minScore = Math.min(this.#minScore, p.score);
        this.#maxScore = Math.max(this.#maxScore, p.score);
      }
    });
    if (this.unkId < 0 || this.unkId >= this.pieces.length || this.pieces[this.unkId].type !== PieceType.Unknown) {
      throw new Error(`${source}: trainer_spec.unk_id must name the UNKNOWN piece, got ${this.unkId}`);
    }
  }

  #bytes(f: Field, name: string): Uint8Array {
    if (f.wire !== WireType.Bytes) throw new Error(`${this.#source}: ${name} must be a message, got wire type ${f.wire}`);
    return f.bytes;
  }

  #readPiece(f: Field): Piece {
    const p: Piece = { piece: '', score: 0, type: PieceType.Normal };
    const where = `${this.#source}: pieces[${this.pieces.length}]`;
    for (const g of readFields(this.#bytes(f, `pieces[${this.pieces.length}]`), where)) {
      if (g.number === 1 && g.wire === WireType.Bytes) p.piece = decoder.decode(g.bytes);
      else if (g.number === 2 && g.wire === WireType.Fixed32) p.score = g.value;
      else if (g.number === 3 && g.wire === WireType.Varint) {
        if (g.value < 1 || g.value > 6) throw new Error(`${where}.type must be in [1, 6], got ${g.value}`);
        p.type = g.value;
      }
    }
    return p;
  }

  #readTrainer(buf: Uint8Array): void {
    for (const f of readFields(buf, `${this.#source}: trainer_spec`)) {
      if (f.wire === WireType.Varint) {
        if (f.number === 3) this.modelType = f.value;
        else if (f.number === 35) this.byteFallback = f.value !== 0;
        else if (f.number === 40) this.unkId = f.int32;
        else if (f.number === 41) this.bosId = f.int32;
        else if (f.number === 42) this.eosId = f.int32;
        else if (f.number === 43) this.padId = f.int32;
        else if (f.number === 24 && f.value !== 0) throw new Error(`${this.#source}: trainer_spec.treat_whitespace_as_suffix is not supported`);
      } else if (f.wire === WireType.Bytes && f.number === 44) this.unkSurface = decoder.decode(f.bytes);
    }
  }

  #readNormalizer(buf: Uint8Array): void {
    const where = `${this.#source}: normalizer_spec`;
    for (const f of readFields(buf, where)) {
      if (f.number === 2 && f.wire === WireType.Bytes && f.bytes.length > 0) this.#charsMap = new CharsMap(f.bytes, where);
      else if (f.wire === WireType.Varint) {
        if (f.number === 3) this.addDummyPrefix = f.value !== 0;
        else if (f.number === 4) this.removeExtraWhitespaces = f.value !== 0;
        else if (f.number === 5) this.escapeWhitespaces = f.value !== 0;
      }
    }
  }

  get size(): number {
    return this.pieces.length;
  }

  /** The library's PieceToId: normal pieces, then reserved ones, else the unknown id. */
  pieceToId(piece: string): number {
    return this.#matchable.get(piece) ?? this.#ids.get(piece) ?? this.unkId;
  }

  /** Whether `piece` is one of the model's pieces. */
  has(piece: string): boolean {
    return this.#ids.has(piece);
  }

  /** sentencepiece's Normalizer::Normalize. */
  normalize(text: string): string {
    const input = encoder.encode(text);
    const n = input.length;
    const out: number[] = [];
    let pos = 0;
    if (this.removeExtraWhitespaces) {
      while (pos < n) {
        const [length, replacement] = this.#normalizePrefix(input, pos);
        if (!(replacement.length === 1 && replacement[0] === 0x20)) break;
        pos += length;
      }
    }
    if (pos >= n) return '';
    const space = this.escapeWhitespaces ? SPACE_BYTES : [0x20];
    if (this.addDummyPrefix) out.push(...space);
    let previousSpace = this.removeExtraWhitespaces;
    while (pos < n) {
      const [length, replacement] = this.#normalizePrefix(input, pos);
      let k = 0;
      while (previousSpace && k < replacement.length && replacement[k] === 0x20) k++;
      if (k < replacement.length) {
        for (let i = k; i < replacement.length; i++) {
          if (this.escapeWhitespaces && replacement[i] === 0x20) out.push(...space);
          else out.push(replacement[i]);
        }
        previousSpace = replacement[replacement.length - 1] === 0x20;
      }
      pos += length;
      if (!this.removeExtraWhitespaces) previousSpace = false;
    }
    if (this.removeExtraWhitespaces) {
      while (out.length >= space.length && space.every((b, i) => out[out.length - space.length + i] === b)) out.length -= space.length;
    }
    return decoder.decode(Uint8Array.from(out));
  }

  /** [bytes consumed, replacement]: a user-defined symbol as is, else the charsmap's longest rule, else one character. */
  #normalizePrefix(input: Uint8Array, pos: number): [number, Uint8Array | number[]] {
    let longest = 0;
    for (const u of this.#userDefinedBytes) {
      if (u.length > longest && pos + u.length <= input.length && u.every((b, i) => input[pos + i] === b)) longest = u.length;
    }
    if (longest > 0) return [longest, input.subarray(pos, pos + longest)];
    const rule = this.#charsMap?.longestPrefix(input, pos);
    if (rule) return rule;
    const length = Math.min(utf8CharLength(input[pos]), input.length - pos);
    return [length, input.subarray(pos, pos + length)];
  }

  /** As `SentencePieceProcessor.encode(text, out_type=str)` with the piece ids. */
  encode(text: string): EncodedPiece[] {
    const normalized = this.normalize(text);
    const raw = this.modelType === 2 ? this.#encodeBpe(normalized) : this.#encodeUnigram(normalized);
    const out: EncodedPiece[] = [];
    let previousUnknown = false;
    for (const p of raw) {
      const unknown = p.id === this.unkId;
      if (unknown && this.byteFallback) {
        for (const b of encoder.encode(p.piece)) {
          const piece = byteToken(b);
          out.push({ piece, id: this.pieceToId(piece) });
        }
      } else if (unknown && previousUnknown) {
        out[out.length - 1].piece += p.piece; // a run of unknown characters is one piece
      } else out.push({ ...p });
      previousUnknown = unknown;
    }
    return out;
  }

  #encodeUnigram(text: string): EncodedPiece[] {
    if (text.length === 0) return [];
    const maxScore = this.#maxScore;
    return viterbi(text, {
      pieces: this.#lattice,
      // User-defined pieces get a score that always wins, as the library's.
      score: (id, t, start, end) => (this.pieces[id].type === PieceType.UserDefined ? utf8Length(t.slice(start, end)) * maxScore - 0.1 : this.pieces[id].score),
      unkScore: Math.fround(this.#minScore - UNK_PENALTY),
      unkId: this.unkId,
      store: Math.fround,
    }).map((s) => ({ piece: text.slice(s.start, s.end), id: s.id }));
  }

  #encodeBpe(text: string): EncodedPiece[] {
    // Symbols: user-defined pieces whole (frozen), else single characters.
    const symbols: { piece: string; prev: number; next: number; frozen: boolean }[] = [];
    for (let pos = 0; pos < text.length; ) {
      const user = this.#userDefined.longest(text, pos);
      const end = user > 0 ? user : pos + (text.codePointAt(pos)! > 0xffff ? 2 : 1);
      symbols.push({ piece: text.slice(pos, end), prev: symbols.length - 1, next: end < text.length ? symbols.length + 1 : -1, frozen: user > 0 });
      pos = end;
    }
    interface Pair {
      left: number;
      right: number;
      score: number;
      length: number;
    }
    const agenda = new Heap<Pair>((a, b) => a.score > b.score || (a.score === b.score && a.left < b.left));
    const reverseMerge = new Map<string, [string, string]>();
    const addPair = (left: number, right: number) => {
      if (left < 0 || right < 0 || symbols[left].frozen || symbols[right].frozen) return;
      const piece = symbols[left].piece + symbols[right].piece;
      const id = this.#matchable.get(piece);
      if (id === undefined) return;
      agenda.push({ left, right, score: this.pieces[id].score, length: piece.length });
      if (this.pieces[id].type === PieceType.Unused) reverseMerge.set(piece, [symbols[left].piece, symbols[right].piece]);
    };
    for (let i = 1; i < symbols.length; i++) addPair(i - 1, i);
    for (let top = agenda.pop(); top; top = agenda.pop()) {
      const left = symbols[top.left];
      const right = symbols[top.right];
      if (left.piece === '' || right.piece === '' || left.piece.length + right.piece.length !== top.length) continue;
      left.piece += right.piece;
      left.next = right.next;
      if (right.next >= 0) symbols[right.next].prev = top.left;
      right.piece = '';
      addPair(left.prev, top.left);
      addPair(top.left, left.next);
    }
    const out: EncodedPiece[] = [];
    const resegment = (piece: string) => {
      const id = this.#matchable.get(piece);
      const split = id !== undefined && this.pieces[id].type === PieceType.Unused ? reverseMerge.get(piece) : undefined;
      if (split) {
        resegment(split[0]);
        resegment(split[1]);
      } else out.push({ piece, id: this.pieceToId(piece) });
    };
    for (let i = symbols.length > 0 ? 0 : -1; i !== -1; i = symbols[i].next) resegment(symbols[i].piece);
    return out;
  }

  /** As `SentencePieceProcessor.decode_pieces(pieces)`. */
  decodePieces(pieces: readonly string[]): string {
    let text = '';
    let bytes: number[] = [];
    const flushBytes = () => {
      // Each maximal valid UTF-8 character is itself; each invalid byte is U+FFFD.
      for (let i = 0; i < bytes.length; ) {
        const length = validUtf8Length(bytes, i);
        text += length > 0 ? decoder.decode(Uint8Array.from(bytes.slice(i, i + length))) : '\ufffd';
        i += Math.max(length, 1);
      }
      bytes = [];
    };
    let bosWhitespace = true; // a leading ▁ is still to be consumed
    let bosWhitespaceSeen = false;
    for (const piece of pieces) {
      const id = this.pieceToId(piece);
      const type = this.pieces[id].type;
      if (type === PieceType.Byte) {
        bytes.push(parseInt(piece.slice(3, 5), 16));
        continue;
      }
      flushBytes();
      if (bosWhitespaceSeen || text.length > 0) bosWhitespace = false;
      bosWhitespaceSeen = false;
      if (type === PieceType.Control) continue;
      if (type === PieceType.Unknown) {
        text += this.pieces[id].piece === piece ? this.unkSurface : piece;
        continue;
      }
      let p = piece;
      if (bosWhitespace && (this.addDummyPrefix || this.removeExtraWhitespaces) && p.startsWith(SPACE)) {
        p = p.slice(1);
        bosWhitespaceSeen = !this.removeExtraWhitespaces;
      }
      text += p.replaceAll(SPACE, ' ');
    }
    flushBytes();
    return text;
  }
}

/** Length of the valid UTF-8 character at bytes[i], or 0 when it is malformed. */
function validUtf8Length(bytes: number[], i: number): number {
  const b = bytes[i];
  if (b < 0x80) return 1;
  const length = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
  if (length === 0 || i + length > bytes.length) return 0;
  for (let k = 1; k < length; k++) if ((bytes[i + k] & 0xc0) !== 0x80) return 0;
  const c1 = bytes[i + 1];
  if ((b === 0xe0 && c1 < 0xa0) || (b === 0xed && c1 > 0x9f) || (b === 0xf0 && c1 < 0x90) || (b === 0xf4 && c1 > 0x8f)) return 0;
  return length;
}
