/**
 * importDefinition on a tarball of our own and a stand-in updater: which Debian build
 * dependencies become inputs, which are left as TODOs, and which the build system brings.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getDefaultCollection } from '../../src/transform/api.js';
import { importDefinition } from '../../src/update/import.js';
import type { Release, Updater } from '../../src/update/updater.js';

describe('importDefinition', () => {
  it('leaves out the Build-Depends the build system brings (gcc, make, gawk, binutils), and maps zlib1g-dev to zlib among inputs, not to the bootstrap seed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-import-'));
    mkdirSync(join(dir, 'src/foo-1.0'), { recursive: true });
    writeFileSync(join(dir, 'src/foo-1.0/configure'), '#!/bin/sh\n');
    const tarball = join(dir, 'foo_1.0.orig.tar.gz');
    execFileSync('tar', ['-czf', tarball, '-C', join(dir, 'src'), 'foo-1.0']);
    const sha256 = createHash('sha256').update(readFileSync(tarball)).digest('hex');
    const release: Release = {
      name: 'foo',
      version: '1.0',
      fullVersion: '1.0-1',
      where: 'unstable',
      source: { urls: [`file://${tarball}`], sha256, size: 0, fileName: 'foo_1.0.orig.tar.gz' },
      repacked: false,
      homePage: 'https://example.org/foo',
      buildDepends: ['debhelper-compat', 'gcc', 'make', 'gawk', 'binutils', 'build-essential', 'zlib1g-dev', 'pkgconf', 'nosuchtool'],
    };
    const updater: Updater = {
      name: 'debian',
      description: 'a stand-in',
      latest: async () => release,
      releases: async () => [release],
      names: async () => ['foo'],
      sourceOfBinary: async (b) => ({ 'zlib1g-dev': 'zlib' })[b],
    };
    const collection = await getDefaultCollection();
    const names = new Map<unknown, string>([
      [collection.versions('zlib')[0], 'zlib'],
      [collection.versions('pkgconf')[0], 'pkgconf'],
      // Exported by the collection, as the toolchain's seed: never what `zlib1g-dev` asks for.
      [collection.versions('zlib1g-dev')[0], 'zlib1gDev'],
    ]);
    const def = await importDefinition(updater, release, collection, { file: undefined, dslModule: undefined, root: process.cwd() }, (p) => names.get(p), {
      cacheDir: join(dir, 'cache'),
    });
    expect(def.provided).toEqual(['gcc', 'make', 'gawk', 'binutils', 'build-essential']);
    expect(def.unmapped).toEqual(['nosuchtool']);
    expect(def.text).toContain('  inputs: [zlib],\n  nativeInputs: [pkgconf],\n  // TODO(inputs): Debian build dependencies with no package here: nosuchtool.\n');
  });
});

describe('identifierFor', () => {
  it('names a definition with an identifier a module can declare, never a reserved word', async () => {
    const { identifierFor } = await import('../../src/dsl/package.js');
    expect(identifierFor('pt-scotch')).toBe('ptScotch');
    expect(identifierFor('7zip')).toBe('p7zip');
    // Debian sources named so: `export const catch = …` would not parse.
    expect(['catch', 'enum', 'super', 'delete', 'package'].map(identifierFor)).toEqual(['catchPackage', 'enumPackage', 'superPackage', 'deletePackage', 'packagePackage']);
  });
});

/** A tarball `NAME-VERSION/configure` in its own directory, with its sha256. */
function tarball(name: string, version: string): { path: string; sha256: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tsdsl-import-'));
  mkdirSync(join(dir, `src/${name}-${version}`), { recursive: true });
  writeFileSync(join(dir, `src/${name}-${version}/configure`), '#!/bin/sh\n');
  const path = join(dir, `${name}_${version}.orig.tar.xz`);
  execFileSync('tar', ['-cJf', path, '-C', join(dir, 'src'), `${name}-${version}`]);
  return { path, sha256: createHash('sha256').update(readFileSync(path)).digest('hex'), dir };
}

function standIn(release: Release): Updater {
  return { name: 'debian', description: 'a stand-in', latest: async () => release, releases: async () => [release], names: async () => [release.name], sourceOfBinary: async () => undefined };
}

/** importDefinition of `release` from a stand-in updater, printed (no file), its downloads cached in `dir`. */
async function imported(release: Release, dir: string, warn?: (text: string) => void) {
  return importDefinition(standIn(release), release, await getDefaultCollection(), { file: undefined, dslModule: undefined, root: process.cwd() }, () => undefined, {
    cacheDir: join(dir, 'cache'),
    ...(warn ? { warn } : {}),
  });
}

