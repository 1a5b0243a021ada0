import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';

/**
 * `npx tsx bench/cpu-profile-summary.ts <dir> [seconds]`: where a gateway's CPU goes, from the V8
 * profiles BENCH_PROFILE_DIR collects (bench:cpu-ab, bench). Only the profile of a gateway (a node of
 * gateway/ or of a peer's entry file) is read, and only its last `seconds` (default 8: the measured
 * window, not start-up or the warm-up); self time is grouped by library, so the costs can be planned
 * by owner (express, Apollo's pipeline, the planner/executor, our edge, our cache, JSON...).
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The first rule whose test matches a frame names its group. Order matters: our files before node_modules. */
const GROUPS: [string, (url: string, fn: string) => boolean][] = [
  ['idle', (u, f) => !u && /^\((idle|program|root)\)$/.test(f)],
  ['JSON (parse / stringify)', (u, f) => !u && /^(parse|stringify|JSONParse|JSONStringify)$/.test(f)],
  // Socket writes (writeUtf8String, writev), microtask runs, hashing: C++ and builtins, no script URL.
  ['native builtins (socket writes, microtasks, crypto)', (u) => !u],
  ['our cache (gateway/cache)', (u) => u.includes('/gateway/cache/')],
  ['our edge (gateway/ http, auth, limits, PQ)', (u) => u.includes('/gateway/') && !u.includes('node_modules')],
  ['our platform (platform/)', (u) => u.includes('/platform/') && !u.includes('node_modules')],
  ['express + body parsing', (u) => /node_modules\/(express|body-parser|router|raw-body|iconv-lite|qs|cors|finalhandler|send)\//.test(u)],
  ['Apollo server pipeline', (u) => /node_modules\/@apollo\/(server|utils\.|usage-reporting|server-gateway)/.test(u)],
  ['gateway planner / executor', (u) => /node_modules\/@apollo\/(gateway|query-planner|federation-internals|query-graphs)/.test(u)],
  ['graphql-js', (u) => u.includes('node_modules/graphql/')],
  [
    'Hive runtime / yoga / envelop',
    (u) => /node_modules\/@(graphql-hive|graphql-yoga|envelop|graphql-mesh|graphql-tools|whatwg-node)\//.test(u),
  ],
  ['ioredis', (u) => u.includes('node_modules/ioredis/')],
  ['metrics / tracing', (u) => /node_modules\/(prom-client|@opentelemetry)\//.test(u)],
  ['jose (tokens)', (u) => u.includes('node_modules/jose/')],
  [
    'fetch (undici) / http agents',
    (u) => /node_modules\/(undici|node-fetch|agentkeepalive|make-fetch-happen)\/|node:internal\/deps\/undici/.test(u),
  ],
  ['node core (http, net, streams)', (u) => u.startsWith('node:')],
  ['other node_modules', (u) => u.includes('node_modules/')],
  ['other', () => true],
];

const groupOf = (url: string, fn: string) => GROUPS.find(([, test]) => test(url, fn))![0];
const isGateway = (p: Profile) => p.nodes.some((n) => /\/gateway\/index\.[jt]s|\/bench\/(stock|hive)-gateway\.ts/.test(n.callFrame.url));

/** Self time (µs) per node id over the last `windowUs` of the profile. */
function selfTimes(p: Profile, windowUs: number): Map<number, number> {
  const total = p.timeDeltas.reduce((a, b) => a + b, 0);
  const self = new Map<number, number>();
  let t = 0;
  p.samples.forEach((id, i) => {
    t += p.timeDeltas[i]!;
    if (t >= total - windowUs) self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i + 1] ?? 0));
  });
  return self;
}

function summarise(p: Profile, windowUs: number): string[] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = selfTimes(p, windowUs);
  const groups = new Map<string, number>();
  const frames = new Map<string, number>();
  for (const [id, us] of self) {
    const { functionName: fn, url, lineNumber } = byId.get(id)!.callFrame;
    const group = groupOf(url, fn);
    groups.set(group, (groups.get(group) ?? 0) + us);
    if (group === 'idle') continue;
    const frame = `${fn || '(anonymous)'} ${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(gateway|platform)\//, '$1/')}:${lineNumber + 1}`;
    frames.set(frame, (frames.get(frame) ?? 0) + us);
  }
  const idle = groups.get('idle') ?? 0;
  const busy = [...groups.values()].reduce((a, b) => a + b, 0) - idle;
  const pct = (us: number) => `${((100 * us) / busy).toFixed(1)}%`;
  const top = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n);
  return [
    `busy ${(busy / 1000).toFixed(0)} ms of the last ${(windowUs / 1e6).toFixed(0)} s (idle and "(program)" apart: ${(idle / 1000).toFixed(0)} ms)`,
    ...top(groups, GROUPS.length)
      .filter(([g]) => g !== 'idle')
      .map(([g, us]) => `  ${pct(us).padStart(6)}  ${g}`),
    'top self-time frames:',
    ...top(frames, 20).map(([f, us]) => `  ${pct(us).padStart(6)}  ${f}`),
  ];
}

const [dir, seconds = '8'] = process.argv.slice(2);
for (const file of (await readdir(dir!)).filter((f) => f.endsWith('.cpuprofile'))) {
  const profile = JSON.parse(await readFile(path.join(dir!, file), 'utf8')) as Profile;
  if (isGateway(profile)) console.log([`${file}:`, ...summarise(profile, Number(seconds) * 1e6)].join('\n'));
}
