/**
 * Lowering: package → bag → derivation, the step between the package graph and the store.
 * A bag is a package plus its build system's implicit inputs; its derivation is the exact
 * Nix/Guix model (aterm.ts) with Nix-identical store paths. Origins become fixed-output
 * derivations (`builtin:fetchurl` for URLs, `builtin:git` for git); local files and patches
 * become `source` items (NAR-hashed); the build systems' builder scripts become `text` items.
 * Transformation effects recorded on packages (tests off, debug info, tune, another
 * toolchain, grafts) change the derivation here.
 *
 * Lowering is pure and memoized per (package object, system, store dir): a `Lowerer` holds the
 * memo and every derivation and item it made, so writing them to a store is one pass. The only
 * I/O — hashing local files, and fetching sources that have no sha256 to hash them — happens in
 * `prepare()`, before the synchronous `lower()`.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { TsdslError, checkRequestKeys, checkRequestTypes, checkStringList, didYouMean, fieldChecks, shown, type FieldCheck } from '../errors.js';
import { flagReferences, inputVariable, settleBuildSystems, setByBuild, mayBeBuildVariable, packageSnippets, snippetsSet, variableOf, type BuildSystem } from '../dsl/build-systems.js';
import type { GitOrigin, Origin, UrlOrigin } from '../dsl/origin.js';
import { PackageMap, ancestors, appliedOptionsText, checkPackage, checkPackageList, checkProfileItems, directInputs, isPackageOutput, itemPackage, notAPackageText, fullName, identifierFor, inputLabels, isPackage, madeHere, packagesToPrepare, specString, withPropagated, withPropagatedShared, type Package, type ProfileItem } from '../dsl/package.js';
import { formatLocation } from '../dsl/location.js';
import { DerivationHasher, EnvVars, finalizeDerivation, finalizeKnownInputs, type Derivation, type FinalizedDerivation, type KnownInput, type Reprinter } from './aterm.js';
import { makeSourcePath, makeTextPath, storeDirFromEnv, validateDrvName, validateStoreDir, validateStoreName } from './hash.js';
import { gnuBuilderScript } from './builders/gnu.js';
import { DerivationTable } from './table.js';
import { narHash, narHashOfBytes } from '../store/nar.js';
import type { Collection } from '../registry/collection.js';

export const DEFAULT_SYSTEM = 'x86_64-linux';

/** A store item that is not a derivation output: a builder script or a local file. */
export type StoreItem =
  | { readonly kind: 'text'; readonly path: string; readonly name: string; readonly text: string; readonly references: readonly string[] }
  | { readonly kind: 'source'; readonly path: string; readonly name: string; readonly file: string; readonly narHash: Buffer; readonly narSize: number };

/** The result of lowering one package. */
export interface LoweredPackage {
  readonly package: Package;
  /** The derivation that builds the package. */
  readonly derivation: FinalizedDerivation;
  readonly drvPath: string;
  /** Output name → store path. */
  readonly outputs: Readonly<Record<string, string>>;
}

/**
 * What the lowerer keeps per lowered package: the result plus pieces its users need again.
 * Tens of thousands are kept, so it holds five fields: the output record is made when asked
 * for (users of an input read its paths from the derivation).
 */
class Lowered implements LoweredPackage {
  /** The path of output `out` (undefined when the package has none). */
  readonly out: string | undefined;
  readonly package: Package;
  // USED_AS_IS | BOOTSTRAP | GRAFT_FREE, one field for the three.
  readonly #flags: number;

  constructor(
    pkg: Package,
    /** The derivation, with what its users print of it (path, hash modulo, output names). */
    readonly derivation: FinalizedDerivation & KnownInput,
    /** The env variable users get this input's prefix in (`pt-scotch` → `pt_scotch`), or '' when the name cannot be one. */
    readonly envVar: string,
    graftFree: boolean,
  ) {
    this.package = pkg;
    this.#flags = (graftFree ? GRAFT_FREE : 0) | (graftFree && !pkg.replacement ? USED_AS_IS : 0) | (pkg.properties['bootstrap'] === true ? BOOTSTRAP : 0);
    const paths = derivation.outputPaths!;
    const names = derivation.outputNames!;
    // Read for every user of the package: a field.
    const i = names.length === 1 ? (names[0] === 'out' ? 0 : -1) : names.indexOf('out');
    this.out = i < 0 ? undefined : paths[i];
  }

  /** Output paths joined by spaces (as `inputs` lists them): the one path of the usual single output. */
  get joinedOutputs(): string {
    // `out` alone (the usual case): its path, the field; otherwise joined when asked for.
    return this.out !== undefined && this.derivation.outputNames!.length === 1 ? this.out : this.derivation.outputPaths!.join(' ');
  }

