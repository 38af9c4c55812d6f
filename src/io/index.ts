/**
 * medgpu's file formats: weights (safetensors, sharded, PyTorch checkpoints, hub layouts), images (PNG, JPEG)
 * and volumes (NIfTI-1). Everything here also runs in a browser from bytes, `Blob`s or a `FileTree`; the
 * path-taking helpers load the Node adapter (node-fs.ts) on demand.
 */
export { type ByteSource, blobSource, bufferSource } from './source.js';
export { type FileTree, memoryFileTree, type TreeEntry } from './file-tree.js';
export { OutputExistsError, type WriteOptions } from './output.js';
export { FILE_DTYPE_BYTES, type FileDType, type HostTensor, type TensorArray, type UploadType } from './tensor-data.js';
export {
  encodeSafetensors,
  loadSafetensors,
  openSafetensors,
  type SafetensorsFile,
  type TensorInfo,
  type TensorToWrite,
  writeSafetensors,
} from './safetensors.js';
export { type TorchCheckpoint, openTorchCheckpoint } from './torch-checkpoint.js';
export {
  checkWeights,
  openWeights,
  type WeightFormat,
  type WeightInfo,
  type WeightSource,
  WeightsMismatchError,
  weightSourceFromByteSource,
  weightSourceFromBytes,
  weightTotals,
} from './weights.js';
export { type HubComponent, type HubPipeline, openHubComponent, openHubPipeline, readJsonConfig, type WeightFileChoice } from './hub.js';
export { parseJsonLenient } from './json.js';
export type { Image } from './image.js';
export { decodePng, encodePng, writePng } from './png.js';
export { decodeJpeg } from './jpeg.js';
export { decodeImage, readImage } from './read-image.js';
export {
  encodeNifti,
  type NiftiDType,
  type NiftiHeader,
  type NiftiVolume,
  niftiToFloat32,
  niftiToRAS,
  readNifti,
  readNiftiSource,
  type VolumeToWrite,
  writeNifti,
} from './nifti.js';
export { type Affine, axcodes, ioOrientation, type Orientation, orientToRAS } from './orientation.js';
