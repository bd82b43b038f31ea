import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, writeFileSync, readFileSync, readdirSync, existsSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { defineBuildSystem, definePackage, inherit, licenses, local, modifyInputs, trivial, url, git, unpinnedUrl, type Package } from '../../src/dsl/index.js';
import { Lowerer, derivationJson, lowerPackages } from '../../src/derivation/lower.js';
import { finalizeDerivation, serializeDerivation } from '../../src/derivation/aterm.js';
import { makeFixedOutputPath, parseHash, makeSourcePath } from '../../src/derivation/hash.js';
import { narHash } from '../../src/store/nar.js';
import { transform, getDefaultCollection } from '../../src/transform/api.js';
import { ROOT, tsdsl } from '../cli/helpers.js';
import { dummyPackage } from '../fixtures/dummy.js';
import { gnu } from '../../packages/build-systems.js';

const SHA = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
const c = getDefaultCollection();

async function lower(p: Package, storeDir = '/tsdsl/store') {
  const l = new Lowerer(storeDir);
  await l.prepare([p]);
  return { l, r: l.lowerGrafted(p) };
}

/** All .drv paths of a package's build closure, by derivation name. */
function closureByName(l: Lowerer, drvPath: string): Map<string, string> {
  return new Map(l.closureOf(drvPath).map((d) => [d.name, d.drvPath]));
}

