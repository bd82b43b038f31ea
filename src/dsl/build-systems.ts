/**
 * Build systems: how a package is built, and which implicit inputs that adds. A build system is
 * a plain value (STYLE.md: tables over conditionals): a name, its phases, the keys its
 * `arguments` understand, and two lazily evaluated lists of implicit inputs — the toolchain
 * (compiler, binutils, libc; what `--with-c-toolchain` replaces) and the tools (make, coreutils,
 * …). The lists are thunks because the toolchain packages are themselves defined with the DSL;
 * `gnu` and `cmake` live with the collection (`packages/build-systems.ts`), while `trivial` and
 * `debianBinary`, which need nothing, live here.
 */
import type { Package } from './package.js';
import { TsdslError, checkRequestKeys } from '../errors.js';
import { isPackage } from './brand.js';

export const BUILD_SYSTEM_BRAND: unique symbol = Symbol.for('tsdsl.build-system') as never;

/** Argument keys every build system accepts. */
export const COMMON_ARGUMENT_KEYS = ['tests', 'phases', 'env', 'stripBinaries', 'validateRunpath', 'parallelBuild'] as const;

/**
 * Environment variables the build systems set themselves: `arguments.env` may not set them, nor
 * may an output other than `out` be named after one (its path would replace their value), nor
 * does an input get a variable named after it. Besides the derivation's own variables: PATH,
 * which every builder script sets, and those the sandbox sets after the derivation's env, as
 * Nix's builder does (the build directory and its aliases, the terminal). A value given for one
 * of them would never reach the build.
 */
export const BUILD_ENV_NAMES: ReadonlySet<string> = new Set([
  'name', 'builder', 'system', 'out', 'outputs', 'src', 'patches', 'patchFlags', 'snippet', 'inputs', 'nativeInputs',
  'configureFlags', 'makeFlags', 'cmakeFlags', 'doCheck', 'dontStrip', 'extraCFlags', 'variants', 'buildType',
  'libc', 'runtimeLibs', 'parallelBuild', 'parallelTests', 'testTarget', 'installTarget', 'validateRunpath',
  'PATH', 'NIX_BUILD_TOP', 'TMPDIR', 'TEMPDIR', 'TMP', 'TEMP', 'TERM',
]);

/**
 * What the gnu builder script (run for every build system but `trivial`) also sets over the
 * derivation's env: the search paths, the locale, the time zone and tar's options.
 */
const GNU_SCRIPT_ENV_NAMES: ReadonlySet<string> = new Set(['CPATH', 'LIBRARY_PATH', 'PKG_CONFIG_PATH', 'LC_ALL', 'TZ', 'TAR_OPTIONS']);

/** Whether the build of a package of build system `bs` sets variable `name` itself (see above). */
export function setByBuild(name: string, bs: BuildSystem | undefined): boolean {
  return BUILD_ENV_NAMES.has(name) || (bs?.name !== 'trivial' && GNU_SCRIPT_ENV_NAMES.has(name));
}

/**
 * The variables a flag names as `${name}`, which the builder replaces with their values (an
 * input's prefix, `out`, …), as its `expand_refs` reads them: from each `${` to the next `}`,
 * when that text is a variable name. Anything else (`$ORIGIN`, `$(CC)`, `${a b}`) is passed as is.
 */
export function flagReferences(flag: string): string[] {
  const names: string[] = [];
  for (let at = flag.indexOf('${'); at !== -1; ) {
    const end = flag.indexOf('}', at + 2);
    if (end === -1) break;
    const name = flag.slice(at + 2, end);
    if (VARIABLE_NAME.test(name)) {
      names.push(name);
      at = flag.indexOf('${', end + 1);
    } else at = flag.indexOf('${', at + 2);
  }
  return names;
}

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Whether shell snippets (phases, a source snippet) set variable `name` (`name=…`, `export name`,
 * `for name in`, `read … name`): they run in the builder's shell before the flags are read, so a
 * flag may name what they set.
 */
