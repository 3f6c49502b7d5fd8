// The checkpoint families aiayn runs, by config.json's model_type.
import type { Family } from './family.js';
import { marian } from './marian.js';
import { bart, mbart } from './bart.js';
import { m2m100 } from './m2m100.js';
import { t5 } from './t5.js';

export const FAMILIES: ReadonlyMap<string, Family> = new Map([
  ['marian', marian],
  ['bart', bart],
  ['mbart', mbart],
  ['m2m_100', m2m100],
  ['t5', t5],
]);
