/**
 * A collection: every package a command can name, indexed by name with versions newest first.
 * `resolve("hwloc@1")` finds the newest matching version and applies variants; an unknown name
 * fails with the closest names. Collections are built from module namespaces (the default
 * collection, `-L` directories), taking every exported package.
 */
import { existsSync, realpathSync } from 'node:fs';
import { TsdslError, closest, shown, warnOnStderr } from '../errors.js';
import { escapeRegExp, statelessRegExp } from '../regexp.js';
import { formatLocation, lineWhere } from '../dsl/location.js';
import { checkOutput, fullName, hasDefaultVariants, isPackage, isVariantOf, withVariants, type Package, type ProfileItem, type VariantValue } from '../dsl/package.js';
import { PACKAGE_FILE, outputRefused, parseSpec, type PackageSpecString } from './spec.js';
import { compareVersions, validRange, versionMatches } from './version.js';
import { compareNames } from '../compare.js';

/**
 * What a collection loaded for some names only (the package index, package-index.ts) throws when
 * asked about a name it may not hold all of, or about all of them: the command line then loads
 * every package file and asks again. Not a TsdslError, so that no code takes it for the user's
 * mistake; seen by a user, it is a tsdsl bug.
 */
export class PartialCollectionMiss extends Error {
  constructor(what: string) {
    super(`the collection was loaded only for the packages named, and ${what} needs all of them`);
    this.name = 'PartialCollectionMiss';
  }
}

/** The packages a module namespace exports, at its top level or in exported arrays. */
export function packagesOf(ns: Readonly<Record<string, unknown>>): Package[] {
  const out: Package[] = [];
  for (const v of Object.values(ns)) {
    if (isPackage(v)) out.push(v);
    else if (Array.isArray(v)) for (const x of v) if (isPackage(x)) out.push(x);
  }
  return out;
}

/** Packages by name, several versions each, newest first. */
export class Collection {
  private readonly byName = new Map<string, Package[]>();
  /** Each package's rank in loading order: of two definitions of one version, the later wins. */
  private readonly order = new Map<Package, number>();
  private readonly warned = new Set<string>();
  private sorted = true;
  /**
   * Files under -L that look like package files (they call definePackage) but were not loaded,
   * since they do not import 'tsdsl', not even through their relative imports: named when a
   * package is not found.
   */
  skippedFiles: string[] = [];
  /** The user's package files loaded (-L), searched for a package defined but not exported. */
  userFiles: string[] = [];
  /** Files of TSDSL_PACKAGE_PATH that failed to load (warned about): named when a package is not found. */
  failedFiles: string[] = [];
  /** Where warnings go (an ambiguous name: one version defined twice). */
  warn: (text: string) => void = warnOnStderr;
  /** Loaded for the command line: errors give its ways (-L), not the code API's too. */
  forCommandLine = false;
  /**
   * Set when only the package files defining some names were loaded (through the package index):
   * the names that files left out define, none when every file was loaded, as the index does
   * not know all a full load finds either (the files skipped, for an unknown name's error).
   * Asking about one of them, about a name it does not hold, or for every package throws
   * PartialCollectionMiss.
   */
  partial: ReadonlySet<string> | undefined;

  constructor(packages: Iterable<Package> = []) {
    for (const p of packages) this.add(p);
  }

  /** Add a package (ignored when this very object is already there). */
  add(p: Package): void {
    if (this.order.has(p)) return;
    this.order.set(p, this.order.size);
    const list = this.byName.get(p.name);
    if (list) list.push(p);
    else this.byName.set(p.name, [p]);
    this.sorted = false;
  }

  /** Add every exported package of a module namespace (hidden ones included, flagged). */
  addModule(ns: Readonly<Record<string, unknown>>): number {
    const list = packagesOf(ns);
    for (const p of list) this.add(p);
    return list.length;
  }

  private sort(): void {
    if (this.sorted) return;
    for (const list of this.byName.values()) list.sort((a, b) => compareVersions(b.version, a.version) || this.order.get(b)! - this.order.get(a)!);
    this.sorted = true;
  }

