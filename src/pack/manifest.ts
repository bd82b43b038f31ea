/**
 * Manifest files for `tsdsl pack -m FILE`: a TypeScript module whose default export lists the
 * packages to pack and the transformations to apply to them, like Guix's
 * `specifications->manifest` files:
 *
 * ```ts
 * import { defineManifest } from 'tsdsl';
 * export default defineManifest({
 *   packages: ['hwloc', 'mumps'],
 *   transformations: { withInput: { scotch: 'pt-scotch' } },
 * });
 * ```
 *
 * Packages are spec strings (`"mumps@5"`) or Package objects (`import { hwloc } from
 * 'tsdsl/packages'`, or packages defined in the manifest file itself); transformations take the
 * same two forms as `transform()`: the object form or the command-line strings
 * (`['--with-input=scotch=pt-scotch']`). The file is loaded like a `-L` package file (so the
 * packages it defines join the collection), and every error names its file and line.
 *
 * Also here: the collection revision that `--save-provenance` writes into the profile's
 * manifest.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { TsdslError, didYouMean, isTsdslError, shown } from '../errors.js';
import { checkOutput, directInputs, isPackage, isPackageOutput, itemPackage, withItemPackages, type Package, type ProfileItem } from '../dsl/package.js';
import { captureLocation, formatLocation, lineWhere, resolveLocation, type CapturedLocation } from '../dsl/location.js';
import { escapeRegExp } from '../regexp.js';
import type { Collection } from '../registry/collection.js';
import type { TransformSpec } from '../transform/api.js';

/** What a manifest file declares. */
export interface PackManifest {
  /** Spec strings (`hwloc`, `mumps@5.6`, `hwloc:lib`), packages, or outputs of packages (`[hwloc, 'lib']`). */
  readonly packages: ReadonlyArray<ProfileItem | string>;
  /** Applied to every package, in order: the object form of `transform()` or `--with-…` strings. */
  readonly transformations?: TransformSpec | readonly string[];
}

const WHERE = Symbol('tsdsl.manifest.location');

interface Located {
  readonly [WHERE]?: CapturedLocation;
}

/** Where a loaded manifest (any value a manifest file exported) was defined, or its file. */
function where(manifest: unknown, file: string, word?: string): string {
  const captured = typeof manifest === 'object' && manifest !== null ? (manifest as Located)[WHERE] : undefined;
  return lineNaming(captured, file, word);
}

/** `FILE:LINE` of a manifest defined at `captured` (`fallback` when unknown), at the line naming `word` if one does. */
function lineNaming(captured: CapturedLocation | undefined, fallback: string, word?: string): string {
  const loc = resolveLocation(captured);
  if (!loc) return fallback;
  // The line of the entry at fault, when one line names it (quoted, or as a key): not the call's.
  if (word !== undefined) {
    const e = escapeRegExp(word);
    const names = new RegExp(`(['"\`])${e}\\1|(^|[\\s{,])${e}\\s*:`);
    // From the call on: the manifest's fields follow `defineManifest(`.
    const line = lineWhere(loc.file, (l) => names.test(l), loc.line);
    if (line !== undefined) return formatLocation({ ...loc, line });
  }
  return formatLocation(loc);
}

