/**
 * What the page tells the user when something fails: medgpu's typed errors become a short headline and what to
 * do about it, with the engine's own message (which names the file, tensor or limit) kept underneath.
 */
import { MedgpuError } from '../src/browser.js';

const box = () => document.getElementById('message') as HTMLDivElement;

export function showMessage(text: string): void {
  const el = box();
  el.textContent = text;
  el.hidden = false;
}

export function clearMessage(): void {
  box().hidden = true;
  box().textContent = '';
}

/** Whether an error means the browser, the tab or the GPU ran out of memory. */
function isOutOfMemory(e: unknown): boolean {
  if (e instanceof MedgpuError) return e.code === 'OUT_OF_MEMORY';
  if (e instanceof RangeError) return /allocat|out of memory|array buffer/i.test(e.message);
  return e instanceof Error && /out of memory/i.test(e.message);
}

/** A user-facing explanation of `e`, `what` being the action that failed ("Loading the model"). */
export function explain(e: unknown, what: string): string {
  const detail = e instanceof Error ? e.message : String(e);
  if (isOutOfMemory(e)) {
    return `${what} ran out of memory. Try a smaller image or volume, fewer steps in a batch, or close other tabs; a GPU with more memory helps.\n\n${detail}`;
  }
  if (!(e instanceof MedgpuError)) return `${what} failed: ${detail}`;
  switch (e.code) {
    case 'NO_WEBGPU':
      return `This browser has no WebGPU. Use a current Chrome, Edge or Opera (113 or newer), Safari 26, or Firefox 141 on Windows; on Linux, Chrome needs chrome://flags/#enable-unsafe-webgpu and Vulkan. The page must be served over https or from localhost.\n\n${detail}`;
    case 'NO_ADAPTER':
      return `WebGPU is present but the browser offered no adapter (GPU blocked or disabled). Check chrome://gpu, update the graphics driver, or enable the software adapter.\n\n${detail}`;
    case 'DEVICE_LOST':
      return `The GPU device was lost (a driver reset, or the GPU ran out of memory). Reload the page to start again.\n\n${detail}`;
    case 'CHECKPOINT_KEYS':
      return `${what}: the weights file does not fit the chosen model (missing, extra or mis-shaped tensors). Check that the model name, the weights and the config belong together.\n\n${detail}`;
    case 'BAD_FILE':
    case 'UNSAFE_PICKLE':
      return `${what}: a file could not be read (wrong kind, truncated or corrupt).\n\n${detail}`;
    case 'BAD_CONFIG':
      return `${what}: a config file is missing or not valid.\n\n${detail}`;
    case 'MISSING_FEATURE':
    case 'LIMIT_EXCEEDED':
      return `${what}: this GPU lacks what the model needs.\n\n${detail}`;
    case 'CANCELLED':
      return `${what} was cancelled.`;
    default:
      return `${what} failed: ${detail}`;
  }
}

/** Runs `fn`, showing `explain(error)` in the message box if it throws; returns whether it succeeded. */
export async function reporting(what: string, fn: () => Promise<void>): Promise<boolean> {
  clearMessage();
  try {
    await fn();
    return true;
  } catch (e) {
    console.error(e);
    showMessage(explain(e, what));
    return false;
  }
}