  /** Every package, by name then newest version first. */
  all(): Package[] {
    if (this.partial) throw new PartialCollectionMiss('listing every package');
    this.sort();
    return [...this.byName.keys()].sort().flatMap((n) => this.byName.get(n)!);
  }

  /** Every distinct name. */
  names(): string[] {
    if (this.partial) throw new PartialCollectionMiss('listing every name');
    return [...this.byName.keys()].sort();
  }

  get size(): number {
    return this.order.size;
  }

  /** All versions of `name`, newest first (empty when unknown). */
  versions(name: string): readonly Package[] {
    if (this.partial?.has(name)) throw new PartialCollectionMiss(`\`${name}\``);
    this.sort();
    return this.byName.get(name) ?? [];
  }

  /** `file:line` of a `name: 'NAME'` in a loaded user file, for a name no exported package has. */
  private definedNotExported(name: string): string | undefined {
    const quoted = escapeRegExp(name);
    const re = new RegExp(`\\bname\\s*:\\s*(['"\`])${quoted}\\1`);
    for (const file of this.userFiles) {
      const line = lineWhere(file, (l) => re.test(l));
      if (line !== undefined) return formatLocation({ file, line, column: 1 });
    }
    return undefined;
  }

  /** Resolve a spec string or parsed spec to one package (newest matching, variants applied). */
  resolve(spec: string | PackageSpecString): Package {
    if (typeof spec !== 'string' && (typeof spec !== 'object' || spec === null || typeof (spec as Partial<PackageSpecString>).name !== 'string')) {
      throw new TsdslError(`resolve(): a package spec is a string such as 'mumps@5.5~metis', not ${shown(spec)}`);
    }
    const s = typeof spec === 'string' ? parseSpec(spec) : spec;
    if (s.output !== undefined) throw outputRefused(s.text, s.output, s.text.replace(/:[^:]*$/, ''));
    // A hidden package (properties.hidden, as Guix's hidden-package) is chosen by name only when
    // no visible one has that name: the toolchain's Debian bash stays behind the bash built here.
    const all = this.versions(s.name);
    const visible = all.filter((p) => p.properties['hidden'] !== true);
    const candidates = visible.length ? visible : all;
    if (candidates.length === 0) {
      if (this.partial) throw new PartialCollectionMiss(`\`${s.name}\`, which it does not hold,`);
      // A package file named where a package is expected (`tsdsl show solver.ts`): -L loads it.
      if (PACKAGE_FILE.test(s.name) && existsSync(s.name)) {
        throw new TsdslError(`unknown package \`${s.name}\`: that is a file; to load its packages, give it to -L: -L ${s.name} NAME`);
      }
      const unexported = this.definedNotExported(s.name);
      if (unexported) {
        throw new TsdslError(
          `unknown package \`${s.name}\`: ${unexported} defines it, but the file does not export it; tsdsl knows the packages a file exports at its top level: write \`export const … = definePackage({ name: '${s.name}', … })\``,
        );
      }
      // `openmpi-4.1.4`, as a store path names it: the version goes after `@`.
      const dashed = /^(.+?)-(\d[^@]*)$/.exec(s.name);
      if (dashed && this.versions(dashed[1]!).length) {
        throw new TsdslError(`unknown package \`${s.name}\`; did you mean \`${dashed[1]}@${dashed[2]}\`? (a version is written after @)`);
      }
      const near = closest(s.name, this.names(), 5);
      const failed = this.failedFiles;
      throw new TsdslError(
        `unknown package \`${s.name}\`` +
          (near.length ? `; did you mean ${near.map((n) => `\`${n}\``).join(', ')}?` : failed.length ? '' : '; `tsdsl search REGEXP` lists packages by name and description') +
          (failed.length
            ? ` (${failed.slice(0, 3).map(shownFile).join(', ')}${failed.length > 3 ? ', …' : ''} failed to load, see the warning above, and may define it)`
            : this.skippedFiles.length
            ? ` (not loaded, as ${this.skippedFiles.length === 1 ? 'it does' : 'they do'} not import from 'tsdsl' or 'tsdsl/packages', directly or through a module of ${this.skippedFiles.length === 1 ? 'its' : 'their'} own: ${this.skippedFiles.slice(0, 3).join(', ')}${this.skippedFiles.length > 3 ? ', …' : ''}; import the DSL as \`import { definePackage } from 'tsdsl'\`, not by a path)`
            : ` (add your own package files with -L DIR or TSDSL_PACKAGE_PATH${this.forCommandLine ? '' : "; in code, pass `collection: await loadCollection({ loadPath: 'DIR' })`"})`),
      );
    }
    let pkg = candidates[0]!;
    if (s.version !== undefined) {
      if (!validRange(s.version)) throw new TsdslError(`\`${s.text}\`: \`${s.version}\` is neither a version nor a valid semver range`);
      const match = candidates.find((p) => versionMatches(s.version!, p.version));
      if (!match) {
        throw new TsdslError(
          `\`${s.name}\` has no version matching \`${s.version}\`; available: ${candidates.map((p) => p.version).join(', ')}${
            // Spack's ranges (`@2.9:`, `@:3`, `@2.1:2.9`) are npm's semver ranges here.
            s.version.includes(':') ? ` (a range is written as in npm's semver: ${spackRange(s.version)})` : ''
          }`,
        );
      }
      pkg = match;
    }
    // A name alone means the default variants: of one definition exported also as a variant
    // (`mine` and `withVariants(mine, { mpi: true })`), the one with its defaults, whichever came last.
    if (Object.keys(s.variants).length === 0 && !hasDefaultVariants(pkg)) {
      const plain = candidates.find((q) => q.version === pkg.version && isVariantOf(q, pkg) && hasDefaultVariants(q));
      if (plain) pkg = plain;
    }
    // A variant of the same definition exported beside it is no second definition.
    const twins = candidates
      .filter((q) => q !== pkg && q.version === pkg.version && !isVariantOf(q, pkg))
      .filter((q, i, all) => !all.slice(0, i).some((r) => isVariantOf(q, r)));
    if (twins.length && !this.warned.has(fullName(pkg))) {
      // As Guix does: say so, and which one is used (the one loaded last, so -L overrides the default collection).
      this.warned.add(fullName(pkg));
      const where = (q: Package) => formatLocation(q.location);
      this.warn(
        `ambiguous package specification \`${s.text}\`: \`${fullName(pkg)}\` is defined ${twins.length + 1} times (${[pkg, ...twins].map(where).join(', ')}); choosing the one at ${where(pkg)}, loaded last`,
      );
    }
    if (Object.keys(s.variants).length) pkg = withVariants(pkg, coerceVariants(pkg, s.variants));
    return pkg;
  }

