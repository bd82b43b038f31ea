/**
 * `tsdsl refresh` and `tsdsl import` end to end, on a fixture archive (recorded Sources
 * stanzas) and fixture package files in a temporary directory: byte-exact results of
 * `refresh -u` and `import --insert`, a second `refresh -u` that changes nothing, and the bad
 * inputs (unknown package, unreachable index, file that does not parse) leaving files as they were.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchUrl } from '../../src/build/fetch.js';
import { tsdsl } from '../cli/helpers.js';
import { FIXTURES, archiveEnv, makeArchive } from './archive.js';

const LIBXC = { sha256: '38b60ed552b46367175b370e1ad5409fcf45c49b71ed13706a65b485f06a5417', file: 'libxc_5.2.3.orig.tar.gz', dir: 'pool/main/libx/libxc' };
const HWLOC = { sha256: 'b3fb1a43a14d8fbcd8e976de5ede2ea7ce1d768ed173adb33c7ceaaf098dc970', file: 'hwloc_2.9.0.orig.tar.bz2', dir: 'pool/main/h/hwloc' };

let dir: string;
let env: Record<string, string>;
let libxcMissing: string | undefined;

/** A fresh copy of the fixture package file in its own -L directory. */
function pkgDir(): { dir: string; file: string } {
  const d = mkdtempSync(join(dir, 'pkgs-'));
  const file = join(d, 'hpc.ts');
  copyFileSync(join(FIXTURES, 'pkgs/hpc.ts'), file);
  return { dir: d, file };
}

// The fixture archive and its caches: about 100 MB a run.
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsdsl-update-cli-'));
  const archive = makeArchive(join(dir, 'archive'));
  env = { ...archiveEnv(archive, join(dir, 'cache')), TSDSL_DOWNLOAD_CACHE: join(dir, 'downloads') };
  // The import test looks inside libxc's real tarball: put it in the fixture archive's pool
  // from the shared download cache (fetched from apt's archive the first time).
  try {
    for (const t of [LIBXC, HWLOC]) {
      const got = await fetchUrl({ urls: [`mirror://debian/${t.dir}/${t.file}`], sha256: t.sha256, fileName: t.file }, { retries: 1 });
      mkdirSync(join(dir, 'archive', t.dir), { recursive: true });
      copyFileSync(got.path, join(dir, 'archive', t.dir, t.file));
    }
  } catch (e) {
    libxcMissing = (e as Error).message.split('\n')[0];
  }
}, 300_000);

