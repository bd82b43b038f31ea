/**
 * Loading collections: the default one (compiled, imported directly: fast) and users' package
 * files from `-L DIR` and `TSDSL_PACKAGE_PATH`, TypeScript loaded at run time through the hooks
 * in ts-hooks.ts. The hooks are registered only when a user directory is given, so plain
 * `tsdsl graph mumps` pays nothing for them.
 */
import { existsSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, delimiter, dirname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import { TsdslError, checkRequestKeys, checkRequestTypes, didYouMean, fieldChecks, isTsdslError, type FieldCheck } from '../errors.js';
import { escapeRegExp } from '../regexp.js';
import { captureLocation, lineWhere, resolveLocation } from '../dsl/location.js';
import { isPackage, type Package } from '../dsl/package.js';
import { Collection, packagesOf } from './collection.js';
import { candidateNames, readIndex, tsdslIdentity, writeIndex, type IndexedFile, type PackageIndex, type RelativeImport } from './package-index.js';
import { moduleCandidates } from './ts-hooks.js';

/** Where to find package files beyond the default collection. */
export interface LoadOptions {
  /** Directories (or files) from `-L`, in order; one may be given as a string. */
  loadPath?: string | readonly string[];
  /** Include `TSDSL_PACKAGE_PATH` (default true). */
  useEnv?: boolean;
  /** Leave out the default collection (tests, custom channels). */
  noDefault?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Files of `loadPath` that are pack manifests (`tsdsl pack -m`): their errors say so. */
  manifests?: readonly string[];
  /**
   * Where the collection's warnings go (a file of TSDSL_PACKAGE_PATH that does not load, a name
   * defined twice when it is resolved); default: stderr.
   */
  onWarning?: (text: string) => void;
}

// Every field of LoadOptions, so that a misspelt one is an error (checked by the type).
const LOAD_OPTION_KEYS = Object.keys({ loadPath: 1, useEnv: 1, noDefault: 1, env: 1, manifests: 1, onWarning: 1 } satisfies Record<keyof LoadOptions, 1>);
const LOAD_OPTION_CHECKS: Readonly<Record<string, FieldCheck>> = {
  loadPath: [(v) => (typeof v === 'string' && v !== '') || fieldChecks.texts[0](v), 'a directory, or an array of directories'],
  useEnv: fieldChecks.boolean,
  noDefault: fieldChecks.boolean,
  env: [(v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'an object of variables, as process.env'],
  manifests: fieldChecks.texts,
  onWarning: fieldChecks.function,
};

let hooksRegistered = false;

async function registerHooks(): Promise<void> {
  if (hooksRegistered) return;
  hooksRegistered = true;
  const { register } = await import('node:module');
  const here = import.meta.url;
  // Every entry of package.json's `exports`: the hook answers for `tsdsl/*` in the whole process.
  const aliases = {
    tsdsl: new URL('../index.js', here).href,
    'tsdsl/packages': new URL('../../packages/index.js', here).href,
    'tsdsl/package.json': new URL('../../../package.json', here).href,
  };
  // When running from sources (tests), the modules are .ts files next to this one.
  const ext = here.endsWith('.ts') ? '.ts' : '.js';
  if (ext === '.ts') {
    aliases.tsdsl = new URL('../index.ts', here).href;
    aliases['tsdsl/packages'] = new URL('../../packages/index.ts', here).href;
    aliases['tsdsl/package.json'] = new URL('../../package.json', here).href;
  }
  // What every package file imports, and the modules those import (the whole API: graphs,
  // packs, runs, the store), imported before the hooks: after, each module is a round trip to
  // their thread (about 300 of them, a tenth of a second or more).
  await import(aliases.tsdsl);
  await import(aliases['tsdsl/packages']);
  register(new URL(`./ts-hooks${ext}`, here).href, { data: { aliases } });
}

const PACKAGE_FILE = /\.(ts|mts|js|mjs)$/;
// A package file imports the DSL or the collection, directly or through modules of its own (a
// file whose packages a helper of the user's makes: `import { pyPackage } from './helpers'`);
// other scripts under a package directory (a `local('./src')` tree) are not loaded, so running
// a command never runs them.
const IMPORTS_TSDSL = /\b(?:from|import)\s*\(?\s*['"]tsdsl(?:\/[^'"]*)?['"]/;
const RELATIVE_IMPORT = /\b(?:from|import)\s*\(?\s*['"](\.\.?\/[^'"]*)['"]/g;

/**
 * Whether `file` (whose text is `text`) imports tsdsl, directly or through the modules it
 * imports by relative specifiers, resolved as the loader resolves them (the extension may be
 * left out, `./lib` may be `./lib/index.ts`). `known` keeps the answers: a file that reaches
 * tsdsl, and every file of a closure that does not.
 */
function reachesTsdsl(file: string, text: string, known: Map<string, boolean>, watched?: Set<string>): boolean {
  const answer = known.get(file);
  if (answer !== undefined) return answer;
  const visited = new Set<string>([file]);
  const texts = [text];
  const files = [file];
  while (files.length) {
    const at = files.pop()!;
    const source = texts.pop()!;
    if (known.get(at) === true || IMPORTS_TSDSL.test(source)) {
      known.set(file, true);
      return true;
    }
    for (const m of source.matchAll(RELATIVE_IMPORT)) {
      const target = relativeModule(at, m[1]!);
      const dir = watched && importDirectory(at, m[1]!);
      if (dir) watched!.add(dir);
      if (target === undefined || visited.has(target) || known.get(target) === false) continue;
      visited.add(target);
      watched?.add(target);
      files.push(target);
      texts.push(readText(target));
    }
  }
  // Nothing this file imports, however indirectly, imports tsdsl.
  for (const f of visited) known.set(f, false);
  return false;
}

/**
 * For the package index: the directory in which a relative specifier of `from` is looked for
 * (`../lib/ver.js` may be `../lib/ver.ts`, `./lib` may be `./lib/index.ts`), when it exists: a
 * file added there (`ver.js` beside `ver.ts`, `lib.ts` beside `lib/`) is what the loader takes
 * instead, and only the directory's modification time says so when it is outside the walk.
 */
function importDirectory(from: string, specifier: string): string | undefined {
  const dir = dirname(join(dirname(from), specifier).replace(/(.)\/+$/, '$1'));
  return existsSync(dir) ? dir : undefined;
}

/** The file a relative specifier of `from` names, as ts-hooks.ts resolves it; undefined if none. */
function relativeModule(from: string, specifier: string): string | undefined {
  const path = join(dirname(from), specifier).replace(/(.)\/+$/, '$1');
  for (const candidate of [path, ...moduleCandidates(path)]) {
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
}

/**
 * The package files below `entry`, sorted. Links are followed, but a directory is read once
 * (a link loop ends there) and a dangling link is skipped. `watched` gets every directory read
 * and every file that was looked at as a package file, or read to tell (the package index).
 */
function packageFiles(entry: string, unreadable: string[], skipped: string[] = [], seen = new Set<string>(), reaches = new Map<string, boolean>(), watched?: Set<string>): string[] {
  const st = statSync(entry);
  watched?.add(entry);
  if (st.isFile()) return [entry];
  const real = realpathSync(entry);
  if (seen.has(real)) return [];
  seen.add(real);
  const out: string[] = [];
  let names: string[];
  try {
    names = readdirSync(entry).sort();
  } catch (e) {
    // A directory the user cannot read (another user's, /proc's): skipped, and said once.
    unreadable.push(`${entry} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    return [];
  }
  for (const name of names) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(entry, name);
    let s;
    try {
      s = statSync(p);
    } catch {
      continue; // a dangling link, a link loop, or a file that went away
    }
    if (s.isDirectory()) out.push(...packageFiles(p, unreadable, skipped, seen, reaches, watched));
    else if (s.isFile() && PACKAGE_FILE.test(name) && !name.endsWith('.d.ts') && !/\.test\.[mc]?[jt]s$/.test(name)) {
      watched?.add(p);
      const text = readText(p);
      if (reachesTsdsl(p, text, reaches, watched)) out.push(p);
      else if (/\bdefinePackage\s*\(/.test(text)) skipped.push(p);
    }
  }
  return out;
}

/** A path with its links resolved, or as it is when it cannot be. */
function realOrSame(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return file;
  }
}

/** A call that makes a package, in a file's text. */
const DEFINES_PACKAGES = /\b(?:definePackage|inherit)\s*\(/;

/** The files of the scripts running now: the one that called (`captured`) and the main one. */
function runningScripts(captured: ReturnType<typeof captureLocation>): Set<string> {
  const out = new Set<string>();
  const caller = resolveLocation(captured)?.file;
  if (caller) out.add(realOrSame(caller));
  const main = process.argv[1];
  if (main) out.add(realOrSame(resolvePath(main)));
  return out;
}

/**
 * The package files among `files` that import one of the `running` scripts, however indirectly
 * (relative specifiers, as `reachesTsdsl` follows them), as real paths. While that script runs
 * its top-level `await`, importing any of them waits for it as importing the script itself
 * would (`main.ts` → `mid.ts` → `helper.ts`, which calls loadCollection: mid.ts too). Looked for
 * only when a running script is itself among `files`, the case of a script kept among them.
 */
function importersOfRunning(files: readonly string[], running: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  if (!files.some((f) => running.has(realOrSame(f)))) return out;
  const importers = new Map<string, string[]>();
  for (const [f, imports] of moduleGraph(files)) {
    for (const { target } of imports) {
      if (target === undefined) continue;
      const key = realOrSame(target);
      const list = importers.get(key);
      if (list) list.push(f);
      else importers.set(key, [f]);
    }
  }
  const queue = [...running];
  while (queue.length) {
    for (const f of importers.get(queue.pop()!) ?? []) {
      const real = realOrSame(f);
      if (!out.has(real)) (out.add(real), queue.push(real));
    }
  }
  return out;
}

/**
 * The first of the `broken` files (ones that failed to load) that `file` imports, however
 * indirectly (relative specifiers, as `reachesTsdsl` follows them), or undefined. Importing such
 * a file fails too, and not always with the broken file's error: Node 20 then reports its own
 * "request for 'tsdsl' is not in cache", which names neither file. `known` keeps the files
 * found so far (`broken` only grows, so a file found stays so).
 */
function brokenImport(file: string, broken: ReadonlyMap<string, unknown>, known: Map<string, string>): string | undefined {
  const seen = new Set<string>([file]);
  const todo = [file];
  while (todo.length) {
    const at = todo.pop()!;
    const answer = at === file ? undefined : known.get(at);
    if (answer) return (known.set(file, answer), answer);
    for (const m of readText(at).matchAll(RELATIVE_IMPORT)) {
      const target = relativeModule(at, m[1]!);
      if (target === undefined || seen.has(target)) continue;
      if (broken.has(target)) return (known.set(file, target), target);
      seen.add(target);
      todo.push(target);
    }
  }
  return undefined;
}

/** A file's text, or '' when it cannot be read. */
function readText(file: string): string {
  const kept = texts?.get(file);
  if (kept !== undefined) return kept;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    text = '';
  }
  texts?.set(file, text);
  return text;
}

/**
 * The texts read during one load (the walk, and the import graph written into the package
 * index, read each file again otherwise); undefined between loads, so that a file changed
 * since is read anew.
 */
let texts: Map<string, string> | undefined;

/**
 * The package file being imported, while one is: a file whose top-level `await` never settles
 * leaves nothing else running, and the CLI says which file it was (see `unfinishedLoad`).
 */
let loading: string | undefined;

/** What never finished, when the process is about to exit with work pending: a package file that never finished loading. */
export function unfinishedLoad(): string | undefined {
  return loading;
}

/** Import one user package file (or manifest: `kind`), turning its failures into errors naming the file. */
async function importUserFile(file: string, kind = 'package file'): Promise<Record<string, unknown>> {
  loading = file;
  try {
    const ns = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    loading = undefined;
    return ns;
  } catch (e) {
    loading = undefined;
    // The place that failed may be a file this one imports; a manifest's is said to be imported.
    const what = (place: string): string => (kind === 'package file' || place.startsWith(`${file}:`) || place === file ? `${kind} ${place}` : `${kind} ${file} (at ${place}, in a file it imports)`);
    if (isTsdslError(e)) {
      // A DSL helper's error (withVariants, inherit, transform, a variant function): said with
      // the line of the user's file that called it, unless it names a place already.
      const at = /\.[mc]?[jt]s:\d+/.test(e.message) ? undefined : firstUserFrame(e.stack ?? '');
      if (!at) throw e;
      throw new TsdslError(`loading ${what(at)} failed: ${e.message}`, { cause: e, exitCode: e.exitCode });
    }
    if (!(e instanceof Error)) {
      // `throw 'oops'`, `throw null`: no message and no stack to find the line in.
      const shown = inspect(e, { depth: 1, breakLength: Infinity });
      throw new TsdslError(
        `loading ${kind} ${file} failed: it (or a file it imports) threw ${shown.length > 200 ? `${shown.slice(0, 200)}…` : shown}, which is not an Error; throw new Error('…') to say what is wrong, with the line`,
        { cause: e },
      );
    }
    const err = e;
    if (err instanceof SyntaxError && err.message.startsWith('/')) {
      const place = /^(\/[^:]+)/.exec(err.message)![1]!;
      throw new TsdslError(place === file || kind === 'package file' ? `syntax error in ${kind} ${err.message}` : `syntax error in ${err.message} (a file that ${kind} ${file} imports)`);
    }
    // V8's own syntax errors (`{ a: 1,, }`, which the TypeScript stripper passes on) carry no place.
    const line = err instanceof SyntaxError ? await syntaxErrorLine(file, err.message) : undefined;
    if (line !== undefined) throw new TsdslError(`syntax error in ${kind} ${file}:${line}: ${err.message}`, { cause: e });
    const frame = new RegExp(`${escapeRegExp(file)}:(\\d+)`).exec(err.stack ?? '');
    // A relative import of a file that is not there: the line of the import, in the file that has it.
    const notFound = /^Cannot find module '([^']+)' imported from (\/.+)$/.exec(err.message);
    if (notFound) {
      const line = importLine(notFound[2]!, notFound[1]!);
      throw new TsdslError(
        `loading ${kind} ${file} failed: ${notFound[2]}${line ? `:${line}` : ''} imports \`${notFound[1]}\`, which does not exist (tried it with .ts, .js and /index.ts too)`,
        { cause: e },
      );
    }
    const noModule = /^No module '(tsdsl\/[^']*)' in tsdsl \((its modules are [^)]*)\) imported from (\/.+)$/.exec(err.message);
    if (noModule) {
      const [, specifier, modules, importer] = noModule as unknown as [string, string, string, string];
      const line = importLine(importer, specifier);
      const close = didYouMean(specifier, ['tsdsl/packages']);
      throw new TsdslError(`loading ${kind} ${file} failed: ${importer}${line ? `:${line}` : ''} imports '${specifier}', which tsdsl does not have${close} (${modules})`, { cause: e });
    }
    // The failing line may be in a file this one imports (b.ts, loaded by a.ts): the first frame
    // of a user file, not tsdsl's own.
    const userFrame = frame ? undefined : firstUserFrame(err.stack ?? '');
    const where = frame ? `${file}:${frame[1]}` : userFrame ?? file;
    const tdz = /^Cannot access '([^']+)' before initialization$/.exec(err.message);
    if (tdz) {
      throw new TsdslError(
        `loading ${what(where)} failed: ${err.message}: \`${tdz[1]}\` is used before its definition has run. Define it above its first use; if two package files import each other, move what both need into a third file that both import`,
        { cause: e },
      );
    }
    const missing = err instanceof ReferenceError ? /^([\p{L}\p{N}_$]+) is not defined$/u.exec(err.message)?.[1] : undefined;
    const noExport = err instanceof SyntaxError ? /^The requested module '(tsdsl(?:\/packages)?)' does not provide an export named '([^']+)'$/.exec(err.message) : null;
    const hint = missing ? await undefinedNameHint(missing) : noExport ? await missingExportHint(noExport[1]!, noExport[2]!) : '';
    throw new TsdslError(`loading ${what(where)} failed: ${err.message}${hint}`, { cause: e });
  }
}

