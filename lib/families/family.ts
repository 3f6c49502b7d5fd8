// What a checkpoint family adapter is: Hugging Face config.json -> our
// TransformerConfig, and each of our weight names -> the checkpoint tensors it
// is made of (nanoGPT's from_pretrained, as a table). Every family is the same
// model configured differently; nothing here computes a layer.
import { Tensor, describe, formatShape, type Shape } from '../tensor.js';
import type { TransformerConfig } from '../model/config.js';
import { listed, scratchSource, type WeightSource } from '../model/weights.js';
import type { Checkpoint } from '../io/checkpoint.js';

/** config.json as read. */
export type HFConfig = Readonly<Record<string, unknown>>;

/**
 * How one of our weights is made:
 *  - `rows`: checkpoint tensors stacked along their first dimension (one: as it is),
 *    e.g. q_proj, k_proj, v_proj -> in_proj_weight; `fromRow` drops leading rows
 *    (BART's position offset);
 *  - `make`: computed, e.g. a sinusoidal table the checkpoint does not store, of
 *    `shape` (known without making it: its size comes from config.json, and is
 *    checked before anything is allocated).
 */
export type Recipe =
  | { rows: readonly string[]; fromRow?: number; reshape?: Shape }
  | { make: () => Tensor; shape: Shape };

/** The most values a computed tensor may hold (64 MiB of float32; real position tables take about a million): more is a config.json out of all proportion. */
const MAX_COMPUTED_VALUES = 2 ** 24;

export interface Family {
  /** Our config for this checkpoint (`has`: whether it stores a tensor); errors name config.json's field. */
  config(hf: HFConfig, file: string, has: (name: string) => boolean): Partial<TransformerConfig>;
  /** Our weight names -> recipes, given the checkpoint's tensor names (tied weights may be stored under one name only). */
  recipes(c: Readonly<TransformerConfig>, hf: HFConfig, has: (name: string) => boolean): Map<string, Recipe>;
  /** Checkpoint tensors the model does not need (e.g. a position table aiayn computes itself). */
  ignored?: RegExp;
}

/** A config.json field: its value when `check` accepts it, `fallback` when absent; else an Error naming the file and field. */
export function field<T>(hf: HFConfig, file: string, key: string, check: (v: unknown) => v is T, expected: string, fallback?: T): T {
  const v = hf[key];
  if ((v === undefined || v === null) && fallback !== undefined) return fallback;
  if (!check(v)) throw new Error(`${file}: "${key}" must be ${expected}, got ${describe(v)}`);
  return v;
}

export const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
export const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
export const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
export const isString = (v: unknown): v is string => typeof v === 'string';

/** An integer field of config.json (>= 0), with an optional default. */
export function intField(hf: HFConfig, file: string, key: string, fallback?: number): number {
  return field(hf, file, key, isInt, 'an integer >= 0', fallback);
}

/** Two config.json fields that must agree because aiayn has one value for both (e.g. encoder and decoder heads). */
export function sameField(hf: HFConfig, file: string, a: string, b: string, fallback?: number): number {
  const x = intField(hf, file, a, fallback);
  const y = intField(hf, file, b, x);
  if (x !== y) throw new Error(`${file}: "${a}" (${x}) and "${b}" (${y}) differ, which aiayn does not support`);
  return x;
}

/** An error for a config value aiayn cannot run, naming it. */
export function unsupported(file: string, key: string, value: unknown, supported: string): Error {
  return new Error(`${file}: "${key}" = ${describe(value)} is not supported (supported: ${supported})`);
}

/** The first of `names` the checkpoint has (tied weights are stored under one of their names); the first when none. */
export function pick(has: (name: string) => boolean, ...names: string[]): string {
  return names.find(has) ?? names[0];
}

