/**
 * `--with-latest` and `--with-version` over the fixture archive: the new version and the
 * index's tarball and sha256, recorded as not cacheable, patches dropped with a warning, and
 * a different derivation (`build -d`).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { withOrigin } from '../../src/dsl/origin.js';
import { derive, type Package } from '../../src/dsl/package.js';
import { Collection } from '../../src/registry/collection.js';
import { applyTransformOptions } from '../../src/transform/options.js';
import { newFileName, newUrls } from '../../src/update/urls.js';
import { getDefaultCollection } from '../../src/transform/api.js';
import { tsdsl } from '../cli/helpers.js';
import { archiveEnv, makeArchive } from './archive.js';

let dir: string;
let env: Record<string, string>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsdsl-with-latest-'));
  env = archiveEnv(makeArchive(join(dir, 'archive')), join(dir, 'cache'));
  // The transformations use the process-wide updater, configured from the environment.
  Object.assign(process.env, env);
});

describe('--with-latest / --with-version', () => {
  it('--with-latest takes version, tarball and sha256 from the index, not cacheable', async () => {
    const collection = getDefaultCollection();
    const warnings: string[] = [];
    const [p] = await applyTransformOptions([collection.resolve('hwloc')], [{ name: 'with-latest', value: 'hwloc' }], collection, { warn: (t) => warnings.push(t) });
    expect(p!.version).toBe('2.15.0');
    expect(p!.source).toMatchObject({
      kind: 'url',
      urls: ['mirror://debian/pool/main/h/hwloc/hwloc_2.15.0.orig.tar.bz2'],
      sha256: '0084b926fff9a960ddbf175654db39054ed60afbb830d2039d8a60686ca06a7f',
    });
    expect(p!.properties['debianVersion']).toBe('2.15.0-2');
    expect(p!.properties['transformations']).toEqual([{ option: 'with-latest', spec: 'hwloc', cacheable: false }]);
    expect(warnings).toEqual([]);
  });

  it("a package the index does not know says how to name Debian's source package (properties.debianName), with the definition's place", async () => {
    const collection = getDefaultCollection();
    // hwloc under a name Debian's index lacks, as xz is xz-utils there.
    const renamed = derive(collection.resolve('hwloc'), { name: 'hwloc-renamed' });
    const mine = new Collection();
    mine.add(renamed);
    await expect(applyTransformOptions([renamed], [{ name: 'with-latest', value: 'hwloc-renamed' }], mine, { warn: () => {} })).rejects.toThrow(
      /knows no package `hwloc-renamed`.*\. If Debian's source package for `hwloc-renamed` has another name, give it in the definition \(\S+:\d+\): `properties: \{ debianName: '…' \}`$/,
    );
    // With the name given, the index's release is found.
    const named = derive(renamed, { properties: { ...renamed.properties, debianName: 'hwloc' } });
    mine.add(named);
    const [p] = await applyTransformOptions([named], [{ name: 'with-version', value: 'hwloc-renamed=2.15.0' }], mine, { warn: () => {} });
    expect(p!.version).toBe('2.15.0');
  });

  it('drops the patches of the old version and says so', async () => {
    const patch = join(dir, 'fix.patch');
    writeFileSync(patch, '--- a/x\n+++ b/x\n');
    const base = getDefaultCollection().resolve('hwloc');
    const patched: Package = derive(base, { source: withOrigin(base.source!, { patches: [patch] }) });
    const collection = new Collection([patched]);
    const warnings: string[] = [];
    const [p] = await applyTransformOptions([patched], [{ name: 'with-version', value: 'hwloc=2.15.0' }], collection, { warn: (t) => warnings.push(t) });
    expect(p!.source!.patches).toEqual([]);
    expect(warnings).toEqual(['--with-version: the 1 patch of hwloc@2.9.0 is dropped (written for version 2.9.0, not 2.15.0)']);
  });

  it('--with-version of a release the index lacks fails with the known ones', async () => {
    const collection = getDefaultCollection();
    await expect(applyTransformOptions([collection.resolve('hwloc')], [{ name: 'with-version', value: 'hwloc=2.10.0' }], collection, { warn: () => {} })).rejects.toThrow(
      /no hwloc 2\.10\.0; it knows 2\.15\.0 \(unstable, 2\.15\.0-2\), 2\.9\.0 \(bookworm, 2\.9\.0-1\)/,
    );
  });

  it('applyTransformOptions refuses a name meant as a transformation that is not one (it was skipped)', async () => {
    const collection = getDefaultCollection();
    const apply = (name: string) => applyTransformOptions([collection.resolve('hwloc')], [{ name, value: 'hwloc' }], collection, { warn: () => {} });
    await expect(apply('--with-latest')).rejects.toThrow(/^applyTransformOptions\(\): `--with-latest` is not a transformation option; write `with-latest` \(names are the command line's without their dashes/);
    await expect(apply('withLatest')).rejects.toThrow(/`withLatest` is not a transformation option; write `with-latest`/);
    await expect(apply('with-lates')).rejects.toThrow(/`with-lates` is not a transformation option; did you mean `with-latest`/);
    // The command line's other options pass through, as the CLI hands them all over.
    expect((await applyTransformOptions([collection.resolve('zlib')], [{ name: 'max-jobs', value: 2 }], collection, { warn: () => {} }))[0]!.name).toBe('zlib');
  });

  it('build -d writes a different derivation for the new release', () => {
    const root = join(dir, 'store-root');
    const run = (args: string[]) => tsdsl(['build', '-d', ...args], { env: { ...env, TSDSL_ROOT: root }, timeoutMs: 120_000 });
    const plain = run(['hwloc']);
    const latest = run(['hwloc', '--with-latest=hwloc']);
    const pinned = run(['hwloc', '--with-version=hwloc=2.15.0']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(latest.code, latest.stderr).toBe(0);
    expect(plain.stdout).toMatch(/-hwloc-2\.9\.0\.drv\n$/);
    expect(latest.stdout).toMatch(/-hwloc-2\.15\.0\.drv\n$/);
    expect(pinned.stdout).toBe(latest.stdout);
  });
});

describe('a release whose version a store path cannot hold', () => {
  it('is built as the version written without `~` (3.0.0~rc1 is 3.0.0rc1), and still ordered as Debian orders it', async () => {
    const { withRelease, isNewer } = await import('../../src/transform/latest.js');
    const base = getDefaultCollection().resolve('hwloc');
    const release = (version: string, fullVersion: string) => ({
      name: 'hwloc', version, fullVersion, where: 'experimental', repacked: false, buildDepends: [], homePage: undefined,
      source: { urls: [`mirror://debian/pool/main/h/hwloc/hwloc_${version}.orig.tar.bz2`], sha256: 'c'.repeat(64), size: 1, fileName: `hwloc_${version}.orig.tar.bz2` },
    });
    const rc = withRelease(base, release('3.0.0~rc1', '3.0.0~rc1-1'), 'with-version', () => {});
    expect(rc.version).toBe('3.0.0rc1');
    // Its store item too is named without `~` (url() refuses a file name a store path cannot hold).
    expect(rc.source?.kind === 'url' && rc.source.fileName).toBe('hwloc_3.0.0rc1.orig.tar.bz2');
    expect(rc.properties['debianVersion']).toBe('3.0.0~rc1-1');
    // The final release is newer than the candidate built from 3.0.0~rc1, though `3.0.0rc1` sorts after `3.0.0`.
    expect(isNewer(release('3.0.0', '3.0.0-1'), rc)).toBe(true);
    expect(isNewer(release('3.0.0~rc1', '3.0.0~rc1-1'), rc)).toBe(false);
    // Upstream URLs carried over get the version as the package writes it (no `~`), in the
    // file name and the `vMAJOR.MINOR/` directory; the pool URL is Debian's own.
    const old = ['https://download.example.org/hwloc/v2.9/hwloc-2.9.0.tar.bz2', 'mirror://debian/pool/main/h/hwloc/hwloc_2.9.0.orig.tar.bz2'];
    expect(newUrls(old, '2.9.0', release('3.0.0~rc1', '3.0.0~rc1-1'), 'hwloc@2.9.0')).toEqual([
      'https://download.example.org/hwloc/v3.0/hwloc-3.0.0rc1.tar.bz2',
      'mirror://debian/pool/main/h/hwloc/hwloc_3.0.0~rc1.orig.tar.bz2',
    ]);
    // A fileName gets the version as the URLs do; one without it names every release alike and is kept (refresh -u refused it).
    expect(newFileName('hwloc-2.9.0.tar.bz2', '2.9.0', release('3.0.0~rc1', '3.0.0~rc1-1'))).toBe('hwloc-3.0.0rc1.tar.bz2');
    expect(newFileName('hwloc.tar.bz2', '2.9.0', release('3.0.0~rc1', '3.0.0~rc1-1'))).toBe('hwloc.tar.bz2');
    // Debian's file (whose sha256 the release gives) compressed otherwise: the name follows it.
    const xz = { ...release('3.0.0', '3.0.0-1'), source: { ...release('3.0.0', '3.0.0-1').source, fileName: 'hwloc_3.0.0.orig.tar.xz' } };
    expect(newFileName('hwloc-2.9.0.tar.bz2', '2.9.0', xz)).toBe('hwloc-3.0.0.tar.xz');
    expect(newFileName('hwloc.tar.bz2', '2.9.0', xz)).toBe('hwloc.tar.xz');
  });
});
