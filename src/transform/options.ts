/**
 * The transformation option table (Guix's "Package Transformation Options"): `--with-input`,
 * `--with-source`, `--with-graft`, the git options, `--with-patch`, `--with-configure-flag`,
 * `--with-latest`, `--with-version` (releases from an updater, see latest.ts),
 * `--without-tests`, `--with-c-toolchain`, `--with-debug-info`, `--tune`. Each entry parses its
 * spec, says whether its result is cacheable, and builds a root → root function on the one
 * rewriting primitive (rewrite.ts). `applyTransformOptions` runs them in command-line order,
 * warns about those that change nothing, and records what was applied on each root package
 * (`properties.transformations`), which packs copy into their provenance manifest.
 *
 * Effects that only the builder can make real are recorded on packages (the lowering stage
 * reads them): `replacement` (grafts), `arguments.tests` (without-tests),
 * `arguments.stripBinaries` + `properties.debugInfo` (with-debug-info), `properties.tune`
 * (tune, on packages with `properties.tunable`), the build system's toolchain (with-c-toolchain).
 */
import { existsSync, statSync } from 'node:fs';
import { basename, resolve as resolvePath } from 'node:path';
import { TsdslError, checkRequestKeys, didYouMean, isTsdslError, shown as shownValue } from '../errors.js';
import { implicitInputs, runByTsdsl, withToolchain } from '../dsl/build-systems.js';
import { git, local, unpinnedUrl, withOrigin, type GitOrigin, type Origin } from '../dsl/origin.js';
import { checkVariants, choiceText, chosenVariants, derive, directInputs, flagProblems, fullName, specString, versionLike, versionProblem, withPropagated, type Package } from '../dsl/package.js';
import { Collection } from '../registry/collection.js';
import { outputRefused, parseSpec, type PackageSpecString } from '../registry/spec.js';
import { isCommitId, lsRemote, resolveBranch, resolveHead, resolveTag } from './git.js';
import { matchesSpec, type TargetSpec } from './match.js';
import { packageMapping } from './rewrite.js';
import { resolveCpu } from './tune.js';
import type * as Latest from './latest.js';

/** What a transformation needs besides its spec. */
export interface TransformContext {
  readonly collection: Collection;
  /** Every option of this run, in order (git options look up a later `--with-git-url`). */
  readonly all: ReadonlyArray<{ name: string; value: string }>;
  /** Packages given as objects in the code API, by placeholder name. */
  readonly objects?: ReadonlyMap<string, Package>;
  readonly cwd: string;
  /** Where transformations report what they could not keep (dropped patches). */
  readonly warn?: (text: string) => void;
  /** The index in `all` of the option being read (options before it may make versions). */
  readonly current?: number;
  /** Warnings already given (one per replaced package and option). */
  readonly warned?: Set<string>;
  /**
   * The packages of the roots' graphs, implicit inputs included, as a collection: a package on
   * the left of an option that the collection lacks is still meant when the graph holds it (a
   * script's own package, transformed without its collection).
   */
  readonly inGraph?: () => Collection;
}

/** One transformation option. */
export interface Transformation {
  readonly name: string;
  /** The API's camelCase key (`withInput`). */
  readonly key: string;
  readonly takesValue: boolean;
  /** The value when the option is given bare (`--tune` means `--tune=native`). */
  readonly optionalValue?: string;
  readonly arg: string;
  readonly description: string;
  /** Whether the result may be cached or substituted (false for moving targets). */
  cacheable(spec: string): boolean;
  /** Parse the spec (errors here, before anything runs) and build the root transformation. */
  make(spec: string, ctx: TransformContext): (root: Package) => Package;
  /** The spec as provenance records it, when it depends on the machine (`--tune=native`). */
  recorded?(spec: string): string;
  /** Asynchronous look-ups `make` needs (an updater's index), awaited by applyTransformOptions. */
  prepare?(spec: string, ctx: TransformContext): Promise<void>;
}

// --- spec helpers ------------------------------------------------------------------------------

function malformed(option: string, spec: string, expected: string, example: string): never {
  throw new TsdslError(`--${option}=${spec}: expected ${expected} (e.g. --${option}=${example})`);
}

/** Where `PACKAGE=…` splits: the first `=` that is not a version range's (`scotch@>=7`, `@<=2`); -1 if none. */
function pairSeparator(spec: string): number {
  return spec.search(/(?<![<>])=/);
}

/** Split `LEFT=RIGHT` at `pairSeparator`; `RIGHT` may contain such an `=` only when allowed. */
function splitPair(option: string, spec: string, expected: string, example: string, allowEqualsInRight = false): [string, string] {
  const i = pairSeparator(spec);
  if (i < 0) malformed(option, spec, expected, example);
  const left = spec.slice(0, i);
  const right = spec.slice(i + 1);
  if (!left.trim()) malformed(option, spec, `${expected}; the package before \`=\` is missing`, example);
  if (!right.trim()) malformed(option, spec, `${expected}; nothing after \`=\``, example);
  if (!allowEqualsInRight && pairSeparator(right) >= 0) malformed(option, spec, `${expected}, with one \`=\``, example);
  return [left, right];
}

/**
 * Warns when a replacement declares a variant of the replaced package with another value
 * (`mumps+int64` with `--with-input=scotch=pt-scotch`: its 64-bit Scotch replaced by a 32-bit
 * PT-Scotch, which links but breaks at run time): said once per pair, with the spec to write.
 */
