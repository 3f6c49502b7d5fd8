// M2M100 and NLLB (model_type m2m_100): pre-LN with final norms, embeddings x
// sqrt(D), fairseq's sinusoids (sines then cosines) with positions counted over
// non-pad tokens from padding_idx + 1, a tied output layer without bias.
import { Tensor } from '../tensor.js';
import { bartConfig, bartLayers } from './bart-layers.js';
import { pick, type Family, type Recipe } from './family.js';

/**
 * Rows [first, first + P) of fairseq's table as transformers computes it (in
 * float32, each step rounded as torch does): with h = floor(D/2) and
 * f_j = exp(-j · ln(10000) / (h - 1)), column j < h is sin(p · f_j), column
 * h + j is cos(p · f_j), and an odd D gets a zero last column.
 */
export function m2m100Positions(P: number, D: number, first: number): Tensor {
  const f = Math.fround;
  const h = Math.floor(D / 2);
  const step = f(Math.log(10000) / (h - 1));
  const frequencies = Array.from({ length: h }, (_, j) => f(Math.exp(f(j * -step))));
  const out = new Float32Array(P * D); // [P, D]
  for (let p = 0; p < P; p++) {
    for (let j = 0; j < h; j++) {
      const angle = f((first + p) * frequencies[j]);
      out[p * D + j] = Math.sin(angle);
      out[p * D + h + j] = Math.cos(angle);
    }
  }
  return new Tensor(out, [P, D]);
}

export const m2m100: Family = {
  config(hf, file) {
    return { ...bartConfig(hf, file), normFirst: true, finalNorm: true, outputBias: false, skipPadPositions: true };
  },
  recipes(c, _hf, has) {
    const recipes = new Map<string, Recipe>();
    recipes.set('src_tok_emb.embedding.weight', { rows: [pick(has, 'model.shared.weight', 'model.encoder.embed_tokens.weight', 'model.decoder.embed_tokens.weight')] });
    recipes.set('positional_encoding.pos_embedding', { make: () => m2m100Positions(c.maxPositions, c.dModel, c.padId + 1), shape: [c.maxPositions, c.dModel] });
    bartLayers(c, recipes);
    if (!c.tieOutput) recipes.set('generator.weight', { rows: ['lm_head.weight'] });
    return recipes;
  },
  ignored: /^(model\.(encoder|decoder)\.embed_tokens\.weight|model\.shared\.weight|lm_head\.weight|model\.(encoder|decoder)\.embed_positions\.weights?)$/,
};
