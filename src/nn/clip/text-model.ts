/**
 * transformers `CLIPTextModel` (the text tower of SD1.x's CLIP ViT-L/14 and SD2.x's OpenCLIP ViT-H): token +
 * position embeddings, pre-LN transformer layers with causal self-attention, a final layer norm, and the
 * pooled output at the EOS token. Weights keep their upstream names (`text_model.encoder.layers.0...`).
 */
import { add } from '../../kernels/elementwise.js';
import { gather, uploadIds } from '../../kernels/embedding.js';
import { slice } from '../../kernels/layout.js';
import { MedgpuError } from '../../runtime/errors.js';
import type { DType } from '../../runtime/dtype.js';
import type { Gpu } from '../../runtime/gpu.js';
import type { Tensor } from '../../runtime/tensor.js';
import type { FileTree } from '../../io/file-tree.js';
import type { ConfigObject } from '../config.js';
import { readComponent } from '../pretrained.js';
import { type LoadOptions, type Param, ParamScope, type WeightReader, loadParams, releaseParams } from '../params.js';
import { CLIPAttention } from './attention.js';
import { type CLIPTextConfig, parseCLIPTextConfig } from './config.js';
import { LayerNorm } from '../norm.js';
import { CLIPEncoderLayer } from './layers.js';

export interface CLIPTextForwardOptions {
  /** Also return every hidden state: the embeddings, then each layer's output (before the final norm). */
  outputHiddenStates?: boolean;
}

export interface CLIPTextOutput {
  /** final_layer_norm(last layer output), [B, T, D]. */
  lastHiddenState: Tensor;
  /** lastHiddenState at each sequence's EOS token, [B, D]. */
  poolerOutput: Tensor;
  /** [embeddings, layer 1, …, layer L], each [B, T, D], when asked for. */
  hiddenStates?: Tensor[];
}

export interface PretrainedOptions {
  /** Storage dtype of weights and activations (default f32). */
  dtype?: DType;
  /** Weight file variant, e.g. "fp16" (`model.fp16.safetensors`); falls back to the standard file. */
  variant?: string;
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  signal?: AbortSignal;
}

/** Keys some hub checkpoints carry that are buffers, not parameters. */
const BUFFER_KEYS = /(^|\.)position_ids$/;

export class CLIPTextModel {
  readonly params: Param<unknown>[] = [];
  private readonly tokenEmbedding: Param;
  private readonly positionEmbedding: Param;
  private readonly layers: CLIPEncoderLayer[];
  private readonly finalLayerNorm: LayerNorm;

  constructor(readonly config: CLIPTextConfig) {
    const root = new ParamScope(this.params).child('text_model');
    const emb = root.child('embeddings');
    const d = config.hiddenSize;
    this.tokenEmbedding = emb.child('token_embedding').tensor('weight', [config.vocabSize, d]);
    this.positionEmbedding = emb.child('position_embedding').tensor('weight', [config.maxPositionEmbeddings, d]);
    const layers = root.child('encoder').child('layers');
    this.layers = Array.from(
      { length: config.numHiddenLayers },
      (_, i) =>
        new CLIPEncoderLayer(layers.child(i), {
          attention: (s) => new CLIPAttention(s, d, config.numAttentionHeads),
          hiddenSize: d,
          intermediateSize: config.intermediateSize,
          activation: config.hiddenAct,
          eps: config.layerNormEps,
        }),
    );
    this.finalLayerNorm = new LayerNorm(root.child('final_layer_norm'), d, config.layerNormEps);
  }

  static fromConfig(raw: ConfigObject, source?: string): CLIPTextModel {
    return new CLIPTextModel(parseCLIPTextConfig(raw, source));
  }

  /** `CLIPTextModel.from_pretrained(dir)`: a component folder (config.json + weights) on disk or in a `FileTree`. */
  static async fromPretrained(gpu: Gpu, dir: string | FileTree, opts: PretrainedOptions = {}): Promise<CLIPTextModel> {
    const { config, source, weights } = await readComponent(dir, opts.variant);
    try {
      return await CLIPTextModel.fromConfig(config, source).load(gpu, weights, {
        dtype: opts.dtype,
        onProgress: opts.onProgress,
        signal: opts.signal,
      });
    } finally {
      await weights.close();
    }
  }

  /** Strictly checks `weights` against the config (every key, every shape), then uploads them. */
  async load(gpu: Gpu, weights: WeightReader, opts: LoadOptions = {}): Promise<this> {
    await loadParams(gpu, this.params, weights, {
      ...opts,
      ignoreUnexpected: (k) => BUFFER_KEYS.test(k) || (opts.ignoreUnexpected?.(k) ?? false),
    });
    return this;
  }

  /** Frees the weights' GPU memory; the model cannot be used afterwards. */
  release(): void {
    releaseParams(this.params);
  }

  get dtype(): DType {
    return this.tokenEmbedding.value.dtype;
  }

