import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PID_NAMESPACE } from '../../src/store/lock.js';
import { dash } from '../../packages/bootstrap.js';
import { nix32Encode } from '../../src/derivation/hash.js';
import { isTsdslError } from '../../src/errors.js';
import { defaultDownloadCache, fetchGit, fetchUrl } from '../../src/build/fetch.js';
import { debianArchives, parseDeb822Sources, parseSourcesList, resolveMirrorUrl } from '../../src/build/mirrors.js';
import { narHash } from '../../src/store/nar.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const nix32 = (hex: string): string => nix32Encode(Buffer.from(hex, 'hex'));

let dir: string;
let server: Server;
let base: string;
const payload = randomBytes(300_000);
const payloadSha = sha(payload);
const hits = new Map<string, number>();
const ranges: Array<string | undefined> = [];

function serveRange(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (range) {
    const start = Number(range[1]);
    res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}`, etag: '"v1"' });
    res.end(body.subarray(start));
    return;
  }
  res.writeHead(200, { 'content-length': body.length, etag: '"v1"', 'accept-ranges': 'bytes' });
  res.end(body);
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '/';
    const n = (hits.get(path) ?? 0) + 1;
    hits.set(path, n);
    if (path === '/file.bin') return serveRange(req, res, payload);
    if (path === '/flaky') {
      if (n <= 2) {
        res.writeHead(500);
        return res.end('try later');
      }
      return serveRange(req, res, payload);
    }
    if (path === '/drop') {
      ranges.push(req.headers.range);
      if (n === 1) {
        // Promise the whole file, send half, then cut the connection.
        res.writeHead(200, { 'content-length': payload.length, etag: '"v1"' });
        res.write(payload.subarray(0, 100_000), () => setTimeout(() => req.socket.destroy(), 20));
        return;
      }
      return serveRange(req, res, payload);
    }
    if (path === '/slow') {
      res.writeHead(200, { 'content-length': payload.length });
      res.write(payload.subarray(0, 1000));
      return; // never finishes
    }
    res.writeHead(404);
    res.end('not here');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsdsl-fetch-'));
  hits.clear();
  ranges.length = 0;
  return () => rmSync(dir, { recursive: true, force: true });
});

const fast = { retryDelayMs: 10 };

describe('fetchUrl', () => {
  it('downloads into the cache under its sha256 and reports progress', async () => {
    const cacheDir = join(dir, 'cache');
    const progress: Array<[number, number | undefined]> = [];
    const r = await fetchUrl({ urls: [`${base}/file.bin`], sha256: payloadSha, fileName: 'file.bin' }, { cacheDir, onProgress: (b, t) => progress.push([b, t]) });
    expect(r.path).toBe(join(cacheDir, payloadSha));
    expect(r.size).toBe(payload.length);
    expect(r.url).toBe(`${base}/file.bin`);
    expect(readFileSync(r.path).equals(payload)).toBe(true);
    expect(progress.at(-1)).toEqual([payload.length, payload.length]);
    // Only the verified file is left: no temporary files.
    expect(readdirSync(cacheDir)).toEqual([payloadSha]);
  });

  it('removes the partial downloads of processes that died, and keeps a live one\'s', async () => {
    const cacheDir = join(dir, 'cache');
    mkdirSync(cacheDir);
    const dead = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).toString());
    const ns = PID_NAMESPACE;
    const stale = `.tmp-${dead}-ns${ns}-${'a'.repeat(12)}`;
    const live = `.tmp-${process.ppid}-ns${ns}-${'b'.repeat(12)}`;
    // Another PID namespace's (a container sharing the cache): its pids mean nothing here.
    const foreign = `.tmp-${dead}-ns1-${'c'.repeat(12)}`;
    for (const f of [stale, live, foreign]) writeFileSync(join(cacheDir, f), 'partial');
    await fetchUrl({ urls: [`${base}/file.bin`], sha256: payloadSha, fileName: 'file.bin' }, { cacheDir });
    expect(readdirSync(cacheDir).sort()).toEqual([foreign, live, payloadSha].sort());
  });

  it('serves a cached file without touching the network', async () => {
    const cacheDir = join(dir, 'cache');
    await fetchUrl({ urls: [`${base}/file.bin`], sha256: payloadSha, fileName: 'f' }, { cacheDir });
    hits.clear();
    const r = await fetchUrl({ urls: ['http://127.0.0.1:9/never'], sha256: payloadSha, fileName: 'f' }, { cacheDir });
    expect(r.url).toBeUndefined();
    expect(r.path).toBe(join(cacheDir, payloadSha));
    expect(hits.size).toBe(0);
  });

  it('accepts the expected hash in nix-base32 and hashes unpinned downloads', async () => {
    const cacheDir = join(dir, 'cache');
    const pinned = await fetchUrl({ urls: [`${base}/file.bin`], sha256: nix32(payloadSha), fileName: 'f' }, { cacheDir });
    expect(pinned.sha256).toBe(payloadSha);
    rmSync(cacheDir, { recursive: true });
    const unpinned = await fetchUrl({ urls: [`${base}/file.bin`], sha256: undefined, fileName: 'f' }, { cacheDir });
    expect(unpinned.sha256).toBe(payloadSha);
    expect(existsSync(join(cacheDir, payloadSha))).toBe(true);
  });

  it('retries a server error with backoff and then succeeds', async () => {
    const notes: string[] = [];
    const r = await fetchUrl({ urls: [`${base}/flaky`], sha256: payloadSha, fileName: 'f' }, { cacheDir: join(dir, 'c'), ...fast, log: (m) => notes.push(m) });
    expect(r.sha256).toBe(payloadSha);
    expect(hits.get('/flaky')).toBe(3);
    expect(notes.filter((n) => n.includes('HTTP 500'))).toHaveLength(2);
  });

  it('resumes a download whose connection dropped midway with a Range request', async () => {
    const r = await fetchUrl({ urls: [`${base}/drop`], sha256: payloadSha, fileName: 'f' }, { cacheDir: join(dir, 'c'), ...fast });
    expect(readFileSync(r.path).equals(payload)).toBe(true);
    expect(ranges[0]).toBeUndefined();
    // It resumes from what it received before the cut: all 100 000 bytes sent, or (on a loaded
    // machine, where the reset can drop data the client has not read yet) fewer.
    const from = Number(/^bytes=(\d+)-$/.exec(ranges[1] ?? '')?.[1]);
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThanOrEqual(100_000);
  });

  it('keeps nothing on a hash mismatch and prints both hashes in hex and nix-base32', async () => {
    const cacheDir = join(dir, 'cache');
    const wrong = sha(Buffer.from('something else'));
    const err = await fetchUrl({ urls: [`${base}/file.bin`], sha256: wrong, fileName: 'file.bin' }, { cacheDir }).catch((e: unknown) => e);
    expect(isTsdslError(err)).toBe(true);
    const msg = (err as Error).message;
    for (const h of [wrong, nix32(wrong), payloadSha, nix32(payloadSha)]) expect(msg).toContain(h);
    expect(msg).toContain('file.bin');
    expect(readdirSync(cacheDir)).toEqual([]);
  });

  it('lists every URL with its own error when all fail', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const urls = [`${base}/missing.tar.gz`, `http://127.0.0.1:${deadPort}/x.tar.gz`, 'ftp://127.0.0.1/x.tar.gz', 'mirror://cpan/authors/x.tar.gz', pathToFileURL(join(dir, 'absent')).href];
    const err = await fetchUrl({ urls, sha256: payloadSha, fileName: 'x.tar.gz' }, { cacheDir: join(dir, 'c'), ...fast, env: {} }).catch((e: unknown) => e);
    expect(isTsdslError(err)).toBe(true);
    const msg = (err as Error).message;
    expect(msg).toContain('each of its 5 URLs failed');
    expect(msg).toContain(`${base}/missing.tar.gz: HTTP 404`);
    expect(msg).toMatch(new RegExp(`127\\.0\\.0\\.1:${deadPort}/x\\.tar\\.gz: .*ECONNREFUSED`));
    expect(msg).toContain('ftp://127.0.0.1/x.tar.gz: unsupported URL scheme');
    expect(msg).toContain('mirror://cpan/authors/x.tar.gz: mirror `cpan` has no built-in hosts; set TSDSL_MIRROR_CPAN');
    expect(msg).toMatch(/absent: .*ENOENT/);
    // The way out names the mirror the URLs used; without one, the URL itself may be wrong.
    expect(msg).toMatch(/Check the network, or add a working mirror \(TSDSL_MIRROR_CPAN=https:\/\/…: roots tried first\)\.$/);
    const plain = await fetchUrl({ urls: [`${base}/also-missing.tar.gz`], sha256: payloadSha, fileName: 'x.tar.gz' }, { cacheDir: join(dir, 'c'), ...fast, env: {} }).catch((e: unknown) => e);
    expect((plain as Error).message).toMatch(/Check the network, and that the URL is right\.$/);
    const security = await fetchUrl({ urls: ['mirror://debian/pool/updates/main/x/x.deb'], sha256: payloadSha, fileName: 'x.deb' }, { cacheDir: join(dir, 'c'), ...fast, env: { TSDSL_MIRROR_DEBIAN_SECURITY: base, TSDSL_MIRROR_DEBIAN: base } }).catch((e: unknown) => e);
    expect((security as Error).message).toMatch(/add a working mirror \(TSDSL_MIRROR_DEBIAN_SECURITY=https:\/\/…: roots tried first\)\.$/);
    // A 404 and a refused connection are not retried.
    expect(hits.get('/missing.tar.gz')).toBe(1);
  });

  it('reads file:// URLs', async () => {
    const src = join(dir, 'local.bin');
    writeFileSync(src, payload);
    const r = await fetchUrl({ urls: [pathToFileURL(src).href], sha256: payloadSha, fileName: 'local.bin' }, { cacheDir: join(dir, 'c') });
    expect(readFileSync(r.path).equals(payload)).toBe(true);
  });

  it('falls through to the next URL, and stops at once when aborted', async () => {
    const r = await fetchUrl({ urls: [`${base}/nope`, `${base}/file.bin`], sha256: payloadSha, fileName: 'f' }, { cacheDir: join(dir, 'c') });
    expect(r.url).toBe(`${base}/file.bin`);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 150);
    const started = Date.now();
    const err = await fetchUrl({ urls: [`${base}/slow`, `${base}/file.bin`], sha256: payloadSha, fileName: 'f' }, { cacheDir: join(dir, 'd'), signal: ac.signal }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('AbortError');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(hits.get('/file.bin')).toBe(1); // only the first call's
    expect(readdirSync(join(dir, 'd'))).toEqual([]);
  });

  it('treats a stalled connection as transient and gives up after the retries', async () => {
    const err = await fetchUrl({ urls: [`${base}/slow`], sha256: payloadSha, fileName: 'f' }, { cacheDir: join(dir, 'c'), stallTimeoutMs: 100, retries: 1, ...fast }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/no data received .* \(gave up after 2 attempts\)/);
  });

  it('puts its cache under TSDSL_DOWNLOAD_CACHE or the XDG cache directory', () => {
    expect(defaultDownloadCache({ TSDSL_DOWNLOAD_CACHE: '/x/dl' })).toBe('/x/dl');
    expect(() => defaultDownloadCache({ TSDSL_DOWNLOAD_CACHE: 'dl' })).toThrow(/^TSDSL_DOWNLOAD_CACHE `dl` is not absolute; use an absolute path/);
    expect(defaultDownloadCache({ XDG_CACHE_HOME: '/c' })).toBe('/c/tsdsl/downloads');
    expect(defaultDownloadCache({ HOME: '/home/u' })).toBe('/home/u/.cache/tsdsl/downloads');
  });
});

