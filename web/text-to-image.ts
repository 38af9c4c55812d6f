/**
 * The text-to-image panel: a diffusers Stable Diffusion folder chosen from disk (directory input, or the File
 * System Access picker where the browser has it), the generation settings, a progress bar fed by the
 * pipeline's per-step callback, and the image with a PNG download carrying the generation parameters.
 */
import {
  type DirectoryHandleLike,
  directoryHandleTree,
  encodePng,
  type FileTree,
  fileListTree,
  imageFileNames,
  MedgpuError,
  metadataText,
  randomSeed,
  SCHEDULER_CLASS_NAMES,
  StableDiffusionPipeline,
  toRgb8,
} from '../src/browser.js';
import { getGpu } from './gpu.js';
import { reporting } from './messages.js';
import { demo } from './state.js';
import { drawRgb } from './views.js';

const el = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const MiB = 2 ** 20;

/** A seed field's value: empty means a fresh random seed; otherwise a non-negative integer below 2^64. */
export function parseSeed(text: string): bigint {
  const t = text.trim();
  if (t === '') return BigInt(randomSeed());
  if (!/^\d+$/.test(t) || BigInt(t) >= 2n ** 64n) {
    throw new MedgpuError('BAD_ARGUMENT', `seed "${text}" is not an integer in [0, 2^64); leave it empty for a random one`);
  }
  return BigInt(t);
}

