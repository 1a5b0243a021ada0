import type { SchemaCheckReport } from './run-check.js';

const who = (f: { client: string; version: string; partnerId?: string }) =>
  `client "${f.client || '(unnamed)'}"${f.version ? ` version ${f.version}` : ''}${f.partnerId ? ` (partner ${f.partnerId})` : ''}`;
const mark = (accepted: boolean) => (accepted ? ' [accepted]' : '');

/** The human summary of a check: what failed first, then every change by level. */
export function formatSummary(report: SchemaCheckReport): string {
  const lines: string[] = [];
  if (!report.composition.ok) {
    lines.push(`COMPOSITION_FAILED: the proposed ${report.subgraph} schema does not compose:`);
    lines.push(...report.composition.errors.map((e) => `  - ${e}`));
    lines.push('schema:check FAILED');
    return lines.join('\n');
  }
  const byLevel = (level: string) => report.changes.filter((c) => c.level === level);
  lines.push(`changes: ${byLevel('breaking').length} breaking, ${byLevel('dangerous').length} dangerous, ${byLevel('safe').length} safe`);
  for (const level of ['breaking', 'dangerous', 'safe'])
    for (const c of byLevel(level)) lines.push(`  ${level.padEnd(9)} ${c.message}${mark(c.accepted)}`);
  const docs = report.documents;
  lines.push(
    `trusted documents: ${docs.checked} checked, ${docs.failures.length} broken` +
      (docs.retired.length ? ` (retired, not checked: ${docs.retired.join(', ')})` : ''),
  );
  for (const f of docs.failures)
    lines.push(`  ${f.source}: ${who(f)}, operation "${f.operation}": ${f.errors.join('; ')}${mark(f.accepted)}`);
  for (const u of docs.unreadable) lines.push(`  not readable, not checked: ${u}`);
  const usage = report.usage;
  if (!usage.checked) lines.push('recorded usage: not checked (no usage storage)');
  else lines.push(`recorded usage (last ${usage.days} days, ${usage.storage}): ${usage.failures.length} use(s) of broken coordinates`);
  for (const f of usage.failures)
    lines.push(`  ${f.coordinate}: ${who(f)}, operation "${f.operation}", ${f.count} request(s), last ${f.lastSeen}${mark(f.accepted)}`);
  lines.push(
    report.ok
      ? 'schema:check passed'
      : `schema:check FAILED: ${report.failures.map((f) => `${f.code} (${f.count})`).join(', ')}; accept a named break with --accept <coordinate>`,
  );
  return lines.join('\n');
}
