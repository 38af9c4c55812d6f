/**
 * CLIPTextModel against transformers on the fixture text encoders (sd1: quick_gelu, 2 layers, 2 heads; sd2:
 * gelu, 3 layers, 4 heads). Every output of every case must be within the manifest's tolerance (10× the
 * reference's own f32-vs-f64 error): last_hidden_state, pooler_output, all hidden_states, the penultimate
 * hidden state and diffusers' clip_skip=1.
 */
import { describe, expect, it } from 'vitest';
import { CLIPTextModel, eosPositions } from '../../src/nn/clip/text-model.js';
import { MedgpuError } from '../../src/runtime/errors.js';
import { readManifest } from '../../src/verify/manifest.js';
import { runTextEncoderCase } from '../../src/verify/runners/text-encoder.js';
import { getGpu } from '../helpers/gpu.js';
import { expectCaseChecks } from '../helpers/fixture-checks.js';

const manifest = await readManifest('test/fixtures/text_encoder/manifest.json');

describe('CLIPTextModel vs transformers fixtures', () => {
  for (const c of manifest.cases) {
    it(`${c.name}: every output within the manifest tolerance`, async () => {
      const gpu = await getGpu();
      const checks = await runTextEncoderCase({ gpu }, manifest, c);
      expectCaseChecks(checks, c);
    }, 240_000); // the first case compiles every kernel it uses: a minute or more on lavapipe with a cold shader cache
  }
});

describe('CLIPTextModel arguments', () => {
  it('pools at argmax(ids) for the legacy eos_token_id 2, else at the first EOS id', () => {
    // SD1 pads with EOS (49407): argmax takes the first of the run.
    expect(eosPositions([49406, 320, 49407, 49407], 1, 4, 2)).toEqual([2]);
    // SD2 pads with "!" (0).
    expect(eosPositions([49406, 320, 49407, 0, 49406, 49407, 0, 0], 2, 4, 2)).toEqual([2, 1]);
    // A config with the real EOS id: the first occurrence, even when a larger id comes earlier.
    expect(eosPositions([49408 - 1, 7, 5, 5], 1, 4, 5)).toEqual([2]);
    // No EOS at all: position 0, as torch's argmax of an all-false row.
    expect(eosPositions([3, 4, 6], 1, 3, 5)).toEqual([0]);
  });

  it('rejects sequences longer than max_position_embeddings, ragged batches, out-of-range ids and clip_skip', async () => {
    const gpu = await getGpu();
    const model = await CLIPTextModel.fromPretrained(gpu, 'test/fixtures/pipelines/sd1/text_encoder');
    try {
      expect(() => model.forward(gpu, new Array(78).fill(1), 1)).toThrow(/max_position_embeddings 77/);
      expect(() => model.forward(gpu, new Array(7).fill(1), 2)).toThrow(MedgpuError);
      expect(() => model.forward(gpu, [49406, 49408], 1)).toThrow(/outside the vocabulary/);
      expect(() => model.encodePrompt(gpu, [49406, 49407], 1, 2)).toThrow(/clip_skip 2/);
    } finally {
      model.release();
    }
  });

  it('frees everything it allocates: forward outputs released by a scope, weights by release()', async () => {
    const gpu = await getGpu();
    const before = gpu.memory().liveBytes;
    const model = await CLIPTextModel.fromPretrained(gpu, 'test/fixtures/pipelines/sd2/text_encoder');
    const ids = [49406, 320, 1125, 49407, ...new Array(73).fill(0)];
    const run = () =>
      gpu.scopeAsync(async () => (await gpu.read(model.forward(gpu, ids, 1, { outputHiddenStates: true }).lastHiddenState)).length);
    await run(); // first run creates the kernels' lasting helpers (e.g. the epilogue's dummy binding)
    const loaded = gpu.memory().liveBytes;
    expect(await run()).toBe(77 * 32);
    expect(gpu.memory().liveBytes).toBe(loaded);
    model.release();
    expect(gpu.memory().liveBytes).toBeLessThanOrEqual(before + 256);
  });

  it('names every missing and mis-shaped key of a checkpoint that does not match the config', async () => {
    const gpu = await getGpu();
    const { openWeights } = await import('../../src/io/weights.js');
    const model = CLIPTextModel.fromConfig(
      { hidden_size: 32, intermediate_size: 37, num_hidden_layers: 3, num_attention_heads: 2 },
      'test',
    );
    const weights = await openWeights('test/fixtures/pipelines/sd1/text_encoder/model.safetensors');
    try {
      await expect(model.load(gpu, weights)).rejects.toThrow(/layers\.2\.self_attn\.q_proj\.weight/);
    } finally {
      await weights.close();
    }
  });
});
