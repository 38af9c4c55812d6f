export {
  ClipTokenizer,
  type ClipEncoding,
  type ClipTokenizerFiles,
  type ClipTokenizerOptions,
  type EncodeOptions,
} from './clip-tokenizer.js';
export { fixText } from './ftfy.js';
// loadClipTokenizer (node.ts) reads folders with node:fs and is not exported here, so this stays browser-safe.