export function setupTextToImage(): void {
  const folder = el<HTMLInputElement>('sd-folder');
  const pick = el<HTMLButtonElement>('sd-pick');
  const modelStatus = el<HTMLParagraphElement>('sd-model');
  const form = el<HTMLFormElement>('sd-form');
  const generate = el<HTMLButtonElement>('sd-generate');
  const cancel = el<HTMLButtonElement>('sd-cancel');
  const scheduler = el<HTMLSelectElement>('sd-scheduler');
  const progress = el<HTMLProgressElement>('sd-progress');
  const progressText = el<HTMLParagraphElement>('sd-progress-text');
  const width = el<HTMLInputElement>('sd-width');
  const height = el<HTMLInputElement>('sd-height');
  const seed = el<HTMLInputElement>('sd-seed');

  let pipe: StableDiffusionPipeline | null = null;
  let running: AbortController | null = null;
  let download: string | null = null;
  let fileName = 'image.png';

  const setSchedulers = (stored: string | null) => {
    scheduler.replaceChildren(
      new Option(stored ? `the model's (${stored})` : "the model's", ''),
      ...SCHEDULER_CLASS_NAMES.map((n) => new Option(n, n)),
    );
  };
  setSchedulers(null);

  const setBusy = (busy: boolean) => {
    generate.disabled = busy || !pipe;
    cancel.disabled = !busy;
    folder.disabled = busy;
    pick.disabled = busy;
  };

  const load = (tree: () => Promise<FileTree>) =>
    reporting('Loading the model', async () => {
      pipe?.release();
      pipe = null;
      setBusy(true);
      try {
        const t = await tree();
        modelStatus.textContent = `Loading ${t.root}…`;
        const gpu = await getGpu();
        progress.value = 0;
        const choice = el<HTMLSelectElement>('sd-dtype').value;
        const dtype = choice === 'auto' ? (gpu.hasF16 ? 'f16' : 'f32') : (choice as 'f16' | 'f32');
        pipe = await StableDiffusionPipeline.fromPretrained(gpu, t, {
          dtype,
          onProgress: (component, done, total) => {
            progress.max = Math.max(total, 1);
            progress.value = done;
            progressText.textContent = `${component}: ${(done / MiB).toFixed(1)} / ${(total / MiB).toFixed(1)} MiB`;
          },
        });
        const size = pipe.defaultSize;
        width.value = String(size);
        height.value = String(size);
        setSchedulers(pipe.schedulerClass);
        modelStatus.textContent = `${t.root}: loaded in ${dtype} (${(gpu.memory().liveBytes / MiB).toFixed(1)} MiB on the GPU, default size ${size}×${size}).`;
        progressText.textContent = 'Model ready.';
      } catch (e) {
        modelStatus.textContent = 'No model loaded.';
        progressText.textContent = '';
        throw e;
      } finally {
        setBusy(false);
      }
    });

  folder.addEventListener('change', () => {
    if (folder.files && folder.files.length > 0) void load(async () => fileListTree(folder.files as FileList));
  });
  const picker = (window as { showDirectoryPicker?: (o: { mode: 'read' }) => Promise<DirectoryHandleLike> }).showDirectoryPicker;
  if (picker) {
    pick.hidden = false;
    pick.addEventListener('click', async () => {
      let handle: DirectoryHandleLike;
      try {
        handle = await picker.call(window, { mode: 'read' });
      } catch {
        return; // the user closed the picker
      }
      void load(() => directoryHandleTree(handle));
    });
  }
  el<HTMLButtonElement>('sd-random-seed').addEventListener('click', () => {
    seed.value = String(randomSeed());
  });
  cancel.addEventListener('click', () => running?.abort());
  el<HTMLButtonElement>('sd-download').addEventListener('click', () => {
    if (!download) return;
    const a = document.createElement('a');
    a.href = download;
    a.download = fileName;
    a.click();
  });

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!pipe || running) return;
    const p = pipe;
    void reporting('Generating', async () => {
      const prompt = el<HTMLTextAreaElement>('sd-prompt').value;
      const negativePrompt = el<HTMLTextAreaElement>('sd-negative').value;
      const steps = Number(el<HTMLInputElement>('sd-steps').value);
      const guidance = Number(el<HTMLInputElement>('sd-guidance').value);
      const w = Number(width.value);
      const h = Number(height.value);
      const s = parseSeed(seed.value);
      seed.value = String(s);
      running = new AbortController();
      setBusy(true);
      const seen: number[] = [];
      progress.value = 0;
      progress.max = steps;
      progressText.textContent = 'Encoding the prompt…';
      const t0 = performance.now();
      try {
        const r = await p.generate({
          prompt,
          negativePrompt,
          numInferenceSteps: steps,
          guidanceScale: guidance,
          seed: s,
          scheduler: scheduler.value || undefined,
          width: w,
          height: h,
          signal: running.signal,
          callback: (q) => {
            seen.push(q.step);
            progress.max = q.numSteps;
            progress.value = q.step;
            progressText.textContent = `Step ${q.step} / ${q.numSteps} (t = ${q.timestep}), ${(q.elapsedMs / 1000).toFixed(1)} s`;
          },
        });
        const ms = performance.now() - t0;
        const image = r.images[0] as Float32Array;
        drawRgb(el<HTMLCanvasElement>('sd-image'), image, r.width, r.height);
        const text = metadataText({
          prompt,
          negativePrompt,
          seed: r.seed,
          steps,
          guidance,
          scheduler: r.scheduler,
          model: p.components.source,
          width: r.width,
          height: r.height,
        });
        const png = encodePng(toRgb8(image, r.width, r.height), { text });
        if (download) URL.revokeObjectURL(download);
        download = URL.createObjectURL(new Blob([png as Uint8Array<ArrayBuffer>], { type: 'image/png' }));
        fileName = imageFileNames(prompt, r.seed, 1)[0] as string;
        el('sd-caption').textContent =
          `seed ${r.seed} · ${r.scheduler} · ${steps} steps · guidance ${guidance} · ${r.width}×${r.height} · ${(ms / 1000).toFixed(1)} s`;
        el('sd-result').hidden = false;
        progressText.textContent = `Done in ${(ms / 1000).toFixed(1)} s.`;
        demo.txt2img = {
          image,
          width: r.width,
          height: r.height,
          seed: String(r.seed),
          scheduler: r.scheduler,
          timesteps: r.timesteps,
          progress: seen,
          ms,
        };
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
