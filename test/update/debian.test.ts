/**
 * The Debian updater: dpkg's version order, the Sources parser on recorded stanzas, the
 * updater over a fixture archive (latest, given release, suggestions, cache, unreachable
 * index), and one live look-up against the archive of this machine's apt sources.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { debianArchives } from '../../src/build/mirrors.js';
import { compareDebianVersions, upstreamOf } from '../../src/update/debian-version.js';
import { DebianUpdater, parseRelations } from '../../src/update/debian.js';
import { findRelease, latestRelease } from '../../src/update/index.js';
import { parseSources } from '../../src/update/sources-index.js';
import { FIXTURES, archiveEnv, makeArchive } from './archive.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'tsdsl-update-'));

describe('Debian versions', () => {
  it('orders as dpkg does: epochs, tildes, revisions, letters before symbols, digits by value', () => {
    const sorted = ['1.0~rc1-1', '1.0-1', '1.0-1.1', '1.0a-1', '1.0+dfsg-1', '1.2-1', '1.10-1', '1:0.9-1'];
    for (let i = 0; i < sorted.length - 1; i++) expect(compareDebianVersions(sorted[i]!, sorted[i + 1]!), `${sorted[i]} < ${sorted[i + 1]}`).toBeLessThan(0);
    expect(compareDebianVersions('2.9.0-1', '2.9.0-1')).toBe(0);
    expect(compareDebianVersions('2.15.0-2', '2.9.0-1')).toBeGreaterThan(0);
  });

  it('upstreamOf, drops epoch, revision and repack suffixes', () => {
    expect(upstreamOf('2.9.0-1')).toEqual({ version: '2.9.0', repacked: false });
    expect(upstreamOf('2:3.8.2+dfsg-1')).toEqual({ version: '3.8.2', repacked: true });
    expect(upstreamOf('5.1.0.dfsg-7')).toEqual({ version: '5.1.0', repacked: true });
    expect(upstreamOf('0.3.34+ds-2')).toEqual({ version: '0.3.34', repacked: true });
    expect(upstreamOf('1:1.3.dfsg+really1.3.2-4')).toEqual({ version: '1.3.2', repacked: false });
  });

  it('parseRelations, keeps the first alternative without constraints or qualifiers', () => {
    expect(parseRelations('debhelper-compat (= 12), libnuma-dev [linux-any] <!nocheck>, ocl-icd-opencl-dev [!hurd-i386] | opencl-dev, python3:any')).toEqual([
      'debhelper-compat',
      'libnuma-dev',
      'ocl-icd-opencl-dev',
      'python3',
    ]);
  });
});

describe('Sources index', () => {
  it('parses the recorded stanzas: version, pool directory, orig tarball with size and sha256', () => {
    const idx = parseSources(readFileSync(join(FIXTURES, 'Sources-bookworm'), 'utf8'));
    expect([...idx.keys()].sort()).toEqual(['hwloc', 'libtool', 'libxc', 'libxml2', 'pkgconf']);
    const hwloc = idx.get('hwloc')!;
    expect(hwloc.version).toBe('2.9.0-1');
    expect(hwloc.directory).toBe('pool/main/h/hwloc');
    expect(hwloc.orig).toEqual([{ name: 'hwloc_2.9.0.orig.tar.bz2', size: 3250228, sha256: 'b3fb1a43a14d8fbcd8e976de5ede2ea7ce1d768ed173adb33c7ceaaf098dc970' }]);
    expect(hwloc.homepage).toBe('https://www.open-mpi.org/projects/hwloc/');
    expect(hwloc.binaries).toContain('libhwloc-dev');
    expect(hwloc.buildDepends).toContain('libxml2-dev');
  });
});

describe('DebianUpdater on a fixture archive', () => {
  const updater = (cache: string, archive: string) => new DebianUpdater({ env: archiveEnv(archive, cache) });

  it('finds the latest release across suites, a given one, and the source of a binary', async () => {
    const dir = tmp();
    const u = updater(join(dir, 'cache'), makeArchive(join(dir, 'archive')));
    const latest = await latestRelease(u, 'hwloc');
    expect(latest).toMatchObject({ version: '2.15.0', fullVersion: '2.15.0-2', where: 'unstable', repacked: false });
    expect(latest.source).toEqual({
      urls: ['mirror://debian/pool/main/h/hwloc/hwloc_2.15.0.orig.tar.bz2'],
      sha256: '0084b926fff9a960ddbf175654db39054ed60afbb830d2039d8a60686ca06a7f',
      size: 5719471,
      fileName: 'hwloc_2.15.0.orig.tar.bz2',
    });
    expect((await findRelease(u, 'hwloc', '2.9.0')).where).toBe('bookworm');
    expect(await u.sourceOfBinary('libxml2-dev')).toBe('libxml2');
    await expect(findRelease(u, 'hwloc', '2.10.0')).rejects.toThrow(/no hwloc 2\.10\.0; it knows 2\.15\.0 \(unstable, 2\.15\.0-2\), 2\.9\.0 \(bookworm, 2\.9\.0-1\)/);
  });

  it('suggests close names for an unknown package', async () => {
    const dir = tmp();
    const u = updater(join(dir, 'cache'), makeArchive(join(dir, 'archive')));
    await expect(latestRelease(u, 'hwlocc')).rejects.toThrow(/knows no package `hwlocc`; did you mean `hwloc`\?/);
  });

  it('caches the parsed index and uses it while fresh, even when the archive is gone', async () => {
    const dir = tmp();
    const cache = join(dir, 'cache');
    const archive = makeArchive(join(dir, 'archive'));
    await latestRelease(updater(cache, archive), 'hwloc');
    expect(readdirSync(join(cache, 'debian')).filter((f) => f.endsWith('.json'))).toHaveLength(2);
    rmSync(join(dir, 'archive'), { recursive: true });
    const again = updater(cache, archive);
    expect((await latestRelease(again, 'hwloc')).version).toBe('2.15.0');
  });

  it('a cache where no directory can be made is a clear error naming its setting, not a hang', async () => {
    const dir = tmp();
    // The kernel answers ENOENT for any new name under /proc; Node's recursive mkdir would loop.
    const u = updater('/proc/tsdsl-updaters', makeArchive(join(dir, 'archive')));
    await expect(u.latest('hwloc')).rejects.toThrow(/cannot use \/proc\/tsdsl-updaters for the updaters' cache \(ENOENT\); set TSDSL_UPDATER_CACHE to a directory you can write/);
  });

  it('fails clearly and writes nothing when the index cannot be reached', async () => {
    const dir = tmp();
    const cache = join(dir, 'cache');
    const u = new DebianUpdater({ env: { ...archiveEnv('http://127.0.0.1:9', cache) } });
    await expect(u.latest('hwloc')).rejects.toThrow(/cannot reach Debian's source index for suite `unstable` \(.*127\.0\.0\.1:9.*\); nothing was written/);
    expect(existsSync(cache)).toBe(false);
  });
});

describe('DebianUpdater against the real archive', () => {
  it('finds hwloc in the suite of this machine (live; skipped where the archive cannot be reached)', async (ctx) => {
    const archive = debianArchives().main[0];
    if (!archive) return ctx.skip(`no Debian archive in apt's sources`);
    try {
      const r = await fetch(`${archive}/dists/bookworm/InRelease`, { method: 'HEAD', signal: AbortSignal.timeout(10_000) });
      if (!r.ok) return ctx.skip(`${archive} answers HTTP ${r.status}`);
    } catch (e) {
      console.log(`skipping the live Debian index test: ${archive} cannot be reached (${(e as Error).message})`);
      return ctx.skip(`${archive} cannot be reached`);
    }
    const u = new DebianUpdater({ suites: ['bookworm'], cacheDir: join(tmp(), 'cache') });
    const hwloc = await latestRelease(u, 'hwloc');
    // bookworm is a stable release: its hwloc does not move.
    expect(hwloc).toMatchObject({ version: '2.9.0', fullVersion: '2.9.0-1' });
    expect(hwloc.source.sha256).toBe('b3fb1a43a14d8fbcd8e976de5ede2ea7ce1d768ed173adb33c7ceaaf098dc970');
  }, 180_000);
});
