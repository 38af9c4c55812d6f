/**
 * Host-side layout changes between the reference's channels-first arrays ([C, ...spatial], what files and
 * fixtures hold) and the engine's channels-last GPU tensors ([...spatial, C]).
 */

/** [C, S] → [S, C]. */
export function toChannelsLast(data: Float32Array, channels: number): Float32Array {
  if (channels === 1) return data;
  const s = data.length / channels;
  const out = new Float32Array(data.length);
  for (let c = 0; c < channels; c++) for (let i = 0; i < s; i++) out[i * channels + c] = data[c * s + i] as number;
  return out;
}

/** [S, C] → [C, S]. */
export function toChannelsFirst(data: Float32Array, channels: number): Float32Array {
  if (channels === 1) return data;
  const s = data.length / channels;
  const out = new Float32Array(data.length);
  for (let c = 0; c < channels; c++) for (let i = 0; i < s; i++) out[c * s + i] = data[i * channels + c] as number;
  return out;
}
