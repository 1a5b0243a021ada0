import { describe, expect, it } from 'vitest';
import { ConfigError, gatewaySchema, parseConfig } from '../../platform/config.js';

/**
 * BODY_LIMIT is read once at start-up into bytes: express.json and the cache-hit lane in front of it
 * (gateway/cache/hit-lane.ts) cap bodies by the same number. A value that is not a size stopped
 * nothing before: body-parser took it as no cap at all.
 */
describe('BODY_LIMIT', () => {
  const parse = (env: Record<string, string>) => {
    try {
      parseConfig(gatewaySchema, env);
      return [] as string[];
    } catch (err) {
      return (err as ConfigError).problems;
    }
  };

  it('is a size: 2mb by default, kb and plain bytes too', () => {
    const field = gatewaySchema.shape.BODY_LIMIT;
    expect(field.parse(undefined)).toBe(2 * 1024 * 1024);
    expect(field.parse('512kb')).toBe(512 * 1024);
    expect(field.parse('1048576')).toBe(1_048_576);
  });

  it('stops the process naming the variable when it is not one', () => {
    for (const bad of ['lots', '-1mb', '0'])
      expect(
        parse({ BODY_LIMIT: bad }).some((p) => p.startsWith('BODY_LIMIT: ')),
        bad,
      ).toBe(true);
  });
});
