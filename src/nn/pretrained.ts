/**
 * A model component folder as `save_pretrained` writes it (`config.json` + weights, e.g. `pipeline/unet`):
 * its parsed config and an open weight source, from a path (Node) or a `FileTree` (browser, in memory).
 */
import type { FileTree } from '../io/file-tree.js';
import { openHubComponent } from '../io/hub.js';
import type { WeightSource } from '../io/weights.js';
import { ConfigError } from '../runtime/errors.js';
import type { ConfigObject } from './config.js';

export type FileTreeLike = FileTree;

export interface ComponentFiles {
  config: ConfigObject;
  /** The config's path, for messages. */
  source: string;
  /** The caller closes it. */
  weights: WeightSource;
}

export async function readComponent(dir: string | FileTree, variant?: string): Promise<ComponentFiles> {
  let tree: FileTree;
  if (typeof dir === 'string') {
    const { nodeFileTree } = await import('../io/node-fs.js');
    tree = nodeFileTree(dir);
  } else tree = dir;
  const comp = await openHubComponent(tree, '');
  if (!comp.config || !comp.configFile) {
    throw new ConfigError(
      'BAD_CONFIG',
      `${comp.displayPath}: no config.json; give the component folder (e.g. the pipeline's unet/ or vae/)`,
    );
  }
  const weights = await comp.openWeights({ variant });
  return { config: comp.config, source: tree.display(comp.configFile), weights };
}
