// tokenizer.json pre-tokenizers: each splits a piece of normalized text into
// words, with the `tokenizers` crate's split behaviours.
import { bytesToChars, GPT2_PATTERN } from './byte-level.js';
import type { FileReader } from './json.js';
import { readPattern } from './normalizers.js';
import { isNumeric, isPunctuation, isWhitespace } from './unicode.js';

export interface Word {
  text: string;
  /** Starts at the start of the whole input (Metaspace's prepend_scheme "first"). */
  first: boolean;
}

export type PreTokenizer = (words: Word[]) => Word[];

type Behavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';
type Span = [start: number, end: number, match: boolean];

const BEHAVIORS: readonly Behavior[] = ['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'];

/** The crate's `NormalizedString::split`: spans covering `text` regrouped by `behavior`; empty pieces dropped. */
function splitSpans(text: string, spans: Span[], behavior: Behavior): string[] {
  let groups: Span[] = [];
  let previousMatch = false;
  switch (behavior) {
    case 'Removed':
      groups = spans.filter((s) => !s[2]);
      break;
    case 'Isolated':
      groups = spans;
      break;
    case 'MergedWithPrevious':
      for (const s of spans) {
        if (s[2] && !previousMatch && groups.length > 0) groups[groups.length - 1][1] = s[1];
        else groups.push([s[0], s[1], false]);
        previousMatch = s[2];
      }
      break;
    case 'MergedWithNext':
      for (let i = spans.length - 1; i >= 0; i--) {
        const s = spans[i];
        if (s[2] && !previousMatch && groups.length > 0) groups[groups.length - 1][0] = s[0];
        else groups.push([s[0], s[1], false]);
        previousMatch = s[2];
      }
      groups.reverse();
      break;
    case 'Contiguous':
      for (const s of spans) {
        if (s[2] === previousMatch && groups.length > 0) groups[groups.length - 1][1] = s[1];
        else groups.push([s[0], s[1], false]);
        previousMatch = s[2];
      }
      break;
  }
  return groups.filter((g) => g[1] > g[0]).map((g) => text.slice(g[0], g[1]));
}

function regexSpans(text: string, pattern: RegExp, invert = false): Span[] {
  const spans: Span[] = [];
  let previous = 0;
  pattern.lastIndex = 0;
  for (let m = pattern.exec(text); m; m = pattern.exec(text)) {
    const start = m.index;
    const end = start + m[0].length;
    if (end === start) {
      pattern.lastIndex = end + (text.codePointAt(end)! > 0xffff ? 2 : 1);
      if (start >= text.length) break;
      continue;
    }
    if (start > previous) spans.push([previous, start, invert]);
    spans.push([start, end, !invert]);
    previous = end;
  }
  if (previous < text.length || text.length === 0) spans.push([previous, text.length, invert]);
  return spans;
}

/** Each matching character on its own, the runs between them whole (the crate's char patterns). */
function charSpans(text: string, test: (c: string) => boolean): Span[] {
  if (text.length === 0) return [[0, 0, false]];
  const spans: Span[] = [];
  let i = 0;
  let run = 0;
  for (const c of text) {
    if (test(c)) {
      if (run < i) spans.push([run, i, false]);
      spans.push([i, i + c.length, true]);
      run = i + c.length;
    }
    i += c.length;
  }
  if (run < i) spans.push([run, i, false]);
  return spans;
}

function splitEach(words: Word[], split: (text: string, first: boolean) => string[]): Word[] {
  const out: Word[] = [];
  for (const w of words) split(w.text, w.first).forEach((text, i) => out.push({ text, first: w.first && i === 0 }));
  return out;
}

function readBehavior(r: FileReader, v: unknown, field: string, fallback: Behavior): Behavior {
  if (v === undefined) return fallback;
  if (!BEHAVIORS.includes(v as Behavior)) r.fail(field, `one of ${BEHAVIORS.join(', ')}`, v);
  return v as Behavior;
}

