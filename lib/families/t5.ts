// T5 (v1.0, v1.1, Flan-T5): pre-LN with RMSNorm and final norms, no
// position embeddings but a bucketed relative-position bias in self-attention
// (learned by each stack's first block, shared by its other blocks), no
// 1/sqrt(Dh) in attention, no biases, H·Dh may differ from D, ReLU or a
// gated GELU feed-forward, and — when the output layer is tied — the decoder
// output scaled by D^-0.5.
import { activation } from './bart-layers.js';
import { field, intField, isBool, isNumber, isString, unsupported, type Family, type Recipe } from './family.js';

export const t5: Family = {
  config(hf, file, has) {
    const proj = field(hf, file, 'feed_forward_proj', isString, 'a string', 'relu');
    const parts = proj.split('-');
    const gated = parts.length === 2 && parts[0] === 'gated';
    if (!gated && parts.length !== 1) throw unsupported(file, 'feed_forward_proj', proj, "'<act>' or 'gated-<act>'");
    // transformers runs 'gated-gelu' with gelu_new.
    const act = proj === 'gated-gelu' ? 'gelu_tanh' : activation({ act: parts[parts.length - 1] }, file, 'act');
    // transformers 5 writes tie_word_embeddings: true even for a separate lm_head, and loads a stored one untied.
    const tied = field(hf, file, 'tie_word_embeddings', isBool, 'a boolean', true) && !has('lm_head.weight');
    const scaled = field(hf, file, 'scale_decoder_outputs', isBool, 'a boolean', tied);
    if (scaled && !tied) throw unsupported(file, 'scale_decoder_outputs', true, 'true only with a tied output layer (no lm_head.weight)');
    const dModel = intField(hf, file, 'd_model');
    const eos = intField(hf, file, 'eos_token_id');
    const pad = intField(hf, file, 'pad_token_id');
    const vocab = intField(hf, file, 'vocab_size');
    return {
      dModel,
      heads: intField(hf, file, 'num_heads'),
      headDim: intField(hf, file, 'd_kv'),
      dFF: intField(hf, file, 'd_ff'),
      encoderLayers: intField(hf, file, 'num_layers'),
      decoderLayers: intField(hf, file, 'num_decoder_layers', intField(hf, file, 'num_layers')),
      srcVocab: vocab,
      tgtVocab: vocab,
      // T5 has no position limit; this bounds the sequences (and the bias table), as n_positions does in transformers' configs.
      maxPositions: intField(hf, file, 'n_positions', 512),
      positions: 'relative',
      relativeBuckets: intField(hf, file, 'relative_attention_num_buckets', 32),
      relativeMaxDistance: intField(hf, file, 'relative_attention_max_distance', 128),
      activation: act,
      gatedFeedForward: gated,
      norm: 'rmsnorm',
      normFirst: true,
      finalNorm: true,
      layerNormEps: field(hf, file, 'layer_norm_epsilon', isNumber, 'a number', 1e-6),
      scaleEmbeddings: false,
      scaleAttention: false,
      bias: false,
      outputBias: false,
      shareEmbeddings: true,
      tieOutput: tied,
      outputScale: scaled ? dModel ** -0.5 : 1,
      padId: pad,
      bosId: intField(hf, file, 'decoder_start_token_id', pad),
      eosId: eos,
      unkId: intField(hf, file, 'unk_token_id', pad),
    };
  },
  recipes(c) {
    const recipes = new Map<string, Recipe>();
    recipes.set('src_tok_emb.embedding.weight', { rows: ['shared.weight'] });
    for (const stack of ['encoder', 'decoder'] as const) {
      recipes.set(`transformer.${stack}.relative_attention_bias.weight`, { rows: [`${stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight`] });
      const layers = stack === 'encoder' ? c.encoderLayers : c.decoderLayers;
      for (let i = 0; i < layers; i++) {
        const [ours, block] = [`transformer.${stack}.layers.${i}`, `${stack}.block.${i}.layer`];
        const attention = (name: string, theirs: string) => {
          recipes.set(`${ours}.${name}.in_proj_weight`, { rows: ['q', 'k', 'v'].map((p) => `${theirs}.${p}.weight`) });
          recipes.set(`${ours}.${name}.out_proj.weight`, { rows: [`${theirs}.o.weight`] });
        };
        attention('self_attn', `${block}.0.SelfAttention`);
        recipes.set(`${ours}.norm1.weight`, { rows: [`${block}.0.layer_norm.weight`] });
        if (stack === 'decoder') {
          attention('multihead_attn', `${block}.1.EncDecAttention`);
          recipes.set(`${ours}.norm2.weight`, { rows: [`${block}.1.layer_norm.weight`] });
        }
        const ff = `${block}.${stack === 'encoder' ? 1 : 2}`;
        const wi = c.gatedFeedForward ? [`${ff}.DenseReluDense.wi_0.weight`, `${ff}.DenseReluDense.wi_1.weight`] : [`${ff}.DenseReluDense.wi.weight`];
        recipes.set(`${ours}.linear1.weight`, { rows: wi });
        recipes.set(`${ours}.linear2.weight`, { rows: [`${ff}.DenseReluDense.wo.weight`] });
        recipes.set(`${ours}.norm${stack === 'encoder' ? 2 : 3}.weight`, { rows: [`${ff}.layer_norm.weight`] });
      }
      recipes.set(`transformer.${stack}.norm.weight`, { rows: [`${stack}.final_layer_norm.weight`] });
    }
    if (!c.tieOutput) recipes.set('generator.weight', { rows: ['lm_head.weight'] });
    return recipes;
  },
  ignored: /^((encoder|decoder)\.embed_tokens\.weight|lm_head\.weight)$/,
};
