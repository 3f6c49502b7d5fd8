// What tokenizer_config.json (and special_tokens_map.json) say about special
// tokens, the default source language and decoding clean-up.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileReader, type Json } from './json.js';

export interface TokenizerConfig {
  /** Special tokens by role (bos_token, eos_token, pad_token, unk_token, …), as strings. */
  specials: Record<string, string>;
  /** Added tokens by id (`added_tokens_decoder`), for the families whose files have no tokenizer.json. */
  addedTokens: Map<number, { content: string; special: boolean; lstrip: boolean; rstrip: boolean; singleWord: boolean; normalized: boolean }>;
  /** Extra special tokens (language codes, sentinels …). */
  extraSpecialTokens: string[];
  srcLang: string | undefined;
  cleanUpTokenizationSpaces: boolean;
  /** The rest of the file, for family-specific fields (separate_vocabs …). */
  raw: Json;
}

export function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`${path}: cannot read (${(error as Error).message})`, { cause: error });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${path}: not valid JSON (${(error as Error).message})`, { cause: error });
  }
}

/** A token as the config writes it: a string or an AddedToken object with `content`. */
function tokenString(r: FileReader, v: unknown, field: string): string {
  if (typeof v === 'string') return v;
  return r.string(r.object(v, field).content, `${field}.content`);
}

const ROLES = ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token'];

/** Reads `dir`'s tokenizer_config.json and special_tokens_map.json (both optional). */
export function readTokenizerConfig(dir: string): TokenizerConfig {
  const config: TokenizerConfig = { specials: {}, addedTokens: new Map(), extraSpecialTokens: [], srcLang: undefined, cleanUpTokenizationSpaces: false, raw: {} };
  for (const name of ['special_tokens_map.json', 'tokenizer_config.json']) {
    const path = join(dir, name);
    if (!existsSync(path)) continue;
    const r = new FileReader(path);
    const j = r.object(readJsonFile(path), 'the file');
    for (const role of ROLES) if (j[role] !== undefined && j[role] !== null) config.specials[role] = tokenString(r, j[role], role);
    for (const key of ['extra_special_tokens', 'additional_special_tokens']) {
      const v = j[key];
      if (v === undefined || v === null) continue;
      // transformers 5 may write extra_special_tokens as a { name: token } object.
      const list = Array.isArray(v) ? v : Object.values(r.object(v, key));
      config.extraSpecialTokens.push(...list.map((t, i) => tokenString(r, t, `${key}[${i}]`)));
    }
    if (name === 'tokenizer_config.json') {
      config.raw = j;
      if (j.src_lang !== undefined && j.src_lang !== null) config.srcLang = r.string(j.src_lang, 'src_lang');
      config.cleanUpTokenizationSpaces = r.boolean(j.clean_up_tokenization_spaces, 'clean_up_tokenization_spaces', false);
      if (j.added_tokens_decoder !== undefined) {
        for (const [id, t] of Object.entries(r.object(j.added_tokens_decoder, 'added_tokens_decoder'))) {
          const f = `added_tokens_decoder[${JSON.stringify(id)}]`;
          if (!/^\d+$/.test(id)) r.fail('added_tokens_decoder keys', 'integer ids', id);
          const o = r.object(t, f);
          config.addedTokens.set(Number(id), {
            content: r.string(o.content, `${f}.content`),
            special: r.boolean(o.special, `${f}.special`, false),
            lstrip: r.boolean(o.lstrip, `${f}.lstrip`, false),
            rstrip: r.boolean(o.rstrip, `${f}.rstrip`, false),
            singleWord: r.boolean(o.single_word, `${f}.single_word`, false),
            normalized: r.boolean(o.normalized, `${f}.normalized`, true),
          });
        }
      }
    }
  }
  return config;
}
