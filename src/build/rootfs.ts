/**
 * The root file system of a sandboxed build: the bootstrap toolchain's Debian packages (each its
 * own store item) merged into one FHS tree, as `dpkg` would have installed them — the layout the
 * Debian binaries were built for (GCC finds cc1 under /usr/lib/gcc, headers under /usr/include).
 * Files are hard links to the store items (a copy where the file systems differ), so a merged
 * root costs only directory entries; it is cached by the set of items it holds, and made
 * atomically (temporary name, then rename) so concurrent builds share it safely.
 *
 * The fix-ups normally done by maintainer scripts and alternatives are applied: `gcc`, `cc`,
 * `g++`, `gfortran`… point at the `-12` programs, `awk` at gawk, `/bin/sh` at dash, and a minimal
 * /etc/passwd and /etc/group exist.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ownerWhere } from '../store/lock.js';

/** Alternatives Debian's maintainer scripts would create: link → target (relative to usr/bin). */
const ALTERNATIVES: ReadonlyArray<[string, string]> = [
  ['usr/bin/gcc', 'gcc-12'],
  ['usr/bin/cc', 'gcc-12'],
  ['usr/bin/g++', 'g++-12'],
  ['usr/bin/c++', 'g++-12'],
  ['usr/bin/cpp', 'cpp-12'],
  ['usr/bin/gfortran', 'gfortran-12'],
  ['usr/bin/f95', 'gfortran-12'],
  ['usr/bin/gcc-ar', 'gcc-ar-12'],
  ['usr/bin/gcc-nm', 'gcc-nm-12'],
  ['usr/bin/gcc-ranlib', 'gcc-ranlib-12'],
  ['usr/bin/awk', 'gawk'],
];

function merge(src: string, dest: string): void {
  for (const name of readdirSync(src)) {
    const s = join(src, name);
    const d = join(dest, name);
    const st = lstatSync(s);
    const there = existsSync(d) || isLink(d);
    if (st.isDirectory()) {
      if (!there) mkdirSync(d, { mode: 0o755 });
      else if (!lstatSync(d).isDirectory()) continue;
      merge(s, d);
    } else if (there) {
      continue; // a file shipped by two packages: the first one wins, as with dpkg diversions
    } else if (st.isSymbolicLink()) {
      symlinkSync(readlinkSync(s), d);
    } else {
      try {
        linkSync(s, d);
      } catch {
        copyFileSync(s, d);
      }
    }
  }
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * The merged root for these store items (physical directories), made under `cacheDir` on first
 * use. `items` is a list of [logical path, physical path]; the order decides who wins a conflict.
 */
export function bootstrapRootfs(cacheDir: string, items: ReadonlyArray<readonly [string, string]>): string {
  const key = createHash('sha256').update(items.map(([l]) => l).join('\n')).digest('hex').slice(0, 32);
  const final = join(cacheDir, key);
  if (existsSync(join(final, '.complete'))) return final;
  mkdirSync(cacheDir, { recursive: true });
  // Named by its process and where it runs (see ownerToken): the store may be shared.
  const tmp = join(cacheDir, `.tmp-${key}-${process.pid}-${ownerWhere()}-${Date.now()}`);
  mkdirSync(tmp, { mode: 0o755 });
  try {
    for (const [, physical] of items) if (lstatSync(physical).isDirectory()) merge(physical, tmp);
    for (const [link, target] of ALTERNATIVES) {
      const p = join(tmp, link);
      if (!existsSync(p) && !isLink(p) && existsSync(join(tmp, 'usr/bin', target))) symlinkSync(target, p);
    }
    mkdirSync(join(tmp, 'bin'), { recursive: true });
    if (!existsSync(join(tmp, 'bin/sh'))) {
      if (isLink(join(tmp, 'bin/sh'))) rmSync(join(tmp, 'bin/sh'));
      symlinkSync(existsSync(join(tmp, 'bin/dash')) ? 'dash' : 'bash', join(tmp, 'bin/sh'));
    }
    mkdirSync(join(tmp, 'etc'), { recursive: true });
    writeFileSync(join(tmp, 'etc/passwd'), 'root:x:0:0:root:/build:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n');
    writeFileSync(join(tmp, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
    for (const d of ['tmp', 'build', 'proc', 'dev', 'sys']) mkdirSync(join(tmp, d), { recursive: true });
    writeFileSync(join(tmp, '.complete'), `${items.map(([l]) => l).join('\n')}\n`);
    try {
      renameSync(tmp, final);
    } catch {
      // Another process made it first: use theirs.
      rmSync(tmp, { recursive: true, force: true });
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return final;
}