export function snippetsSet(name: string, snippets: readonly string[]): boolean {
  // `name` is a variable name (what flagReferences returns), so it needs no escaping.
  const sets = new RegExp(`(?:^|[^\\w$-])${name}\\+?=|\\b(?:export|local|declare|readonly|typeset)\\s+(?:-\\w+\\s+)*${name}\\b|\\bfor\\s+${name}\\s|\\bread\\b[^\\n;]*\\s${name}\\b`);
  return snippets.some((s) => sets.test(s));
}

/** The shell variable a package name is written as in a flag or snippet (`pt-scotch` → `pt_scotch`). */
export const variableOf = (name: string): string => name.replace(/[^A-Za-z0-9_]/g, '_');

/**
 * The variable lowering sets to an input's prefix (`pt-scotch` → `pt_scotch`); '' when it would
 * be one the build sets, or not a shell name. Lint judges input variables by the same rule.
 */
export function inputVariable(name: string): string {
  const v = variableOf(name);
  return !BUILD_ENV_NAMES.has(v) && /^[A-Za-z_]/.test(v) ? v : '';
}

/** The shell snippets a package runs in its builder's shell: its phases and its source's snippet. */
export function packageSnippets(p: Package): string[] {
  return [...Object.values(p.arguments.phases ?? {}), ...(p.source?.snippet ? [p.source.snippet] : [])];
}

/**
 * Whether a variable a flag names may be set by the build environment rather than by the
 * derivation: those are upper case (`NIX_BUILD_CORES`, `TMPDIR`, `CFLAGS`), and only the build
 * can tell. A lower-case name the derivation does not set names nothing: a misspelt input.
 */
export const mayBeBuildVariable = (name: string): boolean => !/[a-z]/.test(name);

/**
 * Environment variables that mean something to Nix (fixed outputs, structured attributes,
 * reference checks, sandbox escapes): in a derivation tsdsl writes they would make Nix build
 * something else than tsdsl's builder does, so packages may not set them.
 */
export const NIX_SPECIAL_ENV: ReadonlySet<string> = new Set([
  'outputHash', 'outputHashAlgo', 'outputHashMode', '__structuredAttrs', '__json', 'allowedReferences', 'allowedRequisites',
  'disallowedReferences', 'disallowedRequisites', 'outputChecks', 'unsafeDiscardReferences', 'passAsFile', 'impureEnvVars',
  'exportReferencesGraph', 'requiredSystemFeatures', 'preferLocalBuild', 'allowSubstitutes', '__contentAddressed', '__impure',
  '__noChroot', '__impureHostDeps', '__sandboxProfile', '__propagatedSandboxProfile', '__darwinAllowLocalNetworking',
]);

/** A build system: a value with a name, phases and implicit inputs. */
export interface BuildSystem {
  readonly [BUILD_SYSTEM_BRAND]: true;
  readonly name: string;
  readonly description: string;
  /** Phases in order; `arguments.phases` may replace any of them or add `pre<Phase>`/`post<Phase>`. */
  readonly phases: readonly string[];
  /** Keys `arguments` may hold for this build system (beyond the common ones). */
  readonly argumentKeys: readonly string[];
  /** The C/C++/Fortran toolchain added to every bag (replaced by `--with-c-toolchain`). */
  toolchain(): readonly Package[];
  /** Other implicit native inputs (make, coreutils, …). */
  tools(): readonly Package[];
}

/** Fields of `defineBuildSystem`. */
export interface BuildSystemSpec {
  name: string;
  description: string;
  phases: readonly string[];
  argumentKeys?: readonly string[];
  toolchain?: () => readonly Package[];
  tools?: () => readonly Package[];
}

/** True for a build system made by `defineBuildSystem` (from any loaded copy of tsdsl). */
export function isBuildSystem(x: unknown): x is BuildSystem {
  return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[BUILD_SYSTEM_BRAND] === true;
}

/** Argument key → names of the build systems defined so far that take it (for error messages). */
const argumentOwners = new Map<string, Set<string>>();

/** The build systems defined so far that take the argument `key` (`cmakeFlags` → cmake). */
export function buildSystemsTaking(key: string): string[] {
  return [...(argumentOwners.get(key) ?? [])].sort();
}

