// Marian (OPUS-MT): post-LN, static sinusoids with the sines in the first
// half of each vector and the cosines in the second, embeddings x sqrt(D),
// a tied output layer plus final_logits_bias; optionally a separate target
// vocabulary (share_encoder_decoder_embeddings: false).
import { Tensor } from '../tensor.js';
import { bartConfig, bartLayers } from './bart-layers.js';
import { field, intField, isBool, pick, type Family, type Recipe } from './family.js';

/**
 * Marian's table [P, D]: column j < ceil(D/2) is sin(p / 10000^(2j/D)), column
 * ceil(D/2) + j is cos(p / 10000^(2j/D)); computed in float64 and rounded
 * once, as transformers does with numpy.
 */
export function marianPositions(P: number, D: number): Tensor {
  const out = new Float32Array(P * D);
  const sines = Math.ceil(D / 2);
  for (let p = 0; p < P; p++) {
    for (let j = 0; j < D; j++) {
      const even = j < sines ? 2 * j : 2 * (j - sines);
      const angle = p / Math.pow(10000, even / D);
      out[p * D + j] = j < sines ? Math.sin(angle) : Math.cos(angle);
    }
  }
  return new Tensor(out, [P, D]); // [P, D]
}

export const marian: Family = {
  config(hf, file) {
    const shared = field(hf, file, 'share_encoder_decoder_embeddings', isBool, 'a boolean', true);
    const base = bartConfig(hf, file);
    return {
      ...base,
      tgtVocab: shared ? base.srcVocab : intField(hf, file, 'decoder_vocab_size', base.srcVocab),
      shareEmbeddings: shared,
      finalNorm: false,
      bosId: intField(hf, file, 'decoder_start_token_id', base.padId),
    };
  },
  recipes(c, _hf, has) {
    const recipes = new Map<string, Recipe>();
    recipes.set('src_tok_emb.embedding.weight', {
      rows: [c.shareEmbeddings ? pick(has, 'model.shared.weight', 'model.encoder.embed_tokens.weight') : pick(has, 'model.encoder.embed_tokens.weight', 'model.shared.weight')],
    });
    if (!c.shareEmbeddings) recipes.set('tgt_tok_emb.embedding.weight', { rows: ['model.decoder.embed_tokens.weight'] });
    const stored = 'model.encoder.embed_positions.weight';
    recipes.set('positional_encoding.pos_embedding', has(stored) ? { rows: [stored] } : { make: () => marianPositions(c.maxPositions, c.dModel), shape: [c.maxPositions, c.dModel] });
    bartLayers(c, recipes);
    if (!c.tieOutput) recipes.set('generator.weight', { rows: ['lm_head.weight'] });
    recipes.set('generator.bias', { rows: ['final_logits_bias'], reshape: [c.tgtVocab] });
    return recipes;
  },
  ignored: /^(model\.decoder\.embed_positions\.weight|model\.(encoder|decoder)\.embed_tokens\.weight|model\.shared\.weight|lm_head\.weight)$/,
};