describe('tsdsl refresh', () => {
  it('lists the newer release of a package', () => {
    const p = pkgDir();
    const r = tsdsl(['refresh', '-L', p.dir, 'hwloc@2.8.0'], { env });
    expect(r.stderr).not.toMatch(/error|warning/);
    expect(r.stdout).toBe(`${p.file}:22: hwloc would be upgraded from 2.8.0 to 2.15.0 (debian: 2.15.0-2 in unstable)\n`);
    expect(r.code).toBe(0);
  });

  it('-u rewrites the definition byte-exactly, and a second run changes nothing', () => {
    const p = pkgDir();
    const r = tsdsl(['refresh', '-L', p.dir, '-u', 'hwloc@2.8.0'], { env, timeoutMs: 180_000 });
    expect(r.stderr).not.toMatch(/error|warning/);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${p.file}:22: hwloc: updated from version 2.8.0 to version 2.15.0\n`);
    const expected = readFileSync(join(FIXTURES, 'expected/hpc.refresh-hwloc.ts'), 'utf8');
    expect(readFileSync(p.file, 'utf8')).toBe(expected);
    const again = tsdsl(['refresh', '-L', p.dir, '-u', 'hwloc@2.15.0'], { env, timeoutMs: 180_000 });
    expect(again.code).toBe(0);
    expect(again.stdout).toBe('');
    expect(again.stderr).toMatch(/hwloc 2\.15\.0 is up to date/);
    expect(readFileSync(p.file, 'utf8')).toBe(expected);
  });

  it('-u renames the tarball a fileName names, as its URLs are: its store item is named after it', () => {
    const p = pkgDir();
    const text = readFileSync(p.file, 'utf8');
    const withName = text.replace(
      "    sha256: '311d44e99bbf6d269c2cbc569d073978d88352bc31d51e31457d4df94783172d',\n",
      "    sha256: '311d44e99bbf6d269c2cbc569d073978d88352bc31d51e31457d4df94783172d',\n    fileName: 'hwloc-2.8.0.tar.bz2', // ours\n",
    );
    expect(withName).not.toBe(text);
    writeFileSync(p.file, withName);
    const r = tsdsl(['refresh', '-L', p.dir, '-u', 'hwloc@2.8.0'], { env, timeoutMs: 180_000 });
    expect(r.stderr).not.toMatch(/error|warning/);
    expect(r.code).toBe(0);
    const after = readFileSync(p.file, 'utf8');
    expect(after).toContain("    fileName: 'hwloc-2.15.0.tar.bz2', // ours\n");
    expect(after.replace("    fileName: 'hwloc-2.15.0.tar.bz2', // ours\n", '')).toBe(readFileSync(join(FIXTURES, 'expected/hpc.refresh-hwloc.ts'), 'utf8'));
  });

  it('-u NAME=VERSION picks a release, and an unknown release lists the known ones', () => {
    const p = pkgDir();
    const bad = tsdsl(['refresh', '-L', p.dir, '-u', 'hwloc@2.8.0=2.10.0'], { env });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/no hwloc 2\.10\.0; it knows 2\.15\.0 \(unstable, 2\.15\.0-2\), 2\.9\.0 \(bookworm, 2\.9\.0-1\)/);
    const r = tsdsl(['refresh', '-L', p.dir, '-u', 'hwloc@2.8.0=2.9.0'], { env, timeoutMs: 180_000 });
    expect(r.code).toBe(0);
    const text = readFileSync(p.file, 'utf8');
    expect(text).toContain('version: "2.9.0",   // quoted and spaced on purpose');
    expect(text).toContain("sha256: 'b3fb1a43a14d8fbcd8e976de5ede2ea7ce1d768ed173adb33c7ceaaf098dc970'");
    expect(text).toContain("'https://download.open-mpi.org/release/hwloc/v2.9/hwloc-2.9.0.tar.bz2'");
  });

  it('-u with a package the index lacks among those named writes nothing, not the ones before it', () => {
    const p = pkgDir();
    const r = tsdsl(['refresh', '-L', p.dir, '-u', 'hwloc@2.8.0', 'mpfr'], { env, timeoutMs: 180_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the debian updater knows no package `mpfr`.*\. If Debian's source package for `mpfr` has another name, give it in the definition \(\S+hpc\.ts:\d+\): `properties: \{ debianName: '…' \}`\n$/);
    expect(r.stdout).toBe('');
    expect(readFileSync(p.file, 'utf8')).toBe(readFileSync(join(FIXTURES, 'pkgs/hpc.ts'), 'utf8'));
  });

  it('an unreachable index is a clear error and writes nothing', () => {
    const p = pkgDir();
    const cache = join(dir, 'unreachable-cache');
    const r = tsdsl(['refresh', '-L', p.dir, '-u', 'hwloc@2.8.0'], { env: { ...env, TSDSL_MIRROR_DEBIAN: 'http://127.0.0.1:9', TSDSL_UPDATER_CACHE: cache } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tsdsl: error: cannot reach Debian's source index for suite `unstable` .*nothing was written/);
    expect(readFileSync(p.file, 'utf8')).toBe(readFileSync(join(FIXTURES, 'pkgs/hpc.ts'), 'utf8'));
    expect(existsSync(cache)).toBe(false);
  });
});

describe('tsdsl import', () => {
  it('suggests close names for a package the index does not know', () => {
    const r = tsdsl(['import', 'debian', 'libxcc'], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/knows no package `libxcc`; did you mean `libxc`/);
  });

  it('says why a bootstrap package or one without a url() source is not refreshed', () => {
    expect(tsdsl(['refresh', 'libc6'], { env }).stderr).toMatch(/^tsdsl: error: tsdsl refresh: `libc6` is part of the bootstrap toolchain \(packages\/bootstrap\.ts:\d+\), Debian binaries pinned together/);
    // PT-Scotch inherits Scotch's version and source: refreshing Scotch refreshes it (and -u over
    // every package skips it instead of failing on it after the other files were rewritten).
    expect(tsdsl(['refresh', '-u', 'pt-scotch'], { env }).stderr).toMatch(/^tsdsl: error: tsdsl refresh: `pt-scotch` takes its version from `scotch` \(packages\/maths\.ts:\d+ inherits it\): refresh `scotch`, and pt-scotch follows/);
  });

  it('--insert adds the definition alphabetically with its imports, byte-exactly', (ctx) => {
    if (libxcMissing) return ctx.skip(`libxc's tarball cannot be fetched: ${libxcMissing}`);
    const p = pkgDir();
    const r = tsdsl(['import', '-L', p.dir, 'debian', 'libxc', '--insert', p.file], { env, timeoutMs: 240_000 });
    expect(r.stderr).toContain('inserted libxc (libxc 5.2.3)');
    expect(r.code).toBe(0);
    expect(readFileSync(p.file, 'utf8')).toBe(readFileSync(join(FIXTURES, 'expected/hpc.import-libxc.ts'), 'utf8'));
  });

  it('--insert into a file that defines the package already is refused before anything is downloaded', () => {
    const p = pkgDir();
    const downloads = mkdtempSync(join(dir, 'downloads-'));
    const r = tsdsl(['import', 'debian', 'hwloc', '--insert', p.file, '-n'], { env: { ...env, TSDSL_DOWNLOAD_CACHE: downloads } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/hpc\.ts:\d+: `hwloc` is already defined here; use `tsdsl refresh -u -L \S+ hwloc` to update it/);
    expect(readdirSync(downloads).filter((n) => n.includes('hwloc'))).toEqual([]);
  });

  it('prints the definition with the imports it needs from tsdsl', (ctx) => {
    if (libxcMissing) return ctx.skip(`libxc's tarball cannot be fetched: ${libxcMissing}`);
    const r = tsdsl(['import', 'debian', 'libxc=5.2.3-1'], { env, timeoutMs: 240_000 });
    expect(r.code, r.stderr).toBe(0);
    const inserted = readFileSync(join(FIXTURES, 'expected/hpc.import-libxc.ts'), 'utf8');
    const definition = inserted.slice(inserted.indexOf('export const libxc'), inserted.indexOf('export const mpfr')).replace(/\n+$/, '\n');
    expect(r.stdout).toBe(
      "import { cmake, definePackage, licenses, url } from 'tsdsl';\nimport { gfortran } from 'tsdsl/packages';\n\n" +
        definition.replace('5.2.3-3.1, unstable', '5.2.3-1, bookworm').replace("debianVersion: '5.2.3-3.1'", "debianVersion: '5.2.3-1'"),
    );
  });

  it('maps Build-Depends to the collection, guesses gnu from configure, and carries upstream URLs over', (ctx) => {
    if (libxcMissing) return ctx.skip(`a tarball cannot be fetched: ${libxcMissing}`);
    const p = pkgDir();
    const r = tsdsl(['import', '-L', p.dir, 'debian', 'hwloc=2.9.0'], { env, timeoutMs: 240_000 });
    expect(r.code, r.stderr).toBe(0);
    // The collection has hwloc 2.9.0 (and the -L directory 2.8.0): said, the same version as a duplicate.
    expect(r.stderr).toMatch(/^tsdsl: warning: hwloc@2\.9\.0 is defined already, at \S*packages\/mpi\.ts:\d+: a second definition of the same version is a duplicate \(lint's duplicate-definitions\); update that one with `tsdsl refresh -u hwloc` instead$/m);
    const other = tsdsl(['import', '-L', p.dir, 'debian', 'hwloc'], { env, timeoutMs: 240_000 });
    expect(other.stderr).toMatch(/^tsdsl: warning: hwloc is defined already \(.*2\.8\.0 at \S+hpc\.ts:\d+.*\); this one adds version 2\.15\.0 beside them$/m);
    expect(r.stdout).toContain("import { libxml2, pkgconf } from 'tsdsl/packages';");
    expect(r.stdout).toContain(
      "    urls: [\n      'https://download.open-mpi.org/release/hwloc/v2.9/hwloc-2.9.0.tar.bz2',\n      'mirror://debian/pool/main/h/hwloc/hwloc_2.9.0.orig.tar.bz2',\n    ],\n",
    );
    expect(r.stdout).toContain('  // gnu: the tarball has a configure script.\n  buildSystem: gnu,\n  inputs: [libxml2],\n  nativeInputs: [pkgconf],\n');
    expect(r.stdout).toMatch(/\/\/ TODO\(inputs\): Debian build dependencies with no package here: .*libltdl-dev.*autoconf/);
    expect(r.stdout).toContain('license: licenses.bsd3,');
  });

  it('refuses a package file that does not parse, naming file:line, and leaves it untouched', (ctx) => {
    if (libxcMissing) return ctx.skip(`libxc's tarball cannot be fetched: ${libxcMissing}`);
    const d = mkdtempSync(join(dir, 'broken-'));
    const file = join(d, 'broken.ts');
    const text = "import { definePackage } from 'tsdsl';\n\nexport const x = definePackage({\n  name: 'x',,\n});\n";
    writeFileSync(file, text);
    const r = tsdsl(['import', 'debian', 'libxc', '--insert', file], { env, timeoutMs: 240_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/broken\.ts:4:\d+: .*the file does not parse, so it was not edited/);
    expect(readFileSync(file, 'utf8')).toBe(text);
  });
});
