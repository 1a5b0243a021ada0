import type { GatewayExecutor, GatewayInterface } from '@apollo/server-gateway-interface';

/**
 * The gateway with its executor wrapped, everything else passed through. Authorization,
 * supergraph pinning and progressive @override each sit around @apollo/gateway's executor this way,
 * so Apollo Server still sees one gateway and each schema (re)load is wrapped again.
 */
export function wrapExecutor(inner: GatewayInterface, wrap: (execute: GatewayExecutor) => GatewayExecutor): GatewayInterface {
  return {
    async load(options) {
      const loaded = await inner.load(options);
      return { ...loaded, executor: loaded.executor && wrap(loaded.executor) };
    },
    onSchemaLoadOrUpdate: (callback) => inner.onSchemaLoadOrUpdate(callback),
    stop: () => inner.stop(),
  };
}