function warnVariantMismatch(option: string, left: string, right: string, replaced: Package, replacement: Package, ctx: TransformContext): void {
  // A variant written on the right (`scotch=scotch+mpi`) is a choice, not an oversight; so is
  // one an object was given with (`withVariants(hwloc, { libxml2: true })`, `hwloc+libxml2`).
  const object = ctx.objects?.get(right);
  const written = object ? chosenVariants(object) : parseSpec(right).variants;
  const differ = Object.keys(replaced.variants).filter((k) => k in replacement.variantDecls && replacement.variants[k] !== replaced.variants[k] && !(k in written));
  if (differ.length === 0) return;
  const key = `${option}=${left}=${right}\0${specString(replaced)}`;
  if (ctx.warned?.has(key)) return;
  ctx.warned?.add(key);
  const wanted = differ.map((k) => choiceText(k, replaced.variants[k])).join('');
  const keep = object
    ? `give withVariants(…, { ${differ.map((k) => `${k}: ${JSON.stringify(replaced.variants[k])}`).join(', ')} }) of it instead`
    : `write --${option}=${left}=${right}${wanted}`;
  ctx.warn?.(
    `--${option}=${left}=${right}: \`${specString(replaced)}\` is replaced by \`${specString(replacement)}\`, whose ${differ.map((k) => `\`${k}\``).join(', ')} ${differ.length === 1 ? 'differs' : 'differ'} (${differ.map((k) => choiceText(k, replacement.variants[k])).join('')}); ` +
      `to keep ${differ.length === 1 ? 'it' : 'them'}, ${keep}`,
  );
}

/** Options that may give a package a version the collection does not have. */
const VERSION_MAKERS: ReadonlySet<string> = new Set(['with-source', 'with-version', 'with-latest', 'with-branch', 'with-commit', 'with-git-url']);

/**
 * Parse a package spec on the left of an option and check it: the name exists, the variants
 * are the package's, the version is one it has (or one an option given before this one may
 * make: `--with-source=…hwloc-2.0.0rc1.tar.gz --without-tests=hwloc@2.0.0rc1`). A hidden
 * package is meant only when the name means it (see matchesSpec).
 */
function targetSpec(text: string, ctx: TransformContext): TargetSpec {
  const s = parseSpec(text);
  const object = ctx.objects?.get(s.name);
  if (object) return s;
  let meant: Package;
  try {
    meant = ctx.collection.resolve(s);
  } catch (e) {
    // A package an earlier option put in as an object (`withInput: { zlib: zlibNg }`), which
    // the collection need not hold, may be named by a later one (`withoutTests: ['zlib-ng']`).
    const inserted = isTsdslError(e) ? insertedBefore(s.name, ctx) : undefined;
    if (inserted) {
      checkVariants(inserted, s.variants);
      return { ...s, hidden: false };
    }
    // A package of the graph being transformed, which the collection need not hold: its
    // version and variants are checked there (an error about them, not "unknown package").
    const graph = isTsdslError(e) ? ctx.inGraph?.() : undefined;
    if (graph && graph.versions(s.name).length > 0) {
      const found = s.version !== undefined && madeBefore(s.name, ctx) ? graph.resolve({ ...s, version: undefined, text: s.name }) : graph.resolve(s);
      return { ...s, hidden: found.properties['hidden'] === true };
    }
    if (s.version === undefined || !isTsdslError(e) || !madeBefore(s.name, ctx)) throw e;
    // The version may be one an earlier option makes: the variants are still checked.
    meant = ctx.collection.resolve({ ...s, version: undefined, text: s.name });
  }
  return { ...s, hidden: meant.properties['hidden'] === true };
}

/** Options whose right-hand side puts a package in the graph. */
const INSERTERS: ReadonlySet<string> = new Set(['with-input', 'with-graft', 'with-c-toolchain']);

/** A package named `name` that an option given before the one being read puts in as an object. */
function insertedBefore(name: string, ctx: TransformContext): Package | undefined {
  if (!ctx.objects) return undefined;
  for (const o of ctx.all.slice(0, ctx.current ?? ctx.all.length)) {
    if (!INSERTERS.has(o.name)) continue;
    for (const right of o.value.slice(pairSeparator(o.value) + 1).split(',')) {
      const p = ctx.objects.get(right.trim());
      if (p?.name === name) return p;
    }
  }
  return undefined;
}

/** Every package of the graphs of `roots`, implicit inputs included, as a collection (`inGraph`). */
function graphCollection(roots: readonly Package[]): () => Collection {
  let made: Collection | undefined;
  return () => {
    if (made) return made;
    const seen = new Set<Package>();
    const queue = [...roots];
    while (queue.length) {
      const p = queue.pop()!;
      if (seen.has(p)) continue;
      seen.add(p);
      queue.push(...directInputs(p), ...implicitInputs(p.buildSystem));
    }
    made = new Collection(seen);
    // Two objects of one name and version (a package and its transformed copy) are no ambiguity here.
    made.warn = () => {};
    return made;
  };
}

/** Whether an option given before the one being read may change the version of `name`. */
function madeBefore(name: string, ctx: TransformContext): boolean {
  const current = ctx.current ?? ctx.all.length;
  return ctx.all.slice(0, current).some((o) => {
    if (!VERSION_MAKERS.has(o.name)) return false;
    const i = pairSeparator(o.value);
    const left = o.name === 'with-latest' ? o.value : o.name === 'with-source' ? withSourceTarget(o.value).name : i > 0 ? o.value.slice(0, i) : '';
    try {
      return left !== undefined && parseSpec(left).name === name;
    } catch {
      return false;
    }
  });
}

/** Resolve a package named on the right of an option (objects from the API first). */
function packageArg(text: string, ctx: TransformContext): Package {
  return ctx.objects?.get(text) ?? ctx.collection.resolve(text);
}

/** Whether `p`, or a package it propagates, is marked as a C toolchain (`properties.toolchain`). */
function isToolchain(p: Package): boolean {
  return withPropagated([p]).some((q) => q.properties['toolchain'] === true);
}

// Each option's rewrite is one mapping for all the roots it is applied to, so a root that is
// also a dependency of another (`graph mumps scotch`) becomes one package object, not one per
// root: one node in graphs, one entry in profiles.

/** A rewrite of everything but the root itself (Guix: "replaces its dependencies"). */
function dependenciesOnly(fn: (p: Package) => Package, cut: (p: Package) => boolean, deep: boolean) {
  const mapping = packageMapping(fn, { cut, deep });
  return (root: Package) => mapping.rebuilt(root);
}

/** Apply `fn` to every package matching `spec`, root included, implicit inputs too. */
function everywhere(spec: PackageSpecString, fn: (p: Package) => Package) {
  const mapping = packageMapping((p) => (matchesSpec(p, spec) ? fn(p) : p), { deep: true });
  return (root: Package) => mapping(root);
}

/**
 * `hwloc-2.0.0rc1.tar.gz` → { name: 'hwloc', version: '2.0.0rc1' }, split, as Guix's
 * package-name->name+version does, at the first hyphen followed by a digit:
 * `hwloc-2.9.0-mine.tar.gz` → hwloc, `2.9.0-mine`.
 */
export function nameAndVersionFromFile(file: string): { name: string; version: string } | undefined {
  const base = tarballBase(file);
  const m = /^(.+?)[-_](\d[^/]*)$/.exec(base) ?? /^(.+?)[-_](v\d[^/]*)$/.exec(base);
  return m ? { name: m[1]!, version: m[2]!.replace(/^v(?=\d)/, '') } : undefined;
}

/**
 * A source file's name without its extension: as Guix's tarball-sans-extension, everything from
 * `.tar` (any compression after it), `.tgz`, `.tbz`, `.txz` or `.zip`; so is Debian's `.orig`
 * before it (hwloc_2.2.orig.tar.gz).
 */
function tarballBase(file: string): string {
  return basename(file.replace(/[?#].*$/, ''))
    .replace(/(\.orig)?\.(tar|tgz|tbz2?|txz|zip)(\..*)?$/, '')
    .replace(/\.(gem|crate)$/, '');
}

const isUrl = (s: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(s);

/**
 * `[PACKAGE[@VERSION]=]SOURCE` split: `PACKAGE=SOURCE` when what precedes the first `=` reads as
 * a package spec, not a path or URL (a `:` before any `@` is a URL's scheme; after it, part of a
 * version, refused later). `https://host/f.tar.gz?raw=1` is a source alone.
 */
