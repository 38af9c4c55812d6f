/**
 * Every error medgpu throws on purpose is a `MedgpuError` with a stable `code`, and a message that names the
 * file, tensor, shape or limit involved and says what to do about it.
 */
export type MedgpuErrorCode =
  | 'NO_WEBGPU'
  | 'NO_ADAPTER'
  | 'DEVICE_LOST'
  | 'GPU_VALIDATION'
  | 'OUT_OF_MEMORY'
  | 'LIMIT_EXCEEDED'
  | 'MISSING_FEATURE'
  | 'SHAPE_MISMATCH'
  | 'DTYPE_UNSUPPORTED'
  | 'TENSOR_RELEASED'
  | 'BAD_FILE'
  | 'UNSAFE_PICKLE'
  | 'CHECKPOINT_KEYS'
  | 'BAD_CONFIG'
  | 'BAD_ARGUMENT'
  | 'FILE_EXISTS'
  | 'CANCELLED'
  | 'UNSUPPORTED';

export class MedgpuError extends Error {
  readonly code: MedgpuErrorCode;
  constructor(code: MedgpuErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** No WebGPU implementation or no adapter could be found. */
export class NoAdapterError extends MedgpuError {}
/** The device was lost, or a shader / pipeline failed validation. */
export class DeviceError extends MedgpuError {}
/** A device limit (binding size, buffer size, workgroup count) or the GPU memory would be exceeded. */
export class LimitError extends MedgpuError {}
/** Shapes or dtypes of arguments do not fit the operation. */
export class ShapeError extends MedgpuError {
  constructor(message: string) {
    super('SHAPE_MISMATCH', message);
  }
}
/** A file is truncated, corrupt, unsafe or not in the expected format. */
export class FileFormatError extends MedgpuError {}
/** A checkpoint does not match a model: missing, unexpected or mis-shaped keys. */
export class CheckpointError extends MedgpuError {}
/** A model or scheduler config is invalid or unsupported. */
export class ConfigError extends MedgpuError {}

export function assert(condition: unknown, message: () => string): asserts condition {
  if (!condition) throw new ShapeError(message());
}
