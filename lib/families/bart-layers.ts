// The layer names Marian, BART, mBART and M2M100 share (the fairseq lineage):
// q/k/v/out projections, fc1/fc2, a norm after (or before) each sub-layer.
import type { TransformerConfig } from '../model/config.js';
import { field, intField, isBool, isString, sameField, unsupported, type HFConfig, type Recipe } from './family.js';

const ACTIVATIONS: Readonly<Record<string, TransformerConfig['activation']>> = {
  relu: 'relu',
  gelu: 'gelu',
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
  swish: 'silu',
  silu: 'silu',
};

/** Our feed-forward activation for Hugging Face's `activation_function` name. */
export function activation(hf: HFConfig, file: string, key = 'activation_function'): TransformerConfig['activation'] {
  const name = field(hf, file, key, isString, 'a string', 'gelu');
  if (!Object.hasOwn(ACTIVATIONS, name)) throw unsupported(file, key, name, Object.keys(ACTIVATIONS).join(', '));
  return ACTIVATIONS[name];
}

function linear(out: Map<string, Recipe>, ours: string, theirs: string): void {
  out.set(`${ours}.weight`, { rows: [`${theirs}.weight`] });
  out.set(`${ours}.bias`, { rows: [`${theirs}.bias`] });
}

function attention(out: Map<string, Recipe>, ours: string, theirs: string): void {
  const qkv = (p: 'weight' | 'bias') => ['q_proj', 'k_proj', 'v_proj'].map((n) => `${theirs}.${n}.${p}`);
  out.set(`${ours}.in_proj_weight`, { rows: qkv('weight') });
  out.set(`${ours}.in_proj_bias`, { rows: qkv('bias') });
  linear(out, `${ours}.out_proj`, `${theirs}.out_proj`);
}

/** Every encoder and decoder layer, plus the final and embedding norms the config has; `model` is the checkpoint's prefix. */
export function bartLayers(c: Readonly<TransformerConfig>, out: Map<string, Recipe>, model = 'model'): void {
  for (const stack of ['encoder', 'decoder'] as const) {
    const layers = stack === 'encoder' ? c.encoderLayers : c.decoderLayers;
    for (let i = 0; i < layers; i++) {
      const [ours, theirs] = [`transformer.${stack}.layers.${i}`, `${model}.${stack}.layers.${i}`];
      attention(out, `${ours}.self_attn`, `${theirs}.self_attn`);
      linear(out, `${ours}.norm1`, `${theirs}.self_attn_layer_norm`);
      if (stack === 'decoder') {
        attention(out, `${ours}.multihead_attn`, `${theirs}.encoder_attn`);
        linear(out, `${ours}.norm2`, `${theirs}.encoder_attn_layer_norm`);
      }
      linear(out, `${ours}.linear1`, `${theirs}.fc1`);
      linear(out, `${ours}.linear2`, `${theirs}.fc2`);
      linear(out, `${ours}.norm${stack === 'encoder' ? 2 : 3}`, `${theirs}.final_layer_norm`);
    }
    if (c.finalNorm) linear(out, `transformer.${stack}.norm`, `${model}.${stack}.layer_norm`);
    if (c.embeddingNorm) linear(out, `transformer.${stack}.embed_norm`, `${model}.${stack}.layernorm_embedding`);
  }
}

/** The settings Marian, BART, mBART and M2M100 read the same way from config.json. */
export function bartConfig(hf: HFConfig, file: string): Partial<TransformerConfig> {
  const int = (key: string, fallback?: number) => intField(hf, file, key, fallback);
  const flag = (key: string, fallback: boolean) => field(hf, file, key, isBool, 'a boolean', fallback);
  const vocab = int('vocab_size');
  const pad = int('pad_token_id');
  const eos = int('eos_token_id');
  return {
    dModel: int('d_model'),
    heads: sameField(hf, file, 'encoder_attention_heads', 'decoder_attention_heads'),
    dFF: sameField(hf, file, 'encoder_ffn_dim', 'decoder_ffn_dim'),
    encoderLayers: int('encoder_layers'),
    decoderLayers: int('decoder_layers'),
    srcVocab: vocab,
    tgtVocab: vocab,
    maxPositions: int('max_position_embeddings'),
    activation: activation(hf, file),
    scaleEmbeddings: flag('scale_embedding', false),
    tieOutput: flag('tie_word_embeddings', true),
    shareEmbeddings: true,
    padId: pad,
    bosId: int('decoder_start_token_id', eos),
    eosId: eos,
    unkId: int('unk_token_id', pad),
  };
}
