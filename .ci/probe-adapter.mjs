// Exits 0 when Dawn's Node bindings find a WebGPU adapter, 1 otherwise.
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = await gpu.requestAdapter().catch(() => null);
if (adapter) console.log(`CI: WebGPU adapter: ${adapter.info?.description ?? 'found'}`);
else console.log('CI: no WebGPU adapter');
process.exit(adapter ? 0 : 1);