function splitWithSource(spec: string): { target: string | undefined; source: string } {
  const i = spec.indexOf('=');
  if (i > 0 && !spec.slice(0, i).includes('/') && !/^[^@]*:/.test(spec.slice(0, i))) return { target: spec.slice(0, i), source: spec.slice(i + 1) };
  return { target: undefined, source: spec };
}

/** The name of the package `--with-source=SPEC` is for: the one before `=`, or the file's. */
function withSourceTarget(spec: string): { name: string | undefined } {
  const { target, source } = splitWithSource(spec);
  if (target !== undefined) return { name: target.split('@')[0] };
  return { name: nameAndVersionFromFile(source)?.name ?? (tarballBase(source) || undefined) };
}

// --- git options -------------------------------------------------------------------------------

/** The git URL to use for `p`: its source's, or a `--with-git-url` given for it anywhere. */
function gitUrlFor(p: Package, option: string, ctx: TransformContext): string {
  for (const o of ctx.all) {
    if (o.name !== 'with-git-url') continue;
    const i = pairSeparator(o.value);
    if (i > 0 && matchesSpec(p, parseSpec(o.value.slice(0, i)))) return o.value.slice(i + 1);
  }
  if (p.source?.kind === 'git') return p.source.url;
  const fromProps = p.properties['gitUrl'];
  if (typeof fromProps === 'string') return fromProps;
  throw new TsdslError(
    `--${option}: the source of \`${fullName(p)}\` is not a git repository and no URL is known; add --with-git-url=${p.name}=URL`,
  );
}

type GitRef = { kind: 'branch' | 'tag' | 'commit' | 'head'; name: string };

/** A root transformation that says, once applied, the commits its git references resolved to. */
type Resolving = ((root: Package) => Package) & { readonly resolved: () => readonly string[] };

function resolving(commits: ReadonlySet<string>, fn: (root: Package) => Package): Resolving {
  return Object.assign(fn, { resolved: () => [...commits].sort() });
}

/** A package built from `url` at `ref`, the ref resolved to a commit now. */
function withGitSource(p: Package, url: string, ref: GitRef, resolved: Set<string>): Package {
  let commit: string;
  let version: string;
  if (ref.kind === 'branch') {
    commit = resolveBranch(url, ref.name);
    // As Guix: `feature/x` makes version git.feature-x (a version has no `/`).
    version = `git.${ref.name.replaceAll('/', '-')}`;
  } else if (ref.kind === 'commit') {
    commit = fullCommit(url, ref.name);
    version = `git.${commit.slice(0, 7)}`;
  } else if (ref.kind === 'tag') {
    const c = resolveTag(url, ref.name) ?? (() => {
      try {
        return resolveBranch(url, ref.name);
      } catch {
        throw new TsdslError(`git repository \`${url}\` has no tag or branch \`${ref.name}\`; give a tag, a branch or a commit id`);
      }
    })();
    commit = c;
    // As Guix's commit->version-string: tag v2.9.1 is version 2.9.1.
    version = ref.name.replace(/^v(?=\d)/, '').replaceAll('/', '-');
  } else {
    const head = resolveHead(url);
    commit = head.commit;
    version = `git.${head.branch.replaceAll('/', '-')}`;
  }
  resolved.add(commit);
  const source: GitOrigin = git({ url, commit, recursive: true });
  return derive(p, { version, source, properties: { ...p.properties, gitRef: ref } });
}

/**
 * The full id of a commit given in full or abbreviated. An abbreviation is resolved against the
 * repository's advertised refs (branch and tag heads); another one would need the whole history
 * fetched, and is refused (the derivation and the provenance record the full id).
 */