  /** No input in the bag's closure has a replacement: the package is its own grafted form. */
  get graftFree(): boolean {
    return (this.#flags & GRAFT_FREE) !== 0;
  }

  /** A user of this package has no graft to make for it: it has no replacement, and it is graft-free. */
  get usedAsIs(): boolean {
    return (this.#flags & USED_AS_IS) !== 0;
  }

  /** A bootstrap package (not on its users' search paths). */
  get bootstrap(): boolean {
    return (this.#flags & BOOTSTRAP) !== 0;
  }

  get drvPath(): string {
    return this.derivation.drvPath;
  }

  get outputNames(): readonly string[] {
    return this.derivation.outputNames!;
  }

  get outputs(): Readonly<Record<string, string>> {
    return outputRecord(this.derivation);
  }
}

/** What marks, in the memo, the packages one walk of the graph is expanding. */
class WalkMark {}

const USED_AS_IS = 1;
const BOOTSTRAP = 2;
const GRAFT_FREE = 4;

/** Output name → path of a finalized derivation (from what it keeps, not its parsed text). */
function outputRecord(d: FinalizedDerivation): Record<string, string> {
  const outputs: Record<string, string> = {};
  const names = d.outputNames!;
  const paths = d.outputPaths!;
  for (let i = 0; i < names.length; i++) outputs[names[i]!] = paths[i]!;
  return outputs;
}

/**
 * Refuses, for an API function `who`, a second argument that is not a Lowerer and `.drv` paths
 * that are not a list of derivations it made (a string alone, a path of another lowering).
 */
export function checkLoweredPaths(lowerer: unknown, drvPaths: unknown, who: string): asserts lowerer is Lowerer {
  // By shape, as a Lowerer of another loaded copy of tsdsl is one too.
  if (typeof (lowerer as Partial<Lowerer> | null)?.derivations?.has !== 'function') {
    throw new TsdslError(`${who}: the second argument must be the Lowerer that lowered the roots (new Lowerer(store.storeDir), then lowerer.lowerGrafted(p)), not ${shown(lowerer)}`);
  }
  checkStringList(drvPaths, who, '.drv paths');
  const made = (lowerer as Lowerer).derivations;
  for (const drvPath of drvPaths) if (!made.has(drvPath)) throw new TsdslError(unknownDerivationText(drvPath, who));
}

function unknownDerivationText(drvPath: string, who: string): string {
  const what = drvPath.endsWith('.drv') ? 'a derivation' : 'a .drv path';
  return `${who}: \`${drvPath}\` is not ${what} this Lowerer made; lower the package with it first (lowerer.lowerGrafted(p).drvPath), and pass that`;
}

/**
 * The derivations of the closure of `roots` (lowered by `lowerer`), inputs before their users,
 * each once, walked without recursion (a chain of ten thousand overflowed the call stack); a
 * derivation `prune` is true of is left out, with what only it needs.
 */
export function derivationsInOrder(lowerer: Lowerer, roots: readonly string[], prune?: (d: FinalizedDerivation) => boolean): FinalizedDerivation[] {
  const out: FinalizedDerivation[] = [];
  const seen = new Set<string>();
  const stack: Array<{ d: FinalizedDerivation; inputs: readonly string[]; i: number }> = [];
  const enter = (path: string): void => {
    if (seen.has(path)) return;
    seen.add(path);
    const d = lowerer.derivations.get(path);
    if (d && !prune?.(d)) stack.push({ d, inputs: d.inputDrvPaths ?? Object.keys(d.drv.inputDrvs), i: 0 });
  };
  for (const root of roots) {
    enter(root);
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      if (top.i < top.inputs.length) enter(top.inputs[top.i++]!);
      else (stack.pop(), out.push(top.d));
    }
  }
  return out;
}

/**
 * What `lower` and `lowerGrafted` return: a plain record (its fields survive spreading and JSON),
 * made per call; the lowerer keeps the leaner `Lowered`.
 */
function resultOf(l: Lowered): LoweredPackage {
  return { package: l.package, derivation: l.derivation, drvPath: l.drvPath, outputs: outputRecord(l.derivation) };
}

function cycleError(q: Package): TsdslError {
  return new TsdslError(`dependency cycle through \`${fullName(q)}\`; run \`tsdsl graph --type=bag ${q.name}\` to see it`);
}

/** The result of lowering an origin: a fixed-output derivation, or a source item. */
interface LoweredOrigin {
  readonly path: string;
  readonly drvPath?: string;
  /** The fixed-output derivation, when there is one. */
  readonly derivation?: KnownInput;
}

/**
 * Throws the error of `p`'s `field`; `mark` tells lint a finding another checker reports
 * (`flagReference`: an unknown flag variable; `unpinned`: a source without a sha256).
 */
function fail(p: Package, field: string, message: string, mark?: { flagReference?: true; unpinned?: true }): never {
  throw Object.assign(new TsdslError(`package \`${fullName(p)}\` (${formatLocation(p.location)}), ${field}: ${message}`), mark);
}

/** An input's own variable name (`hwloc`, `pt_scotch`; empty when it has none). */
const ownVariable = (l: Lowered): string => l.envVar;

/**
 * Sets a variable to each input's prefix (`out`), named by `variable` (none when it gives ''),
 * never over one already set: the build system's, or an earlier input's.
 */
function setInputVariables(env: EnvVars, list: readonly Lowered[], variable: (l: Lowered) => string): void {
  for (let i = 0; i < list.length; i++) {
    const l = list[i]!;
    const v = variable(l);
    if (v !== '' && l.out !== undefined && !env.has(v)) env.add(v, l.out);
  }
}

/**
 * Refuses a flag naming `${name}` that the derivation does not set, unless the build may (upper
 * case): the builder would stop there with "not an input of this package", after the whole
 * closure was built. Names the flag and suggests the closest variables.
 */
function checkFlagReferences(p: Package, env: EnvVars): void {
  let snippets: string[] | undefined;
  for (let f = 0; f < FLAG_FIELDS.length; f++) {
    const field = FLAG_FIELDS[f]!;
    const flags = p.arguments[field];
    if (!flags) continue;
    for (let i = 0; i < flags.length; i++) {
      if (!flags[i]!.includes('${')) continue;
      for (const name of flagReferences(flags[i]!)) {
        if (env.has(name) || p.outputs.includes(name) || mayBeBuildVariable(name) || snippetsSet(name, (snippets ??= packageSnippets(p)))) continue;
        const known = [...p.outputs, ...env.names().filter((k) => !mayBeBuildVariable(k))];
        // Marked, so that lint reports it once (its flag-variables checker finds it already).
        fail(
          p,
          `arguments.${field}[${i}]`,
          `\`${flags[i]}\` names \`\${${name}}\`, which is neither an input of this package nor a variable of its build${didYouMean(name, known, (c) => '${' + c + '}')} (an input's prefix is \`\${NAME}\`, with \`_\` for \`-\`: \`\${pt_scotch}\`)`,
          { flagReference: true },
        );
      }
    }
  }
}

const FLAG_FIELDS = ['configureFlags', 'makeFlags', 'cmakeFlags'] as const;

/**
 * The ./configure flags that put files in the outputs named for them (`bin`, `lib`, `include`,
 * `doc`), as Guix's gnu build system passes them: a `lib` output takes the libraries, and the
 * headers too unless there is an `include` output; `doc` takes the documentation directory.
 */
function outputDirectoryFlags(p: Package): string[] {
  const has = (o: string) => p.outputs.includes(o);
  const flags: string[] = [];
  if (has('bin')) flags.push('--bindir=${bin}/bin');
  if (has('lib')) flags.push('--libdir=${lib}/lib');
  if (has('include')) flags.push('--includedir=${include}/include');
  else if (has('lib')) flags.push('--includedir=${lib}/include');
  if (has('doc')) flags.push(`--docdir=\${doc}/share/doc/${p.name}`);
  return flags;
}

/** `${NAME-REST}`: to the shell, `$NAME` with REST as its default. */
const DASHED_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)-([^}]*)\}/g;

/**
 * Refuses `${pt-scotch}` in a flag or phase when `pt-scotch` is an input: the shell reads it as
 * `$pt`, or the text `scotch` when that is unset, so the build would silently get the wrong
 * value. The input's variable has `_` for `-`: `${pt_scotch}`.
 */
function checkDashedReferences(p: Package, env: EnvVars): void {
  // Every package is checked while lowering, and most have no `${`: nothing is made for them.
  for (let f = 0; f < FLAG_FIELDS.length; f++) {
    const field = FLAG_FIELDS[f]!;
    const flags = p.arguments[field];
    if (flags) for (let i = 0; i < flags.length; i++) if (flags[i]!.includes('${')) checkDashed(p, env, `arguments.${field}[${i}]`, flags[i]!);
  }
  const phases = p.arguments.phases;
  if (phases) {
    // Own keys only, as the package's checks read them (Object.keys makes no entry pairs).
    const names = Object.keys(phases);
    for (let i = 0; i < names.length; i++) if (phases[names[i]!]!.includes('${')) checkDashed(p, env, `arguments.phases.${names[i]}`, phases[names[i]!]!);
  }
}

function checkDashed(p: Package, env: EnvVars, where: string, text: string): void {
  for (const m of text.matchAll(DASHED_REFERENCE)) {
    const name = `${m[1]}-${m[2]}`;
    const v = variableOf(name);
    if (v === m[1] || !env.has(v)) continue;
    fail(p, where, `\`\${${name}}\` is read by the shell as \`$${m[1]}\`, or \`${m[2]}\` when that is unset, not as the input \`${name}\`: an input's variable has \`_\` for \`-\`; write \`\${${v}}\``);
  }
}

/**
 * Refuses a phase that uses `${metis}` (or `$metis`) when `metis` is an input of a package this
 * one was made from but not of this one (`modifyInputs(mumps, { delete: ['metis'] })`, or
 * `inherit` with other inputs): the phases came with the parent, and the build would stop there
 * ("metis: unbound variable"), after every input was built. Only packages made from another and
 * with phases of their own are looked at, so lowering most packages costs one test.
 */
function checkRemovedInputReferences(p: Package, env: EnvVars): void {
  const phases = p.arguments.phases;
  if (!phases) return;
  const from = ancestors(p);
  if (from.length === 0) return;
  let snippets: string[] | undefined;
  const names = Object.keys(phases);
  const seen = new Set<string>();
  for (const parent of from) {
    for (const input of directInputs(parent)) {
      const v = inputVariable(input.name);
      if (v === '' || seen.has(v) || env.has(v) || p.outputs.includes(v) || mayBeBuildVariable(v)) continue;
      seen.add(v);
      const uses = new RegExp(`\\$(?:\\{${v}\\}|${v}(?![A-Za-z0-9_]))`);
      for (const phase of names) {
        if (!phases[phase]!.includes(v) || !uses.test(phases[phase]!) || snippetsSet(v, (snippets ??= packageSnippets(p)))) continue;
        // A variant named after the input (mumps's `metis`) is the way to build without it.
        const variant = [input.name, v].find((k) => parent.variants[k] === true);
        fail(
          p,
          `arguments.phases.${phase}`,
          `uses \`\${${v}}\`, the prefix of the input \`${input.name}\` of \`${fullName(parent)}\` it was made from, which it does not have: the build would stop there ("${v}: unbound variable") after its inputs were built. ` +
            (variant
              ? `\`${parent.name}\` has a variant \`${variant}\`: build \`${parent.name}~${variant}\` (in code, \`withVariants(${identifierFor(parent.name)}, { ${variant}: false })\`) rather than removing the input`
              : `Keep the input, or give the package phases of its own that do without it (\`inherit(…, { arguments: … })\`)`),
        );
      }
    }
  }
}

