import type { K8sObject } from './kustomize.js';

/**
 * Whether NetworkPolicies let one pod of the namespace open a TCP connection to another on a port:
 * the source's egress and the destination's ingress must both allow it (a pod no policy selects for a
 * direction is open in that direction). Peers by podSelector only: namespaceSelector and ipBlock peers
 * name other namespaces and outside addresses, never a pod of this namespace (pod IPs are private).
 */
interface Peer {
  podSelector?: { matchLabels?: Record<string, string> };
  namespaceSelector?: unknown;
  ipBlock?: unknown;
}
interface Rule {
  from?: Peer[];
  to?: Peer[];
  ports?: { port: number }[];
}
interface PolicySpec {
  podSelector: { matchLabels?: Record<string, string> };
  policyTypes: ('Ingress' | 'Egress')[];
  ingress?: Rule[];
  egress?: Rule[];
}
type Labels = Record<string, string>;

const selects = (selector: { matchLabels?: Labels } | undefined, labels: Labels) =>
  Object.entries(selector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v);

export function createTrafficCheck(objects: K8sObject[]) {
  const policies = objects.filter((o) => o.kind === 'NetworkPolicy').map((o) => (o as unknown as { spec: PolicySpec }).spec);
  const allows = (direction: 'Ingress' | 'Egress', self: Labels, peer: Labels, port: number) => {
    const applying = policies.filter((p) => p.policyTypes.includes(direction) && selects(p.podSelector, self));
    if (applying.length === 0) return true;
    return applying.some((p) =>
      (direction === 'Ingress' ? p.ingress : p.egress)?.some((rule) => {
        const peers = direction === 'Ingress' ? rule.from : rule.to;
        const peerOk = peers === undefined || peers.some((x) => !x.namespaceSelector && !x.ipBlock && selects(x.podSelector, peer));
        const portOk = rule.ports === undefined || rule.ports.some((r) => r.port === port);
        return peerOk && portOk;
      }),
    );
  };
  return (from: Labels, to: Labels, port: number) => allows('Egress', from, to, port) && allows('Ingress', to, from, port);
}