function fullCommit(url: string, id: string): string {
  const refs = lsRemote(url); // the repository must answer
  if (id.length >= 40) return id;
  const hits = [...new Set(refs.filter((r) => r.commit.startsWith(id)).map((r) => r.commit))];
  if (hits.length === 1) return hits[0]!;
  throw new TsdslError(
    hits.length > 1
      ? `commit id \`${id}\` is ambiguous in \`${url}\` (${hits.map((h) => h.slice(0, 12)).join(', ')}); give more of it, or the full 40-character id`
      : `the abbreviated commit id \`${id}\` is not the head of a branch or tag of \`${url}\`, so it cannot be resolved without fetching the history; give the full 40-character id (\`git rev-parse ${id}\` in a clone) or a tag`,
  );
}

// --- updater options -----------------------------------------------------------------------------

// latest.ts (and the updater behind it) is loaded by `prepare` only, so that commands without
// --with-latest/--with-version start as fast as before.
let latestModule: typeof Latest | undefined;

async function loadLatest(): Promise<typeof Latest> {
  latestModule ??= await import('./latest.js');
  return latestModule;
}

function latest(option: string): typeof Latest {
  if (!latestModule) {
    throw new TsdslError(`--${option} looks releases up in an updater's index, which is asynchronous: give it in the \`transformations\` of pack() or run(), or use \`await applyTransformOptions(packages, [{ name: '${option}', value: '${option === 'with-version' ? 'hwloc=2.15.0' : 'hwloc'}' }], collection, { warn })\` (as the CLI does), not the synchronous transform()`);
  }
  return latestModule;
}

// --- the table ---------------------------------------------------------------------------------

