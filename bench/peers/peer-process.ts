/** The bench's side of the peer protocol: spawns a peer process and exchanges one JSON line per request. */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { PeerRequest, PeerResponse } from './protocol.js';

const HERE = dirname(fileURLToPath(import.meta.url));

export interface PeerDef {
  /** Short id used by `--peers`, e.g. "torch". */
  id: string;
  /** Column title. */
  title: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  /** Why the peer cannot start on this machine (checked before spawning), or null. */
  missing(): string | null;
}

const INSTALL_HINT = 'run `npm run bench:peers` to install it';

/** PyTorch needs AVX-512 OpenBLAS kernels forced on CPUs Debian's OpenBLAS 0.3.21 does not know. */
function openblasEnv(): Record<string, string> {
  if (process.env.OPENBLAS_CORETYPE) return { OPENBLAS_CORETYPE: process.env.OPENBLAS_CORETYPE };
  let avx512 = false;
  try {
    avx512 = /\bavx512f\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    // not Linux: leave OpenBLAS to its own detection
  }
  return avx512 ? { OPENBLAS_CORETYPE: 'SkylakeX' } : {};
}

const nodePeer = (file: string, ...args: string[]) => ({ command: process.execPath, args: ['--import', 'tsx', join(HERE, file), ...args] });
const hasPeerModule = (name: string) => existsSync(join(HERE, 'node_modules', name, 'package.json'));

export const PEERS: PeerDef[] = [
  {
    id: 'torch',
    title: 'PyTorch CPU',
    command: '/usr/bin/python3',
    args: [join(HERE, 'torch_peer.py')],
    env: { ...openblasEnv(), OMP_NUM_THREADS: '2' },
    missing: () => {
      if (!existsSync('/usr/bin/python3')) return `/usr/bin/python3 not found; ${INSTALL_HINT} (apt-get install python3-torch)`;
      if (!existsSync('/usr/lib/python3/dist-packages/torch'))
        return `Debian's python3-torch is not installed; ${INSTALL_HINT} (apt-get install python3-torch)`;
      return null;
    },
  },
  {
    id: 'ort-webgpu',
    title: 'ORT WebGPU',
    ...nodePeer('ort-peer.ts', 'webgpu'),
    missing: () => (hasPeerModule('onnxruntime-node') ? null : `onnxruntime-node is not installed in bench/peers; ${INSTALL_HINT}`),
  },
  {
    id: 'tfjs-webgpu',
    title: 'TF.js WebGPU',
    ...nodePeer('tfjs-peer.ts'),
    missing: () =>
      hasPeerModule('@tensorflow/tfjs-backend-webgpu')
        ? null
        : `@tensorflow/tfjs-backend-webgpu is not installed in bench/peers; ${INSTALL_HINT}`,
  },
  {
    id: 'ort-cpu',
    title: 'ORT CPU',
    ...nodePeer('ort-peer.ts', 'cpu'),
    missing: () => (hasPeerModule('onnxruntime-node') ? null : `onnxruntime-node is not installed in bench/peers; ${INSTALL_HINT}`),
  },
];

/** Peers compared by default: PyTorch on the CPU and the two WebGPU peers on the same adapter. */
export const DEFAULT_PEERS = ['torch', 'ort-webgpu', 'tfjs-webgpu'];

export class PeerProcess {
  private readonly lines: AsyncIterator<string>;
  private stderrTail = '';
  name = '';
  version = '';
  detail = '';

  private constructor(
    readonly def: PeerDef,
    private readonly child: ChildProcessWithoutNullStreams,
  ) {
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    child.stderr.on('data', (b: Buffer) => {
      this.stderrTail = (this.stderrTail + b.toString()).slice(-2000);
    });
  }

  /** Starts the peer and says hello; returns the reason instead when it cannot run here. */
  static async start(def: PeerDef): Promise<PeerProcess | { skipped: string }> {
    const why = def.missing();
    if (why) return { skipped: why };
    const child = spawn(def.command, def.args, { env: { ...process.env, ...def.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const p = new PeerProcess(def, child);
    const hello = await p.request({ cmd: 'hello' }, 120_000).catch((e: Error) => ({ ok: false as const, error: e.message }));
    if (!hello.ok) {
      p.kill();
      return { skipped: hello.error };
    }
    p.name = hello.name ?? def.id;
    p.version = hello.version ?? '';
    p.detail = hello.detail ?? '';
    return p;
  }

  async request(req: PeerRequest, timeoutMs: number): Promise<PeerResponse> {
    this.child.stdin.write(`${JSON.stringify(req)}\n`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.def.id}: no answer to '${req.cmd}' within ${timeoutMs / 1000} s`)), timeoutMs);
    });
    try {
      for (;;) {
        const next = await Promise.race([this.lines.next(), timeout]);
        if (next.done) throw new Error(`${this.def.id} exited: ${this.stderrTail.trim().split('\n').slice(-3).join(' | ') || 'no output'}`);
        // Native libraries (Dawn) may print warnings on stdout: answers are the lines that are JSON objects.
        if (next.value.startsWith('{')) return JSON.parse(next.value) as PeerResponse;
      }
    } finally {
      clearTimeout(timer);
    }
  }

  async quit(): Promise<void> {
    await this.request({ cmd: 'quit' }, 10_000).catch(() => undefined);
    this.kill();
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill();
  }
}