/** Checks a manifest's shape; `at(word)` says where (the line naming `word`, when given). */
function checkShape(m: unknown, at: (word?: string) => string): asserts m is PackManifest {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) {
    throw new TsdslError(`${at()}: a manifest is an object { packages: [...], transformations?: {...} }, not ${m === null ? 'null' : Array.isArray(m) ? 'an array' : typeof m}`);
  }
  const known = ['packages', 'transformations'];
  for (const key of Object.keys(m)) {
    if (!known.includes(key)) throw new TsdslError(`${at(key)}: unknown manifest field \`${key}\`${didYouMean(key, known)} (fields: ${known.join(', ')})`);
  }
  const { packages, transformations } = m as Record<string, unknown>;
  if (!Array.isArray(packages) || packages.length === 0) {
    throw new TsdslError(`${at('packages')}: \`packages\` must be a non-empty list of package names or packages, e.g. packages: ['hwloc']`);
  }
  packages.forEach((p, i) => {
    if (isPackageOutput(p)) {
      try {
        checkOutput(p[0], p[1]);
      } catch (e) {
        if (isTsdslError(e)) throw new TsdslError(`${at(p[1])}: packages[${i}]: ${e.message}`, { cause: e });
        throw e;
      }
    } else if (Array.isArray(p)) {
      // `['two', 'doc']`: the spec string says it in one.
      const spec = p.length === 2 && typeof p[0] === 'string' && typeof p[1] === 'string' ? `; for a package by name, write '${p[0]}:${p[1]}'` : '';
      const items = `[${p.map((x: unknown) => (isPackage(x) ? `package ${x.name}` : shown(x))).join(', ')}]`;
      throw new TsdslError(`${at()}: packages[${i}] is ${items}; an output of a package is written [package, 'output'] (a package object and an output name)${spec}`);
    } else if (typeof p !== 'string' && !isPackage(p)) {
      throw new TsdslError(`${at()}: packages[${i}] is ${shown(p)}, neither a package name, a package nor an output of one ([package, 'output'])`);
    }
  });
  if (transformations !== undefined) {
    const strings = Array.isArray(transformations) && transformations.every((t) => typeof t === 'string');
    const object = typeof transformations === 'object' && transformations !== null && !Array.isArray(transformations);
    if (!strings && !object) {
      throw new TsdslError(`${at('transformations')}: \`transformations\` is an object such as { withInput: { scotch: 'pt-scotch' } } or a list of strings such as ['--with-input=scotch=pt-scotch']`);
    }
  }
}

/** Declares a pack manifest (checked now; errors name the file and line of this call). */
export function defineManifest(manifest: PackManifest): PackManifest {
  const captured = captureLocation(defineManifest);
  checkShape(manifest, (word) => lineNaming(captured, '<unknown location>', word));
  return Object.freeze({ ...manifest, [WHERE]: captured });
}

/** The packages (and outputs) of a manifest file, resolved in `collection` and transformed. */
export interface LoadedManifest {
  readonly file: string;
  readonly packages: ProfileItem[];
}

/**
 * Loads the manifest module `file` (already imported by the collection loader when `collection`
 * was loaded with it on its load path), resolves its packages and applies its transformations.
 */
