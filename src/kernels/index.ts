/** Kernel launchers, re-exported for the public API as `ops`. */
export * from './elementwise.js';
export * from './matmul.js';
export * from './softmax.js';
export * from './layout.js';
export * from './resample.js';
export * from './conv.js';
export * from './embedding.js';
export * from './diagonal-gaussian.js';
export * from './norm.js';
export * from './attention.js';