/** Make a build system; the implicit-input thunks are evaluated once, on first use. */
export function defineBuildSystem(spec: BuildSystemSpec): BuildSystem {
  checkBuildSystemSpec(spec);
  for (const k of spec.argumentKeys ?? []) {
    let owners = argumentOwners.get(k);
    if (!owners) argumentOwners.set(k, (owners = new Set()));
    owners.add(spec.name);
  }
  const once = (f: (() => readonly Package[]) | undefined, what: 'toolchain' | 'tools'): (() => readonly Package[]) => {
    // A list given as is would fail at first use with "f is not a function", naming nothing.
    if (f !== undefined && typeof f !== 'function') {
      throw new TsdslError(
        `build system \`${spec.name}\`: ${what} is ${valueText(f)}, not a function; write \`${what}: () => [gcc, binutils]\` (evaluated when first needed, so it may name packages defined after the build system)`,
      );
    }
    let cache: readonly Package[] | undefined;
    return () => (cache ??= Object.freeze(checkedList(spec.name, what, f ? f() : [])));
  };
  const bs: BuildSystem = Object.freeze({
    [BUILD_SYSTEM_BRAND]: true as const,
    name: spec.name,
    description: spec.description,
    phases: Object.freeze([...spec.phases]),
    argumentKeys: Object.freeze([...(spec.argumentKeys ?? [])]),
    toolchain: once(spec.toolchain, 'toolchain'),
    tools: once(spec.tools, 'tools'),
  });
  // A thunk may define packages (a local helper) when first called: prepare() settles them first.
  if (spec.toolchain || spec.tools) unsettled().add(new WeakRef(bs));
  return bs;
}

const BUILD_SYSTEM_KEYS = Object.keys({ name: 1, description: 1, phases: 1, argumentKeys: 1, toolchain: 1, tools: 1 } satisfies Record<keyof BuildSystemSpec, 1>);

/** defineBuildSystem's fields, checked as definePackage checks its own: a misspelt one is an error, not dropped. */
function checkBuildSystemSpec(spec: BuildSystemSpec): void {
  const name = (spec as Partial<BuildSystemSpec> | undefined)?.name;
  const who = typeof name === 'string' && name !== '' ? `build system \`${name}\`` : 'defineBuildSystem';
  checkRequestKeys(spec, BUILD_SYSTEM_KEYS, who);
  if (typeof spec.name !== 'string' || !/^[a-z][a-z0-9-]*$/.test(spec.name)) {
    throw new TsdslError(`${who}: name is ${valueText(spec.name)}; give a lower-case name such as 'gnu' or 'my-build' (letters, digits and dashes)`);
  }
  if (typeof spec.description !== 'string' || spec.description.trim() === '') throw new TsdslError(`${who}: description is ${valueText(spec.description)}; give a sentence saying what the build system does`);
  const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string' && x !== '');
  if (!strings(spec.phases)) throw new TsdslError(`${who}: phases is ${valueText(spec.phases)}; give a list of phase names, such as ['configure', 'build', 'check', 'install']`);
  if (spec.argumentKeys !== undefined && !strings(spec.argumentKeys)) {
    throw new TsdslError(`${who}: argumentKeys is ${valueText(spec.argumentKeys)}; give a list of the argument names its packages may set, such as ['configureFlags']`);
  }
}

// Build systems (of any loaded copy) whose thunks may not have run yet, on the global object as the
// count of packages to prepare is (package.ts): weakly held, so an unused one is not kept alive.
const UNSETTLED = Symbol.for('tsdsl.unsettledBuildSystems');
function unsettled(): Set<WeakRef<BuildSystem>> {
  return ((globalThis as { [UNSETTLED]?: Set<WeakRef<BuildSystem>> })[UNSETTLED] ??= new Set());
}

/**
 * Runs the toolchain and tools thunks of every build system defined so far that has not run
 * them (each once; they are cached), so that the packages they define exist before
 * `Lowerer.prepare` counts them. A thunk that throws is left for the lowering that needs it to report.
 */
