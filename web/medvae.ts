/**
 * The MedVAE panel: a model name, its weights (.ckpt / .safetensors) and yaml chosen from disk, an image (PNG,
 * JPEG) or volume (NIfTI, .nii.gz) dropped or chosen; preprocessing as the reference does it, encoding with a
 * reconstruction, and the latent channels, the input beside its reconstruction and PSNR/SSIM on the page.
 */
import {
  blobSource,
  cropToCommon,
  decodeImage,
  type HostGrid,
  MEDVAE_MODELS,
  MedgpuError,
  MedVAE,
  type MedVAEModelInfo,
  medvaeModelInfo,
  preprocess2D,
  preprocess3D,
  psnr,
  readNiftiSource,
  ssim,
  weightSourceFromByteSource,
} from '../src/browser.js';
import { getGpu } from './gpu.js';
import { reporting } from './messages.js';
import { demo } from './state.js';
import { channelRange, channelViews, imageViews, showViews } from './views.js';

const el = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const isVolume = (name: string) => /\.nii(\.gz)?$/i.test(name);

/** The preprocessed input of `file` for the model, as the reference's `load_2d` / `load_*_3d` make it. */
async function readInput(file: File, mvae: MedVAE, modality: 'ct' | 'mri'): Promise<HostGrid> {
  const info = mvae.info;
  if (isVolume(file.name) !== (info.dims === 3)) {
    throw new MedgpuError(
      'BAD_ARGUMENT',
      `${file.name}: ${info.name} is a ${info.dims}D model and takes ${info.dims === 2 ? 'PNG or JPEG images' : 'NIfTI volumes (.nii, .nii.gz)'}; choose a ${info.dims === 2 ? '3D model for a volume' : '2D model for an image'}`,
    );
  }
  if (info.dims === 3) {
    const vol = preprocess3D(await readNiftiSource(blobSource(file)), modality);
    return { channels: 1, spatial: [...vol.shape], data: vol.data };
  }
  const img = await decodeImage(new Uint8Array(await file.arrayBuffer()), file.name);
  const x = preprocess2D(img, { mergeChannels: info.mergeChannels, modelChannels: mvae.inChannels, name: file.name });
  return { channels: x.channels, spatial: [x.height, x.width], data: x.data };
}