/** What a package's source and patches add to its derivation: fixed-output derivations, or source items. */
interface OriginInputs {
  readonly drvs: KnownInput[];
  readonly srcs: string[];
}

/** Adds a lowered origin to a derivation's inputs (a fixed-output derivation, or a source item); returns its path. */
function useOrigin(o: LoweredOrigin, origins: OriginInputs): string {
  if (o.derivation) origins.drvs.push(o.derivation);
  else origins.srcs.push(o.path);
  return o.path;
}

/**
 * A derivation's inputs: the origins' derivations, the shell's, and those of the lowered
 * packages, in one list of their number (made once; the order does not matter, they are sorted).
 */
function inputsOf(origins: OriginInputs | undefined, shell: KnownInput | undefined, host: readonly Lowered[], native: readonly Lowered[]): KnownInput[] {
  const first = origins?.drvs.length ?? 0;
  const inputs: KnownInput[] = new Array(first + (shell ? 1 : 0) + host.length + native.length);
  let n = 0;
  for (let i = 0; i < first; i++) inputs[n++] = origins!.drvs[i]!;
  if (shell) inputs[n++] = shell;
  for (let i = 0; i < host.length; i++) inputs[n++] = host[i]!.derivation;
  for (let i = 0; i < native.length; i++) inputs[n++] = native[i]!.derivation;
  return inputs;
}

/** The first package of `list` named `name`. */
function findNamed(list: readonly Package[], name: string): Package | undefined {
  for (let i = 0; i < list.length; i++) if (list[i]!.name === name) return list[i];
  return undefined;
}

/** The first package of `list` whose `runtime` property is `kind` (`libc`, `lib`). */
function findRuntime(list: readonly Package[], kind: string): Package | undefined {
  for (let i = 0; i < list.length; i++) if (list[i]!.properties['runtime'] === kind) return list[i];
  return undefined;
}

/** Whether a record has an own enumerable key (without making the list of them). */
function hasKeys(record: object): boolean {
  for (const k in record) if (Object.prototype.hasOwnProperty.call(record, k)) return true;
  return false;
}

/**
 * A builder script's store path, and the lists every derivation it builds shares: its sources
 * when the script is the only one, and its arguments (`-e script`).
 */
interface BuilderScript {
  readonly path: string;
  readonly sources: readonly string[];
  readonly args: readonly string[];
}

/** The shared empty list of sources (or arguments), and of lowered packages. */
const NO_SOURCES: readonly string[] = Object.freeze([]);
const NO_LOWERED: readonly Lowered[] = Object.freeze([]);

/** Output paths of a list of inputs, space-separated (without bootstrap packages when asked). */
function pathsOf(list: readonly Lowered[], skipBootstrap = false): string {
  // Joined by Array#join from a list of their number: one flat string, where adding them one
  // by one would make a chain of pieces that printing it then flattens into a copy.
  let n = 0;
  for (let i = 0; i < list.length; i++) if (!(skipBootstrap && list[i]!.bootstrap)) n++;
  if (n === 0) return '';
  const paths: string[] = new Array(n);
  n = 0;
  for (let i = 0; i < list.length; i++) if (!(skipBootstrap && list[i]!.bootstrap)) paths[n++] = list[i]!.joinedOutputs;
  return n === 1 ? paths[0]! : paths.join(' ');
}

/** Sorted `k=v` of the chosen variants, so a variant choice is part of the derivation. */
function variantsText(p: Package): string {
  return Object.keys(p.variants)
    .sort()
    .map((k) => `${k}=${String(p.variants[k])}`)
    .join(' ');
}

/** Lowers packages for one store dir and system, remembering everything it made. */
export class Lowerer {
  readonly hasher: DerivationHasher;
  /** Every derivation made, by .drv path, in dependency order. */
  readonly derivations: DerivationTable;
  /**
   * Called with each derivation as it is finalized (`.drv` path and bytes): `tsdsl build` hands
   * them to the store's `derivationFiles()`, which creates the files on another thread meanwhile.
   */
  onDerivation: ((drvPath: string, bytes: Uint8Array | undefined) => void) | undefined;
  /** Every text and source item made, by store path. */
  readonly items = new Map<string, StoreItem>();
  // Not a WeakMap: a Lowerer lives for one command, and the collector traces a weak map's
  // entries at a cost on every collection (this one has an entry per package).
  private readonly memo = new PackageMap<Lowered | WalkMark>();
  private readonly graftMemo = new WeakMap<Package, Lowered>();
  private readonly originMemo = new WeakMap<Origin, LoweredOrigin>();
  private readonly fileHashes = new Map<string, { hash: Buffer; size: number; file: string }>();
  /** The sha256 of each unpinned origin, found by fetching it in prepare(). */
  private readonly unpinnedHashes = new WeakMap<Origin, string>();
  /**
   * How prepare() hashes a URL or git origin that has no sha256 (`--with-source=URL`,
   * `--with-git-url`, `--with-branch`, `--with-commit`): by default it fetches it into the
   * download cache (where the build finds it again) and returns the sha256 of the file, or of
   * the checkout's NAR. Undefined: such an origin cannot be lowered (`tsdsl lint` works offline).
   */
  fetchUnpinned: ((origin: UrlOrigin | GitOrigin) => Promise<string>) | undefined = fetchAndHash;
  private readonly builderScripts = new Map<string, BuilderScript>();
  /** Where each source fetched (a fixed-output derivation) is written, by .drv path: the first package lowered with it. */
  private readonly originPlaces = new Map<string, { package: string; where: string }>();

  /** The package and file:line of the `url()` or `git()` that the fetch `drvPath` fetches, if this lowerer made it. */
  originPlace(drvPath: string): { package: string; where: string } | undefined {
    return this.originPlaces.get(drvPath);
  }

  constructor(
    readonly storeDir: string = storeDirFromEnv(),
    readonly system: string = DEFAULT_SYSTEM,
  ) {
    checkRequestTypes({ storeDir, system }, { storeDir: fieldChecks.text, system: fieldChecks.text }, 'new Lowerer()');
    validateStoreDir(storeDir);
    this.derivations = new DerivationTable(storeDir);
    // The collection's toolchain is Debian's amd64 binaries: derivations for another system
    // could be written, but would name builders and inputs that cannot run there.
    if (system !== DEFAULT_SYSTEM) throw new TsdslError(`system \`${system}\` is not supported: tsdsl's toolchain (Debian's amd64 binaries) builds for ${DEFAULT_SYSTEM} only`);
    // The hasher finds the derivations made here in `derivations` (it keeps no table of its own).
    this.hasher = new DerivationHasher(storeDir, undefined, (drvPath) => this.derivations.get(drvPath));
  }

