import type { Gpu } from '../runtime/gpu.js';

export function formatInfo(gpu: Gpu): string {
  const i = gpu.info;
  const lines = [
    `adapter:  ${i.description || i.device || '(unnamed)'}`,
    `vendor:   ${i.vendor}  architecture: ${i.architecture}`,
    `backend:  ${i.backend}${i.isFallbackAdapter ? ' (fallback adapter)' : ''}`,
    `features: ${[...gpu.features].join(', ') || '(none of shader-f16, subgroups, timestamp-query)'}`,
    'limits:',
    ...Object.entries(gpu.limitReport()).map(([k, v]) => `  ${k.padEnd(36)} ${v}`),
  ];
  return lines.join('\n');
}