export const transformations: readonly Transformation[] = [
  {
    name: 'with-source',
    key: 'withSource',
    takesValue: true,
    arg: '[PACKAGE[@VERSION]=]SOURCE',
    description: 'use SOURCE (a file, directory or URL) as the source of PACKAGE, and VERSION as its version',
    // A file is pinned by the hash the store gives it; a URL's file may change.
    cacheable: (spec) => {
      const { source } = splitWithSource(spec);
      return !isUrl(source) || source.startsWith('file://');
    },
    make(spec, ctx) {
      // `two:doc=FILE`: an output, where the package is meant (a URL's `:` is followed by `/`).
      const output = /^([^=/:]+):([A-Za-z][A-Za-z0-9_]*)=/.exec(spec);
      if (output) throw new TsdslError(`--with-source=${spec}: ${outputRefused(`${output[1]}:${output[2]}`, output[2]!, output[1]!).message}`);
      const { target, source } = splitWithSource(spec);
      if (spec.startsWith('=')) malformed('with-source', spec, '[PACKAGE[@VERSION]=]SOURCE', 'hwloc@2.0.0rc1=./hwloc-2.0.0rc1.tar.gz');
      if (!source) malformed('with-source', spec, '[PACKAGE[@VERSION]=]SOURCE', './hwloc-2.0.0rc1.tar.gz');
      const inferred = nameAndVersionFromFile(source);
      let name: string;
      let version: string | undefined;
      // PACKAGE@VERSION, split at the `@` as it is written: a version is not read as a spec
      // (`2.0~rc1` would be version 2.0 with a variant `rc1` off).
      const at = target?.indexOf('@') ?? -1;
      if (target) {
        name = at < 0 ? target : target.slice(0, at);
        // As Guix does: the file's version even when its name is another (`mysrc-3.1.tar.gz` for hwloc).
        version = at < 0 ? inferred?.version : target.slice(at + 1);
      } else {
        // As Guix does: a name without a version (`hwloc.tar.gz`) is the package's, whose version stays.
        name = inferred?.name ?? tarballBase(source);
        version = inferred?.version;
        if (!name) malformed('with-source', spec, '[PACKAGE[@VERSION]=]SOURCE', `hwloc@2.0.0rc1=${source}`);
      }
      if (version === '') malformed('with-source', spec, '[PACKAGE[@VERSION]=]SOURCE', `${name}@2.0.0rc1=${source}`);
      if (version !== undefined && versionProblem(version)) {
        const given = at >= 0;
        throw new TsdslError(
          `--with-source=${spec}: ${given ? 'the' : 'the file name\'s'} version \`${version}\` cannot be part of a store path name (letters, digits and + - . _ only); give one that can: --with-source=${name}@${versionLike(version) ?? 'VERSION'}=${source}`,
        );
      }
      // The file first: a missing `./nope-1.0.tar.gz` is that, not an unknown package `nope`.
      let origin: Origin;
      if (isUrl(source) && !source.startsWith('file://')) origin = unpinnedUrl(source);
      else {
        const path = resolvePath(ctx.cwd, source.replace(/^file:\/\//, ''));
        if (!existsSync(path)) {
          // `--with-source=scotch`: a package's name, the file forgotten.
          const named = !target && !/[/.]/.test(source) && ctx.collection.versions(source).length > 0;
          throw new TsdslError(
            `--with-source=${spec}: \`${source}\` does not exist (looked for ${path})` +
              (named ? `; \`${source}\` is a package: to give its source, write --with-source=${source}=FILE (a tarball, directory or URL)` : ''),
          );
        }
        statSync(path);
        origin = local(path);
      }
      let match: TargetSpec;
      try {
        match = targetSpec(name, ctx);
      } catch (e) {
        // A name read from the file: it may be another package's source.
        if (target || !isTsdslError(e)) throw e;
        throw new TsdslError(`${e.message}; \`${name}\` was read from the file name: if \`${basename(source)}\` is the source of another package, name it (--with-source=PACKAGE=${source})`, { cause: e });
      }
      // Patches given for it after this option: the user has seen to them.
      const self = ctx.all.findIndex((o) => o.name === 'with-source' && o.value === spec);
      const patchedLater: PackageSpecString[] = [];
      for (const o of ctx.all.slice(self + 1)) {
        if (o.name !== 'with-patch') continue;
        try {
          patchedLater.push(parseSpec(o.value.slice(0, o.value.indexOf('='))));
        } catch {
          // a malformed one is said by --with-patch itself
        }
      }
      return everywhere(match, (p) => {
        // The new source replaces the old one with its patches (as in Guix): said, as --with-latest says it.
        const patches = p.source?.patches ?? [];
        if (patches.length && !patchedLater.some((later) => matchesSpec(p, later))) {
          const names = patches.map((x) => basename(typeof x === 'string' ? x : x.fileName));
          ctx.warn?.(
            `--with-source=${spec}: the source of \`${fullName(p)}\` it replaces had ${names.length === 1 ? 'a patch' : `${names.length} patches`} (${names.join(', ')}), which the new source does not get; to apply ${names.length === 1 ? 'it' : 'them'}, give --with-patch after --with-source`,
          );
        }
        return derive(p, { source: origin, ...(version ? { version } : {}) });
      });
    },
  },
  {
    name: 'with-input',
    key: 'withInput',
    takesValue: true,
    arg: 'PACKAGE=REPLACEMENT',
    description: 'replace dependency PACKAGE by REPLACEMENT everywhere in the graph, implicit inputs included',
    cacheable: () => true,
    make(spec, ctx) {
      const [left, right] = splitPair('with-input', spec, 'PACKAGE=REPLACEMENT', 'scotch=pt-scotch');
      const target = targetSpec(left, ctx);
      const replacement = packageArg(right, ctx);
      const matches = (p: Package) => p !== replacement && matchesSpec(p, target);
      const replace = (p: Package) => {
        warnVariantMismatch('with-input', left, right, p, replacement, ctx);
        return replacement;
      };
      return dependenciesOnly((p) => (matches(p) ? replace(p) : p), matches, true);
    },
  },
  {
    name: 'with-graft',
    key: 'withGraft',
    takesValue: true,
    arg: 'PACKAGE=REPLACEMENT',
    description: 'graft REPLACEMENT onto packages that refer to PACKAGE (no rebuild of dependents)',
    cacheable: () => true,
    make(spec, ctx) {
      const [left, right] = splitPair('with-graft', spec, 'PACKAGE=REPLACEMENT', 'zlib=zlib-patched');
      const target = targetSpec(left, ctx);
      const replacement = packageArg(right, ctx);
      const matches = (p: Package) => p !== replacement && matchesSpec(p, target);
      // The graft rewrites store paths inside the files in place, so they must be as long.
      const storeName = (p: Package) => `${p.name}-${p.version}`;
      const graft = (p: Package) => {
        if (storeName(p).length !== storeName(replacement).length)
          throw new TsdslError(
            `--with-graft=${spec}: \`${storeName(p)}\` and \`${storeName(replacement)}\` differ in length (${storeName(p).length} and ${storeName(replacement).length} characters), and a graft rewrites each store path in place, so a replacement's name and version must be exactly as long as the original's (as in Guix); use --with-input to rebuild the dependents instead`,
          );
        return derive(p, { replacement });
      };
      return dependenciesOnly((p) => (matches(p) ? graft(p) : p), matches, true);
    },
  },
  {
    name: 'with-branch',
    key: 'withBranch',
    takesValue: true,
    arg: 'PACKAGE=BRANCH',
    description: 'build PACKAGE from the latest commit of BRANCH of its git repository',
    cacheable: () => false,
    make(spec, ctx) {
      const [left, branch] = splitPair('with-branch', spec, 'PACKAGE=BRANCH', 'hwloc=master');
      const target = targetSpec(left, ctx);
      const commits = new Set<string>();
      return resolving(commits, everywhere(target, (p) => withGitSource(p, gitUrlFor(p, 'with-branch', ctx), { kind: 'branch', name: branch }, commits)));
    },
  },
  {
    name: 'with-commit',
    key: 'withCommit',
    takesValue: true,
    arg: 'PACKAGE=COMMIT',
    description: 'build PACKAGE from COMMIT (a commit id or a tag) of its git repository',
    cacheable: (spec) => isCommitId(spec.slice(pairSeparator(spec) + 1)) && spec.length - pairSeparator(spec) - 1 >= 40,
    make(spec, ctx) {
      const [left, commit] = splitPair('with-commit', spec, 'PACKAGE=COMMIT', 'hwloc=v2.9.0');
      const target = targetSpec(left, ctx);
      const ref: GitRef = isCommitId(commit) ? { kind: 'commit', name: commit } : { kind: 'tag', name: commit };
      const commits = new Set<string>();
      return resolving(commits, everywhere(target, (p) => withGitSource(p, gitUrlFor(p, 'with-commit', ctx), ref, commits)));
    },
  },
  {
    name: 'with-git-url',
    key: 'withGitUrl',
    takesValue: true,
    arg: 'PACKAGE=URL',
    description: 'build PACKAGE from the git repository at URL (its default branch, or the branch/commit chosen before)',
    cacheable: () => false,
    make(spec, ctx) {
      const [left, url] = splitPair('with-git-url', spec, 'PACKAGE=URL', 'hwloc=https://github.com/open-mpi/hwloc.git', true);
      const target = targetSpec(left, ctx);
      lsRemote(url); // checked now, even where the package is not in the graph
      const commits = new Set<string>();
      return resolving(commits, everywhere(target, (p) => {
        const ref = p.properties['gitRef'] as GitRef | undefined;
        return withGitSource(p, url, ref ?? { kind: 'head', name: 'HEAD' }, commits);
      }));
    },
  },
  {
    name: 'with-patch',
    key: 'withPatch',
    takesValue: true,
    arg: 'PACKAGE=FILE',
    description: 'add FILE to the patches applied to the source of PACKAGE',
    cacheable: () => true,
    make(spec, ctx) {
      const [left, file] = splitPair('with-patch', spec, 'PACKAGE=FILE', 'scotch=./fix.patch', true);
      const target = targetSpec(left, ctx);
      const path = resolvePath(ctx.cwd, file);
      if (!existsSync(path)) throw new TsdslError(`--with-patch=${spec}: patch file \`${file}\` does not exist (looked for ${path})`);
      if (!statSync(path).isFile()) throw new TsdslError(`--with-patch=${spec}: \`${file}\` is a directory, not a patch file; name the .patch file itself`);
      return everywhere(target, (p) => {
        if (!p.source) throw new TsdslError(`--with-patch=${spec}: \`${fullName(p)}\` has no source to patch`);
        return derive(p, { source: withOrigin(p.source, { patches: [...p.source.patches, path] }) });
      });
    },
  },
  {
    name: 'with-configure-flag',
    key: 'withConfigureFlag',
    takesValue: true,
    arg: 'PACKAGE=FLAG',
    description: 'append FLAG to the configure flags of PACKAGE',
    cacheable: () => true,
    make(spec, ctx) {
      const [left, flag] = splitPair('with-configure-flag', spec, 'PACKAGE=FLAG', 'hwloc=--disable-cairo', true);
      const [bad] = flagProblems('the flag', [flag]);
      if (bad) throw new TsdslError(`--with-configure-flag=${JSON.stringify(spec).slice(1, -1)}: ${bad.replace('[0]', '')}; repeat the option for each flag`);
      const target = targetSpec(left, ctx);
      return everywhere(target, (p) => {
        if (!p.buildSystem.argumentKeys.includes('configureFlags'))
          throw new TsdslError(`--with-configure-flag=${spec}: \`${fullName(p)}\` uses the ${p.buildSystem.name} build system, which has no configure flags`);
        const own = p.arguments.phases?.['configure'];
        if (own !== undefined && !own.includes('configureFlags')) {
          ctx.warn?.(`--with-configure-flag=${spec}: \`${fullName(p)}\` replaces the configure phase with its own, which does not read configureFlags: the flag changes the derivation but may not reach the build (see the package's arguments.phases.configure)`);
        }
        return derive(p, { arguments: { configureFlags: [...(p.arguments.configureFlags ?? []), flag] } });
      });
    },
  },
  {
    name: 'without-tests',
    key: 'withoutTests',
    takesValue: true,
    arg: 'PACKAGE',
    description: 'build PACKAGE without running its test suite',
    cacheable: () => true,
    make(spec, ctx) {
      if (spec.includes('=')) malformed('without-tests', spec, 'a package name', 'scotch');
      const target = targetSpec(spec, ctx);
      // A package tsdsl assembles itself (a union, a Debian binary) runs no tests: nothing to turn off ("had no effect").
      return everywhere(target, (p) => (p.arguments.tests === false || runByTsdsl(p.buildSystem) ? p : derive(p, { arguments: { tests: false } })));
    },
  },
  {
    name: 'with-c-toolchain',
    key: 'withCToolchain',
    takesValue: true,
    arg: 'PACKAGE=TOOLCHAIN',
    description: 'build PACKAGE and everything that depends on it with TOOLCHAIN (comma-separated packages)',
    cacheable: () => true,
    make(spec, ctx) {
      const [left, right] = splitPair('with-c-toolchain', spec, 'PACKAGE=TOOLCHAIN', 'mumps=gcc-toolchain');
      const target = targetSpec(left, ctx);
      const toolchain = right.split(',').map((t) => packageArg(t.trim(), ctx));
      if (!toolchain.some(isToolchain)) {
        const known = ctx.collection
          .all()
          .filter(isToolchain)
          .map((p) => p.name);
        const names = [...new Set(known)].sort().join(', ') || '(none)';
        throw new TsdslError(
          `--with-c-toolchain=${spec}: ${toolchain.map((t) => `\`${t.name}\``).join(', ')} ${toolchain.length > 1 ? 'are' : 'is'} not a C toolchain: ` +
            `neither ${toolchain.length > 1 ? 'they' : 'it'} nor anything ${toolchain.length > 1 ? 'they propagate' : 'it propagates'} is marked \`properties: { toolchain: true }\`, ` +
            `so the build would find no compiler. Toolchains known here: ${names}. A toolchain package of your own needs that property.`,
        );
      }
      const changed = new Set<Package>();
      const mapping = packageMapping((p) => {
        const inputChanged = [...p.inputs, ...p.nativeInputs, ...p.propagatedInputs].some((x) => changed.has(x));
        if (!inputChanged && !matchesSpec(p, target)) return p;
        // Already that toolchain, and no input changed: the very same package (so "had no effect").
        // So too a toolchain that leaves the bag as it was (gfortran, which propagates
        // gcc-toolchain, for a package with gfortran among its native inputs): the same derivation.
        const current = p.buildSystem.toolchain();
        if (!inputChanged) {
          if (sameList(current, toolchain)) return p;
          const tools = p.buildSystem.tools();
          if (sameList(withPropagated(p.nativeInputs, current, tools), withPropagated(p.nativeInputs, toolchain, tools))) return p;
        }
        const q = derive(p, { buildSystem: withToolchain(p.buildSystem, toolchain) });
        changed.add(q);
        return q;
      });
      return (root: Package) => mapping(root);
    },
  },
  {
    name: 'with-debug-info',
    key: 'withDebugInfo',
    takesValue: true,
    arg: 'PACKAGE',
    description: 'build PACKAGE with debugging information kept (not stripped)',
    cacheable: () => true,
    make(spec, ctx) {
      if (spec.includes('=')) malformed('with-debug-info', spec, 'a package name', 'scotch');
      const target = targetSpec(spec, ctx);
      return everywhere(target, (p) =>
        p.properties['debugInfo'] === true ? p : derive(p, { arguments: { stripBinaries: false }, properties: { ...p.properties, debugInfo: true } }),
      );
    },
  },
  {
    name: 'with-latest',
    key: 'withLatest',
    takesValue: true,
    arg: 'PACKAGE',
    description: "build PACKAGE from its latest release in Debian's source index (patches dropped)",
    cacheable: () => false,
    async prepare(spec, ctx) {
      if (spec.includes('=')) malformed('with-latest', spec, 'a package name', 'hwloc');
      const l = await loadLatest();
      await l.prepareRelease(packageArg(spec, ctx));
    },
    make(spec, ctx) {
      if (spec.includes('=')) malformed('with-latest', spec, 'a package name', 'hwloc');
      const target = targetSpec(spec, ctx);
      const l = latest('with-latest');
      const release = l.preparedRelease('with-latest', l.updaterName(packageArg(spec, ctx)));
      return everywhere(target, (p) => l.withRelease(p, release, 'with-latest', ctx.warn ?? (() => {})));
    },
  },
  {
    name: 'with-version',
    key: 'withVersion',
    takesValue: true,
    arg: 'PACKAGE=VERSION',
    description: "build PACKAGE from release VERSION found in Debian's source index (patches dropped)",
    cacheable: () => false,
    async prepare(spec, ctx) {
      const [left, version] = splitPair('with-version', spec, 'PACKAGE=VERSION', 'hwloc=2.15.0');
      const l = await loadLatest();
      await l.prepareRelease(packageArg(left, ctx), version);
    },
    make(spec, ctx) {
      const [left, version] = splitPair('with-version', spec, 'PACKAGE=VERSION', 'hwloc=2.15.0');
      const target = targetSpec(left, ctx);
      const l = latest('with-version');
      const release = l.preparedRelease('with-version', l.updaterName(packageArg(left, ctx)), version);
      return everywhere(target, (p) => l.withRelease(p, release, 'with-version', ctx.warn ?? (() => {})));
    },
  },
  {
    name: 'tune',
    key: 'tune',
    takesValue: true,
    optionalValue: 'native',
    arg: 'CPU',
    description: 'tune tunable packages for CPU (a GCC -march name, or native: this machine\'s x86-64 level)',
    cacheable: () => true,
    recorded: (spec) => resolveCpu(spec),
    make(spec) {
      const cpu = resolveCpu(spec);
      // As Guix: a tuned package's tests are not run, since the machine that builds it may not
      // run code for that CPU; they run in the package's generic build.
      const tuned = (p: Package) => derive(p, { properties: { ...p.properties, tune: cpu }, arguments: { tests: false } });
      const mapping = packageMapping((p) => (p.properties['tunable'] === true && p.properties['tune'] !== cpu ? tuned(p) : p), { deep: true });
      return (root: Package) => mapping(root);
    },
  },
];

