/**
 * Transformations in code: `transform(mumps, { withInput: { scotch: ptScotch } })` or
 * `transform(mumps, ['--with-input=scotch=pt-scotch'])`. Both return a new package and leave
 * the input untouched; names are resolved in the default collection unless another is given.
 */
import { TsdslError, checkRequestKeys, checkRequestTypes, didYouMean, fieldChecks, shown, warnOnStderr, type FieldCheck } from '../errors.js';
import { isPackage, notAPackageText, specString, type Package } from '../dsl/package.js';
import { callerDirectory } from '../dsl/location.js';
import { Collection } from '../registry/collection.js';
import * as defaultPackages from '../../packages/index.js';
import { applyTransformations, objectPlaceholder, transformations } from './options.js';

/** A package or its spec string. */
type PackageRef = Package | string;
type PerPackage<T> = Readonly<Record<string, T | readonly T[]>>;

/**
 * The object form: one key per option, camelCase. Every key also takes one option's value as a
 * string, as the command line writes it (`withoutTests: 'hwloc'`, `withInput: 'scotch=pt-scotch'`).
 */
export interface TransformSpec {
  withSource?: string | readonly string[] | PerPackage<string>;
  withInput?: string | PerPackage<PackageRef>;
  withGraft?: string | PerPackage<PackageRef>;
  withBranch?: string | PerPackage<string>;
  withCommit?: string | PerPackage<string>;
  withGitUrl?: string | PerPackage<string>;
  withPatch?: string | PerPackage<string>;
  withConfigureFlag?: string | PerPackage<string>;
  withoutTests?: string | readonly string[];
  withCToolchain?: string | PerPackage<PackageRef>;
  withDebugInfo?: string | readonly string[];
  withLatest?: string | readonly string[];
  withVersion?: string | PerPackage<string>;
  tune?: string | true;
}

export interface TransformOptions {
  /** Where names are resolved (default: the default collection). */
  collection?: Collection;
  /** Where warnings go (default: stderr). */
  warn?: (text: string) => void;
  /**
   * Base for relative file names (`withSource: { hwloc: './hwloc.tar.gz' }`); by default the
   * directory of the file calling transform(), as for `local()`, or the current directory.
   */
  cwd?: string;
}

// Every field of TransformOptions, so that a misspelt one is an error (checked by the type).
const TRANSFORM_OPTION_KEYS = Object.keys({ collection: 1, warn: 1, cwd: 1 } satisfies Record<keyof TransformOptions, 1>);
const TRANSFORM_OPTION_CHECKS: Readonly<Record<string, FieldCheck>> = { collection: fieldChecks.collection, warn: fieldChecks.function, cwd: fieldChecks.text };

let defaultCollection: Collection | undefined;

/** The default collection as a Collection (built once). */
export function getDefaultCollection(): Collection {
  if (!defaultCollection) {
    defaultCollection = new Collection();
    defaultCollection.addModule(defaultPackages as Record<string, unknown>);
  }
  return defaultCollection;
}

/** The object form's keys whose value is a list of package names. */
const LISTED: ReadonlySet<string> = new Set(['withoutTests', 'withDebugInfo', 'withLatest']);

/** The object form's keys whose values may be package objects. */
const PACKAGE_VALUED: ReadonlySet<string> = new Set(['withInput', 'withGraft', 'withCToolchain']);

/** Turn the object form into ordered `--option=value` pairs; package objects get placeholders. */
function toOrdered(spec: TransformSpec, objects: Map<string, Package>, who: string): Array<{ name: string; value: string }> {
  const out: Array<{ name: string; value: string }> = [];
  // `where` names the value (`withInput.scotch`), so an error says which one is wrong.
  const ref = (x: unknown, where: string, key: string): string => {
    if (typeof x === 'string') return x;
    if (isPackage(x) && PACKAGE_VALUED.has(key)) {
      const placeholder = objectPlaceholder(objects.size);
      objects.set(placeholder, x);
      return placeholder;
    }
    const what = PACKAGE_VALUED.has(key) ? 'a package or a package name' : LISTED.has(key) ? 'a package name' : key === 'withSource' || key === 'withPatch' ? 'a file name or URL' : 'a string';
    const hint = isPackage(x) ? ` ('${specString(x)}')` : '';
    throw new TsdslError(`${who}: \`${where}\` is ${isPackage(x) ? `the package object \`${specString(x)}\`` : shown(x)}; give ${what}${hint}`);
  };
  for (const [key, value] of Object.entries(spec)) {
    const t = transformations.find((x) => x.key === key);
    if (!t) throw new TsdslError(`${who}: unknown transformation \`${key}\`${didYouMean(key, transformations.map((x) => x.key))} (known: ${transformations.map((x) => x.key).join(', ')})`);
    if (value === undefined) continue;
    // A value of another shape (`withoutTests: 3`, `tune: false`) would change nothing, unsaid.
    const ok =
      key === 'tune'
        ? value === true || typeof value === 'string'
        : typeof value === 'string' || (LISTED.has(key) ? Array.isArray(value) : typeof value === 'object' && value !== null && !Array.isArray(value));
    if (!ok) {
      const example = key === 'tune' ? "true (the build machine's CPU) or a CPU name such as 'skylake'" : LISTED.has(key) ? "a list of package names, such as ['hwloc']" : "an object of package = value, such as { hwloc: '…' }";
      throw new TsdslError(`${who}: \`${key}\` is ${shown(value)}; give ${example} (or leave it out)`);
    }
    if (key === 'tune') out.push({ name: t.name, value: value === true ? 'native' : String(value) });
    else if (typeof value === 'string') out.push({ name: t.name, value });
    else if (Array.isArray(value)) value.forEach((v: unknown, i) => out.push({ name: t.name, value: ref(v, `${key}[${i}]`, key) }));
    else
      for (const [pkg, v] of Object.entries(value as Record<string, unknown>)) {
        const list = Array.isArray(v) ? v : [v];
        list.forEach((one: unknown, i) => out.push({ name: t.name, value: `${pkg}=${ref(one, Array.isArray(v) ? `${key}.${pkg}[${i}]` : `${key}.${pkg}`, key)}` }));
      }
  }
  return out;
}

