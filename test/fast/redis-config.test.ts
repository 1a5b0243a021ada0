import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, redisSchema } from '../../platform/config.js';
import { redisOptions } from '../../platform/redis-client.js';

/**
 * Issue 19: every service reaches Redis through one parsed configuration. Invariants: a bad
 * REDIS_SENTINELS or REDIS_COMMAND_TIMEOUT_MS stops the service naming that variable (exit 78 via
 * loadConfigOrExit); with sentinels, clients ask them for REDIS_MASTER_NAME and still take the
 * password and db from REDIS_URL; request-path clients have the deadline and never queue.
 */
describe('Redis configuration (issue 19)', () => {
  it('names the variable of a bad value', () => {
    const problems = (env: Record<string, string>) => {
      try {
        parseConfig(redisSchema, env);
        return [];
      } catch (err) {
        return (err as ConfigError).problems;
      }
    };
    expect(problems({ REDIS_SENTINELS: '10.0.0.1:26379,sentinel-2' })[0]).toMatch(/^REDIS_SENTINELS: .*sentinel-2/);
    expect(problems({ REDIS_COMMAND_TIMEOUT_MS: '0' })[0]).toMatch(/^REDIS_COMMAND_TIMEOUT_MS: /);
    expect(problems({ REDIS_URL: 'http://x' })[0]).toMatch(/^REDIS_URL: /);
  });

  it('builds Sentinel clients from REDIS_SENTINELS, with REDIS_URL giving password and db', () => {
    const config = parseConfig(redisSchema, {
      REDIS_URL: 'redis://:s3cret@ignored:6379/2',
      REDIS_SENTINELS: 'sentinel-1:26379, sentinel-2:26380',
      REDIS_SENTINEL_PASSWORD: 'watch',
    });
    const options = redisOptions(config, 'request');
    expect(options).toMatchObject({
      sentinels: [
        { host: 'sentinel-1', port: 26379 },
        { host: 'sentinel-2', port: 26380 },
      ],
      name: 'mymaster',
      sentinelPassword: 'watch',
      password: 's3cret',
      db: 2,
      commandTimeout: 50,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    });
    expect(options.host).toBeUndefined();
    expect(redisOptions(parseConfig(redisSchema, { REDIS_URL: 'redis://cache:6380' }), 'background')).toMatchObject({
      host: 'cache',
      port: 6380,
      maxRetriesPerRequest: null,
    });
  });
});
