import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Dawn's Node bindings are safest in their own process; 2 workers match the 2 cores.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    teardownTimeout: 10_000,
    projects: [
      { extends: true, test: { name: 'node', include: ['test/**/*.test.ts'], exclude: ['test/browser/**'] } },
      // The demo page in Debian's chromium (WebGPU on SwiftShader): needs /usr/bin/chromium (.ci/run installs it).
      { extends: true, test: { name: 'browser', include: ['test/browser/**/*.test.ts'] } },
    ],
  },
});