  get numLayers(): number {
    return this.layers.length;
  }

  /**
   * Encodes `batch` sequences of token ids (row-major [B, T], T ≤ max_position_embeddings) with the causal
   * mask only, as `StableDiffusionPipeline.encode_prompt` calls the model (no attention mask).
   */
  forward(gpu: Gpu, inputIds: ArrayLike<number>, batch: number, opts: CLIPTextForwardOptions = {}): CLIPTextOutput {
    const t = this.seqLen(inputIds, batch);
    return gpu.scope(() => {
      const hidden = this.run(gpu, inputIds, batch, t, this.layers.length, opts.outputHiddenStates ?? false);
      const last = hidden.at(-1) as Tensor;
      const lastHiddenState = this.finalLayerNorm.forward(gpu, last);
      const poolerOutput = this.pool(gpu, lastHiddenState, inputIds, batch, t);
      return opts.outputHiddenStates ? { lastHiddenState, poolerOutput, hiddenStates: hidden } : { lastHiddenState, poolerOutput };
    });
  }

  /**
   * The prompt embeddings diffusers feeds the UNet: `last_hidden_state`, or with `clipSkip` = k > 0,
   * `final_layer_norm(hidden_states[-(k + 1)])` (the layers after it are not run).
   */
  encodePrompt(gpu: Gpu, inputIds: ArrayLike<number>, batch: number, clipSkip = 0): Tensor {
    if (!Number.isInteger(clipSkip) || clipSkip < 0 || clipSkip >= this.layers.length) {
      throw new MedgpuError(
        'BAD_ARGUMENT',
        `clip_skip ${clipSkip} must be an integer in [0, ${this.layers.length - 1}] for this ${this.layers.length}-layer text encoder`,
      );
    }
    const t = this.seqLen(inputIds, batch);
    return gpu.scope(() => {
      const hidden = this.run(gpu, inputIds, batch, t, this.layers.length - clipSkip, false);
      return this.finalLayerNorm.forward(gpu, hidden.at(-1) as Tensor);
    });
  }

  private seqLen(inputIds: ArrayLike<number>, batch: number): number {
    if (!Number.isInteger(batch) || batch < 1 || inputIds.length % batch !== 0 || inputIds.length === 0) {
      throw new MedgpuError('BAD_ARGUMENT', `CLIPTextModel: ${inputIds.length} token ids do not form ${batch} equal-length sequences`);
    }
    const t = inputIds.length / batch;
    const max = this.config.maxPositionEmbeddings;
    if (t > max) {
      throw new MedgpuError('BAD_ARGUMENT', `CLIPTextModel: sequences of ${t} tokens exceed max_position_embeddings ${max}; truncate them`);
    }
    return t;
  }

  /** Embeddings, then `layerCount` layers; returns every hidden state when `keepAll`, else only the last. */
  private run(gpu: Gpu, inputIds: ArrayLike<number>, batch: number, t: number, layerCount: number, keepAll: boolean): Tensor[] {
    const d = this.config.hiddenSize;
    const ids = uploadIds(gpu, inputIds, [batch, t], this.config.vocabSize);
    const tokens = gather(gpu, this.tokenEmbedding.value, ids);
    const table = this.positionEmbedding.value;
    const positions = t === table.dim(0) ? table : slice(gpu, table, 0, 0, t);
    let h = add(gpu, tokens, positions).reshape([batch, t, d]);
    const states = [h];
    for (let i = 0; i < layerCount; i++) {
      const next = (this.layers[i] as CLIPEncoderLayer).forward(gpu, h);
      if (!keepAll) h.release();
      h = next;
      if (keepAll) states.push(h);
    }
    return keepAll ? states : [h];
  }

  /** Rows of `hidden` [B, T, D] at each sequence's EOS position (transformers' pooling rule). */
  private pool(gpu: Gpu, hidden: Tensor, inputIds: ArrayLike<number>, batch: number, t: number): Tensor {
    const rows = eosPositions(inputIds, batch, t, this.config.eosTokenId).map((p, b) => b * t + p);
    const d = this.config.hiddenSize;
    return gather(gpu, hidden.reshape([batch * t, d]), uploadIds(gpu, rows, [batch], batch * t));
  }
}

/**
 * transformers' EOS positions: with the legacy `eos_token_id == 2`, argmax of the ids (first maximum);
 * otherwise the first position holding `eos_token_id` (position 0 when absent, as argmax of all-false).
 */
export function eosPositions(inputIds: ArrayLike<number>, batch: number, t: number, eosTokenId: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < batch; b++) {
    let best = 0;
    for (let j = 0; j < t; j++) {
      const id = inputIds[b * t + j] as number;
      if (eosTokenId === 2) {
        if (id > (inputIds[b * t + best] as number)) best = j;
      } else if (id === eosTokenId) {
        best = j;
        break;
      }
    }
    out.push(best);
  }
  return out;
}