function recipeShape(recipe: Recipe, shapes: ReadonlyMap<string, Shape>, missing: string[], bad: string[], name: string): Shape | undefined {
  if ('make' in recipe) {
    const values = recipe.shape.reduce((a, d) => a * d, 1);
    if (values > MAX_COMPUTED_VALUES) {
      bad.push(`${name}: computing ${formatShape(recipe.shape)} (from config.json's sizes) would take ${values} values, more than ${MAX_COMPUTED_VALUES}`);
      return undefined;
    }
    return recipe.shape;
  }
  const parts = recipe.rows.map((n) => {
    const s = shapes.get(n);
    if (s === undefined) missing.push(n);
    return s;
  });
  if (parts.some((s) => s === undefined)) return undefined;
  const [first, ...rest] = parts as Shape[];
  if (recipe.fromRow && rest.length > 0) throw new Error(`recipe of ${name}: fromRow needs a single tensor`);
  if (rest.some((s) => s.length !== first.length || s.some((d, i) => i > 0 && d !== first[i]))) {
    bad.push(`${recipe.rows.join(' + ')}: shapes ${parts.map((s) => formatShape(s!)).join(', ')} cannot be stacked into ${name}`);
    return undefined;
  }
  const rows = parts.reduce((n, s) => n + s![0], 0) - (recipe.fromRow ?? 0);
  if (rows < 0) {
    bad.push(`${recipe.rows[0]}: ${formatShape(first)} has fewer than ${recipe.fromRow} rows`);
    return undefined;
  }
  return recipe.reshape ?? [rows, ...first.slice(1)];
}

/**
 * Our weights over a checkpoint, made as the recipes say when taken. All
 * missing tensors, unstackable shapes and unexpected tensors are reported in
 * one Error naming the checkpoint; shapes are then checked against the config
 * by the model (checkWeights), in our names.
 */
export function recipeSource(recipes: ReadonlyMap<string, Recipe>, checkpoint: Checkpoint, ignored?: RegExp): WeightSource {
  const missing: string[] = [];
  const bad: string[] = [];
  const shapes = new Map<string, Shape>();
  for (const [name, recipe] of recipes) {
    const shape = recipeShape(recipe, checkpoint.shapes, missing, bad, name);
    if (shape !== undefined) shapes.set(name, shape);
  }
  const used = new Set([...recipes.values()].flatMap((r) => ('rows' in r ? r.rows : [])));
  const unexpected = [...checkpoint.shapes.keys()].filter((n) => !used.has(n) && !ignored?.test(n));
  if (missing.length + bad.length + unexpected.length > 0) {
    const parts = [
      missing.length ? `missing tensors (${missing.length}): ${listed(missing)}` : '',
      bad.length ? listed(bad, '; ') : '',
      unexpected.length ? `unexpected tensors (${unexpected.length}), from a variant aiayn does not support: ${listed(unexpected)}` : '',
    ].filter(Boolean);
    throw new Error(`${checkpoint.source}: the weights do not match the config: ${parts.join('. ')}`);
  }
  // With scratch (a transient weight, see scratchSource): a single tensor is read, and stacked ones are
  // joined, in its first bytes.
  const make = (name: string, scratch?: ArrayBuffer): Tensor => {
    const recipe = recipes.get(name)!;
    if ('make' in recipe) return recipe.make();
    const shape = shapes.get(name)!;
    const size = shape.reduce((a, d) => a * d, 1);
    if (recipe.rows.length === 1 && !recipe.fromRow) return checkpoint.read(recipe.rows[0], scratch).reshape(shape);
    if (recipe.fromRow) {
      const t = checkpoint.read(recipe.rows[0]);
      return new Tensor(t.data.subarray(t.size - size), shape);
    }
    const out = scratch ? new Float32Array(scratch, 0, size) : new Float32Array(size);
    let at = 0;
    for (const part of recipe.rows) {
      const t = checkpoint.read(part);
      out.set(t.data, at);
      at += t.size;
    }
    return new Tensor(out, shape);
  };
  return scratchSource(shapes, make);
}
