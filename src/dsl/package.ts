/**
 * The package record: what a scientist writes, and the node every later stage works on.
 * `definePackage(spec)` checks the spec (every problem at once, with file:line), resolves the
 * fields that are functions of the package's variants, and returns a frozen, brand-checked
 * record. Variants of a package are new records: `inherit(p, overrides)` / `p.with(overrides)`,
 * `withVariants(p, { mpi: true })`, `modifyInputs(p, { replace, delete, append, prepend })`.
 * Nothing here touches the network, the store or the file system.
 */
import { types } from 'node:util';
import { fileURLToPath } from 'node:url';
import { TsdslError, closest, didYouMean, shown, type FieldCheck } from '../errors.js';
import {
  setByBuild,
  COMMON_ARGUMENT_KEYS,
  NIX_SPECIAL_ENV,
  buildSystemsTaking,
  isBuildSystem,
  phaseKeys,
  type BuildSystem,
} from './build-systems.js';
import { isKnownLicense, licenses, type License } from './licenses.js';
import { captureLocation, formatLocation, lineWhere, resolveLocation, type CapturedLocation, type Location } from './location.js';
import { isOrigin, type Origin } from './origin.js';
import { storeNameSpelling } from '../derivation/hash.js';
import { PACKAGE_BRAND, isPackage } from './brand.js';

export { PACKAGE_BRAND, isPackage };

/** A variant's declared default: a boolean switch, a number, or one string of a fixed set. */
export type VariantDecl =
  | boolean
  | number
  | { readonly default: boolean | number; readonly description?: string }
  | { readonly default: string; readonly values: readonly string[]; readonly description?: string };

export type VariantDecls = Readonly<Record<string, VariantDecl>>;
export type VariantValue = boolean | number | string;

/** The value type of each declared variant. */
export type VariantValues<V extends VariantDecls> = {
  readonly [K in keyof V]: V[K] extends boolean
    ? boolean
    : V[K] extends number
      ? number
      : V[K] extends { default: infer D }
        ? D extends boolean
          ? boolean
          : D extends number
            ? number
            : string
        : never;
};

/** Build arguments, as the build system reads them. */
export interface BuildArguments {
  readonly configureFlags?: readonly string[];
  readonly makeFlags?: readonly string[];
  readonly cmakeFlags?: readonly string[];
  /** Run the test phase (default true). */
  readonly tests?: boolean;
  readonly testTarget?: string;
  readonly installTarget?: string;
  readonly parallelBuild?: boolean;
  readonly parallelTests?: boolean;
  /** Shell snippets keyed by phase: `configure` replaces it, `preConfigure`/`postConfigure` wrap it. */
  readonly phases?: Readonly<Record<string, string>>;
  /** Extra environment variables for the build. */
  readonly env?: Readonly<Record<string, string>>;
  readonly stripBinaries?: boolean;
  readonly validateRunpath?: boolean;
  /** Build-system specific keys (see each build system's `argumentKeys`). */
  readonly [key: string]: unknown;
}

/** A value that may depend on the package's chosen variants. */
export type OfVariants<T, V extends VariantDecls> = T | ((variants: VariantValues<V>) => T);

/** What `definePackage` takes. Only name, version, buildSystem and the metadata are required. */
export interface PackageSpec<V extends VariantDecls = VariantDecls> {
  name: string;
  version: string;
  source?: Origin | null;
  buildSystem: BuildSystem;
  arguments?: OfVariants<BuildArguments, V>;
  inputs?: OfVariants<readonly Package[], V>;
  nativeInputs?: OfVariants<readonly Package[], V>;
  propagatedInputs?: OfVariants<readonly Package[], V>;
  outputs?: readonly string[];
  variants?: V;
  synopsis: string;
  description: string;
  homePage: string;
  license: License | readonly License[];
  properties?: Readonly<Record<string, unknown>>;
  /** A replacement applied by grafting (set by `--with-graft`). */
  replacement?: Package;
}

/** A package: immutable, frozen, brand-checked. */
export interface Package {
  readonly [PACKAGE_BRAND]: true;
  readonly name: string;
  readonly version: string;
  readonly source: Origin | null;
  readonly buildSystem: BuildSystem;
  readonly arguments: BuildArguments;
  readonly inputs: readonly Package[];
  readonly nativeInputs: readonly Package[];
  readonly propagatedInputs: readonly Package[];
  readonly outputs: readonly string[];
  /** Declared variants with their defaults. */
  readonly variantDecls: VariantDecls;
  /** The chosen value of every declared variant. */
  readonly variants: Readonly<Record<string, VariantValue>>;
  readonly synopsis: string;
  readonly description: string;
  readonly homePage: string;
  readonly license: License | readonly License[];
  readonly properties: Readonly<Record<string, unknown>>;
  readonly replacement: Package | undefined;
  /** Where it was defined (resolved on first read). */
  readonly location: Location | undefined;
  /** A new package inheriting every field of this one but `overrides`. */
  with(overrides: Overrides): Package;
}

/** Overrides for `inherit`: any spec field; functions get the variants and the parent. */
export type Overrides = {
  [K in keyof PackageSpec]?: K extends 'inputs' | 'nativeInputs' | 'propagatedInputs'
    ? readonly Package[] | ((variants: Readonly<Record<string, VariantValue>>, parent: Package) => readonly Package[])
    : K extends 'arguments'
      ? BuildArguments | ((variants: Readonly<Record<string, VariantValue>>, parent: Package) => BuildArguments)
      : PackageSpec[K];
};

/** Packages of the lists and everything they propagate, in order, without duplicates. */
export function withPropagated(...lists: ReadonlyArray<readonly Package[]>): Package[] {
  const into: Package[] = [];
  let seen: Set<Package> | undefined;
  for (let l = 0; l < lists.length; l++) seen = addPropagated(lists[l]!, into, seen);
  return into;
}

/**
 * `withPropagated` of up to three lists, as lowering asks for each package's two halves of its
 * bag: when only one list has packages, none of them twice and none propagating, that list
 * itself (which the caller must not modify), without a copy.
 */
export function withPropagatedShared(a: readonly Package[], b: readonly Package[], c: readonly Package[] = NONE): readonly Package[] {
  const only = b.length === 0 && c.length === 0 ? a : a.length === 0 && c.length === 0 ? b : a.length === 0 && b.length === 0 ? c : undefined;
  if (only !== undefined && only.length <= 16) {
    let plain = true;
    for (let i = 0; i < only.length && plain; i++) {
      const p = only[i]!;
      if (p.propagatedInputs.length > 0) plain = false;
      for (let j = 0; j < i && plain; j++) if (only[j] === p) plain = false;
    }
    if (plain) return only;
  }
  return withPropagated(a, b, c);
}

const NONE: readonly Package[] = Object.freeze([]);

// Short lists (most bags) are searched; a set is made only once one grows past 16.
/** Adds what is not in `into` yet; `seen` (made past 16 packages) holds the same. Returns it. */
function addPropagated(list: readonly Package[], into: Package[], seen: Set<Package> | undefined): Set<Package> | undefined {
  for (let i = 0; i < list.length; i++) {
    const p = list[i]!;
    if (seen ? seen.has(p) : into.includes(p)) continue;
    into.push(p);
    if (seen) seen.add(p);
    else if (into.length > 16) seen = new Set(into);
    if (p.propagatedInputs.length > 0) seen = addPropagated(p.propagatedInputs, into, seen);
  }
  return seen;
}

/**
 * One output of a package, where a profile takes outputs (pack(), run(), manifests,
 * `lowerProfile`): `[glib, 'bin']`, as Guix's manifests write `(list glib "bin")`. A package
 * alone stands for all its outputs.
 */
export type PackageOutput = readonly [Package, string];

/** What a profile is made of: packages (all their outputs) and outputs of packages. */
export type ProfileItem = Package | PackageOutput;

export function isPackageOutput(x: unknown): x is PackageOutput {
  return Array.isArray(x) && x.length === 2 && isPackage(x[0]) && typeof x[1] === 'string';
}

/** The package of a profile item. */
export function itemPackage(x: ProfileItem): Package {
  return isPackageOutput(x) ? x[0] : x;
}

/** Of a lowered package's outputs (name → path), those a profile item asks for: the one it names, or all. */
export function itemOutputs(x: ProfileItem, outputs: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  return isPackageOutput(x) ? { [x[1]]: outputs[x[1]]! } : outputs;
}

/**
 * `items` with their packages replaced by `packages` (one each, in order, as a transformation
 * gives them back), their outputs kept: checked again, as the new package may lack one.
 */
export function withItemPackages(items: readonly ProfileItem[], packages: readonly Package[]): ProfileItem[] {
  return items.map((x, i) => {
    const p = packages[i]!;
    if (!isPackageOutput(x)) return p;
    checkOutput(p, x[1]);
    return [p, x[1]] as const;
  });
}

