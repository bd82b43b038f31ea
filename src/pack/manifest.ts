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
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { TsdslError, isTsdslError } from '../errors.js';
import { isPackage, type Package } from '../dsl/package.js';
import { captureLocation, formatLocation, resolveLocation, type CapturedLocation } from '../dsl/location.js';
import type { Collection } from '../registry/collection.js';
import type { TransformSpec } from '../transform/api.js';

/** What a manifest file declares. */
export interface PackManifest {
  /** Spec strings (`hwloc`, `mumps@5.6`) or packages. */
  readonly packages: ReadonlyArray<Package | string>;
  /** Applied to every package, in order: the object form of `transform()` or `--with-…` strings. */
  readonly transformations?: TransformSpec | readonly string[];
}

const WHERE = Symbol('tsdsl.manifest.location');

interface Located {
  readonly [WHERE]?: CapturedLocation;
}

function where(manifest: PackManifest, file: string): string {
  const loc = resolveLocation((manifest as Located)[WHERE]);
  return loc ? formatLocation(loc) : file;
}

function checkShape(m: unknown, at: () => string): asserts m is PackManifest {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) {
    throw new TsdslError(`${at()}: a manifest is an object { packages: [...], transformations?: {...} }, not ${Array.isArray(m) ? 'an array' : typeof m}`);
  }
  const known = ['packages', 'transformations'];
  for (const key of Object.keys(m)) {
    if (!known.includes(key)) throw new TsdslError(`${at()}: unknown manifest field \`${key}\` (fields: ${known.join(', ')})`);
  }
  const { packages, transformations } = m as Record<string, unknown>;
  if (!Array.isArray(packages) || packages.length === 0) {
    throw new TsdslError(`${at()}: \`packages\` must be a non-empty list of package names or packages, e.g. packages: ['hwloc']`);
  }
  packages.forEach((p, i) => {
    if (typeof p !== 'string' && !isPackage(p)) throw new TsdslError(`${at()}: packages[${i}] is neither a package name nor a package (${String(p)})`);
  });
  if (transformations !== undefined) {
    const strings = Array.isArray(transformations) && transformations.every((t) => typeof t === 'string');
    const object = typeof transformations === 'object' && transformations !== null && !Array.isArray(transformations);
    if (!strings && !object) {
      throw new TsdslError(`${at()}: \`transformations\` is an object such as { withInput: { scotch: 'pt-scotch' } } or a list of strings such as ['--with-input=scotch=pt-scotch']`);
    }
  }
}

/** Declares a pack manifest (checked now; errors name the file and line of this call). */
export function defineManifest(manifest: PackManifest): PackManifest {
  const captured = captureLocation(defineManifest);
  checkShape(manifest, () => formatLocation(resolveLocation(captured)));
  return Object.freeze({ ...manifest, [WHERE]: captured });
}

/** The packages of a manifest file, resolved in `collection` and transformed. */
export interface LoadedManifest {
  readonly file: string;
  readonly packages: Package[];
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
  checkShape(manifest, () => file);
  const at = where(manifest, file);
  const { transform } = await import('../transform/api.js');
  const packages = manifest.packages.map((p) => {
    if (isPackage(p)) return p;
    try {
      return collection.resolve(p);
    } catch (e) {
      if (isTsdslError(e)) throw new TsdslError(`${at}: ${e.message}`, { cause: e });
      throw e;
    }
  });
  const spec = manifest.transformations;
  if (spec === undefined || (Array.isArray(spec) ? spec.length === 0 : Object.keys(spec).length === 0)) return { file: abs, packages };
  try {
    return { file: abs, packages: packages.map((p) => transform(p, spec, { collection, warn })) };
  } catch (e) {
    if (isTsdslError(e)) throw new TsdslError(`${at}: ${e.message.replace(/^transform: /, '')}`, { cause: e });
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Collection revision, for --save-provenance

/** The commit of the git work tree holding `dir` (with `-dirty` when files under `dir` changed), or undefined. */
function gitRevision(dir: string): string | undefined {
  const head = spawnSync('git', ['-C', dir, 'rev-parse', '--verify', '-q', 'HEAD'], { encoding: 'utf8' });
  if (head.status !== 0 || !/^[0-9a-f]{40}\n$/.test(head.stdout)) return undefined;
  const status = spawnSync('git', ['-C', dir, 'status', '--porcelain', '--untracked-files=no', '--', '.'], { encoding: 'utf8' });
  return `git:${head.stdout.trim()}${status.status === 0 && status.stdout.trim() !== '' ? '-dirty' : ''}`;
}

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
    } else if (/\.(ts|mts|js|mjs|patch|diff)$/.test(p)) {
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

/**
 * The collection revision recorded by `--save-provenance`: the default collection as
 * `tsdsl <version> <git:commit | sha256:…>`, then each user directory or file (`-L`, the
 * manifest) by its base name and revision. Deterministic: the same sources give the same text.
 */
export function collectionRevision(userPaths: readonly string[]): string {
  const here = fileURLToPath(import.meta.url);
  const marker = `${sep}dist${sep}src${sep}`;
  const root = here.includes(marker) ? here.slice(0, here.lastIndexOf(marker)) : resolve(dirname(here), '..', '..');
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string };
  const sources = existsSync(join(root, 'packages')) ? join(root, 'packages') : join(root, 'dist', 'packages');
  const parts = [`tsdsl ${pkg.version ?? 'unknown'} ${revisionOf(sources)}`];
  for (const p of userPaths) {
    const abs = resolve(p);
    if (!existsSync(abs)) continue;
    parts.push(`${basename(abs)} ${revisionOf(abs)}`);
  }
  return parts.join('; ');
}