  /**
   * Hash every local file and directory the packages' bags refer to (sources, patches), and
   * fetch and hash every URL or git origin that has no sha256 (see `fetchUnpinned`), so that
   * `lower` needs no I/O. Reports every missing file at once. While no package made so far has
   * such a source (the usual case: every origin pinned, no local file), there is nothing to
   * look for, and the graph is not walked.
   */
  async prepare(roots: readonly Package[]): Promise<void> {
    checkPackageList(roots, 'Lowerer.prepare()');
    // Nothing to look for while no package made so far has a local or unpinned source, once the
    // build systems' lists (made when first needed, and they may make packages) are made. The
    // packages of another copy of tsdsl (an older one) may not be counted: their graphs are walked.
    if (packagesToPrepare() === 0 && roots.every(madeHere)) {
      settleBuildSystems();
      this.walkSkipped = packagesToPrepare() === 0;
      if (this.walkSkipped) return;
    }
    this.walkSkipped = false;
    const files = new Map<string, [Package, string]>();
    const unpinned = new Map<UrlOrigin | GitOrigin, [Package, string]>();
    const seen = new PackageMap<true>();
    const stack = [...roots];
    // Pushed unchecked: each package is looked up once, when popped.
    const push = (list: readonly Package[]): void => {
      for (let i = 0; i < list.length; i++) stack.push(list[i]!);
    };
    while (stack.length) {
      const p = stack.pop()!;
      if (seen.has(p)) continue;
      seen.set(p, true);
      const src = p.source;
      if (src?.kind === 'local') files.set(src.path, [p, 'source']);
      else if (src && src.sha256 === undefined) unpinned.set(src, [p, 'source']);
      const patches = src?.patches ?? [];
      for (let i = 0; i < patches.length; i++) {
        const patch = patches[i]!;
        if (typeof patch === 'string') files.set(patch, [p, `source.patches[${i}]`]);
        else if (patch.sha256 === undefined) unpinned.set(patch, [p, `source.patches[${i}]`]);
      }
      // The bag's packages (directInputs, then the build system's).
      push(p.inputs);
      push(p.nativeInputs);
      push(p.propagatedInputs);
      push(p.buildSystem.toolchain());
      push(p.buildSystem.tools());
      if (p.replacement) stack.push(p.replacement);
    }
    const problems: Array<[message: string, gone: boolean]> = [];
    await Promise.all(
      [...files].map(async ([file, [p, field]]) => {
        if (this.fileHashes.has(file)) return;
        try {
          // A symlink given as the file is followed: the source is what it names (its target,
          // outside the store, would not be there in a build).
          const real = realpathSync(file);
          const st = statSync(real);
          const h = st.isFile() ? narHashOfBytes(readFileSync(real), (st.mode & 0o100) !== 0) : await narHash(real);
          this.fileHashes.set(file, { hash: h.hash, size: h.size, file: real });
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          // A relative path was taken from the file that wrote it: said, since that is the usual slip.
          const why =
            code === 'ENOENT'
              ? `does not exist (a relative path${field === 'source' ? '' : ' of a patch'} is taken from the directory of the file that calls ${field === 'source' ? 'local()' : 'url(), git() or local()'})`
              : code
                ? `cannot be read (${code})`
                : `cannot be hashed: ${(e as Error).message}`;
          // The line of the origin (url(), local()) that names the file, else the definition's.
          const where = formatLocation(p.source?.location ?? p.location);
          problems.push([`\`${fullName(p)}\` (${where}), ${field}: \`${file}\` ${why}`, code === 'ENOENT']);
        }
      }),
    );
    // Files that are not there, and trees that cannot be stored (a FIFO inside), said as such.
    const missing = problems.filter(([, gone]) => gone).map(([m]) => m);
    const unreadable = problems.filter(([, gone]) => !gone).map(([m]) => m);
    const list = (what: string, ms: string[]) => (ms.length === 1 ? `${what}: ${ms[0]}` : `${what}s:\n${ms.map((m) => `  - ${m}`).join('\n')}`);
    if (problems.length) throw new TsdslError([missing.length ? list('missing file', missing) : '', unreadable.length ? list('unusable local file', unreadable) : ''].filter(Boolean).join('\n'));
    // One at a time: each may be a large download, and they share the cache's locks.
    const fetch = this.fetchUnpinned;
    if (!fetch) return;
    for (const [origin, [p, field]] of unpinned) {
      if (this.unpinnedHashes.has(origin)) continue;
      try {
        this.unpinnedHashes.set(origin, await fetch(origin));
      } catch (e) {
        const what = origin.kind === 'url' ? `\`${origin.urls[0]}\`` : `git ${origin.url} ${origin.commit}`;
        fail(p, field, `${what} has no sha256, and fetching it to compute one failed: ${(e as Error).message}`);
      }
    }
  }

  /** The last prepare() found no package with a local or unpinned source, and did not walk the graph. */
  private walkSkipped = false;

  /** For an error about a file not hashed or an origin not fetched: why prepare() may have missed it. */
  private skippedHint(): string {
    return this.walkSkipped
      ? ' (prepare() did not look: no package made by this copy of tsdsl had a local or unpinned source when it ran; was this one made after it, or by another, older, copy of tsdsl?)'
      : '';
  }

  /** The derivation that builds `p` (its own build, before any graft). */
  lower(p: Package): LoweredPackage {
    if (!isPackage(p)) throw new TsdslError(`Lowerer.lower(): the argument is ${notAPackageText(p)}${typeof p === 'string' ? `, or give lowerPackages() the name: lowerPackages(['${p}'])` : ''}`);
    return resultOf(this.lowerEntry(p));
  }

  /**
   * What a user of `p` gets: its own derivation, or, when a dependency has a replacement
   * (`--with-graft`), a graft derivation that copies the output and rewrites references to
   * each replaced dependency into references to its replacement (recursively, as Guix does).
   */
  lowerGrafted(p: Package): LoweredPackage {
    checkPackage(p, 'Lowerer.lowerGrafted()');
    return resultOf(this.graftedEntry(p));
  }

  /** `lower`, as the lowerer keeps it. */
  private lowerEntry(p: Package): Lowered {
    const hit = this.memo.get(p);
    if (hit instanceof Lowered) return hit;
    // Dependencies first, iteratively (deep graphs would overflow the stack), each package
    // lowered as soon as its inputs are: the walk keeps nothing of a package once it is done.
    // A package being expanded is in the memo as this walk's mark until lowered; met there
    // again, it is a cycle (the memo's one look-up per package met, rather than a set of its
    // own besides). Another walk's mark (a walk started from `onDerivation`, say) is not one.
    const open = new WalkMark();
    // Parallel stacks (package, its bag once expanded) rather than a record per entry.
    const stack: Package[] = [p];
    const hostStack: Array<readonly Package[] | undefined> = [undefined];
    const nativeStack: Array<readonly Package[] | undefined> = [undefined];
    const memo = this.memo;
    try {
      while (stack.length) {
        const q = stack.pop()!;
        const host = hostStack.pop();
        const native = nativeStack.pop();
        if (host) {
          // Its inputs are lowered: lowerOne finds each in the memo.
          try {
            memo.set(q, this.lowerOne(q, host, native!));
          } catch (e) {
            // A cycle is said first, wherever it is in the graph, as when the whole graph was
            // walked before any package was lowered (checkCycles walks apart from the marks).
            this.checkCycles(p);
            throw e;
          }
          continue;
        }
        const m = memo.get(q);
        if (m instanceof Lowered) continue;
        if (m === open) throw cycleError(q);
        memo.set(q, open);
        const h = withPropagatedShared(q.inputs, q.propagatedInputs);
        const n = withPropagatedShared(q.nativeInputs, q.buildSystem.toolchain(), q.buildSystem.tools());
        stack.push(q);
        hostStack.push(h);
        nativeStack.push(n);
        // Not lowered yet (absent, or marked: being expanded, which popped again is a cycle).
        for (let i = 0; i < h.length; i++) if (!(memo.get(h[i]!) instanceof Lowered)) (stack.push(h[i]!), hostStack.push(undefined), nativeStack.push(undefined));
        for (let i = 0; i < n.length; i++) if (!(memo.get(n[i]!) instanceof Lowered)) (stack.push(n[i]!), hostStack.push(undefined), nativeStack.push(undefined));
      }
    } catch (e) {
      // Whatever stopped the walk (a cycle, a build system's toolchain that throws), the
      // packages it was expanding are not left marked.
      this.forgetMarks(open);
      throw e;
    }
    return memo.get(p) as Lowered;
  }

  /** After a failed walk: the packages it left marked as being expanded are not in the memo. */
  private forgetMarks(open: WalkMark): void {
    for (const [q, l] of this.memo.entries()) if (l === open) this.memo.delete(q);
  }

  /**
   * Throws the dependency-cycle error if `p`'s graph has a cycle: the same depth-first walk as
   * lowerEntry's, without lowering (lowered packages have none below them).
   */
  private checkCycles(p: Package): void {
    const open = new Set<Package>();
    const done = new Set<Package>();
    const stack: Package[] = [p];
    const expanded: boolean[] = [false];
    while (stack.length) {
      const q = stack.pop()!;
      if (expanded.pop()) {
        open.delete(q);
        done.add(q);
        continue;
      }
      if (this.memo.get(q) instanceof Lowered || done.has(q)) continue;
      if (open.has(q)) throw cycleError(q);
      open.add(q);
      stack.push(q);
      expanded.push(true);
      for (const d of [...withPropagated(q.inputs, q.propagatedInputs), ...withPropagated(q.nativeInputs, q.buildSystem.toolchain(), q.buildSystem.tools())]) {
        if (!(this.memo.get(d) instanceof Lowered) && !done.has(d)) (stack.push(d), expanded.push(false));
      }
    }
  }