/**
 * The line of `file` where V8 finds the syntax error `message`, found by compiling the file again
 * as a script (imports turned into requires, in an async function for a top-level await: lines
 * are kept); undefined when it compiles, or fails otherwise (the error is in a file it imports).
 */
async function syntaxErrorLine(file: string, message: string): Promise<number | undefined> {
  try {
    const { transform } = await import('sucrase');
    const { Script } = await import('node:vm');
    const code = transform(readFileSync(file, 'utf8'), { transforms: /\.[mc]?ts$/.test(file) ? ['typescript', 'imports'] : ['imports'], filePath: file }).code;
    new Script(`(async function () {${code}\n})`, { filename: file });
  } catch (e) {
    const at = new RegExp(`^${escapeRegExp(file)}:(\\d+)`).exec((e as Error).stack ?? '');
    if (at && (e as Error).message === message) return Number(at[1]);
  }
  return undefined;
}

// tsdsl's own code (the tutorial's ./my-packages may sit in the same checkout, so not all of it).
// From dist/src/registry/load.js the checkout is three levels up; from src/registry/load.ts, two.
const CHECKOUT = new URL(import.meta.url.endsWith('.ts') ? '../../' : '../../../', import.meta.url);
const TSDSL_CODE = ['dist/', 'src/', 'packages/'].map((d) => fileURLToPath(new URL(d, CHECKOUT)));

