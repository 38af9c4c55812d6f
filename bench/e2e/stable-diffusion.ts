/**
 * Stable Diffusion at real size from weights/configs with deterministic random weights:
 * - SD1.5 / RoentGen v1: CLIP ViT-L text encoder, UNet 320-640-1280-1280 (heads of 8), VAE 128-256-512-512;
 * - SD-2.1-base / RoentGen v2: OpenCLIP-H text encoder (23 layers), UNet with head dim 64 and linear
 *   projections, the same VAE.
 * The tokenizers and PNDM scheduler configs are the real ones, as copied into the test fixtures
 * (test/fixtures/pipelines/sd1, sd2).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeFileTree } from '../../src/io/node-fs.js';
import { CLIPTextModel } from '../../src/nn/clip/text-model.js';
import type { ConfigObject } from '../../src/nn/config.js';
import { releaseParams } from '../../src/nn/params.js';
import { UNet2DConditionModel } from '../../src/nn/unet/unet-2d-condition.js';
import { AutoencoderKL } from '../../src/nn/vae/autoencoder-kl.js';
import { type DiffusionComponents, loadTokenizer } from '../../src/pipeline/diffusion/components.js';
import { StableDiffusionPipeline } from '../../src/pipeline/diffusion/text-to-image.js';
import type { SchedulerConfig } from '../../src/pipeline/schedulers/config.js';
import type { DType } from '../../src/runtime/dtype.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import { benchValues } from '../peers/layers.js';
import type { E2eCase } from './case.js';
import { resetVmHwm, rssSampler, vmHwmBytes } from './memory.js';
import { f32Bytes, randomFor } from './weights.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const readJson = (rel: string) => JSON.parse(readFileSync(join(ROOT, rel), 'utf8')) as ConfigObject;

export type SdModel = 'sd15' | 'sd21-base';
const FIXTURE: Record<SdModel, string> = { sd15: 'test/fixtures/pipelines/sd1', 'sd21-base': 'test/fixtures/pipelines/sd2' };

/** The three models, the tokenizer and the scheduler config, as a pipeline's components. */
export async function loadSd(
  gpu: Gpu,
  which: SdModel,
  dtype: DType = 'f32',
): Promise<DiffusionComponents & { release(): void; weightBytes: number }> {
  const config = (c: string) => readJson(`weights/configs/${which}/${c}.json`);
  const textEncoder = CLIPTextModel.fromConfig(config('text_encoder'), `${which}/text_encoder.json`);
  await gpu.pool.exactSizes(() => textEncoder.load(gpu, randomFor(textEncoder.params), { dtype }));
  const unet = UNet2DConditionModel.fromConfig(config('unet'), `${which}/unet.json`);
  await unet.load(gpu, randomFor(unet.params), { dtype });
  const vae = AutoencoderKL.fromConfig(config('vae'), `${which}/vae.json`);
  await vae.load(gpu, randomFor(vae.params), { dtype });
  const fixture = FIXTURE[which];
  return {
    source: `${which} configs (weights/configs/${which}) with random weights`,
    tokenizer: await loadTokenizer(nodeFileTree(join(ROOT, fixture, 'tokenizer'))),
    textEncoder,
    unet,
    vae,
    schedulerConfig: readJson(`${fixture}/scheduler/scheduler_config.json`) as SchedulerConfig,
    unetSampleSize: 64,
    dtype,
    weightBytes: f32Bytes(textEncoder.params) + f32Bytes(unet.params) + f32Bytes(vae.params),
    release() {
      releaseParams(textEncoder.params);
      releaseParams(unet.params);
      releaseParams(vae.params);
    },
  };
}

type Sd = Awaited<ReturnType<typeof loadSd>>;

/** 77 CLIP ids per prompt: BOS, a few words, EOS, padded with EOS (SD1's tokenizer pads with EOS). */
function promptIds(batch: number): number[] {
  const ids: number[] = [];
  for (let b = 0; b < batch; b++) {
    const words = b === 0 ? [] : [320, 1125, 539, 320, 4380, 14092]; // "" (negative) and a short prompt
    const row = [49406, ...words, 49407];
    while (row.length < 77) row.push(49407);
    ids.push(...row);
  }
  return ids;
}