/** Look up a transformation by option name. */
export function findTransformation(name: string): Transformation | undefined {
  return transformations.find((t) => t.name === name);
}

/** One applied transformation, as recorded in `properties.transformations`. */
export interface AppliedTransformation {
  readonly option: string;
  readonly spec: string;
  readonly cacheable: boolean;
  /** For the git options: the commit (or commits) the reference resolved to when it was read. */
  readonly commit?: string;
}

/** The name the code API gives its `n`th package object in option values (see `shown`). */
export function objectPlaceholder(n: number): string {
  return `\u0000obj${n}`;
}

/** `text` with each code-API package object's placeholder replaced by its spec (`pt-scotch@7.0.3`). */
function shown(text: string, objects: ReadonlyMap<string, Package> | undefined): string {
  if (!objects || !text.includes('\u0000')) return text;
  return text.replace(/\u0000obj\d+/g, (k) => {
    const p = objects.get(k);
    return p ? specString(p) : k;
  });
}

/**
 * Runs `fn` for the option `o`, naming the option in a user error that does not name it yet
 * (an unknown package on either side of `--with-input=A=B`, a missing file).
 */
function inOption<T>(o: { name: string; value: string }, objects: ReadonlyMap<string, Package> | undefined, fn: () => T): T {
  const named = (e: unknown): unknown => {
    if (!isTsdslError(e)) return e;
    const message = shown(e.message.startsWith(`--${o.name}`) ? e.message : `--${o.name}=${o.value}: ${e.message}`, objects);
    return message === e.message ? e : new TsdslError(message, { cause: e, exitCode: e.exitCode });
  };
  try {
    const r = fn();
    return (r instanceof Promise ? r.catch((e: unknown) => Promise.reject(named(e))) : r) as T;
  } catch (e) {
    throw named(e);
  }
}