/** Refuses an output the package does not have, suggesting the closest it has. */
export function checkOutput(p: Package, output: string, shownAs = `${p.name}:${output}`): void {
  if (p.outputs.includes(output)) return;
  const near = closest(output, p.outputs, 1);
  throw new TsdslError(
    `\`${shownAs}\`: ${fullName(p)} has no output \`${output}\`${near.length ? `; did you mean \`${near[0]}\`?` : ''} (its outputs: ${p.outputs.join(', ')})`,
  );
}

/** The API's check of a `packages` field (pack(), run()): a non-empty array of packages, specs or outputs. */
export const packageListCheck: FieldCheck = [
  (v) => Array.isArray(v) && v.length > 0 && v.every((x) => (typeof x === 'string' && x !== '') || isPackage(x) || isPackageOutput(x)),
  "a non-empty array of packages, specs or outputs (['hwloc', 'mumps:doc', [scotch, 'lib']])",
];

/** `name@version`, the way packages are named to users. */
export function fullName(p: Package): string {
  return `${p.name}@${p.version}`;
}

/**
 * What the code API's errors say of a value given where a package goes: `the string 'mumps', not
 * a package; resolve it first (…)`, `undefined, not a package`.
 */
export function notAPackageText(x: unknown): string {
  if (typeof x === 'string') return `the string '${x}', not a package; resolve it first (getDefaultCollection().resolve('${x}')) or import it from 'tsdsl/packages'`;
  return `${shown(x)}, not a package`;
}

/** Refuses, for an API function `who`, an argument that is not a package. */
export function checkPackage(x: unknown, who: string): asserts x is Package {
  if (!isPackage(x)) throw new TsdslError(`${who}: the argument is ${notAPackageText(x)}`);
}

/** Refuses, for an API function `who`, an argument that is not an array of packages and outputs, and outputs the packages lack. */
export function checkProfileItems(x: unknown, who: string): asserts x is readonly ProfileItem[] {
  if (!Array.isArray(x)) checkPackageList(x, who);
  (x as unknown[]).forEach((p: unknown, i) => {
    if (isPackageOutput(p)) checkOutput(p[0], p[1]);
    else if (!isPackage(p)) throw new TsdslError(`${who}: item ${i} is ${notAPackageText(p)}${Array.isArray(p) ? ' (an output is written [package, \'name\'])' : ''}`);
  });
}

/** Refuses, for an API function `who`, an argument that is not an array of packages (one package alone too). */
export function checkPackageList(x: unknown, who: string): asserts x is readonly Package[] {
  if (!Array.isArray(x)) {
    throw new TsdslError(`${who} takes an array of packages, not ${isPackage(x) ? `one package: wrap it, [${identifierFor(x.name)}]` : notAPackageText(x)}`);
  }
  x.forEach((p: unknown, i) => {
    if (!isPackage(p)) throw new TsdslError(`${who}: item ${i} is ${notAPackageText(p)}`);
  });
}

/** Words a `const` cannot be named in a module (strict mode), and `undefined`, `NaN`, `Infinity`. */
const RESERVED_WORDS = new Set(
  (
    'break case catch class const continue debugger default delete do else enum export extends false finally for function if import in ' +
    'instanceof new null return super switch this throw true try typeof var void while with yield let static implements interface package ' +
    'private protected public await arguments eval undefined NaN Infinity'
  ).split(' '),
);

/** `pt-scotch` → `ptScotch`, `hwloc` → `hwloc`: the identifier a definition is exported as. */
export function identifierFor(name: string): string {
  const id = name.replace(/[^A-Za-z0-9]+([A-Za-z0-9])/g, (_, c: string) => c.toUpperCase()).replace(/[^A-Za-z0-9]/g, '');
  if (/^[0-9]/.test(id)) return `p${id}`;
  // Debian has sources named `catch`, `enum` and `super`: `export const catch = …` does not parse.
  return RESERVED_WORDS.has(id) ? `${id}Package` : id;
}

/** The transformations recorded on `p` as the command line writes them (`--without-tests=scotch --tune=…`), or ''. */
export function appliedOptionsText(p: Package): string {
  const applied = p.properties['transformations'];
  if (!Array.isArray(applied)) return '';
  return applied.map((t: { option: string; spec?: string }) => `--${t.option}${t.spec ? `=${t.spec}` : ''}`).join(' ');
}

/** One variant choice as a spec writes it: `+mpi`, `~metis`, `level=high`. */
export function choiceText(name: string, value: unknown): string {
  return typeof value === 'boolean' ? `${value ? '+' : '~'}${name}` : `${name}=${String(value)}`;
}

/** `name@version+a~b` including non-default variants, for graph labels and messages. */
export function specString(p: Package): string {
  let s = fullName(p);
  for (const [k, v] of Object.entries(p.variants)) {
    const d = defaultOf(p.variantDecls[k]!);
    if (v === d) continue;
    s += typeof v === 'boolean' ? (v ? `+${k}` : `~${k}`) : ` ${k}=${v}`;
  }
  return s;
}

// ---------------------------------------------------------------------------------------------

/** How a record was made: the spec (with its variant functions) and where. */
interface Recipe {
  readonly spec: PackageSpec<VariantDecls>;
  readonly captured: CapturedLocation;
  /** For inherited packages: the parent and the overrides (re-applied when variants change). */
  readonly parent?: Package;
  readonly overrides?: Overrides;
  /** Input labels (see `inputLabels`), shared by the recipe's variants and its heirs. */
  readonly labels?: ReadonlyMap<Package, string> | undefined;
}

/** How `p` was made; undefined for a package of another copy of this module. */
function recipeOf(p: Package): Recipe | undefined {
  return PackageRecord.recipeOf(p);
}
/** withVariants memo: (recipe, canonical choice) → package, so `scotch+mpi` is one object. */
const variantMemo = new WeakMap<Recipe, Map<string, Package>>();

const SPEC_KEYS = [
  'name', 'version', 'source', 'buildSystem', 'arguments', 'inputs', 'nativeInputs', 'propagatedInputs',
  'outputs', 'variants', 'synopsis', 'description', 'homePage', 'license', 'properties', 'replacement',
] as const;

// What the command line can name (`?` and `=`, which store names allow, would read as variants there).
const NAME_RE = /^[A-Za-z0-9+_][A-Za-z0-9+\-._]*$/;
const VERSION_RE = /^[A-Za-z0-9+\-._]+$/;

/**
 * What is wrong with a version, or undefined: it goes into store path names (`hwloc-2.9.0`),
 * which hold only letters, digits and + - . _ (and ? =): Debian's `~` and epoch `:` cannot.
 */
export function versionProblem(version: unknown): string | undefined {
  if (typeof version === 'string' && VERSION_RE.test(version)) return undefined;
  // A number (`version: 1.0`) has lost its form already (1.0 is 1, 2.10 is 2.1): said as a number.
  if (typeof version === 'number') return `version ${version} is a number, not a string: quote it as written (\`version: '1.0'\`; a number drops zeros, 1.0 is 1 and 2.10 is 2.1)`;
  if (typeof version !== 'string' || version === '') return `version ${JSON.stringify(version)} must be a non-empty string such as "2.9.0"`;
  const bad = [...new Set([...version].filter((c) => !VERSION_RE.test(c)))];
  const said = (c: string) => (c === ' ' ? 'a space' : /\s/.test(c) ? 'a blank' : `\`${c}\``);
  const what = bad.length === 1 ? said(bad[0]!) : `${bad.slice(0, -1).map(said).join(', ')} and ${said(bad[bad.length - 1]!)}`;
  // Letters outside ASCII cannot be spelt for it: no suggestion, rather than one with letters missing.
  const fixed = bad.some((c) => c.codePointAt(0)! > 0x7f) ? undefined : versionLike(version);
  return `version ${JSON.stringify(version)} contains ${what}, which a store path name cannot hold (letters, digits and + - . _ only)${fixed ? `; write it as "${fixed}"` : ''}`;
}

/** `version` made fit for a store path (`1:2.3~rc1` → `2.3rc1`, `1.0 beta` and `1.0/beta` → `1.0-beta`), or undefined. */
export function versionLike(version: string): string | undefined {
  // Blanks around it are dropped, blanks inside become `-`.
  const fixed = version
    .trim()
    .replace(/^\d+:/, '')
    .replace(/[^A-Za-z0-9+\-._]+/g, (m, at: number) => (at > 0 && (m.trim() === '' || m === '/') ? '-' : ''));
  return VERSION_RE.test(fixed) ? fixed : undefined;
}
// Each output is an environment variable of the build, so its name must be one.
const OUTPUT_RE = /^[A-Za-z][A-Za-z0-9_]*$/;

function defaultOf(d: VariantDecl): VariantValue {
  return typeof d === 'object' ? d.default : d;
}

/** What is wrong with a variant declaration (one that is not a boolean, a number, or { default, values }). */
function variantDeclProblem(d: unknown): string {
  const shape = 'a variant is declared by its default (a boolean or a number), or as { default, values } with a string default among the values';
  if (typeof d === 'string') return `is declared as the string ${JSON.stringify(d)}; ${shape}: { default: ${JSON.stringify(d)}, values: [${JSON.stringify(d)}, …] }`;
  if (typeof d !== 'object' || d === null) return `is declared as ${describe(d)}; ${shape}`;
  const o = d as { default?: unknown; values?: unknown };
  if (!('default' in o)) return `has no \`default\`; ${shape}`;
  if (typeof o.default !== 'string') return `has the default ${describe(o.default)}; ${shape}`;
  if (!Array.isArray(o.values)) return `has the string default ${JSON.stringify(o.default)} but no list of \`values\`; ${shape}`;
  return `has the default ${JSON.stringify(o.default)}, which is not among its values (${o.values.map((v) => JSON.stringify(v)).join(', ')}); add it, or choose one of them`;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !isPackage(x);
}

/** `inherit: the first argument is undefined, not a package (is it imported? …)`. */
function notAPackage(who: string, x: unknown): TsdslError {
  return new TsdslError(
    `${who}: the first argument is ${notAPackageText(x)}` +
      (x === undefined ? ' (is it imported? a misspelt import, a package used before its definition in the same module, or an import cycle between package modules gives undefined)' : ''),
  );
}

function describe(x: unknown): string {
  if (x === undefined) return 'undefined';
  if (x === null) return 'null';
  if (typeof x === 'string') return `the string ${JSON.stringify(x)}`;
  if (typeof x === 'object') return Array.isArray(x) ? (x.length ? 'an array' : 'an empty list') : 'an object';
  return `${typeof x} ${String(x)}`;
}

/** Check a variant choice against the declarations; returns problems. */
function checkVariantChoice(name: string, decls: VariantDecls, choice: Readonly<Record<string, unknown>>): string[] {
  const problems: string[] = [];
  const declared = Object.keys(decls);
  for (const [k, v] of Object.entries(choice)) {
    const d = decls[k];
    if (d === undefined) {
      problems.push(
        declared.length
          ? `\`${name}\` has no variant \`${k}\`${didYouMean(k, declared) || '.'} Its variants: ${declared.map((n) => `${n} (${typeof defaultOf(decls[n]!)})`).join(', ')}`
          : `\`${name}\` declares no variants, so \`${k}\` cannot be set`,
      );
      continue;
    }
    const def = defaultOf(d);
    if (typeof v !== typeof def) {
      problems.push(`variant \`${k}\` of \`${name}\` is a ${typeof def}, not ${describe(v)}`);
    } else if (typeof d === 'object' && 'values' in d && !d.values.includes(v as string)) {
      const sameBut = d.values.find((x) => x.toLowerCase() === String(v).toLowerCase());
      // Else the closest, letter case aside (`HASWEL`, `haswel` → HASWELL).
      const near = sameBut ? `; did you mean \`${sameBut}\`?` : didYouMean(String(v).toLowerCase(), d.values.map((x) => x.toLowerCase())).replace(/`([^`]*)`/g, (_, low: string) => `\`${d.values.find((x) => x.toLowerCase() === low) ?? low}\``);
      problems.push(`variant \`${k}\` of \`${name}\` must be one of ${d.values.join(', ')}, not \`${String(v)}\`${near}`);
    }
  }
  return problems;
}

