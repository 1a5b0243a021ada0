import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { ROOT } from '../../platform/paths.js';
import type { K8sObject } from './kustomize.js';

/**
 * Schema validation of rendered objects. Kubernetes' own kinds: `kubernetes-models` (npm), whose
 * classes validate against the upstream OpenAPI schemas it ships (they include resource.k8s.io/v1:
 * Kubernetes 1.34 or later). CloudNativePG's Cluster: the CRD's openAPIV3Schema, vendored in
 * deploy/schemas/cnpg-cluster-v1.json (from the operator's repository; its `source` says which
 * release), checked with ajv. A kind with no schema is an error, not a pass.
 */
const crds = new Map<string, (o: unknown) => string[]>();

function crdValidator(file: string) {
  const crd = JSON.parse(readFileSync(path.join(ROOT, 'deploy/schemas', file), 'utf8')) as { openAPIV3Schema: object };
  // OpenAPI's x-kubernetes-* keywords are annotations for the API server; ajv is told to let them be.
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  const validate = ajv.compile(crd.openAPIV3Schema);
  return (o: unknown) => (validate(o) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`));
}
crds.set('postgresql.cnpg.io/v1/Cluster', crdValidator('cnpg-cluster-v1.json'));

/** The API groups deploy/k8s uses (static imports: the bundler resolves each through the package's exports). */
const MODELS: Record<string, () => Promise<object>> = {
  v1: () => import('kubernetes-models/v1'),
  'apps/v1': () => import('kubernetes-models/apps/v1'),
  'batch/v1': () => import('kubernetes-models/batch/v1'),
  'autoscaling/v2': () => import('kubernetes-models/autoscaling/v2'),
  'policy/v1': () => import('kubernetes-models/policy/v1'),
  'networking.k8s.io/v1': () => import('kubernetes-models/networking.k8s.io/v1'),
};

export async function schemaErrors(o: K8sObject): Promise<string[]> {
  const crd = crds.get(`${o.apiVersion}/${o.kind}`);
  if (crd) return crd(o);
  const load = MODELS[o.apiVersion];
  if (!load) return [`no schema for ${o.apiVersion}`];
  const Kind = ((await load()) as unknown as Record<string, new (data: unknown) => { validate(): void }>)[o.kind];
  if (!Kind) return [`no schema for ${o.apiVersion} ${o.kind}`];
  try {
    new Kind(o).validate();
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}
