/**
 * A MedVAE convolution (Conv2d or Conv3d, channels-last) whose weight can come from three checkpoint
 * layouts, all turned into one plain kernel at load so inference pays nothing for them:
 *
 * - plain: `<p>.weight`, `<p>.bias`;
 * - LoRA (`medvae_4_3_2d`, `medvae_8_4_2d`): `<p>.conv.weight|bias`, `<p>.lora_down.weight` [r, Cin, k..] and
 *   `<p>.lora_up.weight` [Cout, r, 1..]; the reference computes `conv(x) + lora_up(lora_down(x))` (scale 1,
 *   dropout inactive in eval), which is the single conv with kernel `W + up·down`, merged here on the host in
 *   float64 and rounded once to f32;
 * - inflated: a 2D kernel [Cout, Cin, a, b] loaded into a 3D model, as MedVAE's 3D `init_from_ckpt` does:
 *   the kernel goes into the middle slice of the last kernel axis, [.., a, b, k // 2], zeros elsewhere.
 *
 * Which layout a conv uses is decided while the model is built, from the shapes in the weight file (see
 * `ModelBuildContext.fileShape`), so the strict key check still sees exactly the keys that will be read.
 */
import { type ConvSpec, type ConvWeight, conv, prepareConvWeight } from '../../kernels/conv.js';
import { ShapeError } from '../../runtime/errors.js';
import type { Gpu } from '../../runtime/gpu.js';
import type { Tensor } from '../../runtime/tensor.js';
import type { Param, ParamScope } from '../params.js';

export interface ModelBuildContext {
  /** Spatial rank of the model: 2 (Conv2d) or 3 (Conv3d). */
  dims: 2 | 3;
  /**
   * The shape a key has in the weight file, when the model is built for a known file; undefined when the key
   * is absent. Without it the model declares the default layout (`loraDefault`, no inflation).
   */
  fileShape?: (key: string) => readonly number[] | undefined;
  /** Whether ResnetBlock/AttnBlock convs are LoRA-wrapped when no file says otherwise. */
  loraDefault: boolean;
}

export interface MedConvOptions {
  kernel: number;
  stride?: number;
  padding?: ConvSpec['padding'];
  /** Only convs inside ResnetBlock/AttnBlock get LoRA in the reference (`inject_trainable_lora_extended`). */
  loraAllowed?: boolean;
}

/** The LoRA rank the reference injects (`r=4`); a file's own rank wins. */
export const DEFAULT_LORA_RANK = 4;

/** `kernel` (row-major [Cout, Cin, ...taps]) += up [Cout, r] · down [r, Cin·taps], accumulated in float64. */
export function mergeLora(kernel: Float32Array, up: Float32Array, down: Float32Array, cout: number, rank: number): Float32Array {
  const inner = kernel.length / cout;
  if (up.length !== cout * rank || down.length !== rank * inner || !Number.isInteger(inner)) {
    throw new ShapeError(
      `LoRA merge: up ${up.length} / down ${down.length} values do not fit a kernel of ${cout}×${inner} with rank ${rank}`,
    );
  }
  const out = new Float32Array(kernel.length);
  for (let o = 0; o < cout; o++) {
    for (let i = 0; i < inner; i++) {
      let acc = kernel[o * inner + i] as number;
      for (let r = 0; r < rank; r++) acc += (up[o * rank + r] as number) * (down[r * inner + i] as number);
      out[o * inner + i] = acc;
    }
  }
  return out;
}

/**
 * A 2D kernel [Cout, Cin, a, b] placed at [.., a, b, k / 2] of a zero 3D kernel [Cout, Cin, a, b, k]
 * (MedVAE's `AutoencoderKL_3D.init_from_ckpt`).
 */
export function inflateKernel(k2: Float32Array, cout: number, cin: number, a: number, b: number, k: number): Float32Array {
  if (k2.length !== cout * cin * a * b) throw new ShapeError(`inflate: ${k2.length} values for a [${cout}, ${cin}, ${a}, ${b}] kernel`);
  const out = new Float32Array(cout * cin * a * b * k);
  const mid = Math.floor(k / 2);
  for (let i = 0; i < k2.length; i++) out[i * k + mid] = k2[i] as number;
  return out;
}

export class MedConv {
  readonly weight: Param<ConvWeight>;
  readonly bias: Param;
  readonly spec: ConvSpec;
  /** How the checkpoint stores this conv. */
  readonly layout: { lora: boolean; inflated: boolean; rank: number };

  constructor(
    scope: ParamScope,
    readonly cin: number,
    readonly cout: number,
    opts: MedConvOptions,
    ctx: ModelBuildContext,
  ) {
    const k = opts.kernel;
    const dims = ctx.dims;
    const full = [cout, cin, ...Array<number>(dims).fill(k)];
    const fileShape = ctx.fileShape;
    const lora = Boolean(opts.loraAllowed) && (fileShape ? fileShape(scope.key('conv.weight')) !== undefined : ctx.loraDefault);
    const base = lora ? scope.child('conv') : scope;
    const stored = fileShape?.(base.key('weight'));
    // A 3D model reading a 2D kernel: the reference inflates it (only when the rank is exactly one less).
    const inflated = dims === 3 && stored?.length === 4;
    const declared = inflated ? [cout, cin, k, k] : full;
    const label = base.key('weight');
    if (!lora) {
      this.weight = base.custom([['weight', declared]], ([w], { gpu, dtype }) =>
        prepareConvWeight(gpu, inflated ? inflateKernel(w as Float32Array, cout, cin, k, k, k) : (w as Float32Array), full, dtype, label),
      );
      this.layout = { lora: false, inflated, rank: 0 };
    } else {
      const downShape = fileShape?.(scope.key('lora_down.weight'));
      const rank = downShape?.[0] ?? DEFAULT_LORA_RANK;
      const ones = Array<number>(declared.length - 2).fill(1);
      this.weight = scope.custom(
        [
          ['conv.weight', declared],
          ['lora_up.weight', [cout, rank, ...ones]],
          ['lora_down.weight', [rank, cin, ...declared.slice(2)]],
        ],
        ([w, up, down], { gpu, dtype }) => {
          const merged = mergeLora(w as Float32Array, up as Float32Array, down as Float32Array, cout, rank);
          return prepareConvWeight(gpu, inflated ? inflateKernel(merged, cout, cin, k, k, k) : merged, full, dtype, label);
        },
      );
      this.layout = { lora: true, inflated, rank };
    }
    this.bias = base.tensor('bias', [cout]);
    this.spec = { stride: opts.stride ?? 1, padding: opts.padding ?? 0 };
  }

  /** x [N, (D,) H, W, Cin] → [N, (D',) H', W', Cout]: `(conv + bias + residual) * scale`. */
  forward(gpu: Gpu, x: Tensor, opts: { residual?: Tensor; scale?: number } = {}): Tensor {
    return conv(gpu, x, this.weight.value, { bias: this.bias.value, residual: opts.residual }, { ...this.spec, scale: opts.scale });
  }
}