/**
 * The variant values as a package's variant functions see them: reading a variant the package
 * does not declare (`v.mpii` for `mpi`) is an error, not `undefined` that silently turns the
 * variant off. Names of Object.prototype, `then` and `toJSON` (asked by `await`, printing and
 * JSON) and symbols read as usual.
 */
function guardVariants(values: Readonly<Record<string, VariantValue>>): Readonly<Record<string, VariantValue>> {
  return new Proxy(values, {
    get(target, key, receiver) {
      if (typeof key === 'string' && !(key in target) && !(key in Object.prototype) && key !== 'then' && key !== 'toJSON') {
        const names = Object.keys(target);
        const e = new TsdslError(
          `a variant function reads the variant \`${key}\`, which the package does not declare` +
            (names.length ? `${didYouMean(key, names)} (its variants: ${names.join(', ')})` : ` (it declares none: add \`variants: { ${key}: false }\`, or drop the test)`),
        );
        undeclaredReads.add(e);
        throw e;
      }
      return Reflect.get(target, key, receiver);
    },
  });
}

/** The errors `guardVariants` threw: `make` reports them as the package's problems, with its location. */
const undeclaredReads = new WeakSet<Error>();

/**
 * A field's value, calling it with the variant values when it is a function. A read of an
 * undeclared variant becomes one of `problems` (and the field `fallback`): it may happen only for
 * some variant values (`v.mpi && v.mpii`), long after the file loaded, and is said with the
 * package's location all the same.
 */
function evaluate<T>(field: string, value: unknown, variants: Readonly<Record<string, VariantValue>>, parent: Package | undefined, problems: string[], fallback?: T, chosen = ''): T {
  if (typeof value !== 'function') return value as T;
  try {
    return (value as (v: unknown, p: unknown) => T)(variants, parent);
  } catch (e) {
    // tsdsl's own errors (a package it makes in there that is wrong) say what they are already.
    if (e instanceof TsdslError && !undeclaredReads.has(e)) throw e;
    // The function's own error (`throw new Error('high is not supported yet')` for one variant
    // value): a problem of the package, said with its place, not an internal error of tsdsl.
    const message = e instanceof Error && undeclaredReads.has(e) ? e.message : `\`${field}\` (a function of the variants) threw${chosen}: ${thrownText(e)}`;
    if (!problems.includes(message)) problems.push(message);
    return fallback as T;
  }
}

/** tsdsl's own modules (src/ or dist/src/ of this checkout): not where a package's error is. */
const OWN_MODULES = /^(.*\/)(?:dist\/)?src\/dsl\/[^/]+$/.exec(import.meta.url)?.[1];

/** What a package's function threw, with the line of its file that threw it when known. */
function thrownText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const own = (url: string) => OWN_MODULES !== undefined && (url.startsWith(`${OWN_MODULES}src/`) || url.startsWith(`${OWN_MODULES}dist/src/`));
  const frame = [...(e.stack ?? '').split('\n').slice(1).join('\n').matchAll(/\(?(file:\/\/[^\s)]+):(\d+):\d+\)?/g)].find((f) => !own(f[1]!));
  let at = '';
  if (frame) {
    try {
      at = ` (at ${formatLocation({ file: fileURLToPath(frame[1]!), line: Number(frame[2]), column: 0 })})`;
    } catch {
      // not a file URL after all
    }
  }
  return `${e.message}${at}`;
}

// Empty lists and records are one frozen value each, shared by every package that has them
// (most have no arguments, variants or properties): 20,000 packages would otherwise keep
// 20,000 copies of each.
const NO_ITEMS: readonly never[] = Object.freeze([]);
const NO_KEYS: Readonly<Record<string, never>> = Object.freeze({});
const NO_KEYS_NULL: Readonly<Record<string, never>> = Object.freeze(Object.create(null) as Record<string, never>);
const ONLY_OUT: readonly string[] = Object.freeze(['out']);

/** Whether `x` has an own key (string or symbol). */
function hasOwnKey(x: object): boolean {
  return Reflect.ownKeys(x).length > 0;
}

const EMPTY: readonly Package[] = NO_ITEMS;

function checkInputs(field: string, list: unknown, problems: string[]): readonly Package[] {
  if (list === undefined) return EMPTY;
  if (!Array.isArray(list)) {
    problems.push(
      isPackage(list)
        ? `${field} must be a list of packages, not one package; wrap it: [${identifierFor((list as Package).name)}]`
        : `${field} must be an array of packages, not ${describe(list)}`,
    );
    return EMPTY;
  }
  if (list.length === 0) return EMPTY;
  // A frozen plain list of packages (ownSpec's copy, say) is kept as it is.
  if (isFrozenPlain(list) && allPackages(list)) return list as readonly Package[];
  const out = plainCopy<unknown>(list as unknown[]);
  let bad = 0;
  for (let i = 0; i < out.length; i++) {
    const x = out[i];
    if (isPackage(x)) continue;
    // The first few, and how many more (a list of a million holes is one mistake, not a million).
    if (++bad > MAX_LISTED) continue;
    problems.push(
      `${field}[${i}] is ${describe(x)}, not a package` +
        (x === undefined ? ' (is it imported? a package used before its definition in the same module, or an import cycle between package modules, gives undefined)' : ''),
    );
  }
  if (bad > MAX_LISTED) problems.push(`${field}: ${bad - MAX_LISTED} more items are not packages`);
  return Object.freeze(out as Package[]);
}

/** Whether `list` is a frozen plain array: one that can be kept as it is, never to change. */
function isFrozenPlain(list: readonly unknown[]): boolean {
  return Object.isFrozen(list) && Object.getPrototypeOf(list) === Array.prototype;
}

/** `list` itself when it is a frozen plain array, else a frozen plain copy of it. */
function ownList<T>(list: readonly T[]): readonly T[] {
  return isFrozenPlain(list) ? list : Object.freeze(plainCopy(list));
}

/** How many bad items of one list are named, one problem each. */
const MAX_LISTED = 10;

/**
 * A plain array with the items of `list` (which stays the caller's to change), of its very
 * length (one grown by pushes keeps twice the slots, in each of 20,000 packages). `slice()`
 * for a plain array (the copy lowering reads fastest); for anything else (an Array subclass,
 * whose species would make the copy, or a proxy) the items read by index.
 */
function plainCopy<T>(list: readonly T[]): T[] {
  if (Object.getPrototypeOf(list) === Array.prototype && !Object.prototype.hasOwnProperty.call(list, 'constructor') && !types.isProxy(list)) return list.slice();
  const n = list.length;
  const out = new Array<T>(n);
  for (let i = 0; i < n; i++) out[i] = list[i]!;
  return out;
}