/** `file:line` of the first stack frame in a user's file (not tsdsl's, not a dependency's), if any. */
function firstUserFrame(stack: string): string | undefined {
  for (const m of stack.matchAll(/file:\/\/(\/[^:)\s]+\.[mc]?[jt]s):(\d+)/g)) {
    const path = decodeURIComponent(m[1]!);
    if (TSDSL_CODE.some((d) => path.startsWith(d)) || path.includes('/node_modules/')) continue;
    return `${path}:${m[2]}`;
  }
  return undefined;
}

/** The line of `importer` that imports the module `resolved` (by its last path component), if found. */
function importLine(importer: string, resolved: string): number | undefined {
  const name = basename(resolved).replace(/\.[mc]?[jt]s$/, '');
  const specifier = new RegExp(`['"][^'"]*\\b${escapeRegExp(name)}(?:\\.[mc]?[jt]s)?['"]`);
  return lineWhere(importer, (l) => /\b(?:from|import)\b/.test(l) && specifier.test(l));
}

/** What `tsdsl/packages` (the default collection) and `tsdsl` (the DSL) export, for hints. */
async function exportedNames(): Promise<{ packages: string[]; api: string[] }> {
  return {
    packages: Object.keys((await import('../../packages/index.js')) as Record<string, unknown>),
    api: Object.keys((await import('../index.js')) as Record<string, unknown>),
  };
}

