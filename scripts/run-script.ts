import { ConfigError } from '../platform/config.js';
import { EmbeddedPostgresError } from './embedded-postgres.js';

/** Errors a person can act on from their message alone: printed without a stack trace. */
const EXPLAINED = [ConfigError, EmbeddedPostgresError];

/** Runs a command-line script: explained errors print their message and exit 1; anything else keeps its stack. */
export async function runScript(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (err) {
    if (err instanceof ExplainedError || EXPLAINED.some((type) => err instanceof type)) {
      process.stderr.write(`${(err as Error).message}\n`);
    } else {
      console.error(err);
    }
    process.exit(1);
  }
}

/** An error whose message says what to do (a wrong argument, a taken port): no stack trace needed. */
export class ExplainedError extends Error {
  override name = 'ExplainedError';
}