export function setupMedVAE(): void {
  const model = el<HTMLSelectElement>('mv-model');
  const weights = el<HTMLInputElement>('mv-weights');
  const config = el<HTMLInputElement>('mv-config');
  const hint = el<HTMLParagraphElement>('mv-model-hint');
  const drop = el<HTMLDivElement>('mv-drop');
  const inputFile = el<HTMLInputElement>('mv-input');
  const inputName = el<HTMLParagraphElement>('mv-input-name');
  const modality = el<HTMLSelectElement>('mv-modality');
  const run = el<HTMLButtonElement>('mv-run');
  const cancel = el<HTMLButtonElement>('mv-cancel');
  const progress = el<HTMLProgressElement>('mv-progress');
  const progressText = el<HTMLParagraphElement>('mv-progress-text');

  let input: File | null = null;
  let loaded: { key: string; mvae: MedVAE } | null = null;
  let running: AbortController | null = null;

  model.replaceChildren(...Object.keys(MEDVAE_MODELS).map((n) => new Option(n, n)));
  const showHint = () => {
    const info: MedVAEModelInfo = medvaeModelInfo(model.value);
    const base = (p: string) => p.split('/').pop();
    hint.textContent = `${info.dims}D, ${info.factor}× downsampling per axis, ${info.latentChannels} latent channel${info.latentChannels > 1 ? 's' : ''}; hub files ${base(info.hubCheckpoint)} and ${base(info.hubConfig)} (stanfordmimi/MedVAE).`;
    el('mv-modality-label').hidden = info.dims === 2;
  };
  model.addEventListener('change', showHint);
  showHint();

  const setInput = (f: File | undefined) => {
    if (!f) return;
    input = f;
    inputName.textContent = `${f.name} (${(f.size / 1024).toFixed(1)} KiB)`;
  };
  inputFile.addEventListener('change', () => setInput(inputFile.files?.[0]));
  drop.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    setInput(ev.dataTransfer?.files[0]);
  });
  cancel.addEventListener('click', () => running?.abort());

  const setBusy = (busy: boolean) => {
    run.disabled = busy;
    cancel.disabled = !busy;
  };

  /** The model for the chosen name and files, loaded once and kept while they stay the same. */
  const getModel = async (): Promise<MedVAE> => {
    const w = weights.files?.[0];
    const c = config.files?.[0];
    const info = medvaeModelInfo(model.value);
    if (!w)
      throw new MedgpuError('BAD_ARGUMENT', `choose the weights of ${info.name} (${info.hubCheckpoint.split('/').pop()} from the hub)`);
    if (!c) throw new MedgpuError('BAD_CONFIG', `choose the config of ${info.name} (${info.hubConfig.split('/').pop()} from the hub)`);
    const key = [info.name, w.name, w.size, w.lastModified, c.name, c.size, c.lastModified].join('|');
    if (loaded?.key === key) return loaded.mvae;
    await loaded?.mvae.dispose();
    loaded = null;
    const gpu = await getGpu();
    progressText.textContent = `Loading ${w.name}…`;
    const src = await weightSourceFromByteSource(blobSource(w));
    try {
      const mvae = await MedVAE.load(gpu, {
        model: info.name,
        weights: src,
        config: { yaml: await c.text(), source: c.name },
        onLoadProgress: (done, total) => {
          progress.max = Math.max(total, 1);
          progress.value = done;
        },
      });
      loaded = { key, mvae };
      return mvae;
    } finally {
      await src.close();
    }
  };

  el<HTMLFormElement>('mv-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (running) return;
    void reporting('MedVAE', async () => {
      running = new AbortController();
      setBusy(true);
      progress.value = 0;
      try {
        const mvae = await getModel();
        if (!input) throw new MedgpuError('BAD_ARGUMENT', 'drop or choose an image (PNG, JPEG) or a volume (.nii, .nii.gz) first');
        const seedText = el<HTMLInputElement>('mv-seed').value.trim() || '0';
        if (!/^\d+$/.test(seedText)) throw new MedgpuError('BAD_ARGUMENT', `seed "${seedText}" is not a non-negative integer`);
        progressText.textContent = `Reading ${input.name}…`;
        const x = await readInput(input, mvae, modality.value as 'ct' | 'mri');
        progressText.textContent = `Encoding [${x.channels}, ${x.spatial.join(', ')}]…`;
        const t0 = performance.now();
        const r = await mvae.encode(x, {
          seed: BigInt(seedText),
          deterministic: el<HTMLInputElement>('mv-deterministic').checked,
          recon: true,
          signal: running.signal,
          onProgress: (done, total) => {
            progress.max = total;
            progress.value = done;
            progressText.textContent = `Window ${done} / ${total}`;
          },
        });
        const ms = performance.now() - t0;
        const recon = r.recon as HostGrid;
        const [a, b] = cropToCommon(recon, x);
        const metrics = { psnr: psnr(a, b), ssim: ssim(a, b) };
        show(x, r.latent, recon, metrics);
        progressText.textContent = `Done in ${(ms / 1000).toFixed(1)} s.`;
        demo.medvae = { model: mvae.info.name, input: x, latent: r.latent, recon, ...metrics, ms };
      } catch (e) {
        progressText.textContent = '';
        throw e;
      } finally {
        running = null;
        setBusy(false);
      }
    });
  });
}

function show(x: HostGrid, latent: HostGrid, recon: HostGrid, m: { psnr: number; ssim: number }): void {
  const size = x.spatial.length === 3 ? 150 : 240; // three slices side by side, or one image
  showViews(el('mv-input-view'), imageViews(x), size);
  showViews(el('mv-recon-view'), imageViews(recon), size);
  el('mv-metrics').textContent = `PSNR ${m.psnr.toFixed(2)} dB · SSIM ${m.ssim.toFixed(4)} (against the preprocessed input, data range 2)`;
  el('mv-latent-title').textContent = `Latent channels [${latent.channels}, ${latent.spatial.join(', ')}]`;
  el('mv-latent-view').replaceChildren(
    ...Array.from({ length: latent.channels }, (_, c) => {
      const fig = document.createElement('figure');
      const views = document.createElement('div');
      views.className = 'views';
      showViews(views, channelViews(latent, c), size / 2);
      const [lo, hi] = channelRange(latent, c);
      const cap = document.createElement('figcaption');
      cap.textContent = `channel ${c}: ${lo.toFixed(2)} … ${hi.toFixed(2)}`;
      fig.append(views, cap);
      return fig;
    }),
  );
  el('mv-result').hidden = false;
}
