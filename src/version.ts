/** medgpu's version (package.json's; test/version.test.ts keeps them equal), recorded in batch manifests. */
export const MEDGPU_VERSION = '0.1.0';
