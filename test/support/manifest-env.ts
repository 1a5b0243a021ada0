import type { K8sObject } from './kustomize.js';

/**
 * The environment Kubernetes gives a container, computed from the rendered objects: `envFrom`
 * (ConfigMaps, Secrets), then `env` in order, with `$(VAR)` references expanded against what came
 * before (`$$` escapes, an unknown reference stays as written) and `valueFrom` resolved. A reference
 * to a missing ConfigMap, Secret or key throws, as the kubelet refuses to start such a container.
 */
export interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  [field: string]: unknown;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    fieldRef?: { fieldPath: string };
  };
}

export interface Workload {
  kind: 'Deployment' | 'Job' | 'StatefulSet';
  name: string;
  container: Container;
  /** How long Kubernetes waits after SIGTERM before it kills (its default: 30 s). */
  terminationGracePeriodSeconds: number;
}

/** Every Deployment's, Job's and StatefulSet's first container. */
export function workloads(objects: K8sObject[]): Workload[] {
  return objects
    .filter((o) => o.kind === 'Deployment' || o.kind === 'Job' || o.kind === 'StatefulSet')
    .map((o) => {
      const pod = (o as unknown as { spec: { template: { spec: { containers: Container[]; terminationGracePeriodSeconds?: number } } } })
        .spec.template.spec;
      return {
        kind: o.kind as Workload['kind'],
        name: o.metadata.name,
        container: pod.containers[0]!,
        terminationGracePeriodSeconds: pod.terminationGracePeriodSeconds ?? 30,
      };
    });
}

export function containerEnv(
  objects: K8sObject[],
  container: Container,
  pod = { name: 'pod-0', namespace: 'default' },
): Record<string, string> {
  const lookup = (kind: 'ConfigMap' | 'Secret', name: string) => {
    const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
    return found ? dataOf(found) : undefined;
  };
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const [kind, name] = from.configMapRef ? (['ConfigMap', from.configMapRef.name] as const) : (['Secret', from.secretRef!.name] as const);
    const data = lookup(kind, name);
    if (!data) throw new Error(`${container.name}: envFrom ${kind} ${name} does not exist`);
    Object.assign(env, data);
  }
  for (const variable of container.env ?? []) {
    const value = variable.valueFrom ? valueFrom(container.name, variable, lookup, pod) : expand(variable.value ?? '', env);
    if (value !== undefined) env[variable.name] = value;
  }
  return env;
}

function valueFrom(
  container: string,
  variable: EnvVar,
  lookup: (kind: 'ConfigMap' | 'Secret', name: string) => Record<string, string> | undefined,
  pod: { name: string; namespace: string },
): string | undefined {
  const { secretKeyRef, configMapKeyRef, fieldRef } = variable.valueFrom!;
  if (fieldRef) {
    const fields: Record<string, string> = { 'metadata.name': pod.name, 'metadata.namespace': pod.namespace };
    if (!(fieldRef.fieldPath in fields))
      throw new Error(`${container}: ${variable.name}: fieldRef ${fieldRef.fieldPath} not rendered here`);
    return fields[fieldRef.fieldPath];
  }
  const [kind, ref] = secretKeyRef ? (['Secret', secretKeyRef] as const) : (['ConfigMap', configMapKeyRef!] as const);
  const value = lookup(kind, ref.name)?.[ref.key];
  if (value === undefined && !ref.optional) throw new Error(`${container}: ${variable.name}: ${kind} ${ref.name} has no key ${ref.key}`);
  return value;
}

/** Kubernetes' dependent variables: `$(NAME)` of a variable defined before, `$$` for a literal `$`. */
function expand(value: string, env: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (match, name?: string) => {
    if (match === '$$') return '$';
    return env[name!] ?? match;
  });
}

function dataOf(o: K8sObject): Record<string, string> {
  const { data, stringData } = o as { data?: Record<string, string>; stringData?: Record<string, string> };
  // A Secret's `data` is base64; `stringData` is plain (and wins, as the API server merges it in).
  const decoded =
    o.kind === 'Secret' ? Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()])) : data;
  return { ...decoded, ...stringData };
}