function checkArguments(args: unknown, bs: BuildSystem | undefined, problems: string[]): BuildArguments {
  if (args === undefined) return NO_KEYS;
  if (typeof args !== 'object' || args === null || Array.isArray(args)) {
    problems.push(`arguments must be an object, not ${describe(args)}`);
    return Object.freeze({});
  }
  const a = args as Record<string, unknown>;
  // Each build system takes its own keys (gnu's configureFlags, cmake's cmakeFlags) besides the
  // common ones: another's key would be accepted and silently ignored. Without a build system
  // (reported apart), only the values' shapes are checked.
  const known: string[] = [...new Set([...COMMON_ARGUMENT_KEYS, ...(bs?.argumentKeys ?? [])])];
  for (const [k, v] of Object.entries(a)) {
    if (bs && !known.includes(k)) {
      const owners = buildSystemsTaking(k);
      // A key of another build system is said to be one first (`cmakeFlags` on gnu is cmake's,
      // whatever it looks like); a close name of this one's comes after.
      if (owners.length) {
        const close = closest(k, known);
        const alt = close.length ? `, or write ${close.map((c) => `\`${c}\``).join(' or ')} if you meant the ${bs.name} build system's` : '';
        const systems = `${owners.join(' and ')} build system${owners.length > 1 ? 's' : ''}`;
        const choose = owners.map((o) => `\`buildSystem: ${o}\``).join(' or ');
        problems.push(`argument \`${k}\` belongs to the ${systems}, not to ${bs.name}: choose ${choose}${alt} (the ${bs.name} build system takes: ${known.join(', ')})`);
      } else if (isPhaseName(k, bs.phases)) {
        // `postBuild: '…'` written beside the flags: phases and their pre/post steps go in `phases`.
        problems.push(`unknown argument \`${k}\`: a phase or a step before or after one goes in \`phases\`: \`arguments: { phases: { ${k}: '…' } }\``);
      } else problems.push(`unknown argument \`${k}\`${didYouMean(k, known)} (the ${bs.name} build system takes: ${known.join(', ')})`);
      continue;
    }
    if (/Flags$/.test(k)) {
      if (!(Array.isArray(v) && v.every((f) => typeof f === 'string'))) problems.push(`arguments.${k} must be an array of strings`);
      else problems.push(...flagProblems(`arguments.${k}`, v));
    }
    if (['tests', 'parallelBuild', 'parallelTests', 'stripBinaries', 'validateRunpath'].includes(k) && typeof v !== 'boolean')
      problems.push(`arguments.${k} must be true or false, not ${describe(v)}`);
  }
  if (a['phases'] !== undefined) {
    const phases = a['phases'];
    if (typeof phases !== 'object' || phases === null) problems.push('arguments.phases must map phase names to shell snippets');
    else if (bs) {
      const allowed = phaseKeys(bs);
      for (const [k, v] of Object.entries(phases)) {
        if (!allowed.includes(k)) problems.push(`unknown phase \`${k}\`${didYouMean(k, allowed)} (the ${bs.name} build system's phases: ${bs.phases.join(', ')}; prefix with pre/post to add a hook)`);
        if (typeof v !== 'string') problems.push(`phase \`${k}\` must be a shell snippet (a string), not ${describe(v)}`);
      }
    }
  }
  if (a['env'] !== undefined) {
    const env = a['env'];
    if (typeof env !== 'object' || env === null || Object.values(env).some((v) => typeof v !== 'string'))
      problems.push('arguments.env must map variable names to strings');
    else {
      const phases = typeof a['phases'] === 'object' && a['phases'] !== null ? Object.keys(a['phases']) : [];
      for (const [k, v] of Object.entries(env as Record<string, string>)) problems.push(...envProblems(k, v, bs, phases));
    }
  }
  return deepFreeze(a) as BuildArguments;
}

/** What is wrong with one flag list: each flag is passed to the build as one line. */
export function flagProblems(field: string, flags: readonly string[]): string[] {
  const out: string[] = [];
  flags.forEach((f, i) => {
    if (f === '') out.push(`${field}[${i}] is empty, and an empty flag cannot be passed; drop it`);
    else if (/[\n\r\0]/.test(f)) out.push(`${field}[${i}] ${JSON.stringify(f)} holds a line break or NUL; give each flag as its own string`);
    else if (LONE_SURROGATE.test(f)) out.push(`${field}[${i}] holds a lone UTF-16 surrogate, which the .drv file (UTF-8) cannot hold`);
  });
  return out;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** What is wrong with one `arguments.env` entry (the phases given beside it may set the same variable). */
function envProblems(k: string, v: string, bs: BuildSystem | undefined, phases: readonly string[]): string[] {
  const out: string[] = [];
  if (k === '__proto__') out.push('arguments.env: `__proto__` cannot be given as a variable name (a JavaScript object copied the usual way drops it); choose another name');
  else if (!ENV_NAME.test(k)) out.push(`arguments.env: ${JSON.stringify(k)} is not a variable name (letters, digits and underscores, not starting with a digit)`);
  else if (setByBuild(k, bs)) out.push(`arguments.env.${k}: \`${k}\` is set by the build system; choose another variable name`);
  else if (NIX_SPECIAL_ENV.has(k)) out.push(`arguments.env.${k}: \`${k}\` means something to Nix (a fixed output, reference checks, structured attributes, …) that tsdsl's builder does not do; choose another variable name`);
  if (v.includes('\0')) out.push(`arguments.env.${k} holds a NUL byte, which no environment can carry`);
  if (LONE_SURROGATE.test(v)) out.push(`arguments.env.${k} holds a lone UTF-16 surrogate, which the .drv file (UTF-8) cannot hold`);
  for (const ph of phases) {
    const set = bs?.phases.includes(ph) ? `${ph}Phase` : ph;
    if (set === k) out.push(`arguments.env.${k} and arguments.phases.${ph} both set \`${k}\`; keep one`);
  }
  return out;
}

/**
 * A frozen copy of plain arrays and objects, all the way down, so that a package never shares a
 * mutable array with its caller: the caller's own lists stay theirs to change, and changing them
 * does not change the package. Frozen values, packages, origins and other objects are kept.
 */
function deepFreeze<T>(x: T): T {
  if (typeof x !== 'object' || x === null || Object.isFrozen(x) || isPackage(x) || isOrigin(x)) return x;
  if (Array.isArray(x)) return (x.length === 0 ? NO_ITEMS : Object.freeze(x.map(deepFreeze))) as T;
  const proto = Object.getPrototypeOf(x);
  if (proto !== Object.prototype && proto !== null) return x;
  if (!hasOwnKey(x)) return (proto === null ? NO_KEYS_NULL : NO_KEYS) as T;
  const out = Object.create(proto) as Record<string, unknown>;
  for (const [k, v] of Object.entries(x)) {
    // `__proto__` (from JSON.parse) kept as the data it is, not taken for the prototype's setter.
    if (k === '__proto__') Object.defineProperty(out, k, { value: deepFreeze(v), enumerable: true, writable: true, configurable: true });
    else out[k] = deepFreeze(v);
  }
  return Object.freeze(out) as T;
}

/** Build arguments of the common build systems, said where they belong when written at the top level. */
const ARGUMENT_KEYS_ANYWHERE: ReadonlySet<string> = new Set([
  ...COMMON_ARGUMENT_KEYS, 'configureFlags', 'makeFlags', 'cmakeFlags', 'testTarget', 'installTarget', 'parallelTests', 'buildType',
]);

/** Build the record from a recipe; throws a TsdslError listing every problem. */
function make(recipe: Recipe, choice: Readonly<Record<string, VariantValue>>): Package {
  const { spec } = recipe;
  const problems: string[] = [];
  // `package \`hwloc\` at …`, or `the package at …` when it has no usable name.
  const label = typeof spec.name === 'string' && spec.name ? `package \`${spec.name}\`` : 'the package';

  // A misspelt field (`sypnosis`) is reported once, with its fix; the field it stands for is not
  // reported missing as well.
  const misspelt = new Set<string>();
  for (const k of Object.keys(spec)) {
    if (!(SPEC_KEYS as readonly string[]).includes(k)) {
      // A build argument or an origin's field written at the top level: where it belongs.
      const belongs = ARGUMENT_KEYS_ANYWHERE.has(k) ? ` (a build argument: put it in \`arguments: { ${k}: … }\`)` : k === 'patches' || k === 'sha256' ? ` (a field of the source: put it in \`source: url({ …, ${k} })\`)` : '';
      problems.push(`unknown field \`${k}\`${belongs || didYouMean(k, SPEC_KEYS)}`);
      for (const c of closest(k, SPEC_KEYS)) misspelt.add(c);
    }
  }
  const missingButMisspelt = (k: string) => (spec as unknown as Record<string, unknown>)[k] === undefined && misspelt.has(k);
  if (typeof spec.name !== 'string' || !NAME_RE.test(spec.name)) {
    const fixed = typeof spec.name === 'string' ? storeNameSpelling(spec.name) : undefined;
    const advice = fixed && NAME_RE.test(fixed) ? `; write it as "${fixed}"` : '';
    problems.push(`name ${JSON.stringify(spec.name)} must be a non-empty string of letters, digits and + - . _ (not starting with . or -)${advice}`);
  }
  const badVersion = versionProblem(spec.version);
  if (badVersion) problems.push(badVersion);
  if (spec.source !== undefined && spec.source !== null && !isOrigin(spec.source))
    problems.push(`source must be an origin made by url(), git() or local(), not ${describe(spec.source)}`);
  const bs = isBuildSystem(spec.buildSystem) ? spec.buildSystem : undefined;
  if (!bs && !missingButMisspelt('buildSystem'))
    problems.push(
      spec.buildSystem === undefined
        ? 'buildSystem is missing; add e.g. `buildSystem: gnu` (import { gnu } from \'tsdsl\')'
        : `buildSystem must be a build system such as gnu, cmake or trivial, not ${describe(spec.buildSystem)}`,
    );
  for (const k of ['synopsis', 'description', 'homePage'] as const) {
    if (spec[k] === undefined && !missingButMisspelt(k)) problems.push(`${k} is missing; add ${k}: '…' (${k === 'homePage' ? "the project's web page" : k === 'synopsis' ? 'a few words saying what the package is' : 'a few sentences saying what it does'})`);
    else if (typeof spec[k] !== 'string' && !missingButMisspelt(k)) problems.push(`${k} must be a string, not ${describe(spec[k])}`);
  }
  if (typeof spec.homePage === 'string' && spec.homePage && !/^https?:\/\/[^\s/]+\.[^\s]*$/.test(spec.homePage))
    problems.push(`homePage \`${spec.homePage}\` is not an http(s) URL`);
  const licenseList = Array.isArray(spec.license) ? spec.license : [spec.license];
  if ((licenseList.length === 0 || !licenseList.every(isKnownLicense)) && !missingButMisspelt('license'))
    problems.push(
      `license must be a value of the license table (e.g. licenses.bsd3) or a list of them, not ${describe(spec.license)}` +
        (('license' in spec && spec.license === undefined) || (Array.isArray(spec.license) && spec.license.includes(undefined))
          ? ` (a misspelt name such as licenses.gpl3plus is undefined; the names are ${Object.keys(licenses).join(', ')})`
          : ''),
    );

  const outputs = spec.outputs ?? ['out'];
  // Every problem of the list at once, as for the other fields (a fix should not reveal the next one).
  if (!Array.isArray(outputs) || outputs.length === 0) problems.push(`outputs must be a non-empty list of output names such as ["out", "lib", "doc"], not ${describe(outputs)}`);
  else {
    const bad = outputs.filter((o) => typeof o !== 'string' || !OUTPUT_RE.test(o));
    if (bad.length) {
      problems.push(
        `output name${bad.length > 1 ? 's' : ''} ${bad.map((o) => (typeof o === 'string' ? `\`${o}\`` : describe(o))).join(', ')} must be words of letters, digits and _ (not -), such as "out", "lib", "doc_html"`,
      );
    }
    if (new Set(outputs).size !== outputs.length) problems.push(`outputs ${JSON.stringify(outputs)} has duplicates`);
    if (!outputs.includes('out')) problems.push('outputs must include "out"');
    for (const o of outputs) {
      if (o !== 'out' && typeof o === 'string' && setByBuild(o, bs)) problems.push(`output \`${o}\` is named after a variable the build system sets (its path would replace it); choose another name`);
    }
  }

  // Variants: declarations, then the choice (defaults filled in).
  const decls: VariantDecls = spec.variants ?? {};
  const values: Record<string, VariantValue> = {};
  if (typeof decls !== 'object' || decls === null) problems.push('variants must be an object of defaults such as { mpi: false }');
  else
    for (const [k, d] of Object.entries(decls)) {
      const ok =
        typeof d === 'boolean' ||
        typeof d === 'number' ||
        (typeof d === 'object' && d !== null && (typeof d.default === 'boolean' || typeof d.default === 'number' || (typeof d.default === 'string' && 'values' in d && Array.isArray(d.values) && d.values.includes(d.default))));
      if (!/^[a-z][a-z0-9_-]*$/i.test(k)) problems.push(`variant name \`${k}\` must be a word such as mpi or int64`);
      if (!ok) problems.push(`variant \`${k}\` ${variantDeclProblem(d)}`);
      else values[k] = defaultOf(d);
    }
  problems.push(...checkVariantChoice(String(spec.name), decls, choice));
  Object.assign(values, choice);
  Object.freeze(values);

  const parent = recipe.parent && Object.keys(choice).length ? withVariants(recipe.parent, pick(choice, recipe.parent.variantDecls)) : recipe.parent;
  const seen = guardVariants(values);
  // The choice said when a function throws for it (`with level=high`).
  const chosen = Object.keys(choice).length ? ` with ${Object.entries(choice).map(([k, v]) => choiceText(k, v)).join(' ')}` : '';
  const inputs = checkInputs('inputs', evaluate('inputs', spec.inputs, seen, parent, problems, undefined, chosen), problems);
  const nativeInputs = checkInputs('nativeInputs', evaluate('nativeInputs', spec.nativeInputs, seen, parent, problems, undefined, chosen), problems);
  const propagatedInputs = checkInputs('propagatedInputs', evaluate('propagatedInputs', spec.propagatedInputs, seen, parent, problems, undefined, chosen), problems);
  let args = evaluate<unknown>('arguments', spec.arguments, seen, parent, problems, {}, chosen);
  if (recipe.parent && recipe.overrides && typeof recipe.overrides.arguments === 'object' && parent) {
    args = mergeArguments(parent.arguments, args as BuildArguments);
  }
  const argumentsChecked = checkArguments(args, bs, problems);
  if (spec.replacement !== undefined && !isPackage(spec.replacement)) problems.push(`replacement must be a package, not ${describe(spec.replacement)}`);
  if (spec.properties !== undefined && (typeof spec.properties !== 'object' || spec.properties === null))
    problems.push('properties must be an object');

  if (problems.length) {
    const loc = resolveLocation(recipe.captured);
    const where = formatLocation(loc);
    // In the order of their lines (those not found on a line last), as an editor shows them.
    const said = problems
      .map((p, i) => ({ ...withFieldLine(p, loc), i }))
      .sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity) || a.i - b.i)
      .map((p) => p.text);
    throw new TsdslError(
      said.length === 1
        ? `${label} at ${where}: ${said[0]}`
        : `${label} at ${where} has ${said.length} problems:\n${said.map((p) => `  - ${p}`).join('\n')}`,
    );
  }

  const pkg = new PackageRecord(recipe, {
    name: spec.name,
    version: spec.version,
    source: spec.source ?? null,
    buildSystem: bs!,
    arguments: argumentsChecked,
    inputs,
    nativeInputs,
    propagatedInputs,
    outputs: outputs.length === 1 && outputs[0] === 'out' ? ONLY_OUT : Object.freeze([...outputs]),
    variantDecls: deepFreeze(decls),
    variants: hasOwnKey(values) ? values : NO_KEYS,
    synopsis: spec.synopsis,
    description: spec.description,
    homePage: spec.homePage,
    license: Array.isArray(spec.license) ? Object.freeze([...spec.license]) : (spec.license as License),
    properties: deepFreeze(spec.properties ?? {}),
    replacement: spec.replacement,
  });
  countToPrepare(pkg.source);
  return Object.freeze(pkg);
}

