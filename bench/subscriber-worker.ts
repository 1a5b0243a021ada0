import WebSocket from 'ws';
import { createClient } from 'graphql-ws';

/**
 * The subscribers of bench/subscription-latency.ts, in a process of their own so that 1,000 clients
 * do not share an event loop with the gateway they measure. Receives { url, subscriptions } over
 * IPC, reports { ready } when every subscription is open, then one { received } per event.
 */
interface Job {
  url: string;
  subscriptions: { token?: string; query: string; variables?: Record<string, unknown> }[];
}

const all: ReturnType<typeof createClient>[] = [];

async function onMessage(msg: Job | { stop: true }): Promise<void> {
  if ('stop' in msg) {
    await Promise.all(all.map(async (c) => c.dispose()));
    process.exit(0);
  }
  const job = msg;
  const ws = job.url.replace(/^http/, 'ws');
  const clients = job.subscriptions.map((s) =>
    createClient({
      url: ws,
      webSocketImpl: WebSocket,
      connectionParams: s.token ? { authorization: `Bearer ${s.token}` } : {},
      retryAttempts: 0,
      lazy: false,
    }),
  );
  all.push(...clients);
  let acked = 0;
  await Promise.all(
    job.subscriptions.map((s, i) =>
      new Promise<void>((resolve) => {
        const client = clients[i]!;
        client.on('connected', () => resolve());
        client.subscribe(
          { query: s.query, variables: s.variables ?? {} },
          {
            next: (result) => process.send!({ received: { at: Date.now(), subscriber: i, data: result.data } }),
            error: (err) => process.send!({ error: (err as Error)?.message ?? JSON.stringify(err) }),
            complete: () => {},
          },
        );
      }).then(() => void (acked += 1)),
    ),
  );
  process.send!({ ready: acked });
}

process.on('message', (msg: Job | { stop: true }) => void onMessage(msg));
