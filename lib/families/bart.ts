// BART (post-LN) and mBART (pre-LN with final norms): learned positions whose
// first two rows are never used (transformers looks up position + 2), a
// LayerNorm over the embeddings, a tied output layer plus final_logits_bias.
import { bartConfig, bartLayers } from './bart-layers.js';
import { pick, type Family, type Recipe } from './family.js';

/** transformers' BartLearnedPositionalEmbedding offset. */
const POSITION_OFFSET = 2;

function bartFamily(preLN: boolean): Family {
  return {
    config(hf, file) {
      return {
        ...bartConfig(hf, file),
        positions: 'separate',
        embeddingNorm: true,
        normFirst: preLN,
        finalNorm: preLN,
      };
    },
    recipes(c, _hf, has) {
      const recipes = new Map<string, Recipe>();
      recipes.set('src_tok_emb.embedding.weight', { rows: [pick(has, 'model.shared.weight', 'model.encoder.embed_tokens.weight', 'model.decoder.embed_tokens.weight')] });
      recipes.set('positional_encoding.src_pos_embedding', { rows: ['model.encoder.embed_positions.weight'], fromRow: POSITION_OFFSET });
      recipes.set('positional_encoding.tgt_pos_embedding', { rows: ['model.decoder.embed_positions.weight'], fromRow: POSITION_OFFSET });
      bartLayers(c, recipes);
      if (!c.tieOutput) recipes.set('generator.weight', { rows: ['lm_head.weight'] });
      recipes.set('generator.bias', { rows: ['final_logits_bias'], reshape: [c.tgtVocab] });
      return recipes;
    },
    ignored: /^(model\.(encoder|decoder)\.embed_tokens\.weight|model\.shared\.weight|lm_head\.weight)$/,
  };
}

export const bart = bartFamily(false);
export const mbart = bartFamily(true);