  /** `lowerGrafted`, as the lowerer keeps it. */
  private graftedEntry(p: Package): Lowered {
    const hit = this.graftMemo.get(p);
    if (hit) return hit;
    const own = this.lowerEntry(p);
    if (own.graftFree) return own;
    const mapping: Array<[string, string]> = [];
    const inputDrvs: Record<string, string[]> = {};
    for (const d of this.bagInputs(p)) {
      const orig = this.lowerEntry(d);
      const used = d.replacement ? this.graftedEntry(d.replacement) : this.graftedEntry(d);
      if (used.drvPath === orig.drvPath) continue;
      for (const [o, path] of Object.entries(orig.outputs)) {
        const to = used.outputs[o] ?? used.outputs['out']!;
        mapping.push([path, to]);
      }
      inputDrvs[used.drvPath] = Object.keys(used.outputs);
    }
    if (mapping.length === 0) {
      this.graftMemo.set(p, own);
      return own;
    }
    inputDrvs[own.drvPath] = Object.keys(own.outputs);
    const name = `${p.name}-${p.version}`;
    const env: Record<string, string> = {
      name,
      builder: 'builtin:graft',
      system: this.system,
      original: Object.entries(own.outputs).map(([o, path]) => `${o}=${path}`).join(' '),
      mapping: mapping.map(([a, b]) => `${a}=${b}`).join(' '),
    };
    const result = this.finalize(p, name, { outputs: p.outputs, builder: 'builtin:graft', args: [], env, inputDrvs, inputSrcs: [] });
    this.graftMemo.set(p, result);
    return result;
  }

