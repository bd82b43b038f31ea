/**
 * The one graph-rewriting primitive (Guix's `package-mapping`). `packageMapping(fn, { cut,
 * deep })` returns a function that rewrites a package's whole dependency graph: each package
 * gets its inputs rewritten first, then `fn` is applied to it. Results are memoized by object
 * identity, so a diamond stays a diamond, and a package whose inputs did not change stays the
 * very same object. `cut(p)` stops the descent at `p`; `deep` also rewrites the build
 * systems' implicit inputs (toolchain, make, …). Every transformation option is built on it.
 */
import { TsdslError, checkRequestKeys, checkRequestTypes, fieldChecks, shown, type FieldCheck } from '../errors.js';
import { defineBuildSystem, type BuildSystem } from '../dsl/build-systems.js';
import { derive, fullName, inputLabels, isPackage, notAPackageText, setInputLabels, type Overrides, type Package } from '../dsl/package.js';

const MAPPING_OPTION_KEYS = Object.keys({ cut: 1, deep: 1 } satisfies Record<keyof MappingOptions, 1>);
const MAPPING_OPTION_CHECKS: Readonly<Record<string, FieldCheck>> = { cut: fieldChecks.function, deep: fieldChecks.boolean };

/** A package argument of a mapping, checked (a name or nothing would fail deep inside, blaming another package). */
function checkPackage(p: unknown, who: string): asserts p is Package {
  if (!isPackage(p)) throw new TsdslError(`${who} is ${notAPackageText(p)}`);
}

export interface MappingOptions {
  /** Do not descend into packages for which this is true (fn is still applied to them). */
  readonly cut?: (p: Package) => boolean;
  /** Also rewrite implicit inputs of build systems. */
  readonly deep?: boolean;
}

/** A memoized graph rewrite; `created` counts the new package objects it made. */
export interface PackageMapping {
  (p: Package): Package;
  /**
   * `p` with its inputs rewritten (its build system's too when deep) but not itself given to
   * `fn`, and descended into even where `cut` says not to: a root whose dependencies only are
   * rewritten (Guix's "replace dependencies"), sharing the memo with the other roots.
   */
  rebuilt(p: Package): Package;
  readonly created: number;
}

/**
 * Build a rewrite of whole dependency graphs from a per-package function, which gets each
 * package with its inputs rewritten and, second, the package as it was.
 */
