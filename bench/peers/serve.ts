/** The child side of the peer protocol for peers written in TypeScript: reads requests from stdin. */
import { createInterface } from 'node:readline';
import { type PeerHandler, type PeerRequest, type PeerResponse, Unsupported } from './protocol.js';

export async function servePeer(make: () => Promise<PeerHandler>): Promise<void> {
  const send = (r: PeerResponse) => process.stdout.write(`${JSON.stringify(r)}\n`);
  let handler: PeerHandler;
  try {
    handler = await make();
  } catch (e) {
    // Answer every request with the reason, so the bench can print why this peer is skipped.
    const error = e instanceof Error ? e.message : String(e);
    for await (const line of createInterface({ input: process.stdin })) {
      if (!line.trim()) continue;
      send({ ok: false, error });
      if ((JSON.parse(line) as PeerRequest).cmd === 'quit') break;
    }
    process.exit(0);
  }
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    const req = JSON.parse(line) as PeerRequest;
    try {
      switch (req.cmd) {
        case 'hello':
          send({ ok: true, ...(await handler.hello()) });
          break;
        case 'setup':
          send({ ok: true, ...(await handler.setup(req.layer, req.targetMs)) });
          break;
        case 'sample':
          send({ ok: true, ms: await handler.sample() });
          break;
        case 'teardown':
          await handler.teardown();
          send({ ok: true });
          break;
        case 'quit':
          send({ ok: true });
          process.exit(0);
      }
    } catch (e) {
      send({ ok: false, error: e instanceof Error ? e.message : String(e), unsupported: e instanceof Unsupported });
    }
  }
  process.exit(0);
}
