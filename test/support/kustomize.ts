import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { parse, parseAllDocuments } from 'yaml';

/**
 * Renders a kustomization (deploy/k8s/base, deploy/k8s/overlays/*) as `kubectl kustomize` does, for
 * the subset this repository uses: `resources` (files and kustomization folders), `namespace`,
 * `images`, `patches` (inline JSON 6902 with a target) and `configMapGenerator` from files without
 * name hashing. Anything else in a kustomization is an error here, never silently skipped, so the
 * manifests cannot grow a feature the tests do not render. Why not kustomize itself: it is a Go
 * program (kubectl's built-in copy) and npm has no package of it; `npm test` needs only npm. The output
 * matched `kubectl kustomize` (v5.5.0) object for object when checked by hand (docs/operators.md, Deploying).
 */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

interface Kustomization {
  resources?: string[];
  namespace?: string;
  images?: { name: string; newName?: string; newTag?: string }[];
  patches?: { target: PatchTarget; patch: string }[];
  configMapGenerator?: { name: string; files: string[] }[];
  generatorOptions?: { disableNameSuffixHash?: boolean };
}

interface PatchTarget {
  group?: string;
  version?: string;
  kind?: string;
  name?: string;
}

const KNOWN = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'images', 'patches', 'configMapGenerator', 'generatorOptions']);

export function renderKustomization(dir: string): K8sObject[] {
  const file = path.join(dir, 'kustomization.yaml');
  const k = parse(readFileSync(file, 'utf8')) as Kustomization;
  const unknown = Object.keys(k).filter((key) => !KNOWN.has(key));
  if (unknown.length) throw new Error(`${file}: ${unknown.join(', ')} not rendered by test/support/kustomize.ts`);
  let objects = (k.resources ?? []).flatMap((resource) => loadResource(dir, resource));
  objects.push(...generateConfigMaps(dir, k));
  for (const { target, patch } of k.patches ?? []) {
    const ops = parse(patch) as Operation[];
    const matches = objects.filter((o) => matchesTarget(o, target));
    if (matches.length === 0) throw new Error(`${file}: patch target ${JSON.stringify(target)} matches nothing`);
    objects = objects.map((o) => (matches.includes(o) ? fastJsonPatch.applyPatch(structuredClone(o), ops, true, false).newDocument : o));
  }
  for (const image of k.images ?? []) objects = objects.map((o) => setImage(o, image));
  if (k.namespace) objects = objects.map((o) => ({ ...o, metadata: { ...o.metadata, namespace: k.namespace! } }));
  return objects;
}

function loadResource(dir: string, resource: string): K8sObject[] {
  const target = path.resolve(dir, resource);
  if (!existsSync(target)) throw new Error(`${dir}: resource ${resource} does not exist`);
  if (statSync(target).isDirectory()) return renderKustomization(target);
  return parseAllDocuments(readFileSync(target, 'utf8'))
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

function generateConfigMaps(dir: string, k: Kustomization): K8sObject[] {
  const generators = k.configMapGenerator ?? [];
  // kustomize would append a content hash to the name and rewrite every reference; this loader does neither.
  if (generators.length && !k.generatorOptions?.disableNameSuffixHash)
    throw new Error(`${dir}: configMapGenerator needs disableNameSuffixHash`);
  return generators.map(({ name, files }) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name },
    data: Object.fromEntries(files.map((f) => [path.basename(f), readFileSync(path.resolve(dir, f), 'utf8')])),
  }));
}

function matchesTarget(o: K8sObject, target: PatchTarget) {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  return (
    (target.kind === undefined || target.kind === o.kind) &&
    (target.name === undefined || target.name === o.metadata.name) &&
    (target.group === undefined || target.group === group) &&
    (target.version === undefined || target.version === version)
  );
}

/** kustomize's images transformer: every container (and init container) image whose name matches. */
function setImage(o: K8sObject, image: { name: string; newName?: string; newTag?: string }): K8sObject {
  const copy = structuredClone(o);
  const spec = (copy.spec as { template?: { spec?: PodSpec } } | undefined)?.template?.spec;
  for (const container of [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])]) {
    const [name, tag] = splitImage(container.image);
    if (name !== image.name) continue;
    container.image = `${image.newName ?? name}${(image.newTag ?? tag) ? `:${image.newTag ?? tag}` : ''}`;
  }
  return copy;
}

interface PodSpec {
  containers?: { image: string }[];
  initContainers?: { image: string }[];
}

function splitImage(image: string): [string, string | undefined] {
  const at = image.lastIndexOf(':');
  return at > image.lastIndexOf('/') ? [image.slice(0, at), image.slice(at + 1)] : [image, undefined];
}
