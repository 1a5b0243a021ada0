import autocannon from 'autocannon';
import type { JWK } from 'jose';
import { createServiceTokenSigner } from '../platform/auth/service-token.js';
import type { Identity } from '../platform/auth/identity.js';
import { isHit } from './gateways.js';
import type { HitMarker } from './gateways.js';

/**
 * The load generator, in its own process (forked by bench/run.ts; one job per message).
 * `http` jobs run autocannon (warm-up, then the measured run) rotating request bodies and
 * credentials per request; `checkout` jobs run closed loops of placeOrder -> invoice -> payInvoice.
 * Credentials: `bearer` sends user JWTs (our gateway); `internal` mints gateway-signed service
 * tokens per identity, re-minted as they age (their TTL is 60 s), for the peers to forward.
 * `mixed` jobs run storefront readers next to checkout loops that buy the very products being
 * read, and return what each read saw (per product: send time, receive time, stock) for the
 * staleness analysis. Each job posts `{ measuring: true }` when its measured phase starts, so the
 * parent reads CPU counters over exactly that window.
 */
export type Auth = { mode: 'none' } | { mode: 'bearer'; tokens: string[] } | { mode: 'internal'; key: JWK; identities: Identity[] };

export interface HttpJob {
  kind: 'http';
  url: string;
  bodies: string[];
  auth: Auth;
  connections: number;
  warmupS: number;
  durationS: number;
  /** The warm-up is one pass over every key (each body, each credential) instead of `warmupS`. */
  warmupPass?: boolean;
  /** Jobs with the same rotation go on where the last one stopped (no key sent twice). */
  rotation?: string;
  /** Draw each request's body at random with these weights (one per body, e.g. Zipf by rank) instead of rotating. */
  weights?: number[];
  /** Count the responses a peer's response cache answered (see bench/gateways.ts). */
  hitMarker?: HitMarker;
}

export interface CheckoutJob {
  kind: 'checkout';
  url: string;
  auth: Auth;
  productIds: string[];
  concurrency: number;
  warmupS: number;
  durationS: number;
  runId: string;
}

export interface MixedJob {
  kind: 'mixed';
  url: string;
  /** Storefront queries that select each product's `id` and `stock`. */
  bodies: string[];
  readAuth: Auth;
  readers: number;
  hitMarker?: HitMarker;
  checkout: Omit<CheckoutJob, 'kind' | 'warmupS' | 'durationS'>;
  warmupS: number;
  durationS: number;
}

/** One read's view of one product: [sent at, received at, stock] (epoch ms). */
export type Seen = [sentAt: number, receivedAt: number, stock: number];

export interface MixedResult {
  reads: LoadResult;
  checkouts: LoadResult;
  /** The measured window, epoch ms (the same clock Postgres stamps commits with). */
  window: { start: number; end: number };
  seen: Record<string, Seen[]>;
}

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  /** Responses that carried GraphQL `errors` (or a non-2xx status). */
  failed: number;
  /** Units completed in the measured window: requests (http), checkouts (checkout), reads (mixed). */
  count: number;
  /** Of those, answers marked as response-cache hits (only with a hitMarker). */
  hits?: number;
  /** Why the last failed unit failed (checkouts: e.g. an invoice its poll never saw). */
  lastError?: string;
}

const measuring = () => process.send!({ measuring: true });
const epochMs = () => performance.timeOrigin + performance.now();

async function credentials(auth: Auth): Promise<() => Record<string, string>[]> {
  if (auth.mode === 'none') return () => [{}];
  if (auth.mode === 'bearer') {
    const sets = auth.tokens.map((t) => ({ authorization: `Bearer ${t}` }));
    return () => sets;
  }
  const signer = await createServiceTokenSigner(auth.key);
  const mint = async () => Promise.all(auth.identities.map(async (id) => ({ 'x-internal-token': await signer.sign(id) })));
  let sets = await mint();
  // The signer caches each token for half its 60 s life; refresh well inside that.
  const timer = setInterval(() => void mint().then((s) => (sets = s)), 15_000);
  timer.unref();
  return () => sets;
}