describe('mirrors', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'tsdsl-apt-'));
    mkdirSync(join(root, 'etc/apt/sources.list.d'), { recursive: true });
    writeFileSync(
      join(root, 'etc/apt/sources.list'),
      [
        '# the main archive, one-line format',
        'deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror-a.example/debian/ bookworm main contrib',
        'deb-src http://src-only.example/debian bookworm main',
        'deb http://third-party.example/apt cloud-sdk-bookworm main',
        'deb http://mirror-a.example/debian-security bookworm-security main',
        'deb http://ubuntu.example/ubuntu jammy main',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(root, 'etc/apt/sources.list.d/debian.sources'),
      [
        'Types: deb deb-src',
        'URIs: http://mirror-b.example/debian',
        'Suites: bookworm bookworm-updates',
        'Components: main',
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
        '',
        '# security',
        'Types: deb',
        'URIs: https://mirror-b.example/debian-security',
        'Suites: bookworm-security',
        'Components: main',
        'Signed-By:',
        ' -----BEGIN PGP PUBLIC KEY BLOCK-----',
        ' .',
        ' -----END PGP PUBLIC KEY BLOCK-----',
        '',
        'Types: deb',
        'URIs: http://disabled.example/debian',
        'Suites: bookworm',
        'Components: main',
        'Enabled: no',
        '',
        'Types: deb',
        'URIs: https://nodesource.example/node_20.x',
        'Suites: nodistro',
        'Components: main',
      ].join('\n'),
    );
    writeFileSync(join(root, 'etc/apt/sources.list.d/old.sources.disabled'), 'Types: deb\nURIs: http://ignored.example/debian\nSuites: bookworm\nComponents: main\n');
    return () => rmSync(root, { recursive: true, force: true });
  });

  it('parses both apt formats', () => {
    expect(parseSourcesList('deb [ arch=amd64 ] http://h/debian/ bookworm main  contrib # note')).toEqual([
      { types: ['deb'], uris: ['http://h/debian'], suites: ['bookworm'], components: ['main', 'contrib'], file: 'sources.list' },
    ]);
    const d = parseDeb822Sources('Types: deb\nURIs: http://a/debian\n  http://b/debian\nSuites: sid\nComponents: main\n');
    expect(d[0]!.uris).toEqual(['http://a/debian', 'http://b/debian']);
  });

  it('resolves mirror://debian from the apt sources, main and security archives apart', () => {
    expect(debianArchives({ aptRoot: root })).toEqual({
      main: ['http://mirror-a.example/debian', 'http://mirror-b.example/debian'],
      security: ['http://mirror-a.example/debian-security', 'https://mirror-b.example/debian-security'],
    });
    expect(resolveMirrorUrl('mirror://debian/pool/main/d/dash/dash_0.5.12-2_amd64.deb', {}, { aptRoot: root })).toEqual([
      'http://mirror-a.example/debian/pool/main/d/dash/dash_0.5.12-2_amd64.deb',
      'http://mirror-b.example/debian/pool/main/d/dash/dash_0.5.12-2_amd64.deb',
    ]);
    expect(resolveMirrorUrl('mirror://debian/pool/updates/main/x/xz-utils/liblzma5.deb', {}, { aptRoot: root })).toEqual([
      'http://mirror-a.example/debian-security/pool/updates/main/x/xz-utils/liblzma5.deb',
      'https://mirror-b.example/debian-security/pool/updates/main/x/xz-utils/liblzma5.deb',
    ]);
  });

  it('tries TSDSL_MIRROR_DEBIAN first', () => {
    const env = { TSDSL_MIRROR_DEBIAN: 'http://snap.example/archive/debian/20250520T000000Z/  file:///srv/debian' };
    expect(resolveMirrorUrl('mirror://debian/pool/main/d/dash/x.deb', env, { aptRoot: root })).toEqual([
      'http://snap.example/archive/debian/20250520T000000Z/pool/main/d/dash/x.deb',
      'file:///srv/debian/pool/main/d/dash/x.deb',
      'http://mirror-a.example/debian/pool/main/d/dash/x.deb',
      'http://mirror-b.example/debian/pool/main/d/dash/x.deb',
    ]);
  });

  it('says how to configure Debian when apt has no Debian source', () => {
    const empty = mkdtempSync(join(tmpdir(), 'tsdsl-apt-'));
    try {
      expect(() => resolveMirrorUrl('mirror://debian/pool/main/d/dash/x.deb', {}, { aptRoot: empty })).toThrow(/apt has no Debian archive configured .*set TSDSL_MIRROR_DEBIAN/);
      expect(resolveMirrorUrl('mirror://debian/pool/main/d/dash/x.deb', { TSDSL_MIRROR_DEBIAN: 'http://m/debian' }, { aptRoot: empty })).toEqual(['http://m/debian/pool/main/d/dash/x.deb']);
    } finally {
      rmSync(empty, { recursive: true });
    }
  });

  it('expands the fixed mirrors and rejects unknown ones', () => {
    expect(resolveMirrorUrl('mirror://gnu/hello/hello-2.12.tar.gz', {})).toEqual(['https://ftpmirror.gnu.org/gnu/hello/hello-2.12.tar.gz', 'https://ftp.gnu.org/gnu/hello/hello-2.12.tar.gz']);
    expect(resolveMirrorUrl('mirror://gnu/x', { TSDSL_MIRROR_GNU: 'http://local/gnu' })[0]).toBe('http://local/gnu/x');
    for (const name of ['sourceforge', 'savannah', 'kernel', 'apache', 'xorg']) expect(resolveMirrorUrl(`mirror://${name}/a/b`, {}).length).toBeGreaterThan(0);
    expect(resolveMirrorUrl('mirror://cpan/authors/id/x.tar.gz', { TSDSL_MIRROR_CPAN: 'https://cpan.local/' })).toEqual(['https://cpan.local/authors/id/x.tar.gz']);
    expect(() => resolveMirrorUrl('mirror://nosuch/x', {})).toThrow(/unknown mirror `nosuch`.*the mirrors are gnu, .*TSDSL_MIRROR_<NAME> gives one of them roots of your own.*full https:\/\/ URL/);
    expect(() => resolveMirrorUrl('mirror://gnu', {})).toThrow(/malformed/);
    expect(resolveMirrorUrl('https://example.org/a.tar.gz', {})).toEqual(['https://example.org/a.tar.gz']);
  });
});