/**
 * What to do about a name a package file uses without defining it: import it, when the
 * default collection or the DSL exports it (a forgotten import), or the closest such names.
 */
async function undefinedNameHint(name: string): Promise<string> {
  const { packages, api } = await exportedNames();
  const from = (n: string) => (packages.includes(n) ? 'tsdsl/packages' : 'tsdsl');
  if (packages.includes(name) || api.includes(name)) return `; import it: \`import { ${name} } from '${from(name)}';\``;
  const close = didYouMean(name, [...packages, ...api]);
  if (!close) return '';
  return `${close} (packages of the default collection are imported from 'tsdsl/packages', the DSL from 'tsdsl')`;
}

/**
 * What to do about an import that tsdsl's module does not export: import it from the other
 * module (a package imported from 'tsdsl', or the DSL from 'tsdsl/packages'), or the closest
 * names that module does export.
 */
async function missingExportHint(from: string, name: string): Promise<string> {
  const { packages, api } = await exportedNames();
  const [own, other, otherName] = from === 'tsdsl' ? [api, packages, 'tsdsl/packages'] : [packages, api, 'tsdsl'];
  if (other.includes(name)) return `; \`${name}\` comes from '${otherName}': \`import { ${name} } from '${otherName}';\``;
  return didYouMean(name, own);
}