/** Record `applied` on a root package. */
function record(root: Package, applied: readonly AppliedTransformation[]): Package {
  const prev = (root.properties['transformations'] as AppliedTransformation[] | undefined) ?? [];
  return derive(root, { properties: { ...root.properties, transformations: [...prev, ...applied] } });
}

/**
 * The roots with what was applied to each recorded. A root that another root depends on is
 * recorded there too (its users get the recorded object): one package, not a recorded root
 * beside an unrecorded copy in its users' graphs.
 */
function recordAll(roots: readonly Package[], applied: ReadonlyArray<readonly AppliedTransformation[]>): Package[] {
  const recorded = new Map<Package, readonly AppliedTransformation[]>();
  roots.forEach((r, i) => applied[i]!.length && recorded.set(r, applied[i]!));
  if (recorded.size === 0) return [...roots];
  if (roots.length === 1) return [record(roots[0]!, applied[0]!)];
  const mapping = packageMapping((q, p) => (recorded.has(p) ? record(q, recorded.get(p)!) : q), { deep: true });
  return roots.map((r) => mapping(r));
}

/**
 * Apply the transformation options found in `ordered` (command-line order) to the roots. Every
 * spec is parsed before anything is applied, so a bad one changes nothing.
 */
export async function applyTransformOptions(
  roots: readonly Package[],
  ordered: ReadonlyArray<{ name: string; value: string | boolean | number }>,
  collection: Collection,
  io: { warn(text: string): void },
  extra: { objects?: ReadonlyMap<string, Package>; cwd?: string } = {},
): Promise<Package[]> {
  checkArguments(roots, ordered, io, extra, 'applyTransformOptions()');
  checkOptionNames(ordered, 'applyTransformOptions()');
  const all = ordered.filter((o) => findTransformation(o.name)).map((o) => ({ name: o.name, value: String(o.value) }));
  const ctx: TransformContext = { collection, all, cwd: extra.cwd ?? process.cwd(), warn: io.warn, inGraph: graphCollection(roots), ...(extra.objects ? { objects: extra.objects } : {}) };
  for (const o of all) {
    const t = findTransformation(o.name)!;
    if (t.prepare) await inOption(o, extra.objects, () => t.prepare!(o.value, ctx));
  }
  return applyTransformations(roots, ordered, collection, io, extra);
}