describe('fetchGit', () => {
  const gitEnv = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.org', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.org', GIT_AUTHOR_DATE: '2020-01-01T00:00:00Z', GIT_COMMITTER_DATE: '2020-01-01T00:00:00Z' };
  const git = (cwd: string, ...args: string[]): string => execFileSync('git', ['-c', 'init.defaultBranch=main', '-c', 'protocol.file.allow=always', ...args], { cwd, env: gitEnv, encoding: 'utf8' }).trim();

  function makeRepo(name: string, files: Record<string, string>, exec: string[] = []): { bare: string; work: string } {
    const work = join(dir, `${name}-work`);
    const bare = join(dir, `${name}.git`);
    mkdirSync(work);
    git(work, 'init', '-q');
    for (const [f, text] of Object.entries(files)) {
      mkdirSync(join(work, f, '..'), { recursive: true });
      writeFileSync(join(work, f), text);
    }
    for (const f of exec) chmodSync(join(work, f), 0o775);
    git(work, 'add', '-A');
    git(work, 'commit', '-q', '-m', 'one');
    execFileSync('git', ['clone', '-q', '--bare', work, bare]);
    git(work, 'remote', 'add', 'origin', bare);
    return { bare, work };
  }

  it('checks out a commit without .git, with fixed permissions, and hashes its NAR', async () => {
    const { bare, work } = makeRepo('lib', { 'README': 'hello\n', 'src/a.c': 'int a;\n', 'configure': '#!/bin/sh\n' }, ['configure']);
    const first = git(work, 'rev-parse', 'HEAD');
    writeFileSync(join(work, 'README'), 'hello again\n');
    git(work, 'commit', '-q', '-am', 'two');
    git(work, 'tag', 'v2');
    git(work, 'push', '-q', 'origin', 'main', 'v2');
    const cacheDir = join(dir, 'cache');

    const r = await fetchGit({ url: bare, commit: first }, { cacheDir });
    expect(r.commit).toBe(first);
    expect(readdirSync(r.path).sort()).toEqual(['README', 'configure', 'src']);
    expect(readFileSync(join(r.path, 'README'), 'utf8')).toBe('hello\n');
    expect(statSync(join(r.path, 'configure')).mode & 0o777).toBe(0o755);
    expect(statSync(join(r.path, 'src/a.c')).mode & 0o777).toBe(0o644);
    expect(statSync(join(r.path, 'src')).mode & 0o777).toBe(0o755);
    expect(statSync(join(r.path, 'README')).mtimeMs).toBe(1000);
    const { hash, size } = await narHash(r.path);
    expect(r.sha256).toBe(hash.toString('hex'));
    expect(r.narSize).toBe(size);

    // A tag resolves to its commit; a cached commit needs no repository at all.
    const tagged = await fetchGit({ url: bare, commit: 'v2' }, { cacheDir });
    expect(readFileSync(join(tagged.path, 'README'), 'utf8')).toBe('hello again\n');
    rmSync(bare, { recursive: true });
    const again = await fetchGit({ url: bare, commit: first, sha256: r.sha256 }, { cacheDir });
    expect(again).toEqual(r);
  });

  it('checks out submodules when recursive', async () => {
    const sub = makeRepo('sub', { 'sub.txt': 'from the submodule\n' });
    const top = makeRepo('top', { 'top.txt': 'top\n' });
    git(top.work, 'submodule', 'add', '-q', sub.bare, 'vendor/sub');
    git(top.work, 'commit', '-q', '-m', 'add submodule');
    git(top.work, 'push', '-q', 'origin', 'main');
    const commit = git(top.work, 'rev-parse', 'HEAD');
    const cacheDir = join(dir, 'cache');
    const flat = await fetchGit({ url: top.bare, commit }, { cacheDir });
    expect(readdirSync(join(flat.path, 'vendor/sub'))).toEqual([]);
    const deep = await fetchGit({ url: top.bare, commit, recursive: true }, { cacheDir });
    expect(readFileSync(join(deep.path, 'vendor/sub/sub.txt'), 'utf8')).toBe('from the submodule\n');
    expect(existsSync(join(deep.path, 'vendor/sub/.git'))).toBe(false);
    expect(existsSync(join(deep.path, '.gitmodules'))).toBe(true);
    expect(deep.sha256).not.toBe(flat.sha256);
  });

  it('reports a wrong pinned hash with both hashes and keeps no checkout', async () => {
    const { bare, work } = makeRepo('pin', { 'a': 'a\n' });
    const commit = git(work, 'rev-parse', 'HEAD');
    const wrong = sha(Buffer.from('x'));
    const cacheDir = join(dir, 'cache');
    const err = await fetchGit({ url: bare, commit, sha256: wrong }, { cacheDir }).catch((e: unknown) => e);
    expect(isTsdslError(err)).toBe(true);
    expect((err as Error).message).toContain(wrong);
    expect((err as Error).message).toContain(nix32(wrong));
    expect(readdirSync(join(cacheDir, 'git/checkouts'))).toEqual([]);
  });

  it('says clearly when the commit does not exist', async () => {
    const { bare } = makeRepo('none', { 'a': 'a\n' });
    const err = await fetchGit({ url: bare, commit: 'no-such-branch' }, { cacheDir: join(dir, 'cache') }).catch((e: unknown) => e);
    expect(isTsdslError(err)).toBe(true);
    expect((err as Error).message).toMatch(/cannot fetch `no-such-branch` from .*none\.git/);
  });
});

describe('live fetch from the Debian archive', () => {
  const archives = debianArchives();
  const configured = archives.main.length > 0 || Boolean(process.env.TSDSL_MIRROR_DEBIAN);
  if (!configured) console.log('skipping the live Debian fetch: apt has no Debian source configured and TSDSL_MIRROR_DEBIAN is unset');
  it.skipIf(!configured)('fetches the pinned dash .deb through mirror://debian', async () => {
    const source = dash.source;
    if (!source || source.kind !== 'url' || !source.sha256) throw new Error('packages/bootstrap.ts: dash has no pinned url origin');
    // The real download cache: once fetched, this test never touches the network again.
    const r = await fetchUrl({ urls: source.urls, sha256: source.sha256, fileName: source.fileName });
    expect(r.sha256).toBe('33ea40061da2f1a861ec46212b2b6a34f0776a049b1a3f0abce2fb8cb994258f');
    expect(sha(readFileSync(r.path))).toBe(r.sha256);
    expect(readFileSync(r.path).subarray(0, 8).toString('latin1')).toBe('!<arch>\n');
  });
});