  /**
   * Resolve a spec where an output may end it (`hwloc:lib`, as build, pack, shell, size, gc, log and run() take):
   * the package, or the package and that output, which it must have.
   */
  resolveItem(spec: string): ProfileItem {
    const s = parseSpec(spec, { outputs: true });
    if (s.output === undefined) return this.resolve(s);
    const { output, ...bare } = s;
    const p = this.resolve(bare);
    checkOutput(p, output, s.text);
    return [p, output];
  }

  /** Like resolve, but for many specs (one package each), reporting every unknown one at once. */
  resolveAll(specs: readonly string[]): Package[] {
    return this.resolveEach(specs, (s) => this.resolve(s));
  }

  /** Like resolveItem, for many specs, reporting every problem at once. */
  resolveItems(specs: readonly string[]): ProfileItem[] {
    return this.resolveEach(specs, (s) => this.resolveItem(s));
  }

  private resolveEach<T>(specs: readonly string[], resolve: (spec: string) => T): T[] {
    const out: T[] = [];
    const errors: string[] = [];
    for (const s of specs) {
      try {
        out.push(resolve(s));
      } catch (e) {
        if (e instanceof TsdslError) errors.push(e.message);
        else throw e;
      }
    }
    if (errors.length === 1) throw new TsdslError(errors[0]!);
    if (errors.length) throw new TsdslError(`${errors.length} problems with the packages given:\n${errors.map((e) => `  - ${e}`).join('\n')}`);
    return out;
  }