type PackageFields = Omit<Package, typeof PACKAGE_BRAND | 'location' | 'with'>;

// How many packages have been made (by any loaded copy of this module: the count lives on the
// global object under a registered symbol, as the brands do) whose source `Lowerer.prepare` has
// work for: a local file or directory to hash, or an origin or patch without a sha256 to fetch.
// While there is none, no graph holds one, and prepare need not walk the graph to look.
const TO_PREPARE = Symbol.for('tsdsl.packagesToPrepare');

/** How many packages made so far have a source that `Lowerer.prepare` must hash or fetch (see TO_PREPARE). */
export function packagesToPrepare(): number {
  return (globalThis as { [TO_PREPARE]?: number })[TO_PREPARE] ?? 0;
}

/**
 * Whether `p` was made by this copy of the DSL, which counts its packages to prepare (one made
 * by another copy, an older one say, may not be counted).
 */
export function madeHere(p: Package): boolean {
  return PackageRecord.serialOf(p) >= 0;
}

/** Counts a package made with `source` when prepare has work for it. */
function countToPrepare(source: Origin | null | undefined): void {
  if (!source) return;
  let needs = source.kind === 'local' || source.sha256 === undefined;
  for (const patch of source.patches ?? []) needs ||= typeof patch === 'string' || patch.sha256 === undefined;
  if (needs) (globalThis as { [TO_PREPARE]?: number })[TO_PREPARE] = packagesToPrepare() + 1;
}

/** How many package records were made (each one's serial is the count before it). */
let serials = 0;

/**
 * A map keyed by package: arrays indexed by each package's serial (the order packages were
 * made). Lowering and its preparation look every package of a graph up several times, once
 * per edge; an array slot costs a fraction of a `Map`'s hashed look-up, and filling it never
 * rehashes a table (whose new pages, first written, cost this kind of machine 5-15 µs each).
 * The arrays are pages of 1,024 slots, made as keys come into their range: a map costs what its
 * keys' ranges span, not the number of packages the process has made (a long-lived process
 * makes millions). Iterates in serial order (the order the packages were made), not insertion
 * order. A package made by another copy of this module (packages of two copies mix: their
 * brand is a registered symbol) is kept in a Map.
 */
export class PackageMap<V> {
  #values: Array<Array<V | undefined> | undefined> = [];
  #keys: Array<Array<Package | undefined> | undefined> = [];
  // Packages made by another copy of this module (a package file that imports another
  // installation of tsdsl): their serials are not this copy's.
  #foreign: Map<Package, V> | undefined;

  get(p: Package): V | undefined {
    const i = PackageRecord.serialOf(p);
    if (i < 0) return this.#foreign?.get(p);
    const page = this.#values[i >>> PAGE_BITS];
    return page === undefined ? undefined : page[i & PAGE_MASK];
  }

  has(p: Package): boolean {
    return this.get(p) !== undefined;
  }

