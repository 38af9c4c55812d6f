/**
 * transformers `CLIPTextConfig` as stored in a pipeline's `text_encoder/config.json`, with the library's
 * defaults (transformers 4.44) for keys a file leaves out.
 */
import type { UnaryOp } from '../../kernels/elementwise.js';
import { ConfigError } from '../../runtime/errors.js';
import { type ConfigObject, ConfigReader } from '../config.js';

export interface CLIPTextConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  maxPositionEmbeddings: number;
  /** The MLP activation as one of our kernels' ops. */
  hiddenAct: UnaryOp;
  layerNormEps: number;
  /**
   * `eos_token_id`. The SD1/SD2 hub configs carry the legacy value 2, for which transformers pools at
   * `argmax(input_ids)` (the highest id, `<|endoftext|>`, is the EOS); any other value pools at the first
   * position holding that id.
   */
  eosTokenId: number;
}

/** transformers `ACT2FN` names we implement, mapped to kernel ops (exact erf gelu for "gelu"). */
const ACTIVATIONS: Readonly<Record<string, UnaryOp>> = {
  quick_gelu: 'quick_gelu',
  gelu: 'gelu',
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
  relu: 'relu',
  silu: 'silu',
  swish: 'silu',
};

export function parseCLIPTextConfig(raw: ConfigObject, source = 'text_encoder/config.json'): CLIPTextConfig {
  // A full `CLIPConfig` nests the text tower under `text_config`.
  const r0 = new ConfigReader(raw, source);
  const r = r0.has('text_config') ? r0.object('text_config') : r0;
  const act = r.oneOf('hidden_act', Object.keys(ACTIVATIONS), 'quick_gelu');
  const cfg: CLIPTextConfig = {
    vocabSize: r.count('vocab_size', 49408),
    hiddenSize: r.count('hidden_size', 512),
    intermediateSize: r.count('intermediate_size', 2048),
    numHiddenLayers: r.count('num_hidden_layers', 12),
    numAttentionHeads: r.count('num_attention_heads', 8),
    maxPositionEmbeddings: r.count('max_position_embeddings', 77),
    hiddenAct: ACTIVATIONS[act] as UnaryOp,
    layerNormEps: r.number('layer_norm_eps', 1e-5),
    eosTokenId: r.int('eos_token_id', 49407),
  };
  if (cfg.hiddenSize % cfg.numAttentionHeads !== 0) {
    throw new ConfigError(
      'BAD_CONFIG',
      `${source}: hidden_size ${cfg.hiddenSize} is not divisible by num_attention_heads ${cfg.numAttentionHeads}`,
    );
  }
  return cfg;
}
