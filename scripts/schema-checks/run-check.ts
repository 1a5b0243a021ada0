import { apiSchemaOf } from '../../gateway/persisted-queries/check.js';
import { mergeUsage } from '../../gateway/usage/index.js';
import type { UsageStore } from '../../gateway/usage/index.js';
import { composeProposed } from './proposed-supergraph.js';
import { classifyChanges } from './schema-changes.js';
import type { SchemaChange } from './schema-changes.js';
import { checkDocuments, collectTrustedDocuments } from './trusted-documents.js';
import type { DocumentFailure } from './trusted-documents.js';
import { usageBreaks } from './usage-breaks.js';
import type { UsageFailure } from './usage-breaks.js';

/** Why a check failed: one code per kind, in the JSON report and the summary. */
export enum SchemaCheckFailure {
  /** The proposed SDL does not compose with the other subgraphs (or does not parse). */
  COMPOSITION_FAILED = 'COMPOSITION_FAILED',
  /** A trusted document (persisted-queries/ or a live registry manifest) valid today would no longer validate. */
  TRUSTED_DOCUMENT_BROKEN = 'TRUSTED_DOCUMENT_BROKEN',
  /** A breaking change to a coordinate some client used within the window. */
  USED_COORDINATE_BROKEN = 'USED_COORDINATE_BROKEN',
}

export interface SchemaCheckOptions {
  subgraph: string;
  sdl: string;
  /** The supergraph the gateways serve today (schema/supergraph.graphql). */
  currentSupergraphSdl: string;
  persistedDir: string;
  registryDir?: string;
  /** Where recorded usage is read; none: the usage check is skipped (and the report says so). */
  usage?: UsageStore;
  days: number;
  /** Coordinates or inspector paths whose breaks the team accepts. */
  accept: string[];
  roverFile?: string;
  now?: number;
}

export interface SchemaCheckReport {
  ok: boolean;
  subgraph: string;
  failures: { code: SchemaCheckFailure; count: number }[];
  composition: { ok: boolean; errors: string[] };
  changes: (SchemaChange & { accepted: boolean })[];
  documents: { checked: number; retired: string[]; unreadable: string[]; failures: (DocumentFailure & { accepted: boolean })[] };
  usage: { checked: boolean; days: number; storage?: string; failures: (UsageFailure & { accepted: boolean })[] };
  accepted: string[];
}

const acceptedBy = (accept: ReadonlySet<string>) => (keys: string[]) => keys.length > 0 && keys.every((k) => accept.has(k));

/** Runs every check; the report says what failed and why. Never throws for a failed check, only for unreadable inputs. */
export async function runSchemaCheck(opts: SchemaCheckOptions): Promise<SchemaCheckReport> {
  const accept = new Set(opts.accept);
  const report: SchemaCheckReport = {
    ok: false,
    subgraph: opts.subgraph,
    failures: [],
    composition: { ok: false, errors: [] },
    changes: [],
    documents: { checked: 0, retired: [], unreadable: [], failures: [] },
    usage: { checked: false, days: opts.days, failures: [] },
    accepted: opts.accept,
  };
  const proposed = await composeProposed({
    subgraph: opts.subgraph,
    sdl: opts.sdl,
    ...(opts.roverFile ? { roverFile: opts.roverFile } : {}),
  });
  if (!proposed.ok) {
    report.composition.errors = proposed.errors;
    report.failures.push({ code: SchemaCheckFailure.COMPOSITION_FAILED, count: proposed.errors.length });
    return report;
  }
  report.composition.ok = true;
  const schemas = { current: apiSchemaOf(opts.currentSupergraphSdl), proposed: apiSchemaOf(proposed.supergraphSdl) };
  const changes = await classifyChanges(schemas.current, schemas.proposed);
  const isAccepted = acceptedBy(accept);
  report.changes = changes.map((c) => ({ ...c, accepted: c.level === 'breaking' && (accept.has(c.path) || isAccepted(c.coordinates)) }));
  const changed = new Set(changes.flatMap((c) => c.coordinates));
  const trusted = await collectTrustedDocuments({
    persistedDir: opts.persistedDir,
    ...(opts.registryDir ? { registryDir: opts.registryDir } : {}),
  });
  const documentFailures = checkDocuments(trusted.documents, schemas, changed);
  report.documents = {
    checked: trusted.documents.length,
    retired: trusted.retired,
    unreadable: trusted.unreadable,
    failures: documentFailures.map((f) => ({ ...f, accepted: isAccepted(f.coordinates) })),
  };
  if (opts.usage) {
    const usage = mergeUsage(await opts.usage.read({ days: opts.days, ...(opts.now ? { now: opts.now } : {}) }));
    const breaks = usageBreaks(changes, usage);
    report.usage = {
      checked: true,
      days: opts.days,
      storage: opts.usage.kind,
      failures: breaks.map((b) => ({ ...b, accepted: accept.has(b.coordinate) || accept.has(b.change) })),
    };
  }
  const count = (items: { accepted: boolean }[]) => items.filter((i) => !i.accepted).length;
  const documents = count(report.documents.failures);
  const used = count(report.usage.failures);
  if (documents) report.failures.push({ code: SchemaCheckFailure.TRUSTED_DOCUMENT_BROKEN, count: documents });
  if (used) report.failures.push({ code: SchemaCheckFailure.USED_COORDINATE_BROKEN, count: used });
  report.ok = report.failures.length === 0;
  return report;
}