/** The default collection plus user directories. */
export async function loadCollection(options: LoadOptions = {}): Promise<Collection> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TsdslError(`loadCollection() takes options, not ${typeof options === 'string' ? `the string ${JSON.stringify(options)}` : Array.isArray(options) ? 'an array' : String(options)}: loadCollection({ loadPath: ['./my-packages'] })`);
  }
  checkRequestKeys(options, LOAD_OPTION_KEYS, 'loadCollection()');
  checkRequestTypes(options, LOAD_OPTION_CHECKS, 'loadCollection()');
  return load(options, runningScripts(captureLocation(loadCollection)), undefined);
}

/**
 * For the command line: `loadCollection`, through the package index (package-index.ts). With
 * `words` (the command line's words and option values), when the index is up to date, only the
 * user files that define a name among them are imported, and the collection is partial (see
 * `Collection.partial`); otherwise every file is, and the index is written again.
 */
export async function loadCollectionFor(options: LoadOptions, words: readonly string[] | undefined): Promise<Collection> {
  return load(options, runningScripts(captureLocation(loadCollectionFor)), { words });
}

/** The modules whose build decides what a package file defines: this one, the DSL's and the default collection's. */
function tsdslModules(): string[] {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return [import.meta.url, new URL(`../index${ext}`, import.meta.url).href, new URL(`../../packages/index${ext}`, import.meta.url).href].map((u) => fileURLToPath(u));
}

/**
 * For the package index: the relative imports of `files` and of every module they import so,
 * however indirectly (as `reachesTsdsl` follows them), each with the directory it is looked for
 * in and the module it names. What a package file defines may come from a helper of the user's.
 */