  /**
   * The package's source as `tsdsl build -S` gives it: the fetched file itself when there is
   * nothing to patch, otherwise a derivation that unpacks it and applies the patches and the
   * snippet (the gnu builder with only its unpack and patch phases), whose output is the tree.
   */
  lowerSource(p: Package): { path: string; drvPath?: string } {
    checkPackage(p, 'Lowerer.lowerSource()');
    if (!p.source) fail(p, 'source', 'the package has no source');
    if (!p.source.patches.length && !p.source.snippet) {
      const o = this.lowerOrigin(p, p.source, 'source');
      return o.drvPath ? { path: o.path, drvPath: o.drvPath } : { path: o.path };
    }
    const full = this.lowerEntry(p).derivation.drv;
    const env: Record<string, string> = { name: `${p.name}-${p.version}-source`, system: this.system, phaseList: 'unpack patch' };
    for (const k of ['src', 'patches', 'patchFlags', 'snippet', 'nativeInputs', 'builder']) if (full.env[k] !== undefined) env[k] = full.env[k]!;
    env['postPatch'] = 'cp -r . "$out"';
    // The same inputs as the build (unpacking needs its tools), each named by its variable.
    const inputOutputs = new Set(Object.keys(full.inputDrvs).flatMap((k) => Object.values(this.derivations.get(k)!.drv.outputs).map((o) => o.path)));
    for (const [k, v] of Object.entries(full.env)) if (inputOutputs.has(v) && env[k] === undefined) env[k] = v;
    const inputDrvs: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(full.inputDrvs)) inputDrvs[k] = [...v];
    const r = this.finalize(p, `${p.name}-${p.version}-source`, {
      outputs: ['out'],
      builder: full.builder,
      args: [...full.args],
      env,
      inputDrvs,
      inputSrcs: [...full.inputSrcs],
    });
    return { path: r.outputs['out']!, drvPath: r.drvPath };
  }

  /**
   * A profile: one store item that unions the packages' outputs (propagated inputs included)
   * as symlinks, with `manifest.json` (packages, versions, outputs, store paths,
   * transformations) and `etc/profile` setting the search paths. Built by `builtin:profile`.
   */
  lowerProfile(items: readonly ProfileItem[], extra: { collectionRevision?: string } = {}): LoweredPackage {
    checkProfileItems(items, 'Lowerer.lowerProfile()');
    checkRequestKeys(extra, ['collectionRevision'], 'Lowerer.lowerProfile()');
    checkRequestTypes(extra, { collectionRevision: fieldChecks.text }, 'Lowerer.lowerProfile()');
    const packages = items.map(itemPackage);
    // The outputs asked for of each package given (`hwloc:lib`). A package given alone, and one
    // another propagates (its users need all of it), brings all of its outputs.
    const asked = new Map<Package, Set<string> | 'all'>();
    for (const x of items) {
      const p = itemPackage(x);
      const had = asked.get(p);
      if (!isPackageOutput(x)) asked.set(p, 'all');
      else if (had === undefined) asked.set(p, new Set([x[1]]));
      else if (had !== 'all') had.add(x[1]);
    }
    const propagated = new Set(withPropagated(packages.flatMap((p) => p.propagatedInputs)));
    const all = withPropagated(packages);
    // One entry per derivation: a package given and also propagated by another (`pack scotch
    // zlib --without-tests=zlib`, where the root records the transformation and scotch's input
    // does not) is listed once, as given; so is one given twice (`-m m.ts -m m.ts`), with the
    // outputs asked for each time (`hwloc:lib hwloc:doc`).
    const given = new Set(packages);
    const entries: Array<{ p: Package; l: Lowered; outputs: Set<string> | 'all' }> = [];
    const at = new Map<string, number>();
    for (const p of all) {
      const l = this.graftedEntry(p);
      const outputs = propagated.has(p) ? 'all' : asked.get(p) ?? 'all';
      const i = at.get(l.drvPath);
      if (i === undefined) {
        at.set(l.drvPath, entries.length);
        entries.push({ p, l, outputs });
        continue;
      }
      const e = entries[i]!;
      if (given.has(p) && !given.has(e.p)) entries[i] = { p, l, outputs: 'all' };
      else if (outputs === 'all' || e.outputs === 'all') e.outputs = 'all';
      else for (const o of outputs) e.outputs.add(o);
    }
    // Two different derivations of one name, one of them asked for: the union would keep the
    // first one's files in silence (Guix refuses such a profile too).
    for (const a of entries) {
      if (!given.has(a.p)) continue;
      const b = entries.find((e) => e !== a && e.p.name === a.p.name);
      if (b === undefined) continue;
      const describe = (e: { p: Package }) => {
        const applied = appliedOptionsText(e.p);
        return `\`${specString(e.p)}\`${applied ? ` (${applied})` : ''}${given.has(e.p) ? '' : ', which another package propagates'}`;
      };
      throw new TsdslError(
        `a profile cannot hold two different \`${a.p.name}\`: ${describe(a)} and ${describe(b)} would install the same files, and one would hide the other; ask for one of them (the same transformations apply to every package given, on the command line or in a manifest)`,
      );
    }
    // The outputs each entry installs, in the package's order of outputs.
    const installed = entries.map(({ l, outputs }) =>
      outputs === 'all' ? l.outputs : Object.fromEntries(Object.entries(l.outputs).filter(([o]) => outputs.has(o))),
    );
    const manifest = {
      version: 1,
      packages: entries.map(({ p }, i) => ({
        name: p.name,
        version: p.version,
        variants: p.variants,
        outputs: installed[i]!,
        propagated: !given.has(p),
        transformations: (p.properties['transformations'] as unknown[] | undefined) ?? [],
      })),
      ...(extra.collectionRevision ? { collectionRevision: extra.collectionRevision } : {}),
    };
    const inputDrvs: Record<string, string[]> = {};
    entries.forEach(({ l }, i) => (inputDrvs[l.drvPath] = Object.keys(installed[i]!)));
    const env: Record<string, string> = {
      name: 'profile',
      builder: 'builtin:profile',
      system: this.system,
      inputs: installed.flatMap((o) => Object.values(o)).join(' '),
      manifest: JSON.stringify(manifest),
    };
    const owner = packages[0] ?? all[0];
    if (!owner) throw new TsdslError('a profile needs at least one package');
    return resultOf(this.finalize(owner, 'profile', { outputs: ['out'], builder: 'builtin:profile', args: [], env, inputDrvs, inputSrcs: [] }));
  }

  /** The bag's inputs: the package's own, then its build system's implicit ones. */
  bagInputs(p: Package): Package[] {
    return withPropagated(p.inputs, p.nativeInputs, p.propagatedInputs, p.buildSystem.toolchain(), p.buildSystem.tools());
  }

  /**
   * Every derivation needed for `drvPath` (or for each of several), in dependency order (for
   * writing to a store), each once: several roots are walked together, so a thousand packages
   * that share their inputs cost one walk of the union, not one walk of it per package.
   */
  closureOf(drvPath: string | readonly string[]): FinalizedDerivation[] {
    const roots: readonly unknown[] = Array.isArray(drvPath) ? drvPath : [drvPath];
    for (const r of roots) {
      if (typeof r !== 'string' || !this.derivations.has(r)) throw new TsdslError(unknownDerivationText(typeof r === 'string' ? r : shown(r), 'Lowerer.closureOf()'));
    }
    return derivationsInOrder(this, roots as readonly string[]);
  }

  // --- internals -------------------------------------------------------------------------------

  private finalize(
    p: Package,
    name: string,
    spec: { outputs: readonly string[]; builder: string; args: string[]; env: Record<string, string>; inputDrvs: Record<string, string[]>; inputSrcs: string[] },
  ): Lowered {
    const problem = validateDrvName(name);
    if (problem) fail(p, 'name and version', problem);
    const outputs: Derivation['outputs'] = {};
    for (const o of spec.outputs) outputs[o] = { path: '', hashAlgo: '', hash: '' };
    if (spec.outputs.length > 1) spec.env['outputs'] = spec.outputs.join(' ');
    const partial: Derivation = {
      outputs,
      inputDrvs: spec.inputDrvs,
      inputSrcs: spec.inputSrcs,
      system: spec.env['system'] ?? this.system,
      builder: spec.builder,
      args: spec.args,
      env: spec.env,
    };
    let fin: FinalizedDerivation & KnownInput;
    try {
      fin = finalizeDerivation(partial, name, this.hasher);
    } catch (e) {
      fail(p, 'derivation', (e as Error).message);
    }
    return this.lowered(p, fin, false);
  }

  /** Keeps a finalized derivation, and hands it to `onDerivation`. */
  private record(fin: FinalizedDerivation): void {
    this.derivations.add(fin);
    this.onDerivation?.(fin.drvPath, fin.bytes);
  }

  /** Records a finalized derivation and what its users need of it. */
  private lowered(p: Package, fin: FinalizedDerivation & KnownInput, graftFree: boolean): Lowered {
    this.record(fin);
    return new Lowered(p, fin, inputVariable(p.name), graftFree);
  }

  private addText(name: string, text: string, references: readonly string[] = []): string {
    const path = makeTextPath(name, text, references, this.storeDir);
    if (!this.items.has(path)) this.items.set(path, { kind: 'text', path, name, text, references: [...references].sort() });
    return path;
  }

  private addSource(p: Package, file: string, field: string): string {
    const h = this.fileHashes.get(file);
    if (!h) fail(p, field, `\`${file}\` was not hashed; call prepare() before lower() (or check that it exists)${this.skippedHint()}`);
    const name = basename(file).replace(/[^A-Za-z0-9+\-._?=]/g, '_');
    const path = makeSourcePath(name, h.hash, [], this.storeDir);
    if (!this.items.has(path)) this.items.set(path, { kind: 'source', path, name, file: h.file, narHash: h.hash, narSize: h.size });
    return path;
  }

  private builderScript(bs: 'gnu' | 'cmake' | 'trivial'): BuilderScript {
    let script = this.builderScripts.get(bs);
    if (!script) {
      const path = this.addText(`${bs}-builder.sh`, bs === 'trivial' ? TRIVIAL_BUILDER : gnuBuilderScript(bs));
      script = { path, sources: Object.freeze([path]), args: Object.freeze(['-e', path]) };
      this.builderScripts.set(bs, script);
    }
    return script;
  }

  /** A fixed-output derivation for a URL or git origin; a source item for a local one. */
  private lowerOrigin(p: Package, origin: Origin | UrlOrigin, field: string): LoweredOrigin {
    const hit = this.originMemo.get(origin);
    if (hit) return hit;
    let result: LoweredOrigin;
    if (origin.kind === 'local') {
      result = { path: this.addSource(p, origin.path, field) };
    } else {
      const sha256 = origin.sha256 ?? this.unpinnedHashes.get(origin);
      if (sha256 === undefined) {
        // Marked: lowering without fetching (lint) says the source is not pinned instead.
        fail(
          p,
          field,
          `${origin.kind === 'url' ? `\`${origin.urls[0]}\`` : `git ${origin.url} ${origin.commit}`} has no sha256, so its store path cannot be computed before it is fetched; pin it with a sha256, or give a local file (--with-source=./FILE)${this.skippedHint()}`,
          { unpinned: true },
        );
      }
      const name = origin.kind === 'url' ? origin.fileName : `${p.name}-${p.version}-checkout`;
      const problem = validateStoreName(name);
      if (problem) fail(p, `${field} file name`, problem);
      const env: Record<string, string> =
        origin.kind === 'url'
          ? {
              name,
              builder: 'builtin:fetchurl',
              system: 'builtin',
              url: origin.urls[0]!,
              urls: origin.urls.join(' '),
              outputHashMode: 'flat',
              outputHashAlgo: 'sha256',
              outputHash: sha256,
              preferLocalBuild: '1',
            }
          : {
              name,
              builder: 'builtin:git',
              system: 'builtin',
              url: (origin as GitOrigin).url,
              commit: (origin as GitOrigin).commit,
              recursive: (origin as GitOrigin).recursive ? '1' : '',
              outputHashMode: 'recursive',
              outputHashAlgo: 'sha256',
              outputHash: sha256,
              preferLocalBuild: '1',
            };
      const partial: Derivation = {
        outputs: { out: { path: '', hashAlgo: origin.kind === 'url' ? 'sha256' : 'r:sha256', hash: sha256 } },
        inputDrvs: {},
        inputSrcs: [],
        system: 'builtin',
        builder: env['builder']!,
        args: [],
        env,
      };
      let fin: FinalizedDerivation & KnownInput;
      try {
        fin = finalizeDerivation(partial, name, this.hasher);
      } catch (e) {
        fail(p, field, (e as Error).message);
      }
      this.record(fin);
      if (origin.location) this.originPlaces.set(fin.drvPath, { package: fullName(p), where: formatLocation(origin.location) });
      result = { path: fin.outputPaths![0]!, drvPath: fin.drvPath, derivation: fin };
    }
    this.originMemo.set(origin, result);
    return result;
  }

  /** Lowers `p`, whose host and native inputs (propagated ones included) are lowered already. */
  private lowerOne(p: Package, host: readonly Package[], native: readonly Package[]): Lowered {
    const s = this.derivationSpec(p, host, native);
    const problem = validateDrvName(s.name);
    if (problem) fail(p, 'name and version', problem);
    // Without a consumer of the bytes now (a store writing them as they come), the .drv text is
    // not kept: lowering only for paths (graph, show, an up-to-date build) keeps 1.3 kB less a
    // derivation, and the few texts asked for later are printed again.
    const fin = this.finalizeSpec(p, s, this.onDerivation ? undefined : this.reprinter);
    return this.lowered(p, fin, s.graftFree);
  }

  /** An env no derivation uses (see derivationSpec). */
  private spareEnv: EnvVars | undefined;

  /** The lowering of each package (each is lowered already when lowering is graph-ordered). */
  private loweredList(list: readonly Package[]): readonly Lowered[] {
    // Most packages of a trivial build have no native input: one shared empty list for them.
    if (list.length === 0) return NO_LOWERED;
    const out: Lowered[] = new Array(list.length);
    for (let i = 0; i < list.length; i++) {
      const m = this.memo.get(list[i]!);
      out[i] = m instanceof Lowered ? m : this.lowerEntry(list[i]!);
    }
    return out;
  }

  /** Prints a package's .drv again for the derivations lowerOne kept no text of (one for them all). */
  private readonly reprinter: Reprinter = { reprint: (p) => this.printAgain(p as Package) };

  /** The bytes of `p`'s .drv and its input paths, printed again (lowerOne kept only its paths and hashes). */
  private printAgain(p: Package): { bytes: Buffer; inputDrvPaths: readonly string[] } {
    const host = withPropagatedShared(p.inputs, p.propagatedInputs);
    const native = withPropagatedShared(p.nativeInputs, p.buildSystem.toolchain(), p.buildSystem.tools());
    const fin = this.finalizeSpec(p, this.derivationSpec(p, host, native), 'again');
    const m = this.memo.get(p);
    const was = m instanceof Lowered ? m.drvPath : undefined;
    if (fin.drvPath !== was) throw new Error(`internal: \`${fullName(p)}\` printed again gave ${fin.drvPath}, not ${was}`);
    return { bytes: fin.bytes as Buffer, inputDrvPaths: fin.inputDrvPaths! };
  }

  private finalizeSpec(p: Package, s: ReturnType<Lowerer['derivationSpec']>, again: Parameters<typeof finalizeKnownInputs>[3]): FinalizedDerivation & KnownInput {
    try {
      // derivationSpec's inputs and env are made for this call (finalizeKnownInputs sorts the
      // one in place and drops the other's output variables); its other lists are only read.
      const fin = finalizeKnownInputs({ outputs: p.outputs, inputs: s.inputs, inputSrcs: s.inputSrcs, system: this.system, builder: s.builder, args: s.args, env: s.env }, s.name, this.hasher, again, p);
      // Printed and hashed: the env is free for the next derivation.
      this.spareEnv = s.env;
      return fin;
    } catch (e) {
      fail(p, 'derivation', (e as Error).message);
    }
  }

  /** What lowerOne finalizes for `p`: name, builder, env and inputs, and whether no input has a graft. */
  private derivationSpec(
    p: Package,
    host: readonly Package[],
    native: readonly Package[],
  ): { name: string; builder: string; args: readonly string[]; env: EnvVars; inputs: KnownInput[]; inputSrcs: readonly string[]; graftFree: boolean } {
    const bs: BuildSystem = p.buildSystem;
    const name = `${p.name}-${p.version}`;
    // Input derivations as objects (each used with all its outputs); finalizeKnownInputs
    // sorts them and merges repeats, so no table keyed by .drv path is needed here. Lists are
    // made only for what there is: most derivations have the builder script as only source.
    let origins: OriginInputs | undefined;
    // The env of the last derivation finalized, emptied: no new lists for each derivation.
    // Taken, so that a package lowered meanwhile (a shell not lowered yet) makes its own.
    const env = this.spareEnv ?? new EnvVars();
    this.spareEnv = undefined;
    env.clear();
    env.add('name', name);
    env.add('system', this.system);
    const args = p.arguments;
    const ownEnv = args.env;
    if (ownEnv) {
      const keys = Object.keys(ownEnv);
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        if (setByBuild(k, bs) || p.outputs.includes(k)) fail(p, `arguments.env.${k}`, `\`${k}\` is set by the build system; choose another variable name`);
        env.set(k, ownEnv[k]!);
      }
    }
    if (hasKeys(p.variants)) env.set('variants', variantsText(p));
    const source = p.source;
    if (source) {
      const o: OriginInputs = (origins = { drvs: [], srcs: [] });
      env.set('src', useOrigin(this.lowerOrigin(p, source, 'source'), o));
      const patches = source.patches.map((patch, i) =>
        useOrigin(typeof patch === 'string' ? { path: this.addSource(p, patch, `source.patches[${i}]`) } : this.lowerOrigin(p, patch, `source.patches[${i}]`), o),
      );
      // The trivial builder runs the build phase on $src as it is: nothing would apply them.
      if (bs.name === 'trivial' && (patches.length || source.snippet)) {
        fail(
          p,
          patches.length ? 'source.patches' : 'source.snippet',
          `the trivial build system does not unpack or patch its source (its build phase gets $src as it is in the store), so the ${patches.length ? 'patches' : 'snippet'} would be ignored; apply ${patches.length ? 'them' : 'it'} in arguments.phases.build, or use the gnu build system, which unpacks and patches`,
        );
      }
      if (patches.length) env.set('patches', patches.join(' '));
      if (source.patchFlags.length !== 1 || source.patchFlags[0] !== '-p1') env.set('patchFlags', source.patchFlags.join(' '));
      if (source.snippet) env.set('snippet', source.snippet);
    }

    // host and native together are the bag's inputs.
    // Each input's lowering, looked up once.
    // Lowering graph-ordered, so every input is in the memo already (lower() covers the rest).
    const hostL = this.loweredList(host);
    const nativeL = this.loweredList(native);
    let graftFree = true;
    for (let i = 0; i < hostL.length; i++) if (!hostL[i]!.usedAsIs) graftFree = false;
    for (let i = 0; i < nativeL.length; i++) if (!nativeL[i]!.usedAsIs) graftFree = false;
    let builder: string;
    let builderArgs: readonly string[];
    let inputs: KnownInput[];
    let srcs: readonly string[];

    switch (bs.name) {
      case 'debian-binary':
        builder = 'builtin:unpack-deb';
        builderArgs = NO_SOURCES;
        if (!env.get('src')) fail(p, 'source', 'a debianBinary package needs its .deb as source');
        // Debian's Depends: not needed to unpack, but named so the derivation graph mirrors
        // the package graph (and so every input derivation appears in the env, as Nix requires
        // of a derivation written as an expression).
        inputs = inputsOf(origins, undefined, hostL, NO_LOWERED);
        srcs = origins?.srcs.length ? origins.srcs : NO_SOURCES;
        env.set('inputs', pathsOf(hostL));
        break;
      case 'union':
        builder = 'builtin:union';
        builderArgs = NO_SOURCES;
        inputs = inputsOf(origins, undefined, hostL, NO_LOWERED);
        srcs = origins?.srcs.length ? origins.srcs : NO_SOURCES;
        env.set('inputs', pathsOf(hostL));
        break;
      default: {
        // gnu, cmake, trivial — and any build system defined elsewhere that follows gnu's
        // conventions — are run by bash from the bag's native inputs.
        const shell = findNamed(native, 'bash');
        const kind = bs.name === 'cmake' ? 'cmake' : bs.name === 'trivial' ? 'trivial' : 'gnu';
        const script = this.builderScript(kind);
        // Kept by the derivation: the common list of the builder script alone is shared.
        srcs = origins?.srcs.length ? [...origins.srcs, script.path] : script.sources;
        let shellDrv: KnownInput | undefined;
        if (shell) {
          const l = this.lowerEntry(shell);
          shellDrv = l.derivation;
          builder = `${l.out}/bin/bash`;
        } else builder = '/bin/sh';
        builderArgs = script.args;
        // Bootstrap packages are not on the search paths: the sandbox's root file system is
        // made of them (FHS layout), and their variables below still name every one.
        inputs = inputsOf(origins, shellDrv, hostL, nativeL);
        env.set('inputs', pathsOf(hostL, true));
        env.set('nativeInputs', pathsOf(nativeL, true));
        // Each input's prefix as a variable named after it (`$hwloc`, `$pt_scotch`), for snippets
        // such as `--with-hwloc=$hwloc`; never overriding a variable the build system sets. A
        // replacement put in by a rewrite is also known by the label of what it replaced
        // (`$scotch` after --with-input=scotch=pt-scotch).
        setInputVariables(env, nativeL, ownVariable);
        setInputVariables(env, hostL, ownVariable);
        const labels = inputLabels(p);
        if (labels) {
          const labelVariable = (l: Lowered) => {
            const label = labels.get(l.package);
            return label === undefined ? '' : inputVariable(label);
          };
          setInputVariables(env, nativeL, labelVariable);
          setInputVariables(env, hostL, labelVariable);
        }
        // ./configure puts each kind of file in the output named after it, as Guix's gnu build
        // system does (before the package's own flags, which may say otherwise).
        const configureFlags = kind === 'gnu' && p.outputs.length > 1 ? [...outputDirectoryFlags(p), ...(args.configureFlags ?? [])] : args.configureFlags;
        if (configureFlags?.length) env.set('configureFlags', configureFlags.join('\n'));
        if (args.makeFlags?.length) env.set('makeFlags', args.makeFlags.join('\n'));
        if (args.cmakeFlags?.length) env.set('cmakeFlags', args.cmakeFlags.join('\n'));
        if (typeof args['buildType'] === 'string') env.set('buildType', args['buildType']);
        if (args.testTarget) env.set('testTarget', args.testTarget);
        if (args.installTarget) env.set('installTarget', args.installTarget);
        env.set('doCheck', args.tests === false ? '' : '1');
        env.set('parallelBuild', args.parallelBuild === false ? '' : '1');
        env.set('parallelTests', args.parallelTests === false ? '' : '1');
        if (args.stripBinaries === false) env.set('dontStrip', '1');
        if (args.validateRunpath !== false && bs.name !== 'trivial') env.set('validateRunpath', '1');
        // The C library and GCC's run-time libraries of the toolchain: every program is linked
        // against them by store path (interpreter and RUNPATH), so it needs nothing outside
        // its closure at run time.
        const libc = findRuntime(native, 'libc');
        if (libc && bs.name !== 'trivial') {
          env.set('libc', this.lowerEntry(libc).out!);
          env.set('runtimeLibs', native.filter((d) => d.properties['runtime'] === 'lib').map((d) => this.lowerEntry(d).out!).join(' '));
        }
        const debug = p.properties['debugInfo'] === true ? '-g' : '';
        const tune = typeof p.properties['tune'] === 'string' ? `-march=${p.properties['tune']}` : '';
        if (debug || tune) env.set('extraCFlags', debug && tune ? `${debug} ${tune}` : debug || tune);
        const phases = args.phases;
        if (phases) {
          const names = Object.keys(phases);
          for (let i = 0; i < names.length; i++) {
            const phase = names[i]!;
            env.set(bs.phases.includes(phase) ? `${phase}Phase` : phase, phases[phase]!);
          }
        }
        checkFlagReferences(p, env);
        checkDashedReferences(p, env);
        checkRemovedInputReferences(p, env);
      }
    }
    env.set('builder', builder);
    if (p.outputs.length > 1) env.set('outputs', p.outputs.join(' '));
    return { name, builder, args: builderArgs, env, inputs, inputSrcs: srcs, graftFree };
  }
}

