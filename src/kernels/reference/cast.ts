/** Reference for `cast`: f32 → f16 rounds to nearest even (overflow to ±inf); f16 → f32 is exact. */
import { type DType, roundToF16 } from '../../runtime/dtype.js';

export function castRef(x: ArrayLike<number>, to: DType): Float32Array {
  return to === 'f16' ? roundToF16(x) : Float32Array.from(x);
}