function moduleGraph(files: Iterable<string>): Map<string, RelativeImport[]> {
  const graph = new Map<string, RelativeImport[]>();
  const todo = [...files];
  while (todo.length) {
    const at = todo.pop()!;
    if (graph.has(at)) continue;
    const list: RelativeImport[] = [];
    graph.set(at, list);
    for (const m of readText(at).matchAll(RELATIVE_IMPORT)) {
      const target = relativeModule(at, m[1]!);
      list.push({ specifier: m[1]!, dir: importDirectory(at, m[1]!), target });
      if (target !== undefined) todo.push(target);
    }
  }
  return graph;
}

/** What the package index keeps of a package file: the names of its packages, how many, and whether it exports an array. */
function indexEntry(file: string, ns: Readonly<Record<string, unknown>>, packages: readonly Package[]): IndexedFile {
  return { file, names: [...new Set(packages.map((p) => p.name))], count: packages.length, arrays: exportsArray(ns) };
}

/**
 * Whether a module exports an array of packages (which other modules may push packages into):
 * one holding a package, or an empty one (a registry, before the pushes). An array of
 * configure flags or names is not one.
 */
function exportsArray(ns: Readonly<Record<string, unknown>>): boolean {
  return Object.values(ns).some((v) => Array.isArray(v) && (v.length === 0 || v.some(isPackage)));
}

/**
 * Load `collection` (which holds the default collection) through the package index: the package
 * files in the order of a full load, importing those that define one of `wanted` and those out
 * of date (changed, or importing what changed; found again by walking `dirs` when the walk's
 * paths changed), and marking it partial with the names of the files left out. The index is
 * written again when anything was out of date. Undefined, for a full load that says why, when
 * a directory is gone or unreadable, a file fails or is one of the `running` scripts, or a file
 * exports other packages than the index says; and whenever a package file exports an array.
 * An array is the one export other files can change without either importing the other (both
 * import a module holding it; one pushes, the other exports it: a registry), so which files a
 * change affects, and what a file imported alone exports, cannot be told from the imports; and
 * a full load after a try in this process would see what the try's files pushed.
 */
async function loadIndexed(
  collection: Collection,
  index: PackageIndex,
  dirs: readonly string[],
  wanted: ReadonlySet<string>,
  running: ReadonlySet<string>,
  write: (files: IndexedFile[], walk: Iterable<string>, imports: Map<string, RelativeImport[]>) => void,
): Promise<Collection | undefined> {
  if (index.files.some((f) => f.arrays)) return undefined;
  let list = index.files.map((f) => f.file);
  let walk: Iterable<string> = index.walk;
  if (index.rewalk) {
    const found: string[] = [];
    const watched = new Set<string>();
    for (const dir of dirs) {
      const unreadable: string[] = [];
      if (!existsSync(dir) || (statSync(dir).isFile() && !PACKAGE_FILE.test(dir))) return undefined;
      found.push(...packageFiles(dir, unreadable, [], undefined, undefined, watched));
      if (unreadable.length) return undefined;
    }
    [list, walk] = [found, watched];
  }
  const entries = new Map(index.files.map((f) => [f.file, f]));
  const needed = (file: string): boolean => {
    const e = entries.get(file);
    return e === undefined || index.outOfDate(file) || e.names.some((n) => wanted.has(n));
  };
  if (list.some(needed)) await registerHooks();
  const left = new Set<string>();
  const took: IndexedFile[] = [];
  // Added once every file is in: a full load after a failure here starts from the default collection.
  const imported: Package[] = [];
  const importedFiles: string[] = [];
  let changed = index.rewalk;
  for (const file of list) {
    const e = entries.get(file);
    if (!needed(file)) {
      for (const n of e!.names) left.add(n);
      took.push(e!);
      continue;
    }
    if (running.has(realOrSame(file))) return undefined;
    let packages: Package[];
    let entry: IndexedFile;
    try {
      // Its packages as the full load takes them: right after its import.
      const ns = await importUserFile(file);
      packages = packagesOf(ns);
      entry = indexEntry(file, ns, packages);
    } catch {
      return undefined;
    }
    // A file that exports an array now (see above): everything is loaded.
    if (entry.arrays) return undefined;
    const { names } = entry;
    const stale = !e || index.outOfDate(file);
    if (!stale && (packages.length !== e.count || names.length !== e.names.length || !e.names.every((n) => names.includes(n)))) return undefined;
    if (stale) changed = true;
    took.push(entry);
    imported.push(...packages);
    importedFiles.push(file);
  }
  for (const p of imported) collection.add(p);
  collection.userFiles.push(...importedFiles);
  // Partial even when every file was loaded: an unknown name's error also says which files
  // were skipped (not importing tsdsl), which only a full load finds.
  collection.partial = left;
  if (changed) write(took, walk, moduleGraph(list));
  return collection;
}

