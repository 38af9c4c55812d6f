/** Fixture verification: run reference manifests through the engine and compare every output. */
export { type OutputCheck, compareOutput } from './compare.js';
export { type FixtureCase, type Manifest, findManifests, readManifest } from './manifest.js';
export { MODULE_RUNNERS } from './modules.js';
export type { CaseRunner, VerifyContext } from './runner.js';
export { type VerifyOptions, type VerifyReport, verifyFixtures } from './verify.js';