/**
 * The arguments of the two functions above, as a script gives them: a misspelt `warn` was a
 * TypeError ("io.warn is not a function") at the first warning, and a misspelt `cwd` was
 * dropped, relative file names then read from the current directory.
 */
function checkArguments(roots: unknown, ordered: unknown, io: unknown, extra: unknown, who: string): void {
  if (!Array.isArray(roots)) throw new TsdslError(`${who}: the packages are ${shownValue(roots)}, not an array of packages`);
  if (!Array.isArray(ordered) || !ordered.every((o: unknown) => typeof o === 'object' && o !== null && typeof (o as { name?: unknown }).name === 'string')) {
    throw new TsdslError(`${who}: the options are ${shownValue(ordered)}; give an array of { name, value } such as [{ name: 'with-input', value: 'scotch=pt-scotch' }]`);
  }
  // Only `warn` is used, and an object with more (`console`, a logger) serves: its other fields
  // are looked at only to name a misspelt `warn`.
  if (typeof (io as { warn?: unknown } | null | undefined)?.warn !== 'function') {
    if (typeof io === 'object' && io !== null) checkRequestKeys(io, ['warn'], `${who}'s io`);
    throw new TsdslError(`${who}: io.warn must be a function, such as { warn: console.error }`);
  }
  checkRequestKeys(extra as object, ['objects', 'cwd'], `${who}'s extra`);
  const { cwd } = extra as { cwd?: unknown };
  if (cwd !== undefined && (typeof cwd !== 'string' || cwd === '')) throw new TsdslError(`${who}: extra.cwd must be a directory name, not ${shownValue(cwd)}`);
}

/** Whether two lists hold the same packages in the same order. */
function sameList(a: readonly Package[], b: readonly Package[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * The command line's other options come along (and are skipped); a name meant as a
 * transformation but not one (`--with-latest`, `withLatest`, `with-lates`) is refused.
 */
function checkOptionNames(ordered: ReadonlyArray<{ name: string }>, who: string): void {
  for (const o of ordered) {
    if (!findTransformation(o.name) && /^(?:-|with|tune)/i.test(o.name)) {
      const bare = o.name.replace(/^-+/, '').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
      const names = transformations.map((t) => t.name);
      throw new TsdslError(
        `${who}: \`${o.name}\` is not a transformation option${findTransformation(bare) ? `; write \`${bare}\`` : didYouMean(bare, names)} (names are the command line's without their dashes: { name: 'with-latest', value: 'hwloc' })`,
      );
    }
  }
}

/** Synchronous core of applyTransformOptions (the code API uses it directly). */
export function applyTransformations(
  roots: readonly Package[],
  ordered: ReadonlyArray<{ name: string; value: string | boolean | number }>,
  collection: Collection,
  io: { warn(text: string): void },
  extra: { objects?: ReadonlyMap<string, Package>; cwd?: string } = {},
): Package[] {
  checkArguments(roots, ordered, io, extra, 'applyTransformations()');
  checkOptionNames(ordered, 'applyTransformations()');
  const all = ordered.filter((o) => findTransformation(o.name)).map((o) => ({ name: o.name, value: String(o.value) }));
  const warn = (text: string) => io.warn(shown(text, extra.objects));
  const ctx: TransformContext = { collection, all, cwd: extra.cwd ?? process.cwd(), warn, warned: new Set(), inGraph: graphCollection(roots), ...(extra.objects ? { objects: extra.objects } : {}) };
  const steps = all.map((o, current) => {
    const t = findTransformation(o.name)!;
    return { o, t, spec: o.value, fn: inOption(o, extra.objects, () => t.make(o.value, { ...ctx, current })) };
  });
  // The options are applied to the roots as they come, and what each did is recorded at the end.
  let current = [...roots];
  const applied: AppliedTransformation[][] = roots.map(() => []);
  for (const { o, t, spec, fn } of steps) {
    // Errors found while applying it (a git ref, a version, a flag) name the option too.
    const next = current.map((r) => inOption(o, extra.objects, () => fn(r)));
    if (next.every((r, i) => r === current[i])) {
      warn(`--${t.name}=${spec} had no effect on ${current.map((r) => `\`${specString(r)}\``).join(', ')}`);
      continue;
    }
    // Provenance names a package object by its spec, as the command line would, and a git
    // reference's commit (a branch moves).
    const commits = (fn as Partial<Resolving>).resolved?.() ?? [];
    const done: AppliedTransformation = {
      option: t.name,
      spec: shown(t.recorded?.(spec) ?? spec, extra.objects),
      cacheable: t.cacheable(spec),
      ...(commits.length ? { commit: commits.join(' ') } : {}),
    };
    next.forEach((r, i) => r !== current[i] && applied[i]!.push(done));
    current = next;
  }
  return recordAll(current, applied);
}

