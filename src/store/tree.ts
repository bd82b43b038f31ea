/**
 * Making directories and deleting read-only trees (store items, unpacked packs): a small module
 * of its own, so that `tsdsl run` can use it without loading the store.
 */
import { accessSync, chmodSync, constants as fsConstants, lstatSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TsdslError } from '../errors.js';

/**
 * `mkdir -p`, one directory at a time from the root down, for directories a user's setting
 * names (the store root, caches): Node's recursive mkdir never returns when the kernel answers
 * ENOENT under a parent that exists, as /proc does. A directory another process makes
 * meanwhile is fine.
 */
export function makeDirectories(dir: string): void {
  let path = '';
  for (const part of resolve(dir).split('/').slice(1)) {
    path += `/${part}`;
    try {
      mkdirSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

/**
 * The directory an environment setting names (`TSDSL_PACK_CACHE`, `TSDSL_DOWNLOAD_CACHE`), or
 * undefined when it is unset or empty. A relative one is refused, as a relative TSDSL_ROOT is:
 * it would be another directory from each one tsdsl runs in.
 */
export function directorySetting(env: Readonly<Record<string, string | undefined>>, name: string): string | undefined {
  const value = env[name];
  if (!value) return undefined;
  if (!value.startsWith('/')) throw new TsdslError(`${name} \`${value}\` is not absolute; use an absolute path (e.g. ${name}=$PWD/${value.replace(/^\.\//, '')})`);
  return value;
}

/**
 * `makeDirectories` for a cache a setting names (`dir`, or `sub` inside it): a failure is the
 * user's error, naming `dir`, what it is for and the setting to change.
 */
export function makeCacheDirectories(dir: string, what: string, setting: string, sub = ''): void {
  try {
    const leaf = sub ? join(dir, sub) : dir;
    makeDirectories(leaf);
    // One that exists already may be another user's or read-only: say so now, not as an
    // EACCES from the first file written in it.
    for (const d of new Set([dir, leaf])) accessSync(d, fsConstants.W_OK);
  } catch (e) {
    throw new TsdslError(`cannot use ${dir} for ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); set ${setting} to a directory you can write`, { cause: e });
  }
}

const SLASH = Buffer.from('/');

/**
 * Deletes a tree the store made read-only (directories are made writable first) and returns
 * the bytes freed: the sizes of its regular files that had no other hard link. A tree that
 * vanishes meanwhile (another process cleaning up) is not an error.
 */
export function deleteTree(path: string): number {
  let bytes = 0;
  const walk = (p: Buffer): void => {
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return;
    }
    if (st.isDirectory()) {
      try {
        chmodSync(p, 0o755);
        for (const name of readdirSync(p, { encoding: 'buffer' })) walk(Buffer.concat([p, SLASH, name]));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    } else if (st.isFile() && st.nlink === 1) {
      bytes += st.size;
    }
  };
  walk(Buffer.from(path));
  rmSync(path, { recursive: true, force: true });
  return bytes;
}

/** `a` is a proper ancestor directory of `b` (both absolute and normalised). */
export function isAncestor(a: string, b: string): boolean {
  if (a === '/') return b !== '/';
  return b.startsWith(`${a}/`);
}
