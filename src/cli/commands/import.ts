/**
 * `tsdsl import debian NAME`: a new package definition from an updater's index — version,
 * tarball and sha256, build system and license guessed from the tarball, Build-Depends mapped
 * to the collection's packages (the rest as TODO comments). Printed, or with `--insert FILE`
 * added to a package file in alphabetical order (src/edit/source.ts).
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Package } from '../../dsl/package.js';
import { isPackage } from '../../dsl/package.js';
import { TsdslError } from '../../errors.js';
import { findRelease, latestRelease, makeUpdater, updaters } from '../../update/index.js';
import { importDefinition } from '../../update/import.js';
import { packageVersion } from '../../update/updater.js';
import { formatLocation } from '../../dsl/location.js';
import { identifierFor } from '../../dsl/package.js';
import type { Command } from '../command.js';
import { err, out, warn } from '../command.js';
import { collectionFrom } from '../packages.js';
import { loadOptions } from '../options.js';

/** tsdsl's root: three levels above this module in dist/ (dist/src/cli/commands). */
function root(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      if ((JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string }).name === 'tsdsl') return dir;
    } catch {
      // not here
    }
    dir = dirname(dir);
  }
  throw new Error('cannot find the tsdsl package root');
}

/** The identifiers the default collection exports its packages under. */
async function exportNames(): Promise<Map<Package, string>> {
  const ns = (await import('../../../packages/index.js')) as Record<string, unknown>;
  const names = new Map<Package, string>();
  for (const [k, v] of Object.entries(ns)) if (isPackage(v) && !names.has(v)) names.set(v, k);
  return names;
}

/** The module specifier a file already imports `definePackage` from. */
function dslModuleOf(file: string): string | undefined {
  const text = readFileSync(file, 'utf8');
  const m = /import\s*\{[^}]*\bdefinePackage\b[^}]*\}\s*from\s*['"]([^'"]+)['"]/.exec(text);
  return m?.[1];
}

export const command: Command = {
  name: 'import',
  summary: "write a package definition from Debian's source index",
  usage: 'tsdsl import [OPTION]... UPDATER NAME[=VERSION]',
  details:
    "UPDATER is where the release comes from (debian: the Sources index of the archive in apt's sources). The tarball is " +
    'downloaded (through the download cache) to guess the build system (configure → gnu, CMakeLists.txt → cmake) and the ' +
    "license; Debian's Build-Depends that name packages of the collection become inputs (libraries, `…-dev`) or native " +
    'inputs (tools), those the build system brings itself (gcc, make, binutils) are left out, and the others become TODO ' +
    'comments. When no URL serves the tarball, the definition is written all the same with the build system and license ' +
    'as TODO, and a warning. Synopsis and description are left as TODO.',
  examples: [
    ['tsdsl import debian libxc', 'print a definition of libxc'],
    ['tsdsl import debian libxc --insert packages/maths.ts', 'add it to packages/maths.ts, in alphabetical order'],
    ['tsdsl import debian libxc=5.2.3', 'a given release'],
  ],
  options: [
    { name: 'insert', short: 'i', kind: 'string', arg: 'FILE', description: 'insert the definition into FILE instead of printing it' },
    { name: 'dry-run', short: 'n', kind: 'boolean', description: 'with --insert: print the edited file, write nothing' },
    ...loadOptions,
  ],
  async run(args) {
    const [updaterName, spec, ...extra] = args.positionals;
    if (!updaterName || !spec || extra.length) {
      throw new TsdslError(
        `tsdsl import: expected an updater and one package name (e.g. \`tsdsl import debian libxc\`); updaters: ${updaters.map((u) => u.name).join(', ')}`,
      );
    }
    const updater = makeUpdater(updaterName, { log: (t) => err(`tsdsl: ${t}`) });
    const i = spec.indexOf('=');
    const name = i < 0 ? spec : spec.slice(0, i);
    if (i >= 0 && spec.slice(i + 1) === '') throw new TsdslError(`tsdsl import: \`${spec}\`: nothing after \`=\`; write NAME=VERSION (e.g. libxc=5.2.3), or NAME alone for the newest`);
    const release = i < 0 ? await latestRelease(updater, name) : await findRelease(updater, name, spec.slice(i + 1));
    const collection = await collectionFrom(args);
    const insert = args.values['insert'] as string | undefined;
    const file = insert === undefined ? undefined : resolve(insert);
    if (file !== undefined) {
      try {
        readFileSync(file);
      } catch {
        throw new TsdslError(`tsdsl import: --insert ${insert}: no such file; give an existing package file (e.g. packages/maths.ts)`);
      }
      // A file that cannot take the definition is said before the tarball is downloaded.
      await (await import('../../edit/source.js')).definitionsIn(file, release.name);
    }
    const names = await exportNames();
    const def = await importDefinition(
      updater,
      release,
      collection,
      { file, dslModule: file ? dslModuleOf(file) : undefined, root: root() },
      (p) => names.get(p) ?? (p.location ? identifierFor(p.name) : undefined),
      { warn },
    );
    // The collection has it already (another file, another version): two definitions of one
    // name, which every command then chooses between; the same version twice is a duplicate.
    const version = packageVersion(release);
    const existing = collection.versions(release.name).filter((p) => p.location && (file === undefined || resolve(p.location.file) !== file));
    if (existing.length) {
      const same = existing.find((p) => p.version === version);
      warn(
        same
          ? `${release.name}@${version} is defined already, at ${formatLocation(same.location)}: a second definition of the same version is a duplicate (lint's duplicate-definitions); update that one with \`tsdsl refresh -u ${release.name}\` instead`
          : `${release.name} is defined already (${existing.map((p) => `${p.version} at ${formatLocation(p.location)}`).join(', ')}); this one adds version ${version} beside ${existing.length === 1 ? 'it' : 'them'}`,
      );
    }
    if (def.unmapped.length) err(`tsdsl: ${name}: no package here for ${def.unmapped.join(', ')} (left as a TODO comment)`);
    if (def.provided.length) err(`tsdsl: ${name}: ${def.provided.join(', ')} ${def.provided.length === 1 ? 'comes' : 'come'} with the ${def.facts.buildSystem} build system (left out of the inputs)`);
    if (file === undefined) {
      const imports = def.imports.map((x) => `import { ${[...x.names].sort().join(', ')} } from '${x.module}';`).join('\n');
      out(`${imports}\n\n${def.text}`);
      return 0;
    }
    const { insertDefinition } = await import('../../edit/source.js');
    const dryRun = args.values['dry-run'] === true;
    const result = await insertDefinition(file, release.name, def.text, def.imports, { dryRun });
    if (dryRun) out(result.text);
    else {
      err(`tsdsl: ${insert}: inserted ${def.identifier} (${release.name} ${release.version})`);
      for (const note of (await import('../../edit/source.js')).rebuildNotes([file])) err(`tsdsl: note: ${note}`);
    }
    return 0;
  },
};