const TRIVIAL_BUILDER = `# tsdsl trivial build system builder (generated)
set -eu -o pipefail
PATH=
for p in \${nativeInputs-} \${inputs-}; do for d in bin usr/bin; do [ -d "$p/$d" ] && PATH="\${PATH:+$PATH:}$p/$d"; done; done
export PATH="\${PATH:+$PATH:}/usr/bin:/bin"
cd "\${TMPDIR:-/build}"
eval "\${buildPhase:?the trivial build system runs arguments.phases.build, which is empty}"
`;

/**
 * Fetches an unpinned origin into the download cache and returns its sha256 (of the file; of
 * the checkout's NAR for git), as `builtin:fetchurl` and `builtin:git` will check it. The fetch
 * code is loaded only when such an origin is lowered.
 */
async function fetchAndHash(origin: UrlOrigin | GitOrigin): Promise<string> {
  const { fetchUrl, fetchGit } = await import('../build/fetch.js');
  // The hash found is said, so that it can be written into the package (and nothing fetched again to compute it).
  const found = (sha256: string) => {
    process.stderr.write(`tsdsl: its sha256 is ${sha256} (give it as the source's sha256 to pin it)\n`);
    return sha256;
  };
  if (origin.kind === 'url') {
    process.stderr.write(`tsdsl: fetching ${origin.urls[0]} to hash it (its sha256 is not given)\n`);
    return found((await fetchUrl({ urls: origin.urls, sha256: undefined, fileName: origin.fileName })).sha256);
  }
  process.stderr.write(`tsdsl: fetching ${origin.url} at ${origin.commit} to hash it (its sha256 is not given)\n`);
  return found((await fetchGit({ url: origin.url, commit: origin.commit, recursive: origin.recursive })).sha256);
}

