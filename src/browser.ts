/**
 * medgpu's browser entry (the ESM bundle `dist/browser/medgpu.js`, built by `npm run build:web`): the whole
 * public API of index.ts plus the browser's file adapters. In the bundle, Node's adapters are replaced by
 * browser ones (src/io/browser-fs.ts, src/runtime/browser-webgpu.ts): path-taking helpers say to pass a
 * File, Blob or FileTree instead, and WebGPU comes from `navigator.gpu`.
 */
export * from './index.js';
export { type DirectoryHandleLike, directoryHandleTree, fileListTree, type PickedFile, pickedFileTree } from './io/browser.js';
