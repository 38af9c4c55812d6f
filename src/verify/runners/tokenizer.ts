/**
 * `CLIPTokenizer` cases: the ids `StableDiffusionPipeline.encode_prompt` feeds the text encoder (SD1 and SD2
 * tokenizers, with and without ftfy), attention masks and untruncated lengths: all must match exactly.
 * `input_ids_openai_clip` is openai/CLIP's own `clip.tokenize` (a different library, which diffusers does
 * not use): it is reported, not computed.
 */
import { parseJsonLenient } from '../../io/json.js';
import { loadTokenizer } from '../../pipeline/diffusion/components.js';
import type { ClipTokenizer } from '../../pipeline/tokenizer/clip-tokenizer.js';
import { ConfigError } from '../../runtime/errors.js';
import { type OutputCheck, notComputed } from '../compare.js';
import { caseModelDir, joinFixturePath, readCaseTensors, tensorOf, valuesOf } from '../manifest.js';
import { type CaseRunner, checkOutput } from '../runner.js';

export const runTokenizerCase: CaseRunner = async (_ctx, m, c) => {
  const { nodeFileTree, readTextFile } = await import('../../io/node-fs.js');
  const tensors = await readCaseTensors(m, c);
  const file = typeof c.params?.prompts_file === 'string' ? c.params.prompts_file : 'prompts.json';
  const rows = parseJsonLenient(await readTextFile(joinFixturePath(m.dir, file)), file) as { prompt: string }[];
  if (!Array.isArray(rows)) throw new ConfigError('BAD_CONFIG', `${file}: expected a list of {prompt}`);
  const prompts = rows.map((r) => r.prompt);
  const models = Array.isArray(c.model) ? c.model : [c.model];
  const dirOf = (needle: string) => {
    const i = models.findIndex((d) => typeof d === 'string' && d.includes(needle));
    if (i < 0) throw new ConfigError('BAD_CONFIG', `${m.path}: case ${c.name} lists no ${needle} tokenizer`);
    return caseModelDir(m, c, i);
  };
  const sd1 = await loadTokenizer(nodeFileTree(dirOf('sd1')));
  const sd2 = await loadTokenizer(nodeFileTree(dirOf('sd2')));
  const sd1NoFtfy = await loadTokenizer(nodeFileTree(dirOf('sd1')), { textCleanup: 'basic' });
  const maxLength = typeof c.params?.max_length === 'number' ? c.params.max_length : 77;
  const enc = (t: ClipTokenizer) => prompts.map((p) => t.encode(p, { maxLength, padding: 'max_length', truncation: true }));
  const e1 = enc(sd1);
  const computed: Record<string, number[]> = {
    input_ids_sd1: e1.flatMap((e) => e.inputIds),
    attention_mask: e1.flatMap((e) => e.attentionMask),
    untruncated_length: e1.map((e) => e.untruncatedLength),
    input_ids_sd2: enc(sd2).flatMap((e) => e.inputIds),
    input_ids_sd1_noftfy: enc(sd1NoFtfy).flatMap((e) => e.inputIds),
  };
  const checks: OutputCheck[] = [];
  for (const name of Object.keys(c.outputs ?? {})) {
    const got = computed[name];
    if (got) checks.push(checkOutput(c, name, got, valuesOf(tensorOf(tensors, name, c.name))));
    else checks.push(notComputed({ case: c.name, module: c.module, output: name }, "openai/CLIP's clip.tokenize, not what diffusers uses"));
  }
  return checks;
};