export async function loadManifest(file: string, collection: Collection, warn: (text: string) => void): Promise<LoadedManifest> {
  const abs = resolve(file);
  let ns: Record<string, unknown>;
  try {
    ns = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  } catch (e) {
    if (isTsdslError(e)) throw e;
    throw new TsdslError(`-m ${file}: loading the manifest failed: ${(e as Error).message}`, { cause: e });
  }
  const manifest = ns['default'];
  if (manifest === undefined) {
    throw new TsdslError(`-m ${file}: the manifest file has no default export; end it with \`export default defineManifest({ packages: ['hwloc'] })\``);
  }
  checkShape(manifest, (word) => where(manifest, file, word));
  const { orderedTransformations } = await import('../transform/api.js');
  const { applyTransformations } = await import('../transform/options.js');
  const packages = manifest.packages.map((p) => {
    if (typeof p !== 'string') return p;
    try {
      return collection.resolveItem(p);
    } catch (e) {
      if (isTsdslError(e)) throw new TsdslError(`${where(manifest, file, p)}: ${e.message}`, { cause: e });
      throw e;
    }
  });
  const spec = manifest.transformations;
  if (spec === undefined || (Array.isArray(spec) ? spec.length === 0 : Object.keys(spec).length === 0)) return { file: abs, packages };
  try {
    // Over all the manifest's packages at once, as the command line's options are: "had no
    // effect" is said of a transformation that changes none of them, not of each it leaves.
    const { ordered, objects } = orderedTransformations(spec, 'transform');
    // Relative file names (`withPatch: { hwloc: './fix.patch' }`) are the manifest's neighbours,
    // as a `local()` in it is, wherever tsdsl runs: in its real directory, as Node loads the
    // file from its real path (and local() reads from there).
    const transformed = applyTransformations(packages.map(itemPackage), ordered, collection, { warn }, { objects, cwd: dirname(realpathSync(abs)) });
    return { file: abs, packages: withItemPackages(packages, transformed) };
  } catch (e) {
    // The word the message is about (`withInptu`, a package name) finds its line.
    if (isTsdslError(e)) throw new TsdslError(`${where(manifest, file, /`([^`]+)`/.exec(e.message)?.[1])}: ${e.message.replace(/^transform: /, '')}`, { cause: e });
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Collection revision, for --save-provenance

/** The commit of the git work tree holding `dir` (with `-dirty` when files under `dir` changed), or undefined. */
function gitRevision(dir: string): string | undefined {
  const head = spawnSync('git', ['-C', dir, 'rev-parse', '--verify', '-q', 'HEAD'], { encoding: 'utf8' });
  if (head.status !== 0 || !/^[0-9a-f]{40}\n$/.test(head.stdout)) return undefined;
  // Dirty: a tracked file changed, or a file that is not in the commit could define packages or
  // be their source (an untracked `b.ts` beside the committed ones).
  const status = spawnSync('git', ['-C', dir, 'status', '--porcelain', '--untracked-files=all', '--', '.'], { encoding: 'utf8' });
  const lines = status.status === 0 ? status.stdout.split('\n').filter(Boolean) : [];
  const dirty = lines.some((l) => !l.startsWith('?? ') || PACKAGE_FILE_OR_PATCH.test(l));
  // A dirty checkout's commit alone does not say what was packed: the files' hash is added, so
  // that two different edits give two different records (and the same edit the same one).
  return `git:${head.stdout.trim()}${dirty ? `-dirty+${filesHash(dir)}` : ''}`;
}

const PACKAGE_FILE_OR_PATCH = /\.(ts|mts|js|mjs|patch|diff)$/;

/** sha256 over the sorted relative names and contents of the package files under `path`. */
function filesHash(path: string): string {
  const h = createHash('sha256');
  const walk = (p: string, rel: string): void => {
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const name of readdirSync(p).sort()) {
        if (name === 'node_modules' || name.startsWith('.')) continue;
        walk(join(p, name), rel ? `${rel}/${name}` : name);
      }
    } else if (PACKAGE_FILE_OR_PATCH.test(p)) {
      h.update(`${rel}\0${st.size}\0`);
      h.update(readFileSync(p));
    }
  };
  walk(path, '');
  return `sha256:${h.digest('hex')}`;
}

/** `git:<commit>` when `path` is in a git checkout, else a hash of its package files. */
function revisionOf(path: string): string {
  if (statSync(path).isDirectory()) {
    const git = gitRevision(path);
    if (git) return git;
  }
  return filesHash(path);
}

/** The directory tsdsl is installed in (the one holding its package.json). */
function tsdslRoot(): string {
  const here = fileURLToPath(import.meta.url);
  const marker = `${sep}dist${sep}src${sep}`;
  return here.includes(marker) ? here.slice(0, here.lastIndexOf(marker)) : resolve(dirname(here), '..', '..');
}

/**
 * The directories of the package files that define `packages` and everything they need, other
 * than tsdsl's own: what a pack made through the API records beside tsdsl's revision, as the
 * CLI records its -L directories.
 */
export function definingDirectories(packages: readonly Package[]): string[] {
  // tsdsl's own collection is recorded apart (sources or built).
  const own = [join(tsdslRoot(), 'packages') + sep, join(tsdslRoot(), 'dist', 'packages') + sep];
  const dirs = new Set<string>();
  const seen = new Set<Package>();
  const stack = [...packages];
  while (stack.length) {
    const p = stack.pop()!;
    if (seen.has(p)) continue;
    seen.add(p);
    const file = p.location?.file;
    if (file && isAbsolute(file) && !own.some((o) => file.startsWith(o))) dirs.add(dirname(file));
    stack.push(...directInputs(p));
    if (p.replacement) stack.push(p.replacement);
  }
  return [...dirs].sort();
}

/**
 * The collection revision recorded by `--save-provenance`: the default collection as
 * `tsdsl <version> <git:commit | sha256:…>`, then each user directory or file (`-L`, the
 * manifest) by its base name and revision. Deterministic: the same sources give the same text.
 */
export function collectionRevision(userPaths: readonly string[]): string {
  const root = tsdslRoot();
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string };
  const sources = existsSync(join(root, 'packages')) ? join(root, 'packages') : join(root, 'dist', 'packages');
  const parts = [`tsdsl ${pkg.version ?? 'unknown'} ${revisionOf(sources)}`];
  for (const p of userPaths) {
    const abs = resolve(p);
    // A path that is not there would be left out of the record without a word: it is an error.
    if (!existsSync(abs)) throw new TsdslError(`collection revision: \`${p}\` does not exist; give the package directories and files the packs are made from`);
    parts.push(`${basename(abs)} ${revisionOf(abs)}`);
  }
  return parts.join('; ');
}
