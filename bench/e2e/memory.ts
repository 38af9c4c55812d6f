/**
 * Process memory for issue 7's target (peak process memory ≤ 1.25× the f32 weight bytes). On lavapipe the
 * GPU buffers live in this process, so the process's memory is host + GPU memory.
 */
import { readFileSync, writeFileSync } from 'node:fs';

/**
 * The kernel's high-water mark of this process's resident memory (VmHWM), in bytes: exact, unlike
 * sampling (a spike between samples is caught). Covers the process since it started or since
 * `resetVmHwm()`. null off Linux.
 */
export function vmHwmBytes(): number | null {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Samples RSS every `ms` and whenever `sample()` is called; `stop()` returns the highest seen. */
export function rssSampler(ms = 50): { sample(): void; stop(): number } {
  let peak = process.memoryUsage.rss();
  const sample = () => {
    peak = Math.max(peak, process.memoryUsage.rss());
  };
  const timer = setInterval(sample, ms);
  return {
    sample,
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

/**
 * Resets VmHWM to the current RSS (Linux ≥ 4.0: writing 5 to /proc/self/clear_refs), so it measures what
 * follows and not, say, the garbage of loading random weights. false where that is not possible.
 */
export function resetVmHwm(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}
