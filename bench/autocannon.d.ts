// autocannon ships no types; the bench uses a handful of its options (see bench/load-worker.ts).
declare module 'autocannon';
