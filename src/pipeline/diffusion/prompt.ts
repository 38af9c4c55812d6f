/**
 * diffusers `StableDiffusionPipeline.encode_prompt` (0.30.3): tokenize to the tokenizer's max length (77)
 * with truncation and padding, run the text encoder without an attention mask, repeat each prompt's
 * embeddings `numImagesPerPrompt` times, and with guidance encode the negative prompts ("" when absent) the
 * same way. As in diffusers, `clip_skip` applies to the positive prompt only.
 */
import type { CLIPTextModel } from '../../nn/clip/text-model.js';
import type { Gpu } from '../../runtime/gpu.js';
import type { Tensor } from '../../runtime/tensor.js';
import type { ClipTokenizer } from '../tokenizer/clip-tokenizer.js';

export interface EncodedPrompts {
  /** [B·n, T, D] */
  promptEmbeds: Tensor;
  /** [B·n, T, D], or null without guidance. */
  negativePromptEmbeds: Tensor | null;
  /** Prompts whose end was cut off at the tokenizer's max length, with the removed text (diffusers warns). */
  truncated: { prompt: string; removed: string }[];
}

/** Token ids of `texts`, each repeated `repeat` times in a row, as one row-major [texts·repeat, maxLength] list. */
function tokenize(tokenizer: ClipTokenizer, texts: readonly string[], repeat: number, truncated?: EncodedPrompts['truncated']): number[] {
  const ids: number[] = [];
  for (const text of texts) {
    const enc = tokenizer.encode(text, { padding: 'max_length', truncation: true });
    if (enc.truncated) truncated?.push({ prompt: text, removed: enc.removedText });
    for (let r = 0; r < repeat; r++) ids.push(...enc.inputIds);
  }
  return ids;
}

export function encodePrompts(
  gpu: Gpu,
  tokenizer: ClipTokenizer,
  textEncoder: CLIPTextModel,
  o: { prompts: readonly string[]; negativePrompts: readonly string[] | null; numImagesPerPrompt: number; clipSkip?: number },
): EncodedPrompts {
  const n = o.numImagesPerPrompt;
  const rows = o.prompts.length * n;
  const truncated: EncodedPrompts['truncated'] = [];
  // Repeating the ids (rather than the embeddings) gives the same rows: each row is computed independently.
  const promptEmbeds = textEncoder.encodePrompt(gpu, tokenize(tokenizer, o.prompts, n, truncated), rows, o.clipSkip ?? 0);
  const negativePromptEmbeds = o.negativePrompts ? textEncoder.encodePrompt(gpu, tokenize(tokenizer, o.negativePrompts, n), rows, 0) : null;
  return { promptEmbeds, negativePromptEmbeds, truncated };
}
