/**
 * The demo page: tabs, the WebGPU check (a clear message when the browser has none), and the two panels.
 */
import { getGpu, describeAdapter } from './gpu.js';
import { explain, showMessage } from './messages.js';
import { setupMedVAE } from './medvae.js';
import { demo } from './state.js';
import { setupTextToImage } from './text-to-image.js';

function setupTabs(): void {
  const tabs = [...document.querySelectorAll<HTMLButtonElement>('[role="tab"]')];
  for (const tab of tabs) {
    tab.addEventListener('click', () => {
      for (const t of tabs) {
        const on = t === tab;
        t.setAttribute('aria-selected', String(on));
        (document.getElementById(t.getAttribute('aria-controls') as string) as HTMLElement).hidden = !on;
      }
    });
  }
}

async function checkWebGpu(): Promise<void> {
  const line = document.getElementById('adapter') as HTMLParagraphElement;
  try {
    const gpu = await getGpu();
    demo.adapter = describeAdapter(gpu);
    line.textContent = demo.adapter;
  } catch (e) {
    line.textContent = 'WebGPU: not available.';
    showMessage(explain(e, 'Starting WebGPU'));
  }
}

setupTabs();
setupTextToImage();
setupMedVAE();
void checkWebGpu();