/** The text encoder and one UNet step (CFG batch 2) of `which`, as cases. */
function textEncoderCase(which: SdModel): E2eCase<Sd> {
  return {
    name: `${which} text encoder (2×77 tokens)`,
    group: which,
    load: (gpu) => loadSd(gpu, which),
    async prepare(gpu, m) {
      const ids = promptIds(2);
      return async () => {
        gpu.scope(() => void m.textEncoder.forward(gpu, ids, 2));
        await gpu.sync();
      };
    },
  };
}

function unetStepCase(which: SdModel, px: number, warmedBefore: boolean): E2eCase<Sd> {
  return {
    name: `${which} unet step cfg b2 ${px}²`,
    group: which,
    warmedBefore,
    load: (gpu) => loadSd(gpu, which),
    async prepare(gpu, m) {
      const s = px / 8;
      const d = m.unet.config.crossAttentionDim[0] as number;
      const sample = gpu.upload(benchValues(2 * s * s * 4), [2, s, s, 4]);
      const ctx = gpu.upload(benchValues(2 * 77 * d, 7), [2, 77, d]);
      return async () => {
        gpu.scope(() => void m.unet.forward(gpu, sample, 981, ctx));
        await gpu.sync();
      };
    },
  };
}

/** A VAE decode of one px² image; `prefix` names the model and dtype ('sd15', 'sd15 f16'). */
function vaeDecodeCase(prefix: string, group: string, load: (gpu: Gpu) => Promise<Sd>, px: number): E2eCase<Sd> {
  return {
    name: `${prefix} vae decode ${px}²`,
    group,
    warmedBefore: px > 256,
    load,
    async prepare(gpu, m) {
      const s = px / 8;
      const latents = gpu.upload(benchValues(s * s * 4), [1, s, s, 4]);
      return async () => {
        gpu.scope(() => void m.vae.decode(gpu, latents));
        await gpu.sync();
      };
    },
  };
}

/** A whole 256² text-to-image generation: text encoder with CFG, 20 PNDM steps, VAE decode. */
function generation256Case(prefix: string, group: string, load: (gpu: Gpu) => Promise<Sd>): E2eCase<Sd> {
  return {
    name: `${prefix} generation 256² 20 steps (pndm, cfg 7.5)`,
    group,
    heavy: true,
    load,
    async prepare(gpu, m) {
      const pipe = new StableDiffusionPipeline(gpu, m);
      return async () => {
        await pipe.generate({ prompt: 'a chest x-ray', width: 256, height: 256, numInferenceSteps: 20, guidanceScale: 7.5, seed: 0 });
      };
    },
  };
}

/**
 * SD1.5 with f16 weights and activations (`--dtype f16`): the UNet steps, the 512² decode and a 256²
 * generation, beside the f32 rows (on lavapipe the linears read two halves per load in f16).
 */
export function sd15F16Cases(): E2eCase<Sd>[] {
  const group = 'sd15 f16';
  const load = (gpu: Gpu) => loadSd(gpu, 'sd15', 'f16');
  const step = (px: number): E2eCase<Sd> => ({
    ...unetStepCase('sd15', px, px > 256),
    name: `sd15 f16 unet step cfg b2 ${px}²`,
    group,
    load,
  });
  return [step(256), step(512), vaeDecodeCase('sd15 f16', group, load, 512), generation256Case('sd15 f16', group, load)];
}

/** SD-2.1-base: text encoder and a UNet step at its native 512². */
export function sd21Cases(): E2eCase<Sd>[] {
  return [textEncoderCase('sd21-base'), unetStepCase('sd21-base', 512, false)];
}

