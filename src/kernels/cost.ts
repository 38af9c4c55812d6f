/** A kernel's cost model: the work and memory traffic one launch needs, for GFLOP/s and GB/s reports. */
export interface Cost {
  flops: number;
  bytes: number;
}
