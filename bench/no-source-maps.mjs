// Preloaded after tsx (`--import tsx --import ./bench/no-source-maps.mjs`): tsx turns Node's
// source-map support on, which makes every `new Error().stack` (agent-base calls one per request
// in the stock gateway's fetch path) map each frame through source maps, 0.3-0.46 ms per request.
// Benchmarked processes run without it, as compiled JavaScript on plain `node` would.
process.setSourceMapsEnabled(false);
