import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { isPublicError } from '../../../platform/errors.js';
import { createTestModeLedger } from './test-mode.js';
import type { TestModeLedger } from './test-mode.js';

const chargeBody = z.object({ amountCents: z.number().int().min(0), currency: z.string(), cardToken: z.string() });
const refundBody = z.object({ reference: z.string(), amountCents: z.number().int().min(0), currency: z.string() });

/**
 * Test mode as a processor of its own, over HTTP, shaped like Stripe's API: POST /v1/charges and
 * /v1/refunds take an `Idempotency-Key` header, POST /v1/charges/resolve closes or reports a key.
 * It lives outside billing's process and transactions, so a test can kill billing between the
 * charge and its commit and still count what was charged (GET /v1/charges/counts).
 */
export async function startTestModeProviderServer(opts: { port?: number; host?: string } = {}) {
  const ledger = createTestModeLedger();
  const faults = { answerDelayMs: 0 };
  const server = http.createServer((req, res) => void handle(ledger, faults, req, res));
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    ledger,
    /** Charges still happen at once, but answers arrive this much later (an answer lost past the caller's timeout). */
    delayAnswers(ms: number) {
      faults.answerDelayMs = ms;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function handle(
  ledger: TestModeLedger,
  faults: { answerDelayMs: number },
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const delay = faults.answerDelayMs;
  const send = (status: number, body: unknown): void => {
    const answer = () => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (delay > 0 && req.url !== '/v1/charges/counts') setTimeout(answer, delay).unref();
    else answer();
  };
  try {
    if (req.method === 'GET' && req.url === '/v1/charges/counts') {
      send(200, { counts: ledger.chargeCounts(), refunds: ledger.refundCount() });
      return;
    }
    const key = req.headers['idempotency-key'];
    if (req.method !== 'POST' || typeof key !== 'string' || !key) {
      send(400, { error: 'POST with an Idempotency-Key header' });
      return;
    }
    const body: unknown = JSON.parse(await readBody(req));
    if (req.url === '/v1/charges') {
      send(200, ledger.charge({ ...chargeBody.parse(body), idempotencyKey: key }));
      return;
    }
    if (req.url === '/v1/charges/resolve') {
      send(200, ledger.resolveCharge(key));
      return;
    }
    if (req.url === '/v1/refunds') {
      send(200, ledger.refund({ ...refundBody.parse(body), idempotencyKey: key }));
      return;
    }
    send(404, { error: 'not found' });
  } catch (err) {
    send(isPublicError(err) ? 400 : 422, { error: err instanceof Error ? err.message : 'failed' });
  }
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (data += chunk));
    req.on('end', () => resolve(data || '{}'));
    req.on('error', reject);
  });
}