/** What `lowerPackages` takes besides the packages. */
export interface LowerOptions {
  /** The logical store directory the paths are computed for (default: TSDSL_STORE_DIR, or /tsdsl/store). */
  storeDir?: string;
  system?: string;
  /** A lowerer to share its memo and derivations with earlier calls (then storeDir and system are its own). */
  lowerer?: Lowerer;
  /** Where package names are resolved (`loadCollection({ loadPath })` for your own packages); default: the default collection. */
  collection?: Collection;
}

// Every field of LowerOptions, so that a misspelt one is an error (checked by the type).
const LOWER_OPTION_KEYS = Object.keys({ storeDir: 1, system: 1, lowerer: 1, collection: 1 } satisfies Record<keyof LowerOptions, 1>);
const LOWER_OPTION_CHECKS: Readonly<Record<string, FieldCheck>> = {
  storeDir: fieldChecks.text,
  system: fieldChecks.text,
  lowerer: [(v) => v instanceof Lowerer, 'a Lowerer'],
  collection: fieldChecks.collection,
};

/**
 * Lower packages (hashing local files first); returns each package's grafted result. Each call
 * makes a new `Lowerer` unless one is given: a local source or patch edited between two calls is
 * hashed again, and a script that lowers many times does not keep every derivation it ever made.
 * Pass `lowerer` to share the memo (and the derivations) between calls.
 */
export async function lowerPackages(requested: ReadonlyArray<Package | string>, options: LowerOptions = {}): Promise<{ lowerer: Lowerer; results: LoweredPackage[] }> {
  if (!Array.isArray(requested)) {
    throw new TsdslError(`lowerPackages() takes an array of packages or package names, not ${isPackage(requested) ? `one package: wrap it, [${(requested as Package).name}]` : typeof requested === 'string' ? `a string: wrap it, [${JSON.stringify(requested)}]` : String(requested)}`);
  }
  checkRequestKeys(options, LOWER_OPTION_KEYS, 'lowerPackages()');
  checkRequestTypes(options, LOWER_OPTION_CHECKS, 'lowerPackages()');
  // Spec strings are resolved in `collection` (the default one unless given), as pack() and run() resolve them.
  const packages = requested.some((p) => typeof p === 'string')
    ? await (async () => {
        const c = options.collection ?? (await import('../transform/api.js')).getDefaultCollection();
        return requested.map((p) => (typeof p === 'string' ? c.resolve(p) : p));
      })()
    : (requested as readonly Package[]);
  for (const p of packages) if (!isPackage(p)) throw new TsdslError(`lowerPackages(): ${shown(p)} is neither a package nor a package name`);
  // A lowerer computes for its own store directory and system: another one asked for alongside
  // it would be silently ignored.
  for (const k of ['storeDir', 'system'] as const) {
    const asked = options[k];
    if (options.lowerer && asked !== undefined && asked !== options.lowerer[k]) {
      throw new TsdslError(`lowerPackages(): \`${k}\` is ${JSON.stringify(asked)}, but the \`lowerer\` given computes for ${JSON.stringify(options.lowerer[k])}; drop one of them (a lowerer is made for one: new Lowerer(storeDir))`);
    }
  }
  const lowerer = options.lowerer ?? new Lowerer(options.storeDir, options.system);
  await lowerer.prepare(packages);
  return { lowerer, results: packages.map((p) => lowerer.lowerGrafted(p)) };
}

/** Nix's JSON form of a derivation (`nix derivation show`). */
export function derivationJson(fin: Pick<FinalizedDerivation, 'drvPath' | 'name' | 'drv'>): Record<string, unknown> {
  if (typeof fin?.drvPath !== 'string' || typeof fin.drv?.outputs !== 'object') {
    throw new TsdslError(`derivationJson() takes a lowered derivation (lowerer.lowerGrafted(p).derivation, or one of lowerer.derivations), not ${shown(fin)}`);
  }
  const d = fin.drv;
  return {
    [fin.drvPath]: {
      name: fin.name,
      outputs: Object.fromEntries(
        Object.entries(d.outputs).map(([o, v]) => [o, v.hashAlgo ? { path: v.path, hashAlgo: v.hashAlgo, hash: v.hash } : { path: v.path }]),
      ),
      inputDrvs: Object.fromEntries(Object.keys(d.inputDrvs).sort().map((k) => [k, d.inputDrvs[k]])),
      inputSrcs: d.inputSrcs,
      system: d.system,
      builder: d.builder,
      args: d.args,
      // Sorted, as in the .drv file: a derivation finalized here keeps the order it was built in.
      env: Object.fromEntries(Object.keys(d.env).sort().map((k) => [k, d.env[k]])),
    },
  };
}
