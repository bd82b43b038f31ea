/** `tsdsl show`: a package's metadata, in recutils-like records (Guix's format) or JSON. */
import { formatLocation } from '../../dsl/location.js';
import { appliedOptionsText, fullName, type Package } from '../../dsl/package.js';
import { isPackage } from '../../dsl/brand.js';
import type { License } from '../../dsl/licenses.js';
import type { Origin } from '../../dsl/origin.js';
import type { Collection } from '../../registry/collection.js';
import type { Command } from '../command.js';
import { out } from '../command.js';
import { packageOptions, packagesFrom } from '../packages.js';

function licenses(p: Package): readonly License[] {
  return Array.isArray(p.license) ? (p.license as readonly License[]) : [p.license as License];
}

/** Where an origin comes from, as JSON. */
function originJson(o: Origin): Record<string, unknown> {
  return o.kind === 'url'
    ? { kind: 'url', urls: o.urls, sha256: o.sha256, fileName: o.fileName }
    : o.kind === 'git'
      ? { kind: 'git', url: o.url, commit: o.commit, sha256: o.sha256 ?? null }
      : { kind: 'local', path: o.path };
}

/** What is done to a source once unpacked, for every kind: patches (files, or URL origins), their flags, the snippet. */
function sourceChanges(o: Origin): Record<string, unknown> {
  return {
    // A file's path, or a fetched patch's URL (as this field always held).
    patches: o.patches.map((x) => (typeof x === 'string' ? x : x.urls[0]!)),
    patchFlags: o.patchFlags,
    snippet: o.snippet ?? null,
  };
}

/** A JSON-ready description of a package (also used by `search --json`). */
export function packageJson(p: Package, collection?: Collection): Record<string, unknown> {
  const src = p.source;
  return {
    name: p.name,
    version: p.version,
    outputs: p.outputs,
    synopsis: p.synopsis,
    description: p.description,
    homePage: p.homePage,
    license: licenses(p).map((l) => l.spdx),
    location: p.location ? { file: p.location.file, line: p.location.line, column: p.location.column } : null,
    buildSystem: p.buildSystem.name,
    inputs: p.inputs.map(fullName),
    nativeInputs: p.nativeInputs.map(fullName),
    propagatedInputs: p.propagatedInputs.map(fullName),
    variants: p.variants,
    source: src === null ? null : { ...originJson(src), ...sourceChanges(src) },
    arguments: p.arguments,
    properties: p.properties,
    // As the record's `transformations:` line says them (also kept in properties).
    transformations: Array.isArray(p.properties['transformations']) ? p.properties['transformations'] : [],
    otherVersions: collection ? collection.versions(p.name).filter((q) => q.version !== p.version).map((q) => q.version) : [],
  };
}

/**
 * `show --json` and `search --json` text. Properties and arguments are open maps: a package kept
 * in one (`properties: { related: hwloc }`) is its `name@version`, not its whole record, and a
 * BigInt its digits (JSON.stringify throws on one: an internal error, exit 70).
 */
export function packagesJsonText(records: unknown): string {
  return JSON.stringify(records, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : isPackage(v) ? fullName(v) : v), 2) + '\n';
}

/** Wrap text at 78 columns, continuation lines prefixed with `+ ` as recutils does. */
function recField(name: string, value: string): string {
  const words = value.split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let cur = `${name}:`;
  for (const w of words) {
    if (cur.length + 1 + w.length > 78 && cur.length > name.length + 1) {
      lines.push(cur);
      cur = `+ ${w}`;
    } else cur += ` ${w}`;
  }
  lines.push(cur);
  return lines.join('\n');
}

/** The record `tsdsl show` prints. */
export function packageRecord(p: Package, collection?: Collection): string {
  const deps = [...p.inputs, ...p.nativeInputs, ...p.propagatedInputs].map(fullName);
  const lines = [
    `name: ${p.name}`,
    `version: ${p.version}`,
    `outputs: ${p.outputs.join(' ')}`,
    `build-system: ${p.buildSystem.name}`,
  ];
  if (Object.keys(p.variants).length)
    lines.push(`variants: ${Object.entries(p.variants).map(([k, v]) => (typeof v === 'boolean' ? `${v ? '+' : '~'}${k}` : `${k}=${v}`)).join(' ')}`);
  lines.push(recField('dependencies', deps.join(' ')));
  lines.push(`location: ${formatLocation(p.location)}`);
  lines.push(`homepage: ${p.homePage}`);
  lines.push(`license: ${licenses(p).map((l) => l.name).join(', ')}`);
  if (p.source?.kind === 'url') lines.push(`source: ${p.source.urls[0]}`);
  else if (p.source?.kind === 'git') lines.push(`source: ${p.source.url} (${p.source.commit})`);
  else if (p.source?.kind === 'local') lines.push(`source: ${p.source.path}`);
  const patches = p.source?.patches ?? [];
  if (patches.length) lines.push(recField('patches', patches.map((x) => (typeof x === 'string' ? x : x.urls[0]!)).join(' ')));
  if (p.source?.snippet) lines.push(recField('snippet', p.source.snippet));
  const applied = appliedOptionsText(p);
  if (applied) lines.push(recField('transformations', applied));
  lines.push(recField('synopsis', p.synopsis));
  lines.push(recField('description', p.description));
  const others = collection?.versions(p.name).filter((q) => q !== p && q.version !== p.version) ?? [];
  // Wrapped as the other long fields are: a package kept at hundreds of versions made one line of thousands of columns.
  if (others.length) lines.push(recField('other-versions', others.map((q) => q.version).join(' ')));
  return lines.join('\n') + '\n';
}

export const command: Command = {
  name: 'show',
  summary: 'show details of packages',
  usage: 'tsdsl show [OPTION]... PACKAGE...',
  examples: [
    ['tsdsl show hwloc', 'the newest hwloc: version, inputs, home page, license, where it is defined'],
    ['tsdsl show hwloc@1', 'the newest 1.x hwloc'],
    ["tsdsl show 'scotch+mpi' --json", 'scotch with MPI, as JSON'],
    ['tsdsl show mumps --with-input=scotch=pt-scotch', 'after a transformation (recorded under "transformations")'],
  ],
  options: [{ name: 'json', kind: 'boolean', description: 'print JSON instead of records' }, ...packageOptions],
  async run(args) {
    if (args.positionals.length === 0) throw new (await import('../../errors.js')).TsdslError('tsdsl show: no package given; try `tsdsl show hwloc`');
    const { packages, collection } = await packagesFrom(args, args.positionals);
    if (args.values['json']) {
      // Always a list, one element per package named, so scripts see one shape.
      out(packagesJsonText(packages.map((p) => packageJson(p, collection))));
    } else out(packages.map((p) => packageRecord(p, collection)).join('\n'));
    return 0;
  },
};