async function load(options: LoadOptions, running: ReadonlySet<string>, indexed: { words: readonly string[] | undefined } | undefined): Promise<Collection> {
  texts = new Map();
  try {
    return await loadWithTexts(options, running, indexed);
  } finally {
    texts = undefined;
  }
}

async function loadWithTexts(options: LoadOptions, running: ReadonlySet<string>, indexed: { words: readonly string[] | undefined } | undefined): Promise<Collection> {
  // The script calling loadCollection (and the main script) is evaluating its top-level await:
  // imported as a package file, it would wait for itself, and Node would exit (status 13) with
  // nothing said. So a script kept among the package files it loads (`loadPath: '.'`,
  // examples/check-packages.ts given `examples`) is not one of them (`running`).
  const startedMs = Date.now();
  const collection = new Collection();
  if (options.onWarning) collection.warn = options.onWarning;
  const env = options.env ?? process.env;
  const dirs = typeof options.loadPath === 'string' ? [options.loadPath] : [...(options.loadPath ?? [])];
  // `-L ''` (or `--load-path=` with a variable that was empty) would be the working directory.
  if (dirs.some((d) => d === '')) throw new TsdslError('-L/--load-path is empty; give the directory that holds your package files (-L ./my-packages)');
  // Directories from -L come first; those after `fromEnv` are TSDSL_PACKAGE_PATH's.
  const fromEnv = dirs.length;
  const manifests = new Set((options.manifests ?? []).map((m) => resolvePath(m)));
  if (options.useEnv !== false && env['TSDSL_PACKAGE_PATH']) dirs.push(...env['TSDSL_PACKAGE_PATH'].split(delimiter).filter(Boolean));
  // Files of TSDSL_PACKAGE_PATH that failed to load, by their error (a file's own name left out),
  // and by the file that failed (for the files importing it).
  const failures = new Map<string, { message: string; files: string[] }>();
  const failedFile = new Map<string, { message: string; files: string[] }>();
  const importsBroken = new Map<string, string>();
  // The package index: for a command naming packages, only the files defining them.
  const indexDirs = indexed && !manifests.size && dirs.length ? dirs.map((d) => resolvePath(d)) : undefined;
  const identity = indexDirs ? tsdslIdentity(tsdslModules()) : '';
  // The default collection before the hooks: every module imported after them, tsdsl's own
  // too, costs a round trip to the hooks' thread.
  if (!options.noDefault) {
    const ns = (await import('../../packages/index.js')) as Record<string, unknown>;
    collection.addModule(ns);
  }
  const words = indexed?.words;
  const index = indexDirs && words ? readIndex(indexDirs, identity, env, relativeModule) : undefined;
  if (indexDirs && index && words) {
    const write = (files: IndexedFile[], walk: Iterable<string>, imports: Map<string, RelativeImport[]>) => writeIndex(indexDirs, identity, env, files, walk, imports, startedMs);
    const partial = await loadIndexed(collection, index, indexDirs, candidateNames(words), running, write);
    if (partial) return partial;
  }
  // For the index: the files loaded, with their packages' names, and what that depends on.
  const loaded: IndexedFile[] = [];
  const watched = indexDirs ? new Set<string>() : undefined;
  let complete = true;
  if (dirs.length) {
    await registerHooks();
    for (const [index, d] of dirs.entries()) {
      const dir = resolvePath(d);
      // Where the directory was named: -L (loadCollection's loadPath) or TSDSL_PACKAGE_PATH.
      const from = index < fromEnv ? 'from -L, or loadPath in the API' : 'from TSDSL_PACKAGE_PATH';
      if (dir === '/') throw new TsdslError(`package directory \`${d}\` (${from}) is the whole file system; give the directory that holds your package files`);
      if (!existsSync(dir)) {
        // A stale entry of TSDSL_PACKAGE_PATH (set once, in a shell profile) is a warning, as a
        // file there that fails to load is: it would otherwise stop every command.
        if (index >= fromEnv) {
          collection.warn(`package directory \`${d}\` (${from}) does not exist; it is left out (remove it from TSDSL_PACKAGE_PATH)`);
          complete = false;
          continue;
        }
        throw new TsdslError(`package directory \`${d}\` (${from}) does not exist`);
      }
      if (statSync(dir).isFile() && !PACKAGE_FILE.test(dir)) {
        throw new TsdslError(`\`${d}\` (${from}) is neither a directory nor a package file (.ts, .mts, .js or .mjs); give the directory that holds your package files`);
      }
      const unreadable: string[] = [];
      const files = packageFiles(dir, unreadable, collection.skippedFiles, undefined, undefined, watched);
      if (unreadable.length === 1 && unreadable[0]!.startsWith(`${dir} (`)) {
        throw new TsdslError(`package directory \`${d}\` (${from}) cannot be read ${unreadable[0]!.slice(dir.length + 1)}; check its permissions`);
      }
      if (unreadable.length) {
        complete = false;
        const shown = unreadable.slice(0, 3).join(', ') + (unreadable.length > 3 ? `, and ${unreadable.length - 3} more` : '');
        collection.warn(`-L ${d}: ${unreadable.length} director${unreadable.length === 1 ? 'y' : 'ies'} under it cannot be read and ${unreadable.length === 1 ? 'was' : 'were'} skipped: ${shown}`);
      }
      const waiting = importersOfRunning(files, running);
      for (const file of files) {
        if (running.has(realOrSame(file)) || waiting.has(realOrSame(file))) {
          // Said when it defines packages: a script that calls loadCollection() once loaded
          // (from `void main()`) had them in its collection before it was skipped.
          if (DEFINES_PACKAGES.test(readText(file))) {
            collection.warn(
              `${file} defines packages, but its packages are left out: it is the script running loadCollection()${running.has(realOrSame(file)) ? '' : ' or imports it'}, and importing it would wait for its own top-level await; keep the packages in a file of their own`,
            );
          }
          complete = false;
          continue;
        }
        // A file importing one that failed in TSDSL_PACKAGE_PATH fails too: said with that one.
        const broken = index >= fromEnv && failedFile.size ? brokenImport(file, failedFile, importsBroken) : undefined;
        if (broken !== undefined) {
          const group = failedFile.get(broken)!;
          group.files.push(file);
          failedFile.set(file, group);
          collection.failedFiles.push(file);
          continue;
        }
        let ns: Record<string, unknown>;
        try {
          ns = await importUserFile(file, manifests.has(file) ? 'manifest file (-m)' : undefined);
        } catch (e) {
          // A file of TSDSL_PACKAGE_PATH (set once, in a shell profile) that fails to load would
          // stop every command, for packages it does not even define: as Guix does with
          // GUIX_PACKAGE_PATH, it is a warning and its packages are left out. -L is the user's
          // request now, and stays an error.
          if (index < fromEnv || !isTsdslError(e)) throw e;
          // Every file that imports a broken one fails with its error: one warning for them all.
          // The same text (the broken file's own error), or the same but for the name of the file
          // being loaded where the text starts with it. Only there: a name elsewhere in it is the
          // place of the error (`imported from …/a.ts`, `…/c.ts:2:18`), and two files each broken
          // on their own the same way are two warnings, each with its own place.
          const own = `loading package file ${file} `;
          const generic = e.message.startsWith(own) ? `loading package file \0 ${e.message.slice(own.length)}` : e.message;
          const group = failures.get(e.message) ?? failures.get(generic);
          if (group) group.files.push(file);
          else {
            const fresh = { message: e.message, files: [file] };
            failures.set(e.message, fresh).set(generic, fresh);
          }
          failedFile.set(file, (failures.get(e.message) ?? failures.get(generic))!);
          collection.failedFiles.push(file);
          continue;
        }
        const packages = packagesOf(ns);
        for (const p of packages) collection.add(p);
        collection.userFiles.push(file);
        loaded.push(indexEntry(file, ns, packages));
      }
    }
  }
  if (indexDirs && watched && complete && failedFile.size === 0) writeIndex(indexDirs, identity, env, loaded, watched, moduleGraph(loaded.map((l) => l.file)), startedMs);
  for (const { message, files } of new Set(failures.values())) {
    if (files.length === 1) {
      collection.warn(`${message} (a file of TSDSL_PACKAGE_PATH: its packages are left out until it loads)`);
      continue;
    }
    const shown = files.slice(0, 5).join(', ') + (files.length > 5 ? `, and ${files.length - 5} more` : '');
    collection.warn(`${message} (the same error stops ${files.length} files of TSDSL_PACKAGE_PATH, that file and those that import it; their packages are left out until it loads: ${shown})`);
  }
  return collection;
}