/** Metaspace's prepend_scheme, from the newer field or the older add_prefix_space. */
export function readPrependScheme(r: FileReader, n: Record<string, unknown>, field: string): 'always' | 'first' | 'never' {
  if (n.prepend_scheme !== undefined) {
    const s = n.prepend_scheme;
    if (s !== 'always' && s !== 'first' && s !== 'never') r.fail(`${field}.prepend_scheme`, '"always", "first" or "never"', s);
    return s;
  }
  return r.boolean(n.add_prefix_space, `${field}.add_prefix_space`, true) ? 'always' : 'never';
}

/** The ByteLevel pre-tokenizer as a function of one piece (also the byte-level step of a Sequence). */
export function byteLevel(addPrefixSpace: boolean, useRegex: boolean): (text: string) => string[] {
  return (text) => {
    const t = addPrefixSpace && !text.startsWith(' ') ? ' ' + text : text;
    const parts = useRegex ? splitSpans(t, regexSpans(t, GPT2_PATTERN), 'Isolated') : [t];
    return parts.map(bytesToChars);
  };
}

export function readPreTokenizer(r: FileReader, v: unknown, field: string): PreTokenizer | undefined {
  if (v === null || v === undefined) return undefined;
  const p = r.object(v, field);
  switch (p.type) {
    case 'Sequence': {
      const parts = r
        .array(p.pretokenizers, `${field}.pretokenizers`)
        .map((q, i) => readPreTokenizer(r, q, `${field}.pretokenizers[${i}]`))
        .filter((q): q is PreTokenizer => q !== undefined);
      return (words) => parts.reduce((w, q) => q(w), words);
    }
    case 'ByteLevel': {
      const split = byteLevel(r.boolean(p.add_prefix_space, `${field}.add_prefix_space`, true), r.boolean(p.use_regex, `${field}.use_regex`, true));
      return (words) => splitEach(words, split);
    }
    case 'Metaspace': {
      const replacement = r.string(p.replacement, `${field}.replacement`);
      if (Array.from(replacement).length !== 1) r.fail(`${field}.replacement`, 'one character', replacement);
      const scheme = readPrependScheme(r, p, field);
      const split = r.boolean(p.split, `${field}.split`, true);
      return (words) =>
        splitEach(words, (text, first) => {
          let t = text.replaceAll(' ', replacement);
          if (!t.startsWith(replacement) && (scheme === 'always' || (scheme === 'first' && first))) t = replacement + t;
          return split ? splitSpans(t, charSpans(t, (c) => c === replacement), 'MergedWithNext') : [t];
        });
    }
    case 'WhitespaceSplit':
      return (words) => splitEach(words, (text) => splitSpans(text, charSpans(text, isWhitespace), 'Removed'));
    case 'Whitespace': {
      const pattern = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_C}]+|[^\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_C}\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/gu;
      return (words) => splitEach(words, (text) => splitSpans(text, regexSpans(text, pattern, true), 'Removed'));
    }
    case 'Split': {
      const pattern = readPattern(r, p.pattern, `${field}.pattern`);
      const behavior = readBehavior(r, p.behavior, `${field}.behavior`, 'Isolated');
      const invert = r.boolean(p.invert, `${field}.invert`, false);
      return (words) => splitEach(words, (text) => splitSpans(text, regexSpans(text, pattern, invert), behavior));
    }
    case 'Punctuation': {
      const behavior = readBehavior(r, p.behavior, `${field}.behavior`, 'Isolated');
      return (words) => splitEach(words, (text) => splitSpans(text, charSpans(text, isPunctuation), behavior));
    }
    case 'Digits': {
      const behavior: Behavior = r.boolean(p.individual_digits, `${field}.individual_digits`, false) ? 'Isolated' : 'Contiguous';
      return (words) => splitEach(words, (text) => splitSpans(text, charSpans(text, isNumeric), behavior));
    }
    default:
      return r.unsupported(`${field}.type`, p.type);
  }
}
