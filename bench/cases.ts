/** Every benchmark case. Each kernel family keeps its cases in bench/cases/<family>.ts. */
import type { KernelBench } from './case.js';
import { attentionBenches } from './cases/attention.js';
import { convBenches } from './cases/conv.js';
import { elementwise } from './cases/elementwise.js';
import { embeddingBenches } from './cases/embedding.js';
import { layoutBenches } from './cases/layout.js';
import { matmulBenches, matmulPathBenches } from './cases/matmul.js';
import { normBenches } from './cases/norm.js';
import { resampleBenches } from './cases/resample.js';
import { softmaxBenches } from './cases/softmax.js';

export const KERNEL_BENCHES: KernelBench[] = [
  ...convBenches,
  ...elementwise,
  ...matmulBenches,
  ...matmulPathBenches,
  ...softmaxBenches,
  ...resampleBenches,
  ...layoutBenches,
  ...embeddingBenches,
  ...normBenches,
  ...attentionBenches,
];