export function settleBuildSystems(): void {
  const set = unsettled();
  // A thunk may define a build system in turn: until none is left.
  while (set.size) {
    for (const ref of [...set]) {
      set.delete(ref);
      const bs = ref.deref();
      if (!bs) continue;
      for (const list of [bs.toolchain, bs.tools]) {
        try {
          list();
        } catch {
          // Reported by the lowering that needs the list, if any does.
        }
      }
    }
  }
}

/**
 * What a build system's `toolchain()` or `tools()` returned, checked to be a list (or another
 * iterable, not a string) of packages; a copy.
 */
function checkedList(name: string, what: 'toolchain' | 'tools', got: unknown): Package[] {
  const bad = (text: string) =>
    new TsdslError(`build system \`${name}\`: ${what}() returned ${text}; it must return a list of packages, e.g. \`${what}: () => [gcc, binutils]\``);
  const iterable = typeof got === 'object' && got !== null && typeof (got as Iterable<unknown>)[Symbol.iterator] === 'function';
  if (!iterable) throw bad(valueText(got));
  const list = [...(got as Iterable<unknown>)];
  for (let i = 0; i < list.length; i++) {
    // An item undefined is most often a package used before its definition (or misspelt).
    if (!isPackage(list[i])) throw bad(`a list whose item ${i} is ${valueText(list[i])}${list[i] === undefined ? ' (is it defined yet, and spelt right?)' : ''}`);
  }
  return list as Package[];
}

/** A value as an error message names it (never its whole text: a function's source can be long). */
function valueText(x: unknown): string {
  if (x === undefined || x === null) return String(x);
  if (typeof x === 'string') return `the string ${JSON.stringify(x.length > 40 ? x.slice(0, 40) + '…' : x)}`;
  if (typeof x === 'function') return 'a function';
  if (typeof x === 'bigint') return `${x}n`;
  if (typeof x !== 'object') return String(x);
  if (Array.isArray(x)) return 'a list';
  if (isBuildSystem(x)) return `the build system \`${x.name}\``;
  return 'an object that is not a package';
}

/** The same build system with another toolchain (what `--with-c-toolchain` does). */
export function withToolchain(bs: BuildSystem, toolchain: readonly Package[]): BuildSystem {
  return defineBuildSystem({
    name: bs.name,
    description: bs.description,
    phases: bs.phases,
    argumentKeys: bs.argumentKeys,
    toolchain: () => toolchain,
    tools: () => bs.tools(),
  });
}

/** All implicit inputs of a build system: toolchain first, then tools. */
export function implicitInputs(bs: BuildSystem): readonly Package[] {
  return [...bs.toolchain(), ...bs.tools()];
}

/** The phase-hook names a build system accepts in `arguments.phases`. */
export function phaseKeys(bs: BuildSystem): string[] {
  const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
  return bs.phases.flatMap((p) => [p, `pre${cap(p)}`, `post${cap(p)}`]);
}

/**
 * Build systems tsdsl carries out itself, with no builder script (`debian-binary`, `union`):
 * the script's switches, such as `tests`, mean nothing to them and are not in their derivations.
 */
export function runByTsdsl(bs: BuildSystem): boolean {
  return bs.name === 'debian-binary' || bs.name === 'union';
}

/** Runs `arguments.phases.build` (a shell script) with `$out` set; no implicit inputs. */
export const trivial: BuildSystem = defineBuildSystem({
  name: 'trivial',
  description: 'runs the package\'s own build script; adds no implicit inputs',
  phases: ['build'],
});

/**
 * Unpacks a Debian binary package (`.deb`) into the output; done by tsdsl itself, so it needs
 * no toolchain. This is how the bootstrap toolchain enters the store.
 */
export const debianBinary: BuildSystem = defineBuildSystem({
  name: 'debian-binary',
  description: 'unpacks a pinned Debian binary package into the store (bootstrap seed)',
  phases: ['unpack', 'install'],
  argumentKeys: ['keep', 'links'],
});

/**
 * A symlink union of the package's inputs (propagated ones included), made by tsdsl itself:
 * how toolchain bundles such as `gcc-toolchain` are put together.
 */
export const union: BuildSystem = defineBuildSystem({
  name: 'union',
  description: 'a symlink union of its inputs (toolchain bundles, profiles)',
  phases: ['install'],
});
