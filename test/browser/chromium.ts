/**
 * Debian's chromium (apt), driven by playwright-core, headless, with WebGPU on its software adapter
 * (SwiftShader; flags from ../shared/notes/lavapipe.md), a fresh profile, and the demo page built by Vite
 * and served from 127.0.0.1 (WebGPU needs a secure context: localhost counts).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { build, type PreviewServer, preview } from 'vite';

export const CHROMIUM = process.env.MEDGPU_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-webgpu-adapter=swiftshader',
  '--disable-gpu-sandbox',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const ROOT = join(import.meta.dirname, '../..');

export interface DemoBrowser {
  url: string;
  context: BrowserContext;
  /** Opens the page (with `query`, e.g. "?gpuBudgetMiB=1"); `init` runs in the page before its scripts. */
  open(query?: string, init?: () => void): Promise<Page>;
  close(): Promise<void>;
}

/** Builds the page into a temporary folder, serves it and starts chromium. Throws when chromium is missing. */
export async function startDemo(): Promise<DemoBrowser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `chromium not found at ${CHROMIUM}: the browser test needs Debian's chromium (apt-get install -y chromium; .ci/run installs it), or MEDGPU_CHROMIUM=/path/to/chromium`,
    );
  }
  const outDir = mkdtempSync(join(tmpdir(), 'medgpu-web-'));
  const profile = mkdtempSync(join(tmpdir(), 'medgpu-chromium-'));
  let server: PreviewServer | undefined;
  let context: BrowserContext | undefined;
  try {
    await build({ configFile: join(ROOT, 'vite.config.ts'), logLevel: 'warn', build: { outDir, emptyOutDir: true } });
    server = await preview({
      configFile: join(ROOT, 'vite.config.ts'),
      logLevel: 'warn',
      build: { outDir },
      preview: { host: '127.0.0.1', port: 0, strictPort: false },
    });
    const url = server.resolvedUrls?.local[0];
    if (!url) throw new Error('vite preview gave no local URL');
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: { width: 1200, height: 860 },
      acceptDownloads: true,
    });
    const ctx = context;
    const srv = server;
    return {
      url,
      context: ctx,
      async open(query = '', init) {
        const page = await ctx.newPage();
        page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
        if (init) await page.addInitScript(init);
        await page.goto(url + query);
        return page;
      },
      async close() {
        await ctx.close();
        await srv.close();
        rmSync(outDir, { recursive: true, force: true });
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await context?.close();
    await server?.close();
    rmSync(outDir, { recursive: true, force: true });
    rmSync(profile, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Waits until `window.medgpuDemo[key]` is set (returns it) or the page shows an error message (throws it).
 */
export async function waitForResult<T>(page: Page, key: 'adapter' | 'txt2img' | 'medvae', timeoutMs: number): Promise<T> {
  const handle = await page.waitForFunction(
    (k) => {
      const d = (window as unknown as { medgpuDemo?: Record<string, unknown> }).medgpuDemo;
      const msg = document.getElementById('message') as HTMLElement;
      if (!msg.hidden) return { error: msg.textContent };
      return d?.[k] ? { ok: true } : null;
    },
    key,
    { timeout: timeoutMs, polling: 250 },
  );
  const r = (await handle.jsonValue()) as { error?: string };
  if (r.error !== undefined) throw new Error(`the page reports: ${r.error}`);
  return page.evaluate((k) => (window as unknown as { medgpuDemo: Record<string, unknown> }).medgpuDemo[k], key) as Promise<T>;
}

/** Waits until the page's message box shows text, and returns it. */
export async function waitForMessage(page: Page, timeoutMs: number): Promise<string> {
  const msg = page.locator('#message');
  await msg.waitFor({ state: 'visible', timeout: timeoutMs });
  return (await msg.textContent()) ?? '';
}