/**
 * Transformations as the code API takes them — option strings (`--with-input=scotch=pt-scotch`)
 * or the object form — checked and turned into ordered options, with the package objects they
 * name. `who` starts each error (`transform`, `pack()`).
 */
export function orderedTransformations(spec: TransformSpec | readonly string[], who: string): { ordered: Array<{ name: string; value: string }>; objects: Map<string, Package> } {
  const objects = new Map<string, Package>();
  if (typeof spec !== 'object' || spec === null) {
    throw new TsdslError(`${who}: transformations are ${spec === null ? 'null' : typeof spec}; give option strings such as ['--with-input=scotch=pt-scotch'], or an object such as { withInput: { scotch: 'pt-scotch' } }`);
  }
  if (!Array.isArray(spec)) return { ordered: toOrdered(spec as TransformSpec, objects, who), objects };
  const ordered = (spec as readonly unknown[]).map((s, i, all) => {
    const m = typeof s === 'string' ? /^--([a-z-]+)(?:=(.*))?$/s.exec(s) : null;
    const t = m && transformations.find((x) => x.name === m[1]);
    if (!m || !t) {
      const hint = m ? didYouMean(`--${m[1]}`, transformations.map((x) => `--${x.name}`)) : '';
      throw new TsdslError(`${who}: \`${String(s)}\` is not a transformation option${hint} (see tsdsl --help-transform)`);
    }
    // `['--with-input', 'scotch=pt-scotch']`, as a shell would split it: one string per option here.
    const next = all[i + 1];
    if (m[2] === undefined && t.takesValue && typeof next === 'string' && !next.startsWith('--')) {
      throw new TsdslError(`${who}: \`${s as string}\` and \`${next}\` are one option here, written with \`=\`: '--${t.name}=${next}'`);
    }
    const value = m[2] ?? t.optionalValue;
    if (value === undefined) throw new TsdslError(`${who}: \`${s as string}\` needs a value: --${t.name}=${t.arg}`);
    return { name: t.name, value };
  });
  return { ordered, objects };
}

/**
 * Apply transformations to a package; returns the new package (or the same one if nothing
 * changed). Given a list of packages, returns the list transformed together: a package of the
 * list that another one depends on is then one object in both graphs (as on the command line,
 * `tsdsl graph mumps scotch --without-tests=scotch`), where two calls would make two.
 */
/** What transform() returns for `P`: a list for a list, a package otherwise (`any` too, as the overloads gave). */
export type Transformed<P> = 0 extends 1 & P ? Package : P extends readonly Package[] ? Package[] : Package;

// One generic signature rather than two overloads: with overloads, a mistake in `spec` or
// `options` (`withoutTest`, `colection`) was reported against the last overload only, as "Type
// 'Package' is missing the following properties from type 'readonly Package[]'", never naming
// the misspelt key; checked against one signature, it is "did you mean `withoutTests`?".
export function transform<P extends Package | readonly Package[]>(pkg: P, spec: TransformSpec | readonly string[], options?: TransformOptions): Transformed<P>;
export function transform(pkg: Package | readonly Package[], spec: TransformSpec | readonly string[], options: TransformOptions = {}): Package | Package[] {
  const list = Array.isArray(pkg) ? (pkg as readonly unknown[]) : [pkg];
  list.forEach((p, i) => {
    if (isPackage(p)) return;
    const which = Array.isArray(pkg) ? `the first argument's item ${i}` : 'the first argument';
    throw new TsdslError(`transform: ${which} is ${notAPackageText(p)}`);
  });
  checkRequestKeys(options, TRANSFORM_OPTION_KEYS, 'transform');
  checkRequestTypes(options, TRANSFORM_OPTION_CHECKS, 'transform');
  const cwd = options.cwd ?? callerDirectory(transform);
  const { ordered, objects } = orderedTransformations(spec, 'transform');
  const warn = options.warn ?? warnOnStderr;
  const out = applyTransformations(list as Package[], ordered, options.collection ?? getDefaultCollection(), { warn }, { objects, ...(cwd ? { cwd } : {}) });
  return Array.isArray(pkg) ? out : out[0]!;
}
