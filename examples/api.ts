// The README's API example (README.md shows it with `from 'medgpu'`); `npx tsx examples/api.ts` runs it on the bundled tiny models.
import { MedVAE, StableDiffusionPipeline, createGpu, preprocess3D, readNifti } from '../src/index.js';

const gpu = await createGpu(); // Dawn (npm `webgpu`) in Node, navigator.gpu in the browser
const pipe = await StableDiffusionPipeline.fromPretrained(gpu, 'test/fixtures/pipelines/sd1'); // or RoentGen's diffusers folder
const { images, width, height } = await pipe.generate({ prompt: 'Big right-sided pleural effusion', seed: 42, numInferenceSteps: 4 });
console.log(`${images.length} image ${width}×${height} (HWC RGB floats in [0, 1]; same seed, same image as diffusers)`);

const mvae = await MedVAE.load(gpu, { model: 'medvae_4_1_3d', weights: 'test/fixtures/medvae/medvae_4_1_3d/model.safetensors' }); // or the hub .ckpt
const vol = preprocess3D(await readNifti('test/fixtures/medvae/inputs/ct.nii.gz'), 'ct'); // RAS, CT window, crop to ×16
const { latent } = await mvae.encode({ channels: 1, spatial: [...vol.shape], data: vol.data }, { seed: 0 });
const recon = await mvae.decode(latent); // sliding window with Gaussian blending, as MedVAE
console.log(`CT ${vol.shape.join('×')} → latent ${latent.spatial.join('×')} → reconstruction ${recon.spatial.join('×')}`);
gpu.destroy();