export function sd15Cases(): E2eCase<Sd>[] {
  const group = 'sd15';
  const load = (gpu: Gpu) => loadSd(gpu, 'sd15');
  const unetStep = (px: number) => unetStepCase('sd15', px, px > 256);
  const vaeDecode = (px: number) => vaeDecodeCase('sd15', group, load, px);
  return [
    textEncoderCase('sd15'),
    unetStep(256),
    unetStep(512),
    {
      // down_blocks.0.resnets.0 at 512² (64² latent, CFG batch 2)
      name: 'sd15 unet resnet block 2x64x64x320',
      group,
      load,
      peer: { op: 'resnet', n: 2, h: 64, w: 64, c: 320, temb: 1280 },
      async prepare(gpu, m) {
        const block = m.unet.downBlocks[0]?.resnets[0];
        if (!block) throw new Error('SD1.5 UNet without down_blocks.0.resnets.0');
        const x = gpu.upload(benchValues(2 * 64 * 64 * 320), [2, 64, 64, 320]);
        const tembAct = gpu.upload(benchValues(2 * 1280, 3), [2, 1280]);
        return async () => {
          gpu.scope(() => void block.forward(gpu, x, tembAct));
          await gpu.sync();
        };
      },
    },
    {
      // down_blocks.0.attentions.0 at 512²: 4096 tokens of 320 channels, 8 heads, 77×768 context
      name: 'sd15 unet transformer block 2x64x64x320',
      group,
      load,
      peer: { op: 'transformer2d', n: 2, h: 64, w: 64, c: 320, heads: 8, ctxLen: 77, ctxDim: 768 },
      async prepare(gpu, m) {
        const block = m.unet.downBlocks[0]?.attentions[0];
        if (!block) throw new Error('SD1.5 UNet without down_blocks.0.attentions.0');
        const x = gpu.upload(benchValues(2 * 64 * 64 * 320), [2, 64, 64, 320]);
        const ctx = gpu.upload(benchValues(2 * 77 * 768, 7), [2, 77, 768]);
        return async () => {
          gpu.scope(() => void block.forward(gpu, x, ctx));
          await gpu.sync();
        };
      },
    },
    vaeDecode(256),
    vaeDecode(512),
    generation256Case('sd15', group, load),
    generationMemoryCase(load),
  ];
}

/**
 * Issue 7's memory target: a whole 512² generation (text encoder with CFG, 2 denoising steps, VAE decode)
 * with peak process memory ≤ 1.25× the f32 weight bytes. Prints the kernel's VmHWM (honest only when this
 * case runs alone in a fresh process: `--filter "generation 512² memory"`), the sampled RSS and the pool's
 * peaks per phase, each against the weights.
 */
function generationMemoryCase(load: (gpu: Gpu) => Promise<Sd>): E2eCase<Sd> {
  return {
    name: 'sd15 generation 512² memory (2 steps)',
    group: 'sd15',
    heavy: true,
    load,
    async prepare(gpu, m) {
      const pipe = new StableDiffusionPipeline(gpu, m);
      const gib = (b: number) => `${(b / 2 ** 30).toFixed(3)} GiB`;
      const vsWeights = (b: number) => `${gib(b)} (${(b / m.weightBytes).toFixed(3)}× weights)`;
      return async () => {
        const hwmReset = resetVmHwm();
        const rss = rssSampler(50);
        const rssBefore = process.memoryUsage.rss();
        const phases: string[] = [];
        const phase = (name: string) => {
          rss.sample();
          const s = gpu.memory();
          // VmHWM so far: a spike inside a phase (while JS is busy recording, no sampler runs) shows in the first phase that has it
          const hwm = vmHwmBytes();
          phases.push(
            `${name}: pool peak ${gib(s.peakAllocatedBytes)}, live peak ${gib(s.peakLiveBytes)}, rss ${gib(process.memoryUsage.rss())}${hwm === null ? '' : `, VmHWM so far ${gib(hwm)}`}`,
          );
        };
        try {
          await pipe.generate({
            prompt: 'a chest x-ray',
            width: 512,
            height: 512,
            numInferenceSteps: 2,
            guidanceScale: 7.5,
            seed: 0,
            callback: (p) => phase(`after UNet step ${p.step}/${p.numSteps}`),
          });
          phase('after VAE decode');
        } finally {
          const peakRss = rss.stop();
          const hwm = vmHwmBytes();
          const s = gpu.memory();
          const lines = [
            `sd15 generation 512² memory: f32 weights ${gib(m.weightBytes)}; RSS before the run ${vsWeights(rssBefore)}`,
            ...phases.map((p) => `  ${p}`),
            `  peak RSS (sampled every 50 ms and per step) ${vsWeights(peakRss)}`,
            `  VmHWM (${hwmReset ? 'of this run: reset before it' : 'whole process, loading included'}) ${hwm === null ? 'n/a' : vsWeights(hwm)}`,
            `  pool: peak allocated ${vsWeights(s.peakAllocatedBytes)}, peak live ${gib(s.peakLiveBytes)}, buffers created ${s.buffersCreated}`,
          ];
          console.error(lines.join('\n'));
        }
      };
    },
  };
}
