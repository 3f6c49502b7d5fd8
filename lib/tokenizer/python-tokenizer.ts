// transformers' pure-Python tokenizer pipeline (PreTrainedTokenizer), which
// Marian and M2M100 still use: the text is cut on added tokens with its own
// trie, each piece goes through the family's `_tokenize`, and decoding joins
// pieces between special tokens.
import type { TokenizerConfig } from './config.js';

/** Python's str.isspace(). */
const PY_SPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;

export function pyStrip(text: string, left = true, right = true): string {
  const chars = Array.from(text);
  let start = 0;
  let end = chars.length;
  if (left) while (start < end && PY_SPACE.test(chars[start])) start++;
  if (right) while (end > start && PY_SPACE.test(chars[end - 1])) end--;
  return chars.slice(start, end).join('');
}

type Node = Map<string, Node> & { end?: true };

/** transformers' `Trie.split`, ported line for line (its lookahead prefers the longest token). */
export class AddedTokenTrie {
  readonly #root: Node = new Map();

  constructor(tokens: Iterable<string>) {
    for (const t of tokens) {
      if (t.length === 0) continue;
      let node = this.#root;
      for (const c of t) {
        let next = node.get(c);
        if (!next) node.set(c, (next = new Map()));
        node = next;
      }
      node.end = true;
    }
  }

  split(input: string): string[] {
    const text = Array.from(input);
    let states = new Map<number, Node>();
    const offsets = [0];
    let skip = 0;
    for (let current = 0; current < text.length; current++) {
      const char = text[current];
      if (skip && current < skip) continue;
      const remove = new Set<number>();
      let reset = false;
      for (const [begin, pointer] of states) {
        let start = begin;
        if (pointer.end) {
          let end = 0;
          for (const [lookstart, lookPointer] of states) {
            let looktrie = lookPointer;
            let lookahead: number;
            if (lookstart > start) break;
            else if (lookstart < start) {
              lookahead = current + 1;
              end = current + 1;
            } else {
              lookahead = current;
              end = current;
            }
            let next = lookahead < text.length ? text[lookahead] : undefined;
            if (looktrie.end) {
              start = lookstart;
              end = lookahead;
              skip = lookahead;
            }
            while (next !== undefined && looktrie.has(next)) {
              looktrie = looktrie.get(next)!;
              lookahead++;
              if (looktrie.end) {
                start = lookstart;
                end = lookahead;
                skip = lookahead;
              }
              if (lookahead === text.length) break;
              next = text[lookahead];
            }
          }
          offsets.push(start, end);
          reset = true;
          break;
        } else if (pointer.has(char)) {
          states.set(begin, pointer.get(char)!);
        } else {
          remove.add(begin);
        }
      }
      if (reset) states = new Map();
      else for (const r of remove) states.delete(r);
      if (current >= skip && this.#root.has(char)) states.set(current, this.#root.get(char)!);
    }
    for (const [start, pointer] of states) {
      if (pointer.end) {
        offsets.push(start, text.length);
        break;
      }
    }
    offsets.push(text.length);
    const out: string[] = [];
    let start = 0;
    for (const end of offsets) {
      if (start >= end) continue;
      out.push(text.slice(start, end).join(''));
      start = end;
    }
    return out;
  }
}

/** The added tokens and special tokens of a Python tokenizer, from tokenizer_config.json. */
export class PythonSpecials {
  readonly trie: AddedTokenTrie;
  /** Added token content → id. */
  readonly addedIds = new Map<string, number>();
  readonly addedTokens = new Map<number, string>();
  /** `all_special_tokens`: the named ones, then the extra ones. */
  readonly allSpecial: Set<string>;
  readonly #config: TokenizerConfig;

  constructor(config: TokenizerConfig) {
    this.#config = config;
    for (const [id, t] of config.addedTokens) {
      this.addedIds.set(t.content, id);
      this.addedTokens.set(id, t.content);
    }
    this.trie = new AddedTokenTrie(this.addedIds.keys());
    this.allSpecial = new Set([...Object.values(config.specials), ...config.extraSpecialTokens]);
  }

  /** `PreTrainedTokenizer.tokenize`: added tokens kept whole (with their strip rules), the rest through `tokenize`. */
  tokenize(text: string, tokenize: (chunk: string) => string[]): string[] {
    const tokens = this.trie.split(text);
    for (let i = 0; i < tokens.length; i++) {
      const id = this.addedIds.get(tokens[i]);
      if (id === undefined) continue;
      const t = this.#config.addedTokens.get(id)!;
      const left = i > 0 ? tokens[i - 1] : undefined;
      const right = i < tokens.length - 1 ? tokens[i + 1] : undefined;
      if (t.rstrip && right) tokens[i + 1] = pyStrip(right, true, false);
      if (t.lstrip && left) tokens[i - 1] = pyStrip(left, false, true);
      if (t.singleWord) {
        if (left && !left.endsWith(' ')) {
          tokens[i - 1] += tokens[i];
          tokens[i] = '';
        } else if (right && !right.startsWith(' ')) {
          tokens[i + 1] = tokens[i] + tokens[i + 1];
          tokens[i] = '';
        }
      }
    }
    const out: string[] = [];
    for (const t of tokens) {
      if (!t) continue;
      if (this.addedIds.has(t) || this.allSpecial.has(t)) out.push(t);
      else out.push(...tokenize(t));
    }
    return out;
  }
}