export function packageMapping(fn: (p: Package, original: Package) => Package, options: MappingOptions = {}): PackageMapping {
  if (typeof fn !== 'function') throw new TsdslError(`packageMapping: the first argument is ${shown(fn)}; give a function from a package to the package to put in its place, such as (p) => (p.name === 'zlib' ? zlibNg : p)`);
  checkRequestKeys(options, MAPPING_OPTION_KEYS, 'packageMapping');
  checkRequestTypes(options, MAPPING_OPTION_CHECKS, 'packageMapping');
  const memo = new Map<Package, Package>();
  const rebuiltMemo = new Map<Package, Package>();
  const bsMemo = new Map<BuildSystem, BuildSystem>();
  let created = 0;

  /** Maps a list; each input it changes goes in `changed` (input → what takes its place). */
  const mapList = (list: readonly Package[], changed?: Array<[Package, Package]>): readonly Package[] => {
    let out: Package[] | undefined;
    for (let i = 0; i < list.length; i++) {
      const q = visit(list[i]!);
      if (q !== list[i] && !out) out = list.slice(0, i);
      // A replacement that is already in the list (--with-input=scotch=metis on mumps) is kept once.
      if (out && !out.includes(q)) out.push(q);
      if (changed && q !== list[i]) changed.push([list[i]!, q]);
    }
    return out ?? list;
  };

  const mapBuildSystem = (bs: BuildSystem): BuildSystem => {
    let hit = bsMemo.get(bs);
    if (hit) return hit;
    const toolchain = mapList(bs.toolchain());
    const tools = mapList(bs.tools());
    hit =
      toolchain === bs.toolchain() && tools === bs.tools()
        ? bs
        : defineBuildSystem({
            name: bs.name,
            description: bs.description,
            phases: bs.phases,
            argumentKeys: bs.argumentKeys,
            toolchain: () => toolchain,
            tools: () => tools,
          });
    bsMemo.set(bs, hit);
    return hit;
  };

  function visit(p: Package): Package {
    const hit = memo.get(p);
    if (hit) return hit;
    const r = fn(options.cut?.(p) ? p : rebuild(p), p);
    if (!isPackage(r)) throw new TsdslError(`packageMapping: the function returned ${typeof r === 'string' ? `the string '${r}'` : shown(r)} for \`${fullName(p)}\`; it must return a package (the one it was given, to keep it)`);
    memo.set(p, r);
    return r;
  }

  /** `p` with its inputs (and build system, when deep) rewritten: the very same object when none changed. */
  function rebuild(p: Package): Package {
    const hit = rebuiltMemo.get(p);
    if (hit) return hit;
    let q = p;
    const changed: Array<[Package, Package]> = [];
    const inputs = mapList(p.inputs, changed);
    const nativeInputs = mapList(p.nativeInputs, changed);
    const propagatedInputs = mapList(p.propagatedInputs, changed);
    const buildSystem = options.deep ? mapBuildSystem(p.buildSystem) : p.buildSystem;
    if (inputs !== p.inputs || nativeInputs !== p.nativeInputs || propagatedInputs !== p.propagatedInputs || buildSystem !== p.buildSystem) {
      // Only the fields that changed: derive checks each one it is given.
      const changes: { -readonly [K in 'inputs' | 'nativeInputs' | 'propagatedInputs' | 'buildSystem']?: Overrides[K] } = {};
      if (inputs !== p.inputs) changes.inputs = inputs;
      if (nativeInputs !== p.nativeInputs) changes.nativeInputs = nativeInputs;
      if (propagatedInputs !== p.propagatedInputs) changes.propagatedInputs = propagatedInputs;
      if (buildSystem !== p.buildSystem) changes.buildSystem = buildSystem;
      q = derive(p, changes);
      created++;
      // A replacement keeps the label of what it replaces (`$scotch` for pt-scotch), and so
      // does a rewritten input that had one: after --with-input=scotch=pt-scotch, a second
      // rewrite that changes pt-scotch itself (--without-tests=hwloc) must not lose `$scotch`.
      const old = inputLabels(p);
      if (old || changed.some(([from, to]) => from.name !== to.name)) {
        const labels = new Map(old);
        for (const [from, to] of changed) {
          const label = old?.get(from) ?? (to.name !== from.name ? from.name : undefined);
          if (label !== undefined) labels.set(to, label);
        }
        setInputLabels(q, labels);
      }
    }
    rebuiltMemo.set(p, q);
    return q;
  }

  const mapping = ((p: Package) => {
    checkPackage(p, 'packageMapping: the package to map');
    return visit(p);
  }) as PackageMapping;
  mapping.rebuilt = (p: Package) => {
    checkPackage(p, 'packageMapping: rebuilt()\'s argument');
    return rebuild(p);
  };
  Object.defineProperty(mapping, 'created', { get: () => created });
  return mapping;
}

/** Rewrite one package's graph (a one-off `packageMapping`). */
export function mapPackages(root: Package, fn: (p: Package, original: Package) => Package, options: MappingOptions = {}): Package {
  return packageMapping(fn, options)(root);
}

/** Replace packages by identity, everywhere in the graph (implicit inputs too when deep). */
export function rewriteInputs(replacements: ReadonlyMap<Package, Package>, options: { deep?: boolean } = { deep: true }): PackageMapping {
  if (!(replacements instanceof Map)) throw new TsdslError(`rewriteInputs: the replacements are ${shown(replacements)}; give a Map from package to package, such as new Map([[scotch, ptScotch]]) (packages are matched by object, not by name)`);
  for (const [from, to] of replacements) {
    checkPackage(from, 'rewriteInputs: a key of the replacements');
    checkPackage(to, `rewriteInputs: the replacement of \`${fullName(from)}\``);
  }
  checkRequestKeys(options, ['deep'], 'rewriteInputs');
  return packageMapping((p) => replacements.get(p) ?? p, { cut: (p) => replacements.has(p), deep: options.deep ?? true });
}