const percentile = (xs: number[], p: number) => {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/** A seeded PRNG (mulberry32): every gateway of a repetition draws the same key sequence. */
function seeded(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The index of the next body: drawn by `weights` (binary search over their running sum), else the rotation's next. */
function bodyPicker(weights: number[] | undefined, seed: number): ((i: number) => number) | null {
  if (!weights) return null;
  const cdf: number[] = [];
  weights.reduce((sum, w, i) => (cdf[i] = sum + w), 0);
  const total = cdf.at(-1)!;
  const random = seeded(seed);
  return () => {
    const x = random() * total;
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
}

/** Where each named rotation stopped (HttpJob.rotation). */
const rotations = new Map<string, number>();

async function runHttp(job: HttpJob): Promise<LoadResult> {
  const creds = await credentials(job.auth);
  let n = job.rotation ? (rotations.get(job.rotation) ?? 0) : 0;
  const pick = bodyPicker(job.weights, 1);
  let failed = 0;
  let hits = 0;
  const once = (run: { duration: number } | { amount: number }) =>
    autocannon({
      url: job.url,
      connections: job.connections,
      ...run,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      requests: [
        {
          setupRequest(req: any) {
            const i = n++;
            const sets = creds();
            req.body = job.bodies[pick ? pick(i) : i % job.bodies.length];
            req.headers = { 'content-type': 'application/json', ...sets[i % sets.length] };
            return req;
          },
          onResponse(status: number, body: string, _context: unknown, headers: Record<string, string>) {
            if (status >= 300 || body.includes('"errors"')) {
              if (!failed++) console.error(`first failure: ${status} ${body.slice(0, 300)}`);
            } else if (job.hitMarker && isHit(job.hitMarker, (h) => headers[h], body)) hits += 1;
          },
        },
      ],
    } as any);
  if (job.warmupPass) await once({ amount: Math.max(job.bodies.length, creds().length) });
  else if (job.warmupS > 0) await once({ duration: job.warmupS });
  failed = 0;
  hits = 0;
  measuring();
  const r: any = await once({ duration: job.durationS });
  if (job.rotation) rotations.set(job.rotation, n);
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    requests: r.requests.total,
    errors: (r.errors as number) + (r.timeouts as number),
    failed,
    count: r.requests.total,
    ...(job.hitMarker ? { hits } : {}),
  };
}

/** Closed checkout loops (placeOrder -> wait for the invoice -> payInvoice); `run` records only when asked. */
async function checkoutLoops(job: Omit<CheckoutJob, 'kind' | 'warmupS' | 'durationS'>) {
  const creds = await credentials(job.auth);
  const post = async (headers: Record<string, string>, query: string, variables: Record<string, unknown>) => {
    const res = await fetch(job.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: any; errors?: unknown[] };
    if (!res.ok || body.errors) throw new Error(JSON.stringify(body.errors ?? res.status).slice(0, 300));
    return body.data;
  };
  let seq = 0;
  const stats = { requests: 0, failed: 0, lastError: '', latencies: [] as number[] };
  const checkout = async () => {
    const i = seq++;
    const sets = creds();
    const headers = sets[i % sets.length]!;
    const productId = job.productIds[i % job.productIds.length]!;
    const started = performance.now();
    const placed = await post(headers, 'mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id status } }', {
      input: { items: [{ productId, quantity: 1 }], idempotencyKey: `bench-${job.runId}-place-${i}` },
    });
    stats.requests += 1;
    // The invoice is created from the order's event, asynchronously: poll for it, bounded.
    let invoiceId: string | undefined;
    const deadline = Date.now() + 10_000;
    while (!invoiceId && Date.now() < deadline) {
      const d = await post(headers, 'query($id: ID!) { order(id: $id) { invoice { id } } }', { id: placed.placeOrder.id });
      stats.requests += 1;
      invoiceId = d.order?.invoice?.id;
      if (!invoiceId) await new Promise((r) => setTimeout(r, 10));
    }
    if (!invoiceId) throw new Error('invoice did not appear within 10 s');
    await post(headers, 'mutation($input: PayInvoiceInput!) { payInvoice(input: $input) { status } }', {
      input: { invoiceId, cardToken: 'tok_visa', idempotencyKey: `bench-${job.runId}-pay-${i}` },
    });
    stats.requests += 1;
    return performance.now() - started;
  };
  const loop = async (until: number, record: boolean) => {
    while (Date.now() < until) {
      try {
        const ms = await checkout();
        if (record) stats.latencies.push(ms);
      } catch (err) {
        if (record) stats.failed += 1;
        stats.lastError = String(err);
      }
    }
  };
  const run = async (seconds: number, record: boolean) => {
    if (record) stats.requests = 0;
    await Promise.all(Array.from({ length: job.concurrency }, () => loop(Date.now() + seconds * 1000, record)));
  };
  const result = (elapsedS: number): LoadResult => {
    if (stats.failed && stats.lastError) console.error(`checkout: ${stats.failed} failed, last: ${stats.lastError}`);
    const l = stats.latencies;
    return {
      rps: l.length / elapsedS,
      p50: percentile(l, 50),
      p99: percentile(l, 99),
      requests: stats.requests,
      errors: 0,
      failed: stats.failed,
      count: l.length,
      ...(stats.failed ? { lastError: stats.lastError.replace(/^Error: /, '').slice(0, 120) } : {}),
    };
  };
  return { run, result };
}

async function runCheckout(job: CheckoutJob): Promise<LoadResult> {
  const loops = await checkoutLoops(job);
  await loops.run(job.warmupS, false);
  measuring();
  const started = Date.now();
  await loops.run(job.durationS, true);
  return loops.result((Date.now() - started) / 1000);
}

/** Storefront readers (closed loops) next to checkouts on the products they read. */
async function runMixed(job: MixedJob): Promise<MixedResult> {
  const creds = await credentials(job.readAuth);
  const loops = await checkoutLoops(job.checkout);
  const seen: Record<string, Seen[]> = {};
  const latencies: number[] = [];
  let n = 0;
  let failed = 0;
  let hits = 0;
  const read = async (record: boolean) => {
    const i = n++;
    const sets = creds();
    const sentAt = epochMs();
    const res = await fetch(job.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...sets[i % sets.length] },
      body: job.bodies[i % job.bodies.length],
    });
    const text = await res.text();
    const body = JSON.parse(text) as { data?: { products?: { edges: { node: { id: string; stock: number } }[] } }; errors?: unknown[] };
    const receivedAt = epochMs();
    if (!record) return;
    if (job.hitMarker && isHit(job.hitMarker, (h) => res.headers.get(h), text)) hits += 1;
    latencies.push(receivedAt - sentAt);
    if (!res.ok || body.errors || !body.data?.products) {
      failed += 1;
      return;
    }
    for (const { node } of body.data.products.edges) (seen[node.id] ??= []).push([sentAt, receivedAt, node.stock]);
  };
  const readers = async (seconds: number, record: boolean) => {
    const until = Date.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: job.readers }, async () => {
        while (Date.now() < until)
          await read(record).catch(() => {
            if (record) failed += 1;
          });
      }),
    );
  };
  await Promise.all([readers(job.warmupS, false), loops.run(job.warmupS, false)]);
  measuring();
  const start = epochMs();
  await Promise.all([readers(job.durationS, true), loops.run(job.durationS, true)]);
  const end = epochMs();
  const elapsedS = (end - start) / 1000;
  return {
    reads: {
      rps: latencies.length / elapsedS,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      requests: latencies.length,
      errors: 0,
      failed,
      count: latencies.length,
      ...(job.hitMarker ? { hits } : {}),
    },
    checkouts: loops.result(elapsedS),
    window: { start, end },
    seen,
  };
}

async function onMessage(job: HttpJob | CheckoutJob | MixedJob | { stop: true }): Promise<void> {
  if ('stop' in job) process.exit(0);
  try {
    const result = job.kind === 'http' ? await runHttp(job) : job.kind === 'checkout' ? await runCheckout(job) : await runMixed(job);
    process.send!({ result });
  } catch (err) {
    process.send!({ error: String((err as Error).stack ?? err) });
  }
}

process.on('message', (job: HttpJob | CheckoutJob | MixedJob | { stop: true }) => void onMessage(job));