  /** Sets `p`'s value (never `undefined`, which stands for none). */
  set(p: Package, value: V): this {
    const i = PackageRecord.serialOf(p);
    if (i < 0) {
      (this.#foreign ??= new Map()).set(p, value);
      return this;
    }
    const n = i >>> PAGE_BITS;
    const pages = this.#values;
    // Grown by pushes, not by writing past the end: the arrays stay packed.
    while (pages.length <= n) {
      pages.push(undefined);
      this.#keys.push(undefined);
    }
    const page = (pages[n] ??= emptyPage());
    page[i & PAGE_MASK] = value;
    (this.#keys[n] ??= emptyPage())[i & PAGE_MASK] = p;
    return this;
  }

  delete(p: Package): void {
    const i = PackageRecord.serialOf(p);
    if (i < 0) return void this.#foreign?.delete(p);
    const n = i >>> PAGE_BITS;
    if (n < this.#values.length && this.#values[n] !== undefined) this.#values[n]![i & PAGE_MASK] = this.#keys[n]![i & PAGE_MASK] = undefined;
  }

  /** This copy's packages in the order they were made, then any other copy's. */
  *entries(): IterableIterator<[Package, V]> {
    const pages = this.#values;
    for (let n = 0; n < pages.length; n++) {
      const page = pages[n];
      if (page === undefined) continue;
      for (let j = 0; j < PAGE; j++) if (page[j] !== undefined) yield [this.#keys[n]![j]!, page[j]!];
    }
    if (this.#foreign) yield* this.#foreign;
  }
}

const PAGE_BITS = 10;
const PAGE = 1 << PAGE_BITS;
const PAGE_MASK = PAGE - 1;

/** A page of a PackageMap: PAGE slots, packed (pushed, not holes). */
function emptyPage<T>(): Array<T | undefined> {
  const page: Array<T | undefined> = [];
  for (let j = 0; j < PAGE; j++) page.push(undefined);
  return page;
}

/** Resolved locations, cached (resolving asks V8 for a line, or parses a formatted stack). */
const locations = new WeakMap<Package, Location | undefined>();

/**
 * The record's class. Every package shares one hidden class (data fields only; `location` and
 * `with` live on the prototype), which keeps property access monomorphic across a collection
 * of 20,000 packages — an object literal with its own getter would give each package a shape
 * of its own.
 */
class PackageRecord implements Package {
  declare readonly [PACKAGE_BRAND]: true;
  /** Its number in the order packages were made: `PackageMap` indexes arrays by it. */
  readonly #serial = serials++;
  /** How it was made (a field, not a `WeakMap` entry: 20,000 of those cost the collector). */
  readonly #recipe: Recipe;
  readonly name: string;
  readonly version: string;
  readonly source: Origin | null;
  readonly buildSystem: BuildSystem;
  readonly arguments: BuildArguments;
  readonly inputs: readonly Package[];
  readonly nativeInputs: readonly Package[];
  readonly propagatedInputs: readonly Package[];
  readonly outputs: readonly string[];
  readonly variantDecls: VariantDecls;
  readonly variants: Readonly<Record<string, VariantValue>>;
  readonly synopsis: string;
  readonly description: string;
  readonly homePage: string;
  readonly license: License | readonly License[];
  readonly properties: Readonly<Record<string, unknown>>;
  readonly replacement: Package | undefined;

  constructor(recipe: Recipe, f: PackageFields) {
    this.#recipe = recipe;
    this.name = f.name;
    this.version = f.version;
    this.source = f.source;
    this.buildSystem = f.buildSystem;
    this.arguments = f.arguments;
    this.inputs = f.inputs;
    this.nativeInputs = f.nativeInputs;
    this.propagatedInputs = f.propagatedInputs;
    this.outputs = f.outputs;
    this.variantDecls = f.variantDecls;
    this.variants = f.variants;
    this.synopsis = f.synopsis;
    this.description = f.description;
    this.homePage = f.homePage;
    this.license = f.license;
    this.properties = f.properties;
    this.replacement = f.replacement;
  }

  get location(): Location | undefined {
    if (locations.has(this)) return locations.get(this);
    const loc = resolveLocation(recipeOf(this)?.captured);
    locations.set(this, loc);
    return loc;
  }

  with(overrides: Overrides): Package {
    return inheritAt(this, overrides, captureLocation(PackageRecord.prototype.with));
  }

  /** Its serial; -1 for a package made by another copy of this module (which has its own), or for what is not a package. */
  static serialOf(p: Package): number {
    return typeof p === 'object' && p !== null && #serial in p ? p.#serial : -1;
  }

  /** Its recipe; undefined for a package made by another copy of this module, or for what is not a package. */
  static recipeOf(p: Package): Recipe | undefined {
    return typeof p === 'object' && p !== null && #recipe in p ? p.#recipe : undefined;
  }
}
Object.defineProperty(PackageRecord.prototype, PACKAGE_BRAND, { value: true });

function pick(choice: Readonly<Record<string, VariantValue>>, decls: VariantDecls): Record<string, VariantValue> {
  const out: Record<string, VariantValue> = {};
  for (const [k, v] of Object.entries(choice)) if (k in decls) out[k] = v;
  return out;
}

function mergeArguments(base: BuildArguments, over: BuildArguments | undefined): BuildArguments {
  if (!over) return base;
  const merged: Record<string, unknown> = { ...base, ...over };
  if (base.phases && over.phases) merged['phases'] = { ...base.phases, ...over.phases };
  if (base.env && over.env) merged['env'] = { ...base.env, ...over.env };
  return merged as BuildArguments;
}

/**
 * Define a package. Fields `inputs`, `nativeInputs`, `propagatedInputs` and `arguments` may be
 * functions of the package's variants. Throws a TsdslError naming file:line and every problem.
 */
export function definePackage<const V extends VariantDecls = Record<never, never>>(spec: PackageSpec<V>): Package {
  const captured = captureLocation(definePackage);
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
    throw new TsdslError(
      `definePackage at ${formatLocation(resolveLocation(captured))} takes one object of fields ({ name, version, source, buildSystem, inputs, … }), not ${describe(spec)}`,
    );
  }
  return make({ spec: ownSpec(spec as unknown as Record<string, unknown>), captured }, {});
}

/** The spec of a package inheriting from `parent` with `overrides` (see `inherit`). */
function inheritedSpec(parent: Package, overrides: Overrides): PackageSpec<VariantDecls> {
  const base = recipeOf(parent);
  const spec: Record<string, unknown> = base ? { ...base.spec } : {};
  if (!base) {
    // A package from another copy of tsdsl: rebuild a spec from its resolved fields.
    for (const k of SPEC_KEYS) spec[k] = (parent as unknown as Record<string, unknown>)[k === 'variants' ? 'variantDecls' : k];
  }
  // Resolved parent values are the defaults; overrides win.
  for (const k of ['inputs', 'nativeInputs', 'propagatedInputs', 'arguments'] as const) spec[k] = (_v: unknown, p: Package) => p[k];
  Object.assign(spec, overrides);
  return ownSpec(spec);
}

/**
 * The spec a recipe keeps, made again for each variant: a copy whose lists and records are the
 * package's own, frozen, so that changing the caller's objects after the definition changes
 * neither the package nor its variants. A list kept here is the very one the record holds
 * (checkInputs keeps a frozen plain list of packages as it is).
 */
function ownSpec(spec: Record<string, unknown>): PackageSpec<VariantDecls> {
  const own: Record<string, unknown> = { ...spec };
  for (const k of ['inputs', 'nativeInputs', 'propagatedInputs', 'outputs', 'license']) {
    const v = own[k];
    if (Array.isArray(v)) own[k] = ownList(v);
  }
  for (const k of ['arguments', 'properties', 'variants']) {
    const v = own[k];
    if (typeof v === 'object' && v !== null) own[k] = deepFreeze(v);
  }
  return own as unknown as PackageSpec<VariantDecls>;
}

function inheritAt(parent: Package, overrides: Overrides, captured: CapturedLocation, labels = inputLabels(parent)): Package {
  if (!isPackage(parent)) throw notAPackage('inherit', parent);
  if (!isRecord(overrides)) throw new TsdslError(`inheriting from \`${fullName(parent)}\`: the fields to change are an object, such as { version: '2.0' }, not ${describe(overrides)}`);
  const spec = inheritedSpec(parent, overrides);
  // The heir keeps the parent's variant values (`inherit(withVariants(mumps, { metis: false }), …)`
  // is ~metis, as its inputs are), where it still declares the variant and the value fits.
  const decls: VariantDecls = spec.variants ?? {};
  const choice: Record<string, VariantValue> = {};
  for (const [k, v] of Object.entries(pick(parent.variants, decls))) {
    if (v !== defaultOf(decls[k]!) && checkVariantChoice(String(spec.name), decls, { [k]: v }).length === 0) choice[k] = v;
  }
  return make({ spec, captured, parent, overrides, labels }, choice);
}

/** Whether every index of `list` holds a package. */
function allPackages(list: readonly unknown[]): boolean {
  for (let i = 0; i < list.length; i++) if (!isPackage(list[i])) return false;
  return true;
}

/** Fields `derive` can replace without re-running the whole definition. */
const FAST_FIELDS = new Set(['inputs', 'nativeInputs', 'propagatedInputs', 'buildSystem', 'replacement', 'properties', 'version', 'source']);

/**
 * derive's fast path: a record like `p` with concrete new values for a few fields, checked
 * only where they changed. Graph rewrites make one of these per changed package, so over a
 * 20,000-package graph this is the difference between milliseconds and a second. Returns
 * undefined when the slow path must run (functions, other fields, or a value to report).
 */
function deriveFast(p: Package, overrides: Overrides): Package | undefined {
  const base = recipeOf(p);
  if (!base || !(p instanceof PackageRecord)) return undefined;
  const o = overrides as Record<string, unknown>;
  for (const k in o) {
    const v = o[k];
    if (!FAST_FIELDS.has(k) || typeof v === 'function') return undefined;
    // Every index (every() passes over holes): anything else goes to the slow path, which reports it.
    if (k.endsWith('nputs') && !(Array.isArray(v) && allPackages(v))) return undefined;
  }
  if ('version' in o && versionProblem(o['version']) !== undefined) return undefined;
  if ('source' in o && o['source'] !== null && !isOrigin(o['source'])) return undefined;
  if ('buildSystem' in o && !isBuildSystem(o['buildSystem'])) return undefined;
  if ('replacement' in o && o['replacement'] !== undefined && !isPackage(o['replacement'])) return undefined;
  if ('properties' in o && (typeof o['properties'] !== 'object' || o['properties'] === null)) return undefined;
  // One fresh field object, patched in place: cheaper than spreading per changed field.
  const f = fieldsOf(p) as { -readonly [K in keyof PackageFields]: PackageFields[K] };
  // A frozen plain list is kept as it is; anything else (a subclass, a proxy) is copied.
  if ('inputs' in o) f.inputs = ownList(o['inputs'] as Package[]);
  if ('nativeInputs' in o) f.nativeInputs = ownList(o['nativeInputs'] as Package[]);
  if ('propagatedInputs' in o) f.propagatedInputs = ownList(o['propagatedInputs'] as Package[]);
  if ('buildSystem' in o) f.buildSystem = o['buildSystem'] as BuildSystem;
  if ('replacement' in o) f.replacement = o['replacement'] as Package | undefined;
  if ('properties' in o) f.properties = deepFreeze(o['properties'] as Readonly<Record<string, unknown>>);
  if ('version' in o) f.version = o['version'] as string;
  if ('source' in o) f.source = (o['source'] as Origin | null) ?? null;
  // The recipe's spec is built only if someone inherits from or re-varies the result.
  const q = new PackageRecord(new DerivedRecipe(p, overrides, base.captured, inputLabels(p)), f);
  countToPrepare(q.source);
  return Object.freeze(q);
}

/** The recipe of a derived package; its spec is computed on first use (rarely needed). */
class DerivedRecipe implements Recipe {
  private cached: PackageSpec<VariantDecls> | undefined;
  constructor(
    readonly parent: Package,
    readonly overrides: Overrides,
    readonly captured: CapturedLocation,
    readonly labels: ReadonlyMap<Package, string> | undefined,
  ) {}
  get spec(): PackageSpec<VariantDecls> {
    return (this.cached ??= inheritedSpec(this.parent, this.overrides));
  }
}

function fieldsOf(p: Package): PackageFields {
  return {
    name: p.name, version: p.version, source: p.source, buildSystem: p.buildSystem, arguments: p.arguments,
    inputs: p.inputs, nativeInputs: p.nativeInputs, propagatedInputs: p.propagatedInputs, outputs: p.outputs,
    variantDecls: p.variantDecls, variants: p.variants, synopsis: p.synopsis, description: p.description,
    homePage: p.homePage, license: p.license, properties: p.properties, replacement: p.replacement,
  };
}

/**
 * A copy of `p` with some fields changed that keeps `p`'s location: what graph rewrites use,
 * so a transformed package still points at the file that defines it.
 */
export function derive(p: Package, overrides: Overrides): Package {
  const q = deriveFast(p, overrides) ?? inheritAt(p, overrides, recipeOf(p)?.captured ?? captureLocation(derive));
  const labels = labelTable.get(p);
  if (labels) labelTable.set(q, labels);
  return q;
}

/**
 * Input labels that differ from the input's own name. An input is known to its user's build by
 * its name (`$scotch`); when a graph rewrite (`--with-input=scotch=pt-scotch`) puts another
 * package in its place, the replacement keeps the old label as well as its own, as in Guix, so
 * a recipe that says `${scotch}` still finds it. Kept beside the frozen records (set by
 * rewrites, carried over by `derive`), and in recipes (set by `modifyInputs`, kept by `inherit`
 * and variants).
 */
const labelTable = new WeakMap<Package, ReadonlyMap<Package, string>>();

/** The labels of `p`'s inputs that differ from their names (replacement → the replaced input's label). */
export function inputLabels(p: Package): ReadonlyMap<Package, string> | undefined {
  return labelTable.get(p) ?? recipeOf(p)?.labels;
}

/** Record that in `p`, each replacement stands for an input of another name (see `inputLabels`). */
export function setInputLabels(p: Package, labels: ReadonlyMap<Package, string>): void {
  if (labels.size) labelTable.set(p, labels);
}

/**
 * A new package made from `parent` with some fields overridden (Guix's `inherit`). List and
 * argument overrides may be functions `(variants, parent) => value`; a plain `arguments`
 * object is merged key by key into the parent's (phases and env too).
 */
export function inherit(parent: Package, overrides: Overrides): Package {
  return inheritAt(parent, overrides, captureLocation(inherit));
}

/** Refuses a variant choice `p` does not declare, or a value its variant does not take (what withVariants checks first). */
export function checkVariants(p: Package, choice: Readonly<Record<string, unknown>>): void {
  const problems = checkVariantChoice(p.name, p.variantDecls, choice);
  if (problems.length) throw new TsdslError(problems.join('; '));
}

/**
 * The same package with other variant values (`scotch+mpi`). Memoized: the same choice gives
 * the same object, so graphs stay DAGs and derivations are computed once.
 */
export function withVariants(p: Package, choice: Readonly<Record<string, VariantValue>>): Package {
  if (!isPackage(p)) throw notAPackage('withVariants', p);
  if (typeof choice !== 'object' || choice === null || Array.isArray(choice)) throw new TsdslError(`withVariants(${p.name}, …): the variants are ${describe(choice)}; give an object such as { mpi: true }`);
  checkVariants(p, choice);
  const full = { ...p.variants, ...choice };
  if (Object.entries(full).every(([k, v]) => p.variants[k] === v)) return p;
  const recipe = recipeOf(p);
  if (!recipe) throw new TsdslError(`cannot change the variants of \`${fullName(p)}\`: it was not made by definePackage`);
  let memo = variantMemo.get(recipe);
  if (!memo) variantMemo.set(recipe, (memo = new Map()));
  const key = JSON.stringify(Object.keys(full).sort().map((k) => [k, full[k]]));
  let out = memo.get(key);
  if (!out) {
    // A variant whose inputs (or arguments) ask for itself would make it again without end.
    const at = variantsInMaking.findIndex((m) => m.recipe === recipe && m.key === key);
    const here = { recipe, key, name: p.name, full };
    if (at >= 0) {
      const via = variantsInMaking.slice(at + 1).map(describeMaking);
      throw new TsdslError(
        via.length
          ? `dependency cycle: ${describeMaking(here)} needs ${via.join(', which needs ')}, which needs the first again; a package cannot need itself (choose another variant in one of these inputs, or drop it)`
          : `dependency cycle: ${describeMaking(here)} needs itself with the same variants; a package cannot be its own input (choose another variant in the input, or drop it)`,
      );
    }
    variantsInMaking.push(here);
    try {
      out = make(recipe, full);
    } finally {
      variantsInMaking.pop();
    }
    memo.set(key, out);
  }
  return out;
}

/**
 * An unknown field's (or argument's) problem with the line the field is written on, when it is found below the
 * definition at `loc` (its name is the evidence: a value may come from elsewhere, but a
 * misspelt key is written there): the definition's line alone leaves the user to look.
 */
function withFieldLine(problem: string, loc: Location | undefined): { text: string; line?: number } {
  // `unknown field \`sypnosis\``, or a problem that starts with the field it is about (`version 42.1
  // is a number…`, `inputs[0] is undefined…`, `homePage \`x\` is not…`); a phase's, at its line
  // or else at `arguments`.
  const m = /^(?:unknown field|unknown argument|argument) `([A-Za-z_$][\w$]*)`|^(name|version|source|buildSystem|arguments|inputs|nativeInputs|propagatedInputs|outputs|variants|synopsis|description|homePage|license|properties|replacement)\b/.exec(problem);
  const phase = /^unknown phase `([A-Za-z_$][\w$]*)`/.exec(problem)?.[1];
  if (!loc) return { text: problem };
  let line: number | undefined;
  if (phase !== undefined) line = fieldLine(phase, loc, false) ?? fieldLine('arguments', loc, true);
  else if (m) line = fieldLine((m[1] ?? m[2])!, loc, m[2] !== undefined);
  return line === undefined ? { text: problem } : { text: `${problem} (${formatLocation({ file: loc.file, line, column: 1 })})`, line };
}

/**
 * The line `field:` is written on below the definition at `loc`, if any. A definition that
 * spreads fields in (a helper's `...overrides`) may take a value from there, not from the line
 * written here: a field the definition has (`known`, not a misspelt one) is not pointed at then.
 */
function fieldLine(field: string, loc: Location, known: boolean): number | undefined {
  const re = new RegExp(`^\\s*['"]?${field.replace(/\$/g, '\\$')}['"]?\\s*:`);
  // Within the definition: up to the next top-level statement (an unknown key spread in from
  // elsewhere is not pointed at in the definition that follows).
  let n = 0;
  let past = false;
  let found: number | undefined;
  let spread = false;
  lineWhere(loc.file, (l) => {
    if (++n < loc.line || past) return past;
    if (n > loc.line && /^(export\s+)?(const|let|var|function|class)\s/.test(l)) past = true;
    if (past) return true;
    if (/\.\.\.[A-Za-z_$({]/.test(l)) spread = true;
    if (found === undefined && n > loc.line && re.test(l)) found = n;
    return false;
  });
  return spread && known ? undefined : found;
}

/**
 * `p` with one variant changed at a time, to each other value it can take: a switch flipped,
 * each other string of its set (a number, which has no set, is left as it is). What a search
 * across a collection meets besides the defaults (`hwloc+libxml2` depends on libxml2). A choice
 * the package refuses (its variant functions throw) is left out: it could not be built either.
 */
export function variantNeighbours(p: Package): Package[] {
  const out: Package[] = [];
  for (const [k, d] of Object.entries(p.variantDecls)) {
    const now = p.variants[k];
    const values: VariantValue[] = typeof defaultOf(d) === 'boolean' ? [!now] : typeof d === 'object' && 'values' in d ? d.values.filter((v) => v !== now) : [];
    for (const v of values) {
      try {
        out.push(withVariants(p, { [k]: v }));
      } catch (e) {
        // Refused (a TsdslError): not a package anyone can use. Anything else is a bug to see.
        if (!(e instanceof TsdslError)) throw e;
      }
    }
  }
  return out;
}

/** Whether every variant of `p` has its declared default (`scotch`, not `scotch+mpi`). */
export function hasDefaultVariants(p: Package): boolean {
  for (const [k, d] of Object.entries(p.variantDecls)) if (p.variants[k] !== defaultOf(d)) return false;
  return true;
}

/** The variants of `p` whose values are not their defaults (what `specString` writes after the version). */
export function chosenVariants(p: Package): Record<string, VariantValue> {
  const out: Record<string, VariantValue> = {};
  for (const [k, d] of Object.entries(p.variantDecls)) if (p.variants[k] !== defaultOf(d)) out[k] = p.variants[k]!;
  return out;
}

/** Whether `q` is `p` with other variant values (made by withVariants from one definition). */
export function isVariantOf(q: Package, p: Package): boolean {
  const r = recipeOf(p);
  return q !== p && r !== undefined && recipeOf(q) === r;
}

/** The variants being made now, outermost first (see withVariants): a cycle is the part from a repeated one on. */
const variantsInMaking: VariantInMaking[] = [];

interface VariantInMaking {
  readonly recipe: Recipe;
  readonly key: string;
  readonly name: string;
  readonly full: Readonly<Record<string, VariantValue>>;
}

/** `` `cyc-a` with variants x=true (cyc.ts:11) ``, for a cycle's error. */
function describeMaking(m: VariantInMaking): string {
  const choice = Object.keys(m.full).sort().map((k) => `${k}=${String(m.full[k])}`).join(' ');
  return `\`${m.name}\` with variants ${choice} (${formatLocation(resolveLocation(m.recipe.captured))})`;
}

/** Edits to an input list, by package name (Guix's `modify-inputs`). */
export interface InputEdits {
  /** name → new package, in place. */
  replace?: Readonly<Record<string, Package>>;
  /** names to drop. */
  delete?: readonly string[];
  append?: readonly Package[];
  prepend?: readonly Package[];
}

const EDIT_KEYS = ['replace', 'delete', 'append', 'prepend'];

/** Names of edits a user may reach for first, and the edit each means. */
const SYNONYM_EDITS: Readonly<Record<string, string>> = { add: 'append', remove: 'delete', drop: 'delete', substitute: 'replace' };

/** Refuses edits of the wrong shape: an unknown key, a name instead of a list, a list instead of a table. */
function checkEdits(edits: InputEdits, where: string, more: readonly string[] = []): void {
  if (typeof edits !== 'object' || edits === null || Array.isArray(edits)) {
    throw new TsdslError(`${where}: the edits are ${describe(edits)}; give an object such as { replace: { scotch: ptScotch }, append: [hwloc] }`);
  }
  // Every problem at once, as definePackage says them.
  const problems: string[] = [];
  for (const k of Object.keys(edits)) {
    if (!EDIT_KEYS.includes(k)) {
      const meant = Object.hasOwn(SYNONYM_EDITS, k) ? `; did you mean \`${SYNONYM_EDITS[k]}\`?` : didYouMean(k, EDIT_KEYS);
      problems.push(`unknown edit \`${k}\`${meant} (the edits are replace, delete, append and prepend)`);
    }
  }
  const del: unknown = edits.delete;
  if (del !== undefined && (!Array.isArray(del) || del.some((n) => typeof n !== 'string'))) {
    problems.push(`\`delete\` is ${describe(del)}; give a list of input names${typeof del === 'string' ? `: delete: ['${del}']` : ", such as delete: ['metis']"}`);
  }
  const rep: unknown = edits.replace;
  if (rep !== undefined && (typeof rep !== 'object' || rep === null || Array.isArray(rep) || isPackage(rep))) {
    problems.push(`\`replace\` is ${describe(rep)}; give a table from input names to packages, such as replace: { scotch: ptScotch }`);
  }
  for (const k of ['append', 'prepend'] as const) {
    const list: unknown = edits[k];
    if (list === undefined) continue;
    if (isPackage(list)) problems.push(`\`${k}\` is one package; wrap it in a list: ${k}: [${identifierFor((list as Package).name)}]`);
    else if (!Array.isArray(list) || !list.every(isPackage)) problems.push(`\`${k}\` is ${describe(list)}; give a list of packages, such as ${k}: [hwloc]`);
  }
  problems.push(...more);
  if (problems.length === 1) throw new TsdslError(`${where}: ${problems[0]}`);
  if (problems.length) throw new TsdslError(`${where} has ${problems.length} problems:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
}

/** Apply `edits` to one input list; unknown names are an error listing the list. */
export function modifyInputList(list: readonly Package[], edits: InputEdits, what = 'the input list'): readonly Package[] {
  checkEdits(edits, 'modifyInputList');
  const names = list.map((p) => p.name);
  const missing = [...Object.keys(edits.replace ?? {}), ...(edits.delete ?? [])].filter((n) => !names.includes(n));
  if (missing.length)
    throw new TsdslError(
      `modifyInputs: ${what} has no input named ${missing.map((n) => `\`${n}\`${didYouMean(n, names)}`).join(', ')} (it has: ${names.join(', ') || 'none'})`,
    );
  for (const [n, p] of Object.entries(edits.replace ?? {}))
    if (!isPackage(p)) throw new TsdslError(`modifyInputs: the replacement for \`${n}\` is ${describe(p)}, not a package`);
  const del = new Set(edits.delete ?? []);
  const out = list.filter((p) => !del.has(p.name)).map((p) => edits.replace?.[p.name] ?? p);
  return Object.freeze([...(edits.prepend ?? []), ...out, ...(edits.append ?? [])]);
}

/**
 * A package whose inputs are edited by name: `replace` and `delete` apply to whichever list
 * holds the name (inputs, nativeInputs, propagatedInputs); `append`/`prepend` go to `inputs`.
 */
export function modifyInputs(p: Package, edits: InputEdits): Package {
  const loc = captureLocation(modifyInputs);
  const where = `modifyInputs at ${formatLocation(resolveLocation(loc))}`;
  if (!isPackage(p)) throw notAPackage(where, p);
  const lists = { inputs: p.inputs, nativeInputs: p.nativeInputs, propagatedInputs: p.propagatedInputs };
  const all = [...p.inputs, ...p.nativeInputs, ...p.propagatedInputs].map((x) => x.name);
  // Names of inputs it does not have are said with the edits' other problems.
  const named = typeof edits === 'object' && edits !== null ? [...(isRecord(edits.replace) ? Object.keys(edits.replace) : []), ...(Array.isArray(edits.delete) ? edits.delete.filter((n) => typeof n === 'string') : [])] : [];
  const missing = named.filter((n) => !all.includes(n));
  checkEdits(edits, where, missing.length ? [`\`${fullName(p)}\` has no input named ${missing.map((n) => `\`${n}\`${didYouMean(n, all)}`).join(', ')} (its inputs: ${all.join(', ') || 'none'})`] : []);
  // Each list is edited from the parent's for the variant values in force, so another variant
  // of the result (`withVariants(mine, { metis: true })`) has its own inputs, edited alike.
  const editsFor = (field: keyof typeof lists, list: readonly Package[]): InputEdits => {
    const names = new Set(list.map((x) => x.name));
    return {
      replace: Object.fromEntries(Object.entries(edits.replace ?? {}).filter(([n]) => names.has(n))),
      delete: (edits.delete ?? []).filter((n) => names.has(n)),
      ...(field === 'inputs' ? { append: edits.append ?? [], prepend: edits.prepend ?? [] } : {}),
    };
  };
  const edited: Record<string, (v: unknown, parent: Package) => readonly Package[]> = {};
  for (const field of Object.keys(lists) as Array<keyof typeof lists>) {
    edited[field] = (_v, parent) => modifyInputList(parent[field], editsFor(field, parent[field]));
  }
  // A replacement keeps the name of what it replaces as a recipe variable (`${scotch}` for
  // pt-scotch), as --with-input does and as Guix keeps input labels.
  const old = inputLabels(p);
  const labels = new Map(old);
  for (const [name, to] of Object.entries(edits.replace ?? {})) {
    const from = directInputs(p).find((x) => x.name === name)!;
    labels.set(to, old?.get(from) ?? name);
  }
  return inheritAt(p, edited as Overrides, loc, labels.size ? labels : undefined);
}

/**
 * The package whose version `p` takes, when `p` was inherited (`inherit`) without a version of
 * its own (PT-Scotch follows Scotch); undefined when `p` sets its version.
 */
export function versionParent(p: Package): Package | undefined {
  const r = recipeOf(p);
  return r?.parent && r.overrides && !('version' in r.overrides) ? r.parent : undefined;
}

/**
 * The package `p` was inherited from when `p` changes the version (`inherit(hwloc, { version:
 * '2.8.0' })`) but not the source, which is then still the parent's release: undefined otherwise.
 */
export function staleSourceParent(p: Package): Package | undefined {
  const r = recipeOf(p);
  if (!r?.parent || !r.overrides || !('version' in r.overrides) || 'source' in r.overrides) return undefined;
  return r.parent.version !== p.version && p.source && p.source.kind !== 'local' && p.source === r.parent.source ? r.parent : undefined;
}

/** The packages `p` was inherited from (`inherit`, `modifyInputs`, rewrites), nearest first. */
export function ancestors(p: Package): Package[] {
  const out: Package[] = [];
  for (let q = recipeOf(p)?.parent; q && !out.includes(q); q = recipeOf(q)?.parent) out.push(q);
  return out;
}

/** Every direct dependency: inputs, native inputs and propagated inputs, in that order. */
export function directInputs(p: Package): readonly Package[] {
  return [...p.inputs, ...p.nativeInputs, ...p.propagatedInputs];
}

/** A phase of the build system (`build`), or a step before or after one (`preBuild`, `postInstall`). */
function isPhaseName(k: string, phases: readonly string[]): boolean {
  const m = /^(?:pre|post)([A-Z]\w*)$/.exec(k);
  return phases.includes(k) || (m !== null && phases.includes(m[1]!.charAt(0).toLowerCase() + m[1]!.slice(1)));
}
