/** MedVAE 2D (medvae_4_3_2d) and 3D (medvae_4_1_3d) at their real channel widths with random weights. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MedVAEAutoencoder } from '../../src/nn/medvae/autoencoder.js';
import { medvaeModelInfo, parseMedVAEConfigText } from '../../src/nn/medvae/config.js';
import { releaseParams } from '../../src/nn/params.js';
import { MedVAE } from '../../src/pipeline/medvae/medvae.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import { benchValues } from '../peers/layers.js';
import type { E2eCase } from './case.js';
import { f32Bytes, randomFor } from './weights.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** A MedVAE model (e.g. 'medvae_4_3_2d', 'medvae_4_1_3d') at its real widths with random weights. */
export async function loadMedVAE(gpu: Gpu, name: string): Promise<{ mvae: MedVAE; release(): void; weightBytes: number }> {
  const info = medvaeModelInfo(name);
  const path = join(ROOT, 'weights/configs/medvae', info.hubConfig.split('/').pop() as string);
  const config = parseMedVAEConfigText(readFileSync(path, 'utf8'), path);
  const model = new MedVAEAutoencoder(config, { dims: info.dims, loraDefault: info.lora });
  await model.load(gpu, randomFor(model.registry));
  return { mvae: MedVAE.fromModel(gpu, name, model), weightBytes: f32Bytes(model.registry), release: () => releaseParams(model.registry) };
}

type Med = Awaited<ReturnType<typeof loadMedVAE>>;

export function medvaeCases(): E2eCase<Med>[] {
  const m2 = 'medvae_4_3_2d';
  const load2 = (gpu: Gpu) => loadMedVAE(gpu, m2);
  const m3 = 'medvae_4_1_3d';
  const load3 = (gpu: Gpu) => loadMedVAE(gpu, m3);
  const encode3d = (n: number, heavy: boolean): E2eCase<Med> => ({
    name: `${m3} encode ${n}³`,
    group: m3,
    heavy,
    warmedBefore: heavy,
    load: load3,
    async prepare(_gpu, m) {
      const c = m.mvae.inChannels;
      const input = { channels: c, spatial: [n, n, n], data: benchValues(c * n * n * n) };
      return async () => void (await m.mvae.encode(input, { seed: 0 }));
    },
  });
  return [
    {
      name: `${m2} encode 512²`,
      group: m2,
      load: load2,
      async prepare(_gpu, m) {
        const c = m.mvae.inChannels;
        const input = { channels: c, spatial: [512, 512], data: benchValues(c * 512 * 512) };
        return async () => void (await m.mvae.encode(input, { seed: 0 }));
      },
    },
    {
      name: `${m2} decode 512²`,
      group: m2,
      load: load2,
      async prepare(_gpu, m) {
        const e = m.mvae.latentChannels;
        const s = 512 / m.mvae.factor;
        const z = { channels: e, spatial: [s, s], data: benchValues(e * s * s) };
        return async () => void (await m.mvae.decode(z));
      },
    },
    encode3d(128, false),
    encode3d(256, true),
  ];
}