describe('importDefinition and the tarball', () => {
  it('carries over a mirror://gnu URL of the collection, version substituted, before Debian\'s file', async () => {
    const t = tarball('m4', '1.4.21');
    const release: Release = {
      name: 'm4', version: '1.4.21', fullVersion: '1.4.21-1', where: 'unstable', repacked: false, homePage: 'https://www.gnu.org/software/m4/', buildDepends: [],
      source: { urls: [`file://${t.path}`], sha256: t.sha256, size: 0, fileName: 'm4_1.4.21.orig.tar.xz' },
    };
    const def = await imported(release, t.dir);
    expect(def.text).toContain(`    urls: [\n      'mirror://gnu/m4/m4-1.4.21.tar.xz',\n      'file://${t.path}',\n    ],\n`);
  });

  it('writes no version in its comments, which refresh -u would leave stale: debianVersion says it', async () => {
    const t = tarball('libbar', '3.1');
    const release: Release = {
      name: 'libbar', version: '3.1', fullVersion: '3.1+dfsg-2', where: 'unstable', repacked: true, homePage: 'https://example.org/bar', buildDepends: [],
      source: { urls: [`file://${t.path}`], sha256: t.sha256, size: 0, fileName: 'libbar_3.1+dfsg.orig.tar.xz' },
    };
    const def = await imported(release, t.dir);
    const comments = def.text.split('\n').filter((l) => l.trim().startsWith('//'));
    expect(comments.filter((l) => l.includes('3.1'))).toEqual([]);
    expect(def.text).toContain("    // Debian's .orig tarball (properties.debianVersion), repacked by Debian: only its pool has this file.\n");
    expect(def.text).toContain("  properties: { debianVersion: '3.1+dfsg-2' },\n");
  });

  it("names the source without Debian's `~` (a store path cannot hold it), so the definition written can be lowered", async () => {
    const t = tarball('emmax', '0~beta.20100307');
    const release: Release = {
      name: 'emmax', version: '0~beta.20100307', fullVersion: '0~beta.20100307-6', where: 'unstable', repacked: false, homePage: 'https://example.org/emmax', buildDepends: [],
      source: { urls: [`file://${t.path}`], sha256: t.sha256, size: 0, fileName: 'emmax_0~beta.20100307.orig.tar.xz' },
    };
    const def = await imported(release, t.dir);
    expect(def.text).toContain(`    urls: 'file://${t.path}',\n    fileName: 'emmax_0beta.20100307.orig.tar.xz',\n`);
    expect(def.text).toContain("  version: '0beta.20100307',\n");
    // The source as written is accepted; without the name, url() refuses Debian's.
    const { url } = await import('../../src/dsl/index.js');
    expect(url({ urls: `file://${t.path}`, sha256: t.sha256, fileName: 'emmax_0beta.20100307.orig.tar.xz' }).fileName).toBe('emmax_0beta.20100307.orig.tar.xz');
    expect(() => url({ urls: `file://${t.path}`, sha256: t.sha256 })).toThrow(/cannot name a store path .*; set `fileName: 'emmax_0beta\.20100307\.orig\.tar\.xz'`/);
  });

  it('writes the definition, with the build system and license as TODOs, when no URL serves the tarball', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-import-'));
    const release: Release = {
      name: 'libfoo', version: '2.0', fullVersion: '2.0-1', where: 'unstable', repacked: false, homePage: 'https://example.org/foo', buildDepends: [],
      source: { urls: [`file://${dir}/libfoo_2.0.orig.tar.gz`], sha256: 'c'.repeat(64), size: 0, fileName: 'libfoo_2.0.orig.tar.gz' },
    };
    const warnings: string[] = [];
    const def = await imported(release, dir, (t) => warnings.push(t));
    expect(warnings).toEqual([expect.stringMatching(/^libfoo: could not fetch `libfoo_2\.0\.orig\.tar\.gz`.*; the build system and license are left as TODOs$/)]);
    expect(def.text).toContain(`    sha256: '${'c'.repeat(64)}',\n`);
    expect(def.text).toContain('  // TODO(build): libfoo_2.0.orig.tar.gz could not be fetched to look inside; check the build system\n  buildSystem: gnu,\n');
    expect(def.text).toContain('  // TODO(license): the tarball could not be read; set the real license.\n');
  });

  it('says the tarball was fetched but could not be read when tar cannot list it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-import-'));
    const bytes = Buffer.from('not a tarball\n');
    writeFileSync(join(dir, 'libqux_1.0.orig.tar.gz'), bytes);
    const release: Release = {
      name: 'libqux', version: '1.0', fullVersion: '1.0-1', where: 'unstable', repacked: false, homePage: 'https://example.org/qux', buildDepends: [],
      source: { urls: [`file://${dir}/libqux_1.0.orig.tar.gz`], sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length, fileName: 'libqux_1.0.orig.tar.gz' },
    };
    const warnings: string[] = [];
    const def = await imported(release, dir, (t) => warnings.push(t));
    // tar's own refusal, as a warning (it was an internal error: tar's failure was no TsdslError).
    expect(warnings).toEqual([expect.stringMatching(/^libqux: cannot list the tarball .*: tar: .*; the build system and license are left as TODOs$/)]);
    expect(def.text).toContain('  // TODO(build): libqux_1.0.orig.tar.gz was fetched but could not be read to look inside; check the build system\n');
  });
});