  /**
   * Packages whose name, synopsis or description match every pattern, ranked: a match in the
   * name counts most (the whole name most of all), then the synopsis, then the description; in
   * the synopsis and description, a match that starts a word (`mpi` in "MPI library") counts
   * twice one inside a word (`mpi` in "compiler").
   */
  search(patterns: readonly RegExp[]): Array<{ pkg: Package; score: number }> {
    if (this.partial) throw new PartialCollectionMiss('a search');
    this.sort();
    const res = patterns.map(statelessRegExp);
    // The same pattern, matching only where no letter or digit (of any script) comes before;
    // a pattern that is not valid in Unicode mode (`\-`, say) looks behind for ASCII ones only.
    const atWord = res.map((re) => {
      const unicode = re.unicode || re.flags.includes('v');
      try {
        return new RegExp(`(?<![\\p{L}\\p{N}])(?:${re.source})`, unicode ? re.flags : `${re.flags}u`);
      } catch {
        return new RegExp(`(?<![A-Za-z0-9])(?:${re.source})`, re.flags);
      }
    });
    const text = (re: RegExp, word: RegExp, field: string, weight: number) => (re.test(field) ? (word.test(field) ? 2 * weight : weight) : 0);
    const hits: Array<{ pkg: Package; score: number }> = [];
    // Every version, as guix search lists them (newest first within a name).
    for (const [name, list] of this.byName) {
      for (const p of list) {
        if (p.properties['hidden'] === true) continue;
        let score = 0;
        let all = true;
        for (let i = 0; i < res.length; i++) {
          const re = res[i]!;
          let s = 0;
          if (re.test(name)) s += name.match(re)?.[0] === name ? 12 : 8;
          s += text(re, atWord[i]!, p.synopsis, 2) + text(re, atWord[i]!, p.description, 1);
          if (s === 0) all = false;
          score += s;
        }
        if (all && score > 0) hits.push({ pkg: p, score });
      }
    }
    // Stable: versions keep their newest-first order.
    hits.sort((a, b) => b.score - a.score || compareNames(a.pkg.name, b.pkg.name));
    return hits;
  }
}

/** Turn `name=value` strings into the declared variant types. */
function coerceVariants(p: Package, variants: Readonly<Record<string, boolean | string>>): Record<string, VariantValue> {
  const out: Record<string, VariantValue> = {};
  for (const [k, v] of Object.entries(variants)) {
    const d = p.variantDecls[k];
    const def = d === undefined ? undefined : typeof d === 'object' ? d.default : d;
    if (typeof v === 'string' && typeof def === 'boolean' && (v === 'true' || v === 'false')) out[k] = v === 'true';
    else if (typeof v === 'string' && typeof def === 'number' && /^-?\d+(\.\d+)?$/.test(v)) out[k] = Number(v);
    else out[k] = v;
  }
  return out;
}

/** One line naming a package and where it is defined, for messages. */
export function describePackage(p: Package): string {
  return `${fullName(p)} (${formatLocation(p.location)})`;
}

/** A Spack version range (`2.9:`, `:3`, `2.1:2.9`) as the semver range it means, for a hint. */
function spackRange(v: string): string {
  const [low, high] = v.split(':', 2) as [string, string];
  const parts = [low ? `>=${low}` : '', high ? `<=${high}` : ''].filter(Boolean);
  return parts.length ? `\`${parts.join(' ')}\`` : '`*`';
}

/**
 * A package file as the warnings above an error name it: by its real path (as a definition's
 * location, or the place a load failed), not through a symlinked directory of the load path.
 */
function shownFile(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return file;
  }
}
