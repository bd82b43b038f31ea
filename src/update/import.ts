/**
 * Importing a package definition from an updater's release (`tsdsl import debian NAME`): the
 * version and tarball with its sha256 from the index, the build system and license guessed
 * from the tarball itself (downloaded through the fetcher's cache and listed with `tar`),
 * Build-Depends mapped to packages of the collection and the rest left as TODO comments. The
 * result is TypeScript text plus the imports it needs; src/edit/source.ts inserts it in a file.
 */
import { execFile } from 'node:child_process';
import { dirname, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { fetchUrl } from '../build/fetch.js';
import { TsdslError, isTsdslError } from '../errors.js';
import { identifierFor, type Package } from '../dsl/package.js';
import { implicitInputs } from '../dsl/build-systems.js';
import type { Collection } from '../registry/collection.js';
import type { NeededImport } from '../edit/source.js';
import { packageVersion, type Release, type Updater } from './updater.js';
import { addedFileName, newUrls } from './urls.js';

const run = promisify(execFile);

/** What the tarball says about how to build it. */
export interface TarballFacts {
  buildSystem: 'gnu' | 'cmake';
  /** Why (the file that decided), or a TODO when nothing did. */
  reason: string;
  license: string | undefined;
  licenseFile: string | undefined;
  /** The tarball could not be fetched, or tar could not list it: nothing was read from it. */
  unread?: true;
}

/** Debian packaging tools among Build-Depends: not software the package needs. */
const PACKAGING = /^(debhelper|debhelper-compat|dh-[a-z0-9-]+|dpkg-dev|quilt|cdbs|pkg-kde-tools|gem2deb|javahelper)$/;

/** License texts recognised by their opening (the MPL's cites the GPL further down: titles first). */
const LICENSE_TEXTS: ReadonlyArray<[RegExp, string]> = [
  [/Mozilla Public License,? [Vv]ersion 2\.0/, 'mpl2'],
  [/Apache License[\s\S]{0,100}Version 2\.0/, 'asl2'],
  [/GNU LESSER GENERAL PUBLIC LICENSE[\s\S]{0,200}Version 3/i, 'lgpl3Plus'],
  [/GNU LESSER GENERAL PUBLIC LICENSE[\s\S]{0,200}Version 2\.1/i, 'lgpl21Plus'],
  [/GNU AFFERO GENERAL PUBLIC LICENSE[\s\S]{0,200}Version 3/i, 'agpl3Plus'],
  [/GNU GENERAL PUBLIC LICENSE[\s\S]{0,200}Version 3/i, 'gpl3Plus'],
  [/GNU GENERAL PUBLIC LICENSE[\s\S]{0,200}Version 2/i, 'gpl2Plus'],
  [/CeCILL-C/, 'cecillC'],
  [/Permission is hereby granted, free of charge/, 'expat'],
  [/Redistribution and use in source and binary forms[\s\S]*(?:endorse|promote) products/, 'bsd3'],
  [/Redistribution and use in source and binary forms/, 'bsd2'],
];

/**
 * Look inside a source tarball: `configure` at the top → gnu, else `CMakeLists.txt` → cmake
 * (else gnu with a TODO), and the license of its COPYING/LICENSE file when recognised.
 */
export async function inspectTarball(path: string): Promise<TarballFacts> {
  let stdout: string;
  try {
    ({ stdout } = await run('tar', ['-tf', path], { maxBuffer: 256 << 20 }));
  } catch (e) {
    // Not an archive tar reads (a truncated or mislabelled file): said, not an internal error.
    const said = String((e as { stderr?: unknown }).stderr ?? '').trim().split('\n')[0] || (e as Error).message;
    throw new TsdslError(`cannot list the tarball ${path}: ${said}`, { cause: e });
  }
  const entries = stdout.split('\n').filter(Boolean);
  const top = new Map<string, string>();
  for (const e of entries) {
    const parts = e.replace(/^\.\//, '').split('/');
    if (parts.length === 2 && parts[1]) top.set(parts[1], e);
  }
  let buildSystem: TarballFacts['buildSystem'] = 'gnu';
  let reason: string;
  if (top.has('configure')) reason = 'the tarball has a configure script';
  else if (top.has('CMakeLists.txt')) {
    buildSystem = 'cmake';
    reason = 'the tarball has a CMakeLists.txt';
  } else if (top.has('configure.ac') || top.has('configure.in')) reason = 'TODO(build): the tarball has configure.ac but no configure; add a bootstrap phase (autoreconf -vif)';
  else reason = 'TODO(build): the tarball has neither configure nor CMakeLists.txt; write the phases';
  const licenseFile = ['COPYING', 'LICENSE', 'LICENSE.txt', 'LICENSE.md', 'COPYING.LESSER', 'COPYRIGHT'].map((n) => top.get(n)).find((x) => x !== undefined);
  let license: string | undefined;
  if (licenseFile) {
    const { stdout: text } = await run('tar', ['-xOf', path, licenseFile], { maxBuffer: 16 << 20 });
    license = LICENSE_TEXTS.find(([re]) => re.test(text.slice(0, 4000)))?.[1];
  }
  return { buildSystem, reason, license, licenseFile: licenseFile?.split('/').slice(1).join('/') };
}

/** An input found for a Build-Depends entry. */
interface MappedInput {
  pkg: Package;
  native: boolean;
}

/** Where the generated definition will live: decides the import specifiers. */
export interface ImportTarget {
  /** The package file it will be inserted into; undefined to print it. */
  file: string | undefined;
  /** The specifier the file already uses for `definePackage` (its DSL import), if any. */
  dslModule: string | undefined;
  /** tsdsl's own root (for relative imports of the default collection's modules). */
  root: string;
}

function jsSpecifier(fromFile: string, toTs: string): string {
  let rel = relative(dirname(fromFile), toTs).replace(/\.ts$/, '.js');
  if (!rel.startsWith('.')) rel = `./${rel}`;
  return rel;
}

/** A module's specifier for `names` exported by `tsFile` of the default collection or a user file. */
function moduleOf(target: ImportTarget, tsFile: string, fallback: string): string {
  if (!target.file) return fallback;
  const inRoot = resolve(tsFile).startsWith(resolve(target.root, 'packages'));
  const targetInRoot = resolve(target.file).startsWith(resolve(target.root, 'packages'));
  if (inRoot && !targetInRoot) return fallback;
  return jsSpecifier(target.file, tsFile);
}

/** The generated definition and what it needs. */
export interface ImportedDefinition {
  release: Release;
  identifier: string;
  text: string;
  imports: NeededImport[];
  facts: TarballFacts;
  mapped: string[];
  unmapped: string[];
  /** Build-Depends the build system brings itself (gcc, make, gawk, binutils, cmake): left out. */
  provided: string[];
}

/**
 * The Debian names of what build system `name` brings to every build: its toolchain (the
 * members of a union such as gcc-toolchain: gcc-12, binutils, libc6-dev, … and `gcc` for
 * gcc-12) and its tools (make, gawk, cmake, …), plus build-essential. Build-Depends on these
 * are not inputs: `gawk` or `gcc` would otherwise be made native inputs or TODOs.
 */
function implicitNames(collection: Collection, name: string): Set<string> {
  const names = new Set(['build-essential']);
  const bs = collection.all().find((p) => p.buildSystem.name === name)?.buildSystem;
  if (!bs) return names;
  for (const p of implicitInputs(bs)) {
    for (const q of p.buildSystem.name === 'union' ? [p, ...p.inputs, ...p.propagatedInputs] : [p]) {
      names.add(q.name);
      names.add(q.name.replace(/-\d+$/, ''));
      const debian = q.properties['debianName'];
      if (typeof debian === 'string') names.add(debian);
    }
  }
  return names;
}

/**
 * Upstream URLs for `release` when the collection has the package with upstream URLs that
 * contain its version (they are carried over, version substituted); undefined otherwise, or
 * when Debian repacked the tarball (upstream's file then differs).
 */
function upstreamUrls(release: Release, collection: Collection): { urls: string[]; name: string } | undefined {
  if (release.repacked) return undefined;
  const known = [...collection.versions(release.name), ...collection.all().filter((p) => p.properties['debianName'] === release.name)];
  for (const p of known) {
    if (p.source?.kind !== 'url') continue;
    const urls = p.source.urls.filter((u) => !u.startsWith('mirror://debian/') && u.includes(p.version));
    if (urls.length === 0) continue;
    return { urls: newUrls(urls, p.version, release, `${p.name}@${p.version}`), name: p.name };
  }
  return undefined;
}

function quote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * Build the definition of `release`. `exportName(p)` gives the identifier a collection package
 * is exported as (undefined when unknown: the package is then left as a TODO).
 */
export async function importDefinition(
  updater: Updater,
  release: Release,
  collection: Collection,
  target: ImportTarget,
  exportName: (p: Package) => string | undefined,
  options: { cacheDir?: string; warn?: (text: string) => void } = {},
): Promise<ImportedDefinition> {
  const upstream = upstreamUrls(release, collection);
  // The tarball is read only to guess the build system and the license: the index gives its
  // sha256, so a definition is written even when no URL serves it (no network, a pool that lacks
  // it), with those two left as TODOs. Upstream's URLs serve the same file when Debian did not repack it.
  let facts: TarballFacts;
  let fetched = false;
  try {
    const got = await fetchUrl(
      { urls: [...release.source.urls, ...(upstream?.urls ?? [])], sha256: release.source.sha256, fileName: release.source.fileName },
      options.cacheDir ? { cacheDir: options.cacheDir } : {},
    );
    fetched = true;
    facts = await inspectTarball(got.path);
  } catch (e) {
    if (!isTsdslError(e)) throw e;
    const why = e.message.split('\n')[0]!.replace(/:$/, '');
    options.warn?.(`${release.name}: ${why}; the build system and license are left as TODOs`);
    // Fetched but not readable (an archive tar cannot list) is not "could not be fetched".
    const failed = fetched ? 'was fetched but could not be read' : 'could not be fetched';
    facts = { buildSystem: 'gnu', reason: `TODO(build): ${release.source.fileName} ${failed} to look inside; check the build system`, license: undefined, licenseFile: undefined, unread: true };
  }
  const inputs: MappedInput[] = [];
  const unmapped: string[] = [];
  const provided: string[] = [];
  const implicit = implicitNames(collection, facts.buildSystem);
  for (const dep of release.buildDepends) {
    if (PACKAGING.test(dep)) continue;
    // The build system's toolchain and tools are there already: not inputs, nor TODOs.
    if (implicit.has(dep)) {
      if (dep !== 'cmake') provided.push(dep);
      continue;
    }
    const source = await updater.sourceOfBinary(dep);
    const candidates = [dep, source, dep.replace(/-dev$/, ''), dep === 'pkg-config' ? 'pkgconf' : undefined].filter((x): x is string => !!x);
    const found = candidates.map((c) => collection.versions(c)[0] ?? collection.all().find((p) => p.properties['debianName'] === c));
    // A package built here before a bootstrap seed of the same name: `zlib1g-dev` is zlib, not
    // the Debian binary the toolchain unpacks; a bare seed (a .deb) is never an input to give.
    const pkg =
      found.find((p) => p !== undefined && p.properties['bootstrap'] !== true) ??
      found.find((p) => p !== undefined && p.buildSystem.name !== 'debian-binary');
    if (!pkg || !exportName(pkg) || pkg.name === release.name) {
      if (!pkg || pkg.name !== release.name) unmapped.push(dep);
      continue;
    }
    if (inputs.some((i) => i.pkg === pkg)) continue;
    // Debian's development packages (`libxml2-dev`, `zlib1g-dev`, `mpi-default-dev`) are libraries to link with.
    inputs.push({ pkg, native: !/-dev$/.test(dep) });
  }
  const identifier = identifierFor(release.name);
  const imports: NeededImport[] = [];
  const need = (module: string, name: string) => {
    const hit = imports.find((i) => i.module === module);
    if (hit) (hit.names as string[]).includes(name) || (hit.names as string[]).push(name);
    else imports.push({ module, names: [name] });
  };
  const dsl = target.dslModule ?? (target.file && resolve(target.file).startsWith(resolve(target.root, 'packages')) ? jsSpecifier(target.file, resolve(target.root, 'src/dsl/index.ts')) : 'tsdsl');
  for (const n of ['definePackage', 'licenses', 'url']) need(dsl, n);
  need(moduleOf(target, resolve(target.root, 'packages/build-systems.ts'), 'tsdsl'), facts.buildSystem);
  for (const i of inputs) need(moduleOf(target, i.pkg.location?.file ?? resolve(target.root, 'packages/index.ts'), 'tsdsl/packages'), exportName(i.pkg)!);
  const list = (xs: MappedInput[]) => `[${xs.map((x) => exportName(x.pkg)!).sort().join(', ')}]`;
  const regular = inputs.filter((i) => !i.native);
  const native = inputs.filter((i) => i.native);
  // Debian's file names may hold a `~` (emmax_0~beta.20100307.orig.tar.gz), which a store path
  // cannot: named as the version is (0beta.20100307), as --with-latest and refresh -u do.
  const fileName = addedFileName([release.source.urls[0]!]);
  const lines = [
    `export const ${identifier} = definePackage({`,
    `  name: ${quote(release.name)},`,
    `  version: ${quote(packageVersion(release))},`,
    '  source: url({',
    ...(upstream
      ? [
          // No version here: `tsdsl refresh -u` rewrites the URLs, not the comments (debianVersion says which it is).
          `    // Upstream URLs as in the collection's ${upstream.name} (version substituted); the sha256 is that of`,
          "    // Debian's .orig tarball (properties.debianVersion), tried when upstream's file differs.",
          '    urls: [',
          ...[...upstream.urls, release.source.urls[0]!].map((u) => `      ${quote(u)},`),
          '    ],',
        ]
      : [
          `    // Debian's .orig tarball (properties.debianVersion)${release.repacked ? ', repacked by Debian: only its pool has this file' : ''}.`,
          `    urls: ${quote(release.source.urls[0]!)},`,
          ...(fileName === undefined ? [] : [`    fileName: ${quote(fileName)},`]),
        ]),
    `    sha256: ${quote(release.source.sha256)},`,
    '  }),',
    `  // ${facts.reason.startsWith('TODO') ? facts.reason : `${facts.buildSystem}: ${facts.reason}.`}`,
    `  buildSystem: ${facts.buildSystem},`,
  ];
  if (regular.length) lines.push(`  inputs: ${list(regular)},`);
  if (native.length) lines.push(`  nativeInputs: ${list(native)},`);
  if (unmapped.length) lines.push(`  // TODO(inputs): Debian build dependencies with no package here: ${unmapped.join(', ')}.`);
  lines.push(
    "  synopsis: 'TODO',",
    "  description: 'TODO',",
    `  homePage: ${quote(release.homePage ?? '')},`,
    facts.license
      ? `  // TODO(license): guessed from ${facts.licenseFile}; check it.`
      : `  // TODO(license): ${facts.unread ? 'the tarball could not be read' : facts.licenseFile ? `${facts.licenseFile} was not recognised` : 'the tarball has no COPYING or LICENSE file'}; set the real license.`,
    `  license: licenses.${facts.license ?? 'publicDomain'},`,
    `  properties: { debianVersion: ${quote(release.fullVersion)} },`,
    '});',
  );
  return { release, identifier, text: `${lines.join('\n')}\n`, imports, facts, mapped: inputs.map((i) => i.pkg.name), unmapped, provided };
}