describe('lowering', () => {
  it('a dependency cycle is said first, even when a package lowered before it reaches the cycle fails', () => {
    let cc: Package | undefined;
    const cyclic = defineBuildSystem({ name: 'trivial', description: 'a toolchain that needs itself', phases: ['build'], toolchain: () => [cc!] });
    cc = dummyPackage({ name: 'cc', buildSystem: cyclic });
    const user = dummyPackage({ name: 'user', buildSystem: cyclic });
    // Lowered before the walk reaches `user` (the last input is walked first); fails offline.
    const bad = dummyPackage({ name: 'bad', source: git({ url: 'https://example.org/g.git', commit: 'main' }) });
    const top = dummyPackage({ name: 'top', inputs: [user, bad] });
    const l = new Lowerer('/tsdsl/store');
    l.fetchUnpinned = undefined;
    expect(() => l.lower(top)).toThrow(/^dependency cycle through `cc@/);
    // Without the cycle, the package's own error.
    const fine = dummyPackage({ name: 'top2', inputs: [bad] });
    expect(() => new Lowerer('/tsdsl/store').lower(fine)).toThrow(/has no sha256/);
  });

  it('a lowerer whose walk failed half-way lowers the packages it was expanding later, without a false cycle', () => {
    const leaf = dummyPackage({ name: 'leaf' });
    const bad = dummyPackage({ name: 'bad', source: git({ url: 'https://example.org/g.git', commit: 'main' }) });
    // `mid` is being expanded when `bad`, walked first, fails.
    const mid = dummyPackage({ name: 'mid', inputs: [leaf] });
    const top = dummyPackage({ name: 'top', inputs: [mid, bad] });
    const l = new Lowerer('/tsdsl/store');
    l.fetchUnpinned = undefined;
    expect(() => l.lower(top)).toThrow(/has no sha256/);
    const again = dummyPackage({ name: 'again', inputs: [mid] });
    expect(l.lower(again).drvPath).toBe(new Lowerer('/tsdsl/store').lower(again).drvPath);
    expect(() => l.lower(top)).toThrow(/has no sha256/);
  });

  it('a build system whose toolchain throws gives its error at every try, and leaves no mark that says cycle', () => {
    const broken = defineBuildSystem({ name: 'trivial', description: 'x', phases: ['build'], toolchain: () => { throw new Error('package `gcc-toolchain` not found'); } });
    const bad = dummyPackage({ name: 'bad', buildSystem: broken });
    const top = dummyPackage({ name: 'top', inputs: [dummyPackage({ name: 'mid' }), bad] });
    const l = new Lowerer('/tsdsl/store');
    for (let i = 0; i < 2; i++) expect(() => l.lower(top)).toThrow(/^package `gcc-toolchain` not found$/);
    expect(() => l.lower(dummyPackage({ name: 'user', inputs: [top] }))).toThrow(/^package `gcc-toolchain` not found$/);
  });

  it("a build system whose toolchain or tools are not a list of packages is an error naming it and the function", async () => {
    const cases: Array<[unknown, RegExp]> = [
      ['gcc', /toolchain\(\) returned a list whose item 0 is the string "g"|toolchain\(\) returned the string "gcc"/],
      [null, /toolchain\(\) returned null/],
      [[undefined], /toolchain\(\) returned a list whose item 0 is undefined/],
      [[dummyPackage(), {}], /toolchain\(\) returned a list whose item 1 is an object that is not a package/],
    ];
    for (const [got, message] of cases) {
      const odd = defineBuildSystem({ name: 'odd', description: 'x', phases: ['build'], toolchain: () => got as Package[] });
      const p = dummyPackage({ name: 'user', buildSystem: odd });
      const l = new Lowerer('/tsdsl/store');
      await expect(l.prepare([p])).rejects.toThrow(message);
      expect(() => l.lower(p)).toThrow(/^build system `odd`: toolchain\(\) returned .*; it must return a list of packages, e.g. `toolchain: \(\) => \[gcc, binutils\]`$/);
    }
    const tools = defineBuildSystem({ name: 'odd', description: 'x', phases: ['build'], tools: () => [42] as unknown as Package[] });
    expect(() => new Lowerer('/tsdsl/store').lower(dummyPackage({ buildSystem: tools }))).toThrow(/^build system `odd`: tools\(\) returned a list whose item 0 is 42;/);
    // What a package file in plain JavaScript might give instead.
    const named = (toolchain: unknown) => () => defineBuildSystem({ name: 'odd', description: 'x', phases: ['build'], toolchain: toolchain as () => Package[] }).toolchain();
    expect(named([dummyPackage()])).toThrow(/^build system `odd`: toolchain is a list, not a function; write `toolchain: \(\) => \[gcc, binutils\]`/);
    expect(named(() => () => [dummyPackage()])).toThrow(/toolchain\(\) returned a function;/);
    expect(named(() => [[dummyPackage()]])).toThrow(/toolchain\(\) returned a list whose item 0 is a list;/);
    expect(named(() => [trivial])).toThrow(/toolchain\(\) returned a list whose item 0 is the build system `trivial`;/);
    expect(named(() => [undefined])).toThrow(/item 0 is undefined \(is it defined yet, and spelt right\?\);/);
    // Another iterable of packages is taken as its list.
    const cc = dummyPackage({ name: 'cc' });
    expect(named(() => new Set([cc]))()).toEqual([cc]);
  });

  it('a package lowered from onDerivation, in the middle of another walk, is lowered (the walks do not take each other for cycles)', () => {
    const leaf = dummyPackage({ name: 'leaf' });
    const mid = dummyPackage({ name: 'mid', inputs: [leaf] });
    const top = dummyPackage({ name: 'top', inputs: [mid] });
    const side = dummyPackage({ name: 'side', inputs: [mid] });
    const l = new Lowerer('/tsdsl/store');
    let inner: string | undefined;
    let once = false;
    l.onDerivation = (path) => {
      if (!path.endsWith('-leaf-1.0.drv') || once) return;
      once = true;
      inner = l.lower(side).drvPath;
    };
    expect(l.lower(top).drvPath).toBe(new Lowerer('/tsdsl/store').lower(top).drvPath);
    expect(inner).toBe(new Lowerer('/tsdsl/store').lower(side).drvPath);
  });

  it("a derivation finalized by path with a lowerer's hasher is known to it, as to any hasher", () => {
    const l = new Lowerer('/tsdsl/store');
    const a = finalizeDerivation(
      { outputs: { out: { path: '', hashAlgo: '', hash: '' } }, inputDrvs: {}, inputSrcs: [], system: 'x86_64-linux', builder: '/bin/sh', args: [], env: { name: 'a', builder: '/bin/sh', system: 'x86_64-linux' } },
      'a',
      l.hasher,
    );
    expect(l.hasher.has(a.drvPath)).toBe(true);
    const b = finalizeDerivation(
      { outputs: { out: { path: '', hashAlgo: '', hash: '' } }, inputDrvs: { [a.drvPath]: ['out'] }, inputSrcs: [], system: 'x86_64-linux', builder: '/bin/sh', args: [], env: { name: 'b', builder: '/bin/sh', system: 'x86_64-linux' } },
      'b',
      l.hasher,
    );
    expect(b.drvPath).toMatch(/-b\.drv$/);
  });

  it('lowers a graph mixing packages of two copies of the DSL (a package file importing another tsdsl) as one', async () => {
    // dist/ is another copy of the modules: its packages have serials of their own.
    const other = (await import(pathToFileURL(join(ROOT, 'dist/src/dsl/index.js')).href)) as typeof import('../../src/dsl/index.js');
    const spec = { version: '1.0', synopsis: 's', description: 'd', homePage: 'https://example.org/', license: licenses.expat };
    const leaf = other.definePackage({ name: 'leaf', buildSystem: other.trivial, ...spec });
    const mid = definePackage({ name: 'mid', buildSystem: trivial, inputs: [leaf], ...spec });
    const top = other.definePackage({ name: 'top', buildSystem: other.trivial, inputs: [mid, leaf], ...spec });
    const l = new Lowerer('/tsdsl/store');
    await l.prepare([top]);
    const got = l.lower(top);
    // The same paths as with one copy throughout.
    const leaf1 = definePackage({ name: 'leaf', buildSystem: trivial, ...spec });
    const mid1 = definePackage({ name: 'mid', buildSystem: trivial, inputs: [leaf1], ...spec });
    const top1 = definePackage({ name: 'top', buildSystem: trivial, inputs: [mid1, leaf1], ...spec });
    const one = new Lowerer('/tsdsl/store');
    await one.prepare([top1]);
    expect(got.drvPath).toBe(one.lower(top1).drvPath);
    expect(l.derivations.size).toBe(3);
    expect(l.lower(leaf).outputs).toEqual(one.lower(leaf1).outputs);
  });

  it('url origins become flat sha256 fixed-output derivations with builtin:fetchurl', async () => {
    const p = dummyPackage({ name: 'abc', version: '1.0', source: url({ urls: ['https://example.org/abc-1.0.tar.gz', 'mirror://gnu/abc/abc-1.0.tar.gz'], sha256: SHA }) });
    const { l, r } = await lower(p);
    const fetch = l.derivations.get(Object.keys(r.derivation.drv.inputDrvs).find((k) => k.endsWith('abc-1.0.tar.gz.drv'))!)!;
    expect(fetch.drv.builder).toBe('builtin:fetchurl');
    expect(fetch.drv.env['urls']).toBe('https://example.org/abc-1.0.tar.gz mirror://gnu/abc/abc-1.0.tar.gz');
    expect(fetch.drv.outputs['out']).toEqual({
      path: makeFixedOutputPath('abc-1.0.tar.gz', { method: 'flat', algo: 'sha256', digest: parseHash(SHA).digest }, '/tsdsl/store'),
      hashAlgo: 'sha256',
      hash: SHA,
    });
    expect(r.derivation.drv.env['src']).toBe(fetch.drv.outputs['out']!.path);
  });

  it('git origins are recursive fixed outputs; unpinned ones are a clear error', async () => {
    const p = dummyPackage({ name: 'g', version: '1', source: git({ url: 'https://example.org/g.git', commit: 'a'.repeat(40), sha256: SHA }) });
    const { l, r } = await lower(p);
    const fetch = l.derivations.get(Object.keys(r.derivation.drv.inputDrvs).find((k) => k.includes('checkout'))!)!;
    expect(fetch.drv.outputs['out']!.hashAlgo).toBe('r:sha256');
    expect(fetch.drv.builder).toBe('builtin:git');
    // Offline (as `tsdsl lint` lowers), an unpinned origin cannot be lowered.
    const unpinned = dummyPackage({ name: 'u', version: '1', source: git({ url: 'https://example.org/g.git', commit: 'main' }) });
    const offline = new Lowerer('/tsdsl/store');
    offline.fetchUnpinned = undefined;
    await offline.prepare([unpinned]);
    expect(() => offline.lowerGrafted(unpinned)).toThrow(/package `u@1` .*, source: git https:\/\/example.org\/g.git main has no sha256/);
  });

  it('unpinned url and git origins are fetched by prepare() and lowered with the hash of what came', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-lower-unpinned-'));
    const saved = process.env['TSDSL_DOWNLOAD_CACHE'];
    process.env['TSDSL_DOWNLOAD_CACHE'] = join(dir, 'cache');
    const server = createServer((req, res) => (req.url === '/abc-1.0.tar.gz' ? res.end('tarball bytes') : ((res.statusCode = 404), res.end())));
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const p = dummyPackage({ name: 'abc', version: '1.0', source: unpinnedUrl(`${base}/abc-1.0.tar.gz`) });
      const { l, r } = await lower(p);
      const fetch = l.derivations.get(Object.keys(r.derivation.drv.inputDrvs).find((k) => k.endsWith('abc-1.0.tar.gz.drv'))!)!;
      expect(fetch.drv.outputs['out']!.hash).toBe(createHash('sha256').update('tarball bytes').digest('hex'));
      // A URL that does not answer names the package, the field and the URL.
      const gone = dummyPackage({ name: 'gone', version: '1', source: unpinnedUrl(`${base}/gone-1.tar.gz`) });
      await expect(lower(gone)).rejects.toThrow(/package `gone@1` .*, source: `http:\/\/127\.0\.0\.1:\d+\/gone-1\.tar\.gz` has no sha256, and fetching it to compute one failed: [\s\S]*404/);

      const gitEnv = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e' };
      const sh = (args: string[], cwd: string) => execFileSync('git', ['-c', 'init.defaultBranch=main', ...args], { cwd, env: gitEnv, encoding: 'utf8' }).trim();
      const work = join(dir, 'work');
      mkdirSync(work);
      sh(['init', '-q'], work);
      writeFileSync(join(work, 'configure'), '#!/bin/sh\n', { mode: 0o755 });
      writeFileSync(join(work, 'README'), 'hello\n');
      sh(['add', '.'], work);
      sh(['commit', '-qm', 'one'], work);
      const commit = sh(['rev-parse', 'HEAD'], work);
      const g = dummyPackage({ name: 'g', version: '1', source: git({ url: `file://${work}`, commit }) });
      const lg = await lower(g);
      const checkout = lg.l.derivations.get(Object.keys(lg.r.derivation.drv.inputDrvs).find((k) => k.includes('checkout'))!)!;
      // The NAR hash of the tree, computed here from a copy of the work tree without .git.
      const tree = join(dir, 'tree');
      mkdirSync(tree);
      for (const f of ['configure', 'README']) cpSync(join(work, f), join(tree, f));
      expect(checkout.drv.outputs['out']!.hash).toBe((await narHash(tree)).hash.toString('hex'));
    } finally {
      server.close();
      if (saved === undefined) delete process.env['TSDSL_DOWNLOAD_CACHE'];
      else process.env['TSDSL_DOWNLOAD_CACHE'] = saved;
    }
  });

  it('local files and patches become NAR-hashed source items', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-lower-'));
    writeFileSync(join(dir, 'fix.patch'), '--- a/x\n+++ b/x\n');
    writeFileSync(join(dir, 'src.tar.gz'), 'tarball bytes');
    // (gnu: the trivial build system applies no patch, and refuses them.)
    const p = dummyPackage({ name: 'loc', version: '1', buildSystem: gnu, source: local(join(dir, 'src.tar.gz'), { patches: [join(dir, 'fix.patch')] }) });
    const { l, r } = await lower(p);
    const nar = await narHash(join(dir, 'src.tar.gz'));
    const srcPath = makeSourcePath('src.tar.gz', nar.hash, [], '/tsdsl/store');
    expect(r.derivation.drv.inputSrcs).toContain(srcPath);
    expect(r.derivation.drv.env['src']).toBe(srcPath);
    expect(r.derivation.drv.env['patches']).toMatch(/^\/tsdsl\/store\/[0-9a-z]{32}-fix\.patch$/);
    expect(l.items.get(srcPath)).toMatchObject({ kind: 'source', file: join(dir, 'src.tar.gz') });
  });

  it('a local source given as a symlink is what it names, in the lowering and in the store alike', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-lower-link-'));
    writeFileSync(join(dir, 'real.patch'), '--- a/x\n+++ b/x\n');
    mkdirSync(join(dir, 'tree'));
    writeFileSync(join(dir, 'tree/a'), 'a');
    symlinkSync('real.patch', join(dir, 'link.patch'));
    symlinkSync(join(dir, 'tree'), join(dir, 'tree-link'));
    const viaLinks = dummyPackage({ name: 'linked', version: '1', buildSystem: gnu, source: local(join(dir, 'tree-link'), { patches: [join(dir, 'link.patch')] }) });
    const { l, r } = await lower(viaLinks);
    // The names are the links', the contents the targets'.
    expect(r.derivation.drv.env['src']).toBe(makeSourcePath('tree-link', (await narHash(join(dir, 'tree'))).hash, [], '/tsdsl/store'));
    expect(r.derivation.drv.env['patches']).toBe(makeSourcePath('link.patch', (await narHash(join(dir, 'real.patch'))).hash, [], '/tsdsl/store'));
    const { openStore } = await import('../../src/store/store.js');
    const { instantiate } = await import('../../src/derivation/instantiate.js');
    const root = mkdtempSync(join(tmpdir(), 'tsdsl-lower-link-store-'));
    const store = openStore({ root, storeDir: '/tsdsl/store', env: {}, durable: false });
    try {
      await instantiate(store, l, [r.drvPath]);
      expect(store.isValid(r.drvPath)).toBe(true);
      expect(readFileSync(store.physicalPath(r.derivation.drv.env['patches']!), 'utf8')).toBe('--- a/x\n+++ b/x\n');
      expect(readdirSync(store.physicalPath(r.derivation.drv.env['src']!))).toEqual(['a']);
    } finally {
      store.close();
      execFileSync('chmod', ['-R', 'u+w', root]);
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('closureOf() of several roots walks their shared closure once (build -d and derivation show -r of many packages)', () => {
    // A shared base of 200 derivations under 100 roots: a walk per root looked at 100 × 200.
    let below: Package[] = [];
    for (let i = 0; i < 200; i++) below = [dummyPackage({ name: `base${i}`, inputs: below.slice(-2) })];
    const shared = below[0]!;
    const roots = Array.from({ length: 100 }, (_, i) => dummyPackage({ name: `root${i}`, inputs: [shared] }));
    const l = new Lowerer('/tsdsl/store');
    const drvPaths = roots.map((r) => l.lower(r).drvPath);
    const get = vi.spyOn(l.derivations, 'get');
    const all = l.closureOf(drvPaths);
    // Each derivation once, every input before its users, the roots included.
    expect(new Set(all.map((d) => d.drvPath)).size).toBe(all.length);
    expect(all.length).toBe(300);
    const at = new Map(all.map((d, i) => [d.drvPath, i]));
    for (const d of all) for (const input of Object.keys(d.drv.inputDrvs)) expect(at.get(input)).toBeLessThan(at.get(d.drvPath)!);
    expect(drvPaths.every((p) => at.has(p))).toBe(true);
    expect(get.mock.calls.length).toBeLessThan(1000);
    get.mockRestore();
    // One root, as before.
    expect(l.closureOf(drvPaths[0]!).map((d) => d.drvPath)).toEqual(l.closureOf([drvPaths[0]!]).map((d) => d.drvPath));
    expect(() => l.closureOf([drvPaths[0]!, '/tsdsl/store/x.drv'])).toThrow(/^Lowerer\.closureOf\(\): `\/tsdsl\/store\/x\.drv` is not a derivation this Lowerer made/);
  });

  it('the Lowerer, instantiate and derivationJson refuse arguments of the wrong kind by name', async () => {
    const zlib = c.resolve('zlib');
    expect(() => new Lowerer(5 as never)).toThrow(/^new Lowerer\(\): `storeDir` must be a non-empty string, not 5/);
    const l = new Lowerer('/tsdsl/store');
    await expect(l.prepare(zlib as never)).rejects.toThrow(/^Lowerer\.prepare\(\) takes an array of packages, not one package: wrap it, \[zlib\]/);
    await expect(l.prepare(['zlib'] as never)).rejects.toThrow(/^Lowerer\.prepare\(\): item 0 is the string 'zlib', not a package/);
    expect(() => l.lowerGrafted('zlib' as never)).toThrow(/^Lowerer\.lowerGrafted\(\): the argument is the string 'zlib'/);
    expect(() => l.lowerSource('zlib' as never)).toThrow(/^Lowerer\.lowerSource\(\): the argument is the string 'zlib'/);
    expect(() => l.lowerProfile([zlib], { revision: 'x' } as never)).toThrow(/unknown field `revision`; did you mean `collectionRevision`\?/);
    expect(() => l.closureOf('/tsdsl/store/x.drv')).toThrow(/^Lowerer\.closureOf\(\): `\/tsdsl\/store\/x\.drv` is not a derivation this Lowerer made/);
    expect(() => derivationJson(undefined as never)).toThrow(/^derivationJson\(\) takes a lowered derivation/);
    const { openStore } = await import('../../src/store/store.js');
    const { instantiate } = await import('../../src/derivation/instantiate.js');
    const root = mkdtempSync(join(tmpdir(), 'tsdsl-instantiate-args-'));
    const store = openStore({ root, storeDir: '/tsdsl/store', env: {}, durable: false });
    try {
      await l.prepare([zlib]);
      const { drvPath } = l.lowerGrafted(zlib);
      await expect(instantiate(store, l, drvPath as never)).rejects.toThrow(/^instantiate\(\) takes an array of \.drv paths, not a string: wrap it/);
      await expect(instantiate(store, l, ['hello'])).rejects.toThrow(/^instantiate\(\): `hello` is not a \.drv path this Lowerer made/);
      await expect(instantiate(store, undefined as never, [drvPath])).rejects.toThrow(/^instantiate\(\): the second argument must be the Lowerer/);
      await expect(instantiate(undefined as never, l, [drvPath])).rejects.toThrow(/^instantiate\(\) takes a store made by openStore\(\)/);
      expect(store.allValidPaths()).toEqual([]);
    } finally {
      store.close();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('a missing patch file names the package, the field and the file; nothing is lowered', async () => {
    const p = dummyPackage({ name: 'nopatch', version: '1', source: url({ urls: 'https://example.org/a-1.tar.gz', sha256: SHA, patches: ['/nonexistent/fix.patch'] }) });
    await expect(lower(p)).rejects.toThrow(/^missing file: `nopatch@1` \(.*lower\.test\.ts:\d+\), source\.patches\[0\]: `\/nonexistent\/fix.patch` does not exist \(a relative path of a patch is taken from the directory of the file that calls url\(\), git\(\) or local\(\)\)$/);
    // A tree holding what a store item cannot (a FIFO) says what and where.
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-lower-fifo-'));
    execFileSync('mkfifo', [join(dir, 'pipe')]);
    const fifo = dummyPackage({ name: 'fifo', version: '1', source: local(dir) });
    await expect(lower(fifo)).rejects.toThrow(/^unusable local file: `fifo@1` \(.*\), source: `.*` cannot be hashed: cannot archive `.*\/pipe`: it is a FIFO; only regular files, symlinks and directories/);
  });

  it('a name and version too long for a store path is an error naming the package and field', async () => {
    // (Characters a store path cannot hold are refused by definePackage already.)
    expect(() => dummyPackage({ name: 'tilde', version: '1.0~rc1' })).toThrow(/version "1\.0~rc1" contains `~`/);
    const p = dummyPackage({ name: 'long', version: '1'.repeat(220) });
    await expect(lower(p)).rejects.toThrow(/package `long@1{220}` .*name and version: store path name `long-1+…` is 225 characters long: with `\.drv` after it, the derivation's file name would be 229, and the limit is 211; shorten it to 207 or fewer/);
  });


  it('lowerPackages resolves spec strings; realise refuses what its lowerer did not make, by name', async () => {
    const { results } = await lowerPackages(['zlib'], { storeDir: '/tsdsl/store' });
    expect(results[0]!.drvPath).toMatch(/-zlib-1\.2\.13\.drv$/);
    await expect(lowerPackages([42 as never])).rejects.toThrow(/lowerPackages\(\): 42 is neither a package nor a package name/);
    await expect(lowerPackages([{} as never])).rejects.toThrow(/lowerPackages\(\): \{\} is neither a package/);
    // A lowerer computes for its own store dir and system: another asked for beside it is refused, not ignored.
    const { lowerer } = await lowerPackages(['zlib'], { storeDir: '/tsdsl/store' });
    await expect(lowerPackages(['hwloc'], { lowerer, storeDir: '/nix/store' })).rejects.toThrow(/^lowerPackages\(\): `storeDir` is "\/nix\/store", but the `lowerer` given computes for "\/tsdsl\/store"/);
    await expect(lowerPackages(['hwloc'], { lowerer, system: 'i686-linux' })).rejects.toThrow(/^lowerPackages\(\): `system` is "i686-linux"/);
    const { openStore } = await import('../../src/store/store.js');
    const { realise } = await import('../../src/build/scheduler.js');
    const store = openStore({ root: mkdtempSync(join(tmpdir(), 'tsdsl-realise-')), storeDir: '/tsdsl/store', durable: false });
    try {
      await expect(realise(store, new Lowerer('/tsdsl/store'), [results[0]!.drvPath])).rejects.toThrow(/^realise\(\): `.*-zlib-1\.2\.13\.drv` is not a derivation this Lowerer made/);
      await expect(realise(store, undefined as never, [])).rejects.toThrow(/^realise\(\): the second argument must be the Lowerer/);
    } finally {
      store.close();
    }
  });

  it('lowerPackages hashes a local source again on each call; a Lowerer checks its store dir and system', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-local-again-'));
    writeFileSync(join(dir, 'data.txt'), 'one');
    const p = dummyPackage({ name: 'local-again', source: local(dir) });
    const first = (await lowerPackages([p])).results[0]!.drvPath;
    writeFileSync(join(dir, 'data.txt'), 'two');
    expect((await lowerPackages([p])).results[0]!.drvPath).not.toBe(first);
    expect(() => new Lowerer('relative/store')).toThrow(/store directory `relative\/store` is not absolute/);
    expect(() => new Lowerer('/my store')).toThrow(/contains a space/);
    expect(() => new Lowerer('/tsdsl/store', 'aarch64-linux')).toThrow(/system `aarch64-linux` is not supported: .* builds for x86_64-linux only/);
  });

  it('a flag naming ${x} that the derivation does not set is an error naming the flag, with the closest input', async () => {
    const zlib = c.resolve('zlib');
    const typo = dummyPackage({ name: 'typo', buildSystem: gnu, inputs: [zlib], arguments: { configureFlags: ['--with-z=${zlib}', '--x=${zlbi}'] } });
    await expect(lower(typo)).rejects.toThrow(/package `typo@1.0` .*, arguments.configureFlags\[1\]: `--x=\$\{zlbi\}` names `\$\{zlbi\}`, which is neither an input .*; did you mean `\$\{zlib\}`\?/);
    // Outputs, upper-case names (which the build may set), and text that is not a name are left alone.
    const fine = dummyPackage({ buildSystem: gnu, outputs: ['out', 'doc'], arguments: { makeFlags: ['P=${out}', 'D=${doc}', '-j${NIX_BUILD_CORES}', 'X=${a b}', 'Y=$(CC)', 'Z=${'] } });
    await expect(lower(fine)).resolves.toBeDefined();
    // A variable a phase sets is known to the flags, which the builder reads after it runs.
    const phased = dummyPackage({ buildSystem: gnu, arguments: { phases: { build: 'export blasdir=/x; for lib in a; do :; done; ./configure --prefix=$out' }, makeFlags: ['B=${blasdir}', 'L=${lib}'] } });
    await expect(lower(phased)).resolves.toBeDefined();
    // `--prefix=` in a phase is an option, not an assignment: ${prefix} is still unknown.
    const option = dummyPackage({ buildSystem: gnu, name: 'opt', arguments: { phases: { build: './configure --prefix=$out' }, makeFlags: ['P=${prefix}'] } });
    await expect(lower(option)).rejects.toThrow(/names `\$\{prefix\}`, which is neither/);
  });
  it('`${pt-scotch}` in a flag or phase, where pt-scotch is an input, is an error giving `${pt_scotch}`', async () => {
    const pt = c.resolve('pt-scotch');
    const flag = dummyPackage({ name: 'dashed', buildSystem: gnu, inputs: [pt], arguments: { configureFlags: ['--with-scotch=${pt-scotch}'] } });
    await expect(lower(flag)).rejects.toThrow(/arguments\.configureFlags\[0\]: `\$\{pt-scotch\}` is read by the shell as `\$pt`, or `scotch` when that is unset, not as the input `pt-scotch`: .*write `\$\{pt_scotch\}`/);
    const phase = dummyPackage({ name: 'dashed-phase', buildSystem: gnu, inputs: [pt], arguments: { phases: { build: 'echo ${pt-scotch}' } } });
    await expect(lower(phase)).rejects.toThrow(/arguments\.phases\.build: `\$\{pt-scotch\}`/);
    // A default the author meant (no input of that name) is left alone.
    const meant = dummyPackage({ name: 'dashed-default', buildSystem: gnu, arguments: { phases: { build: 'echo ${CC-gcc}' } } });
    await expect(lower(meant)).resolves.toBeDefined();
  });

  it('a phase using ${x} for an input its parent had and it lacks (modifyInputs delete) is an error, suggesting the variant', async () => {
    const mumps = c.resolve('mumps');
    const noMetis = inherit(modifyInputs(mumps, { delete: ['metis'] }), { name: 'mumps-nometis' });
    await expect(lower(noMetis)).rejects.toThrow(/package `mumps-nometis@[\d.]+` .*, arguments\.phases\.configure: uses `\$\{metis\}`, the prefix of the input `metis` of `mumps@[\d.]+` it was made from, which it does not have: the build would stop there \("metis: unbound variable"\) after its inputs were built\. `mumps` has a variant `metis`: build `mumps~metis` \(in code, `withVariants\(mumps, \{ metis: false \}\)`\)/);
    // Without a variant of that name: keep the input, or phases of its own. `$zlib` counts too.
    const zlib = c.resolve('zlib');
    const parent = dummyPackage({ name: 'uses-zlib', buildSystem: gnu, inputs: [zlib], arguments: { phases: { build: 'cc -I$zlib/include x.c' } } });
    await expect(lower(inherit(parent, { name: 'no-zlib', inputs: [] }))).rejects.toThrow(/no-zlib@1\.0.*arguments\.phases\.build: uses `\$\{zlib\}`, the prefix of the input `zlib` of `uses-zlib@1\.0` .*Keep the input, or give the package phases of its own that do without it/);
    // A phase that sets the variable itself, a default (${zlib-}), or a longer name is left alone; so is the variant's own package.
    for (const build of ['zlib=/opt/z; cc -I$zlib/include x.c', 'cc ${zlib-} $zlibx x.c']) {
      await expect(lower(inherit(parent, { name: 'no-zlib-ok', inputs: [], arguments: { phases: { build } } }))).resolves.toBeDefined();
    }
    await expect(lower(c.resolve('mumps~metis'))).resolves.toBeDefined();
  });

  it('is deterministic across processes, and the store dir changes every path', () => {
    const a = tsdsl(['derivation', 'show', '-r', 'mumps']);
    const b = tsdsl(['derivation', 'show', '-r', 'mumps']);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    const nix = tsdsl(['derivation', 'show', 'hwloc'], { env: { TSDSL_STORE_DIR: '/nix/store' } });
    expect(Object.keys(JSON.parse(nix.stdout))[0]).toMatch(/^\/nix\/store\/[0-9a-z]{32}-hwloc-2\.9\.0\.drv$/);
  });

  it('--with-input changes exactly the derivations that depend on the replaced package', async () => {
    const mumps = c.resolve('mumps');
    const t = transform(mumps, ['--with-input=scotch=pt-scotch'], { collection: c, warn: () => {} });
    const { l: l1, r: r1 } = await lower(mumps);
    const { l: l2, r: r2 } = await lower(t);
    expect(r1.drvPath).not.toBe(r2.drvPath);
    const before = closureByName(l1, r1.drvPath);
    const after = closureByName(l2, r2.drvPath);
    for (const unchanged of ['metis-5.1.0', 'openblas-0.3.21', 'zlib-1.2.13', 'gcc-toolchain-12.2.0', 'lapack-3.11.0']) {
      expect(after.get(unchanged), unchanged).toBe(before.get(unchanged));
    }
    expect(after.has('scotch-7.0.3')).toBe(false);
    expect(after.has('pt-scotch-7.0.3')).toBe(true);
    // The replacement keeps the label of what it replaced, as in Guix: the recipe's ${scotch}
    // names PT-Scotch now (and ${pt_scotch} too); untransformed mumps has no $pt_scotch.
    const env = r2.derivation.drv.env;
    expect(env['scotch']).toMatch(/-pt-scotch-7\.0\.3$/);
    expect(env['pt_scotch']).toBe(env['scotch']);
    expect(r1.derivation.drv.env['scotch']).toMatch(/-scotch-7\.0\.3$/);
    expect(r1.derivation.drv.env['pt_scotch']).toBeUndefined();
    // A second rewrite on top (pt-scotch → scotch+mpi) keeps the label; an unrelated one carries it over.
    const again = transform(t, ['--with-input=pt-scotch=scotch+mpi', '--without-tests=mumps'], { collection: c, warn: () => {} });
    const env2 = (await lower(again)).r.derivation.drv.env;
    expect(env2['scotch']).toMatch(/-scotch-7\.0\.3$/);
    expect(env2['scotch']).not.toBe(r1.derivation.drv.env['scotch']);
    expect(env2['pt_scotch']).toBeUndefined();
    expect(env2['doCheck']).toBe('');
    // A later rewrite that changes the replacement itself (PT-Scotch depends on hwloc) keeps the
    // label: `${scotch}` was lost, and the build stopped with "scotch: unbound variable".
    const deeper = transform(mumps, ['--with-input=scotch=pt-scotch', '--without-tests=hwloc'], { collection: c, warn: () => {} });
    const env3 = (await lower(deeper)).r.derivation.drv.env;
    expect(env3['scotch']).toMatch(/-pt-scotch-7\.0\.3$/);
    expect(env3['scotch']).not.toBe(env['scotch']);
    expect(env3['pt_scotch']).toBe(env3['scotch']);
  });

  it('variants, without-tests, tune, debug info and another toolchain change the derivation', async () => {
    const scotch = c.resolve('scotch');
    const base = (await lower(scotch)).r;
    expect((await lower(c.resolve('scotch+mpi'))).r.drvPath).not.toBe(base.drvPath);
    const noTests = (await lower(transform(scotch, { withoutTests: ['scotch'] }, { collection: c }))).r;
    expect(noTests.derivation.drv.env['doCheck']).toBe('');
    expect(base.derivation.drv.env['doCheck']).toBe('1');
    const dbg = (await lower(transform(scotch, { withDebugInfo: ['scotch'] }, { collection: c }))).r;
    expect(dbg.derivation.drv.env['extraCFlags']).toBe('-g');
    expect(dbg.derivation.drv.env['dontStrip']).toBe('1');
    // scotch is tunable in the collection; hwloc is not, and keeps its derivation.
    const tuned = (await lower(transform(scotch, { tune: 'haswell' }, { collection: c }))).r;
    expect(tuned.derivation.drv.env['extraCFlags']).toBe('-march=haswell');
    expect(base.derivation.drv.env['extraCFlags']).toBeUndefined();
    const hwloc = c.resolve('hwloc');
    expect((await lower(transform(hwloc, { tune: 'haswell' }, { collection: c, warn: () => {} }))).r.drvPath).toBe((await lower(hwloc)).r.drvPath);
    const other = definePackage({ name: 'other-toolchain', version: '1', buildSystem: trivial, synopsis: 's', description: 'd', homePage: 'https://example.org/', license: licenses.expat, properties: { toolchain: true } });
    const tc = (await lower(transform(scotch, { withCToolchain: { scotch: other } }, { collection: c }))).r;
    expect(tc.drvPath).not.toBe(base.drvPath);
    expect(tc.derivation.drv.env['nativeInputs']).not.toContain('gcc-toolchain');
  });

  it('a graft leaves dependents\' build derivations alone and adds a graft derivation', async () => {
    const zlibPatched = c.resolve('zlib').with({ version: '1.2.99' });
    const scotch = c.resolve('scotch');
    const grafted = transform(scotch, { withGraft: { zlib: zlibPatched } }, { collection: c });
    const { r: plain } = await lower(scotch);
    const { l, r } = await lower(grafted);
    expect(l.lower(grafted).drvPath).not.toBe(r.drvPath);
    expect(r.derivation.drv.builder).toBe('builtin:graft');
    expect(r.derivation.drv.env['mapping']).toMatch(/-zlib-1\.2\.13=\/tsdsl\/store\/[0-9a-z]{32}-zlib-1\.2\.99/);
    // A replacement of another length cannot be grafted: said when the option is read.
    expect(() => transform(scotch, { withGraft: { zlib: c.resolve('zlib').with({ version: '1.2.13-patched' }) } }, { collection: c })).toThrow(/differ in length \(11 and 19 characters\)/);
    // The build of scotch itself differs only by its recorded provenance, not by zlib.
    expect(l.lower(grafted).derivation.drv.env['inputs']).toBe(plain.derivation.drv.env['inputs']);
  });

  it('a profile holds the outputs asked for (`[pkg, \'doc\']`, as `pkg:doc`), and all of a package given alone or propagated', async () => {
    const two = dummyPackage({ name: 'two', outputs: ['out', 'doc', 'lib'] });
    const user = dummyPackage({ name: 'user', propagatedInputs: [two] });
    const l = new Lowerer('/tsdsl/store');
    await l.prepare([two, user]);
    const t = l.lowerGrafted(two);
    const profileOf = (items: Parameters<Lowerer['lowerProfile']>[0]) => {
      const p = l.lowerProfile(items);
      const manifest = JSON.parse(p.derivation.drv.env['manifest']!) as { packages: Array<{ name: string; outputs: Record<string, string> }> };
      return { drvPath: p.drvPath, inputs: p.derivation.drv.env['inputs']!.split(' '), asked: p.derivation.drv.inputDrvs[t.drvPath], manifest: Object.fromEntries(manifest.packages.map((e) => [e.name, Object.keys(e.outputs)])) };
    };
    const doc = profileOf([[two, 'doc']]);
    expect(doc.inputs).toEqual([t.outputs['doc']]);
    expect(doc.asked).toEqual(['doc']);
    expect(doc.manifest).toEqual({ two: ['doc'] });
    // Asked for apart, in any order: one entry, in the package's order of outputs.
    const docLib = profileOf([[two, 'lib'], [two, 'doc']]);
    expect(docLib.inputs).toEqual([t.outputs['doc'], t.outputs['lib']]);
    expect(docLib.manifest).toEqual({ two: ['doc', 'lib'] });
    // Every output asked for, or the package alone (or both): the same profile.
    const whole = profileOf([two]);
    expect(whole.manifest).toEqual({ two: ['out', 'doc', 'lib'] });
    expect(profileOf([[two, 'out'], [two, 'doc'], [two, 'lib']]).drvPath).toBe(whole.drvPath);
    expect(profileOf([[two, 'doc'], two]).drvPath).toBe(whole.drvPath);
    expect(doc.drvPath).not.toBe(whole.drvPath);
    // Propagated by a package given, it is all there, whatever output is asked for beside.
    expect(profileOf([user, [two, 'doc']]).manifest).toEqual({ user: ['out'], two: ['out', 'doc', 'lib'] });
    expect(() => l.lowerProfile([[two, 'docs']])).toThrow(/^`two:docs`: two@1\.0 has no output `docs`; did you mean `doc`\? \(its outputs: out, doc, lib\)$/);
    expect(() => l.lowerProfile([two, 'doc'] as never)).toThrow(/^Lowerer\.lowerProfile\(\): item 1 is the string 'doc', not a package/);
    expect(() => l.lowerProfile([[two]] as never)).toThrow(/^Lowerer\.lowerProfile\(\): item 0 is .*\(an output is written \[package, 'name'\]\)$/);
  });

  it('lowers the whole default collection', async () => {
    const { results } = await lowerPackages(c.all(), { lowerer: new Lowerer('/tsdsl/store') });
    expect(new Set(results.map((r) => r.drvPath)).size).toBe(results.length);
  });

  it('keeps only the text of lowered derivations, as bytes off the heap; what it records and parses back matches it', async () => {
    const l = new Lowerer('/tsdsl/store');
    // Something takes the bytes as they come (as a store writing them does): they are kept.
    const handed = new Map<string, Buffer>();
    l.onDerivation = (path, bytes) => void (bytes && handed.set(path, Buffer.from(bytes)));
    const { results } = await lowerPackages(c.all(), { lowerer: l });
    expect(l.derivations.size).toBeGreaterThan(50);
    let kept = 0;
    for (const d of l.derivations.values()) {
      const drv = d.drv;
      expect(serializeDerivation(drv)).toBe(d.text);
      expect(d.drv).toBe(drv); // parsed once
      // Input-addressed ASCII texts are kept as bytes; fixed-output ones as strings.
      if (d.bytes) (kept++, expect(Buffer.from(d.bytes).equals(Buffer.from(d.text, 'utf8'))).toBe(true));
      expect(Object.fromEntries(d.outputNames!.map((o, i) => [o, d.outputPaths![i]]))).toEqual(Object.fromEntries(Object.entries(drv.outputs).map(([o, v]) => [o, v.path])));
      for (const o of d.outputNames!) expect(drv.env[o]).toBe(drv.outputs[o]!.path);
      expect([...d.inputDrvPaths!].sort()).toEqual(Object.keys(drv.inputDrvs).sort());
      expect(d.inputSrcs).toEqual(drv.inputSrcs);
    }
    expect(kept).toBeGreaterThan(50);
    expect(handed.size).toBe(kept);
    for (const r of results) expect(r.outputs).toEqual(Object.fromEntries(Object.entries(r.derivation.drv.outputs).map(([o, v]) => [o, v.path])));

    // Lowering for paths alone keeps no text, nor the input paths: each is printed again when
    // either is asked for, the same bytes and paths, without growing the hasher's buffer of
    // input-table entries.
    const bare = new Lowerer('/tsdsl/store');
    await lowerPackages(c.all(), { lowerer: bare });
    expect([...bare.derivations.keys()]).toEqual([...l.derivations.keys()]);
    const entriesEnd = bare.hasher.printedEnd;
    const printAgain = vi.spyOn(bare as unknown as { printAgain: (p: Package) => unknown }, 'printAgain');
    let again = 0;
    for (const [path, d] of bare.derivations) {
      if (!handed.has(path)) {
        expect(d.bytes).toBeUndefined();
        continue;
      }
      again++;
      const full = l.derivations.get(path)!;
      // Every other one, the input paths are read first: one printing gives both.
      if (again % 2) expect(d.references).toEqual(full.references);
      const bytes = d.bytes;
      expect(Buffer.from(bytes!).equals(handed.get(path)!), path).toBe(true);
      expect(d.text).toBe(handed.get(path)!.toString('utf8'));
      expect(d.bytes).toEqual(bytes); // kept once printed again
      expect(d.inputDrvPaths).toEqual(full.inputDrvPaths);
      expect(d.references).toEqual(full.references);
    }
    expect(again).toBe(kept);
    // Each text was printed again once, by its first read, and the hasher's entries not again.
    expect(printAgain).toHaveBeenCalledTimes(kept);
    expect(bare.hasher.printedEnd).toBe(entriesEnd);
  });

  it('keeps the text and input paths of a derivation printed as a string (not ASCII), even lowering for paths alone', () => {
    const make = (env: Record<string, string>) => {
      const a = definePackage({ name: 'a', version: '1.0', buildSystem: trivial, arguments: { phases: { build: 'true' } }, synopsis: 's', description: 'd', homePage: 'https://example.org/', license: licenses.expat });
      return definePackage({ name: 'b', version: '1.0', buildSystem: trivial, inputs: [a], arguments: { env, phases: { build: 'true' } }, synopsis: 's', description: 'd', homePage: 'https://example.org/', license: licenses.expat });
    };
    for (const env of [{ GREETING: 'gr\u00fc\u00df dich' }, { GREETING: 'hello' }]) {
      const b = make(env);
      const full = new Lowerer('/tsdsl/store');
      full.onDerivation = () => {};
      const want = full.lower(b);
      const bare = new Lowerer('/tsdsl/store');
      const got = bare.lower(b);
      expect(got.drvPath).toBe(want.drvPath);
      const d = bare.derivations.get(got.drvPath)!;
      expect(d.inputDrvPaths).toEqual(full.derivations.get(want.drvPath)!.inputDrvPaths);
      expect(d.references).toEqual(full.derivations.get(want.drvPath)!.references);
      expect(bare.closureOf(got.drvPath).map((x) => x.drvPath)).toEqual(full.closureOf(want.drvPath).map((x) => x.drvPath));
      expect(d.text).toBe(full.derivations.get(want.drvPath)!.text);
    }
  });
});

describe('tsdsl build -d and graph --type=derivation', () => {
  it('writes the .drv and its inputs to the store and prints the path', () => {
    const root = mkdtempSync(join(tmpdir(), 'tsdsl-root-'));
    const r = tsdsl(['build', '-d', 'hwloc'], { env: { TSDSL_ROOT: root } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const drvPath = r.stdout.trim();
    expect(drvPath).toMatch(/^\/tsdsl\/store\/[0-9a-z]{32}-hwloc-2\.9\.0\.drv$/);
    const physical = join(root, 'store', drvPath.slice('/tsdsl/store/'.length));
    expect(existsSync(physical)).toBe(true);
    expect(readFileSync(physical, 'utf8')).toMatch(/^Derive\(\[\("out","\/tsdsl\/store\/[0-9a-z]{32}-hwloc-2\.9\.0"/);
    const shown = JSON.parse(tsdsl(['derivation', 'show', 'hwloc']).stdout) as Record<string, unknown>;
    expect(Object.keys(shown)).toEqual([drvPath]);
    // Again: idempotent.
    expect(tsdsl(['build', '-d', 'hwloc'], { env: { TSDSL_ROOT: root } }).stdout.trim()).toBe(drvPath);
    const t = tsdsl(['build', '-d', 'mumps', '--with-input=scotch=pt-scotch'], { env: { TSDSL_ROOT: root } });
    expect(t.code).toBe(0);
    expect(t.stdout.trim()).not.toBe(tsdsl(['build', '-d', 'mumps'], { env: { TSDSL_ROOT: root } }).stdout.trim());
  });

  it('writes a graph of 1,500 derivations through the worker that creates .drv files while lowering runs', () => {
    const root = mkdtempSync(join(tmpdir(), 'tsdsl-root-'));
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-many-'));
    // A chain of layers: each package depends on two of the layer below.
    const lines = ["import { definePackage, licenses, trivial } from 'tsdsl';", 'const m = (name: string, inputs: any[]) => definePackage({ name, version: "1", buildSystem: trivial, inputs, synopsis: "A generated package", description: "A package generated by the tests.", homePage: "https://example.org/", license: licenses.expat });'];
    for (let i = 0; i < 1500; i++) lines.push(`export const p${i} = m('many-${i}', [${i >= 10 ? `p${i - 10}, p${i - 7}` : ''}]);`);
    lines.push(`export const top = m('many-top', [${Array.from({ length: 10 }, (_, k) => `p${1490 + k}`).join(', ')}]);`);
    writeFileSync(join(dir, 'many.ts'), lines.join('\n') + '\n');
    const r = tsdsl(['build', '-d', '-L', dir, 'many-top'], { env: { TSDSL_ROOT: root }, timeoutMs: 300_000 });
    expect(r.code, r.stderr).toBe(0);
    const drvPath = r.stdout.trim();
    // Every .drv is registered and hashes to what the database says.
    const v = tsdsl(['verify', '--check-contents'], { env: { TSDSL_ROOT: root }, timeoutMs: 300_000 });
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stderr).toMatch(/checked presence and contents of 15\d\d items: no problems/);
    const files = readdirSync(join(root, 'store')).filter((n) => n.endsWith('.drv'));
    expect(files.length).toBeGreaterThan(1500);
    expect(readFileSync(join(root, 'store', drvPath.slice('/tsdsl/store/'.length)), 'utf8')).toMatch(/^Derive\(/);
    // Again: every .drv is valid already (the worker finds every name taken), the same path.
    expect(tsdsl(['build', '-d', '-L', dir, 'many-top'], { env: { TSDSL_ROOT: root } }).stdout.trim()).toBe(drvPath);
  });

  it('graph --type=derivation shows .drv files and sources', () => {
    const r = tsdsl(['graph', '--type=derivation', 'hwloc', '--backend=json']);
    expect(r.code).toBe(0);
    const g = JSON.parse(r.stdout) as { nodes: Array<{ id: string; kind: string }> };
    expect(g.nodes[0]!.id).toMatch(/-hwloc-2\.9\.0\.drv$/);
    expect(g.nodes.some((n) => n.kind === 'source' && n.id.endsWith('-gnu-builder.sh'))).toBe(true);
    expect(g.nodes.some((n) => n.id.endsWith('hwloc_2.9.0.orig.tar.bz2.drv'))).toBe(true);
  });
});
