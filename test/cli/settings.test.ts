/**
 * Settings a user can get wrong (TSDSL_ROOT, TSDSL_STORE_DIR, a store that is not theirs, the
 * caches' directories): each is a one-paragraph `tsdsl: error:` naming the setting and the way
 * out, with exit code 1, never an "internal error", and never a hang.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cannotSwitchUser, testUser } from '../run/fixtures/closure.js';
import { BIN, ROOT, tsdsl } from './helpers.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function newRoot(): string {
  const d = mkdtempSync(join(tmpdir(), 'tsdsl-settings-'));
  dirs.push(d);
  return d;
}

function expectUserError(r: { code: number | null; stderr: string }, message: RegExp): void {
  expect(r.stderr).not.toMatch(/internal error/);
  expect(r.stderr).toMatch(/^tsdsl: error: /m);
  expect(r.stderr).toMatch(message);
  expect(r.code).toBe(1);
}

describe('settings', () => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['a relative TSDSL_ROOT', { TSDSL_ROOT: 'store-here' }, /TSDSL_ROOT `store-here` is not absolute; use an absolute path/],
    // The kernel answers ENOENT for any new name under /proc: Node's recursive mkdir would loop forever.
    ['a TSDSL_ROOT where no directory can be made', { TSDSL_ROOT: '/proc/tsdsl-here' }, /cannot create the store at \/proc\/tsdsl-here \(ENOENT.*\); set TSDSL_ROOT to a writable directory/],
    ['a relative TSDSL_STORE_DIR', { TSDSL_STORE_DIR: 'nix/store' }, /TSDSL_STORE_DIR `nix\/store` is not absolute/],
    ['a TSDSL_STORE_DIR with a quote', { TSDSL_STORE_DIR: '/a"b' }, /TSDSL_STORE_DIR `\/a\\"b` contains a quote, backslash or control character/],
  ];
  for (const [what, env, message] of cases) {
    it(`${what}: a clear error`, () => {
      const root = newRoot();
      const r = tsdsl(['build', '-d', 'hwloc'], { env: { TSDSL_ROOT: root, ...env }, timeoutMs: 30_000 });
      expectUserError(r, message);
    });
  }

  it('a store made for another store dir names both, and the way out', () => {
    const root = newRoot();
    const made = tsdsl(['build', '-d', 'hwloc'], { env: { TSDSL_ROOT: root } });
    expect(made.code).toBe(0);
    const r = tsdsl(['build', '-d', 'hwloc'], { env: { TSDSL_ROOT: root, TSDSL_STORE_DIR: '/nix/store' } });
    expectUserError(r, /belongs to the store dir \/tsdsl\/store, not \/nix\/store; use another TSDSL_ROOT for \/nix\/store, or set TSDSL_STORE_DIR=\/tsdsl\/store/);
  });

  it('better-sqlite3 without its native part (an install script npm skipped): what to run, nothing made', () => {
    // better-sqlite3 finds its .node file through `bindings` when the first database opens; a
    // preloaded script makes that lookup fail as it does when the install script never ran.
    const root = newRoot();
    const preload = join(root, 'no-binding.cjs');
    const bindings = join(root, 'bindings.cjs');
    writeFileSync(bindings, "module.exports = () => { throw new Error('Could not locate the bindings file. Tried:\\n → build/Release/better_sqlite3.node'); };\n");
    writeFileSync(
      preload,
      `const Module = require('node:module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return request === 'bindings' ? ${JSON.stringify(bindings)} : resolve.call(this, request, ...rest);
};
`,
    );
    const store = join(root, 'store');
    const r = tsdsl(['build', '-d', 'hwloc'], { env: { TSDSL_ROOT: store, NODE_OPTIONS: `--require ${preload}` } });
    expectUserError(r, /cannot load the SQLite binding better-sqlite3, which tsdsl's store needs \(Could not locate the bindings file\.\)\. Its native part is missing .* Run `npm rebuild better-sqlite3`/);
    expect(existsSync(join(store, 'var', 'db.sqlite'))).toBe(false);
  });

  // The kernel answers ENOENT for any new name under /proc: the cache fails at once, before a
  // download, instead of looping in Node's recursive mkdir. (The updaters' cache: test/update.)
  const caches: Array<[string, string[], Record<string, string>, RegExp]> = [
    ['the download cache', ['build', 'zlib'], { TSDSL_DOWNLOAD_CACHE: '/proc/tsdsl-downloads' }, /cannot use \/proc\/tsdsl-downloads for the download cache \(ENOENT\); set TSDSL_DOWNLOAD_CACHE/],
  ];
  for (const [what, args, env, message] of caches) {
    it(`${what} where no directory can be made: a clear error`, () => {
      const r = tsdsl(args, { env: { TSDSL_ROOT: newRoot(), ...env }, timeoutMs: 30_000 });
      expectUserError(r, message);
    });
  }

  const why = cannotSwitchUser();
  if (why) console.log(`skipping the other user's store test: ${why}`);
  it.skipIf(why !== undefined)('gc of a store holding an item its user cannot delete: a clean error, nothing collected', () => {
    const user = testUser()!;
    const home = newRoot();
    chmodSync(home, 0o755);
    const pkgs = join(home, 'pkgs');
    mkdirSync(join(pkgs, 'src'), { recursive: true });
    writeFileSync(join(pkgs, 'src', 'f'), 'x');
    writeFileSync(join(pkgs, 'p.ts'), `import { definePackage, trivial, licenses, local } from 'tsdsl';\nexport const p = definePackage({ name: 'gcperm', version: '1', source: local('./src'), buildSystem: trivial, synopsis: 'S', description: 'D.', homePage: 'https://example.org/', license: licenses.expat });\n`);
    spawnSync('chmod', ['-R', 'a+rX', pkgs]);
    const root = join(home, 'root');
    mkdirSync(root);
    chownSync(root, user.uid, user.gid);
    const asUser = (args: string[]) =>
      spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, uid: user.uid, gid: user.gid, env: { ...process.env, HOME: user.home, TSDSL_ROOT: root, TSDSL_PACKAGE_PATH: '' }, encoding: 'utf8', timeout: 60_000 });
    expect(asUser(['build', '-d', '-L', pkgs, 'gcperm']).status).toBe(0);
    // The source tree in the store (a directory), made root's by hand.
    const item = readdirSync(join(root, 'store')).find((n) => n.endsWith('-src'))!;
    spawnSync('chown', ['-R', '0:0', join(root, 'store', item)]);
    const gc = asUser(['gc']);
    expectUserError({ code: gc.status, stderr: gc.stderr }, new RegExp(`cannot delete /tsdsl/store/${item}: its files at .* are not yours \\(EPERM\\), so nothing was collected`));
    expect(existsSync(join(root, 'store', item))).toBe(true);
  });

  it.skipIf(why !== undefined)("another user's store: says so, instead of SQLite's read-only error", () => {
    const root = newRoot();
    expect(tsdsl(['build', '-d', 'hwloc'], { env: { TSDSL_ROOT: root } }).code).toBe(0);
    chmodSync(root, 0o755);
    const user = testUser()!;
    // Commands that write: the store is refused when opened. (The queries read it: test/cli/gc.test.ts.)
    for (const args of [['build', '-d', 'hwloc'], ['build', '-d', 'zlib'], ['build', '-n', 'hwloc'], ['verify', '--repair'], ['gc']]) {
      const r = spawnSync(process.execPath, [BIN, ...args], {
        cwd: ROOT,
        uid: user.uid,
        gid: user.gid,
        env: { ...process.env, HOME: user.home, TSDSL_ROOT: root, TSDSL_PACKAGE_PATH: '' },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expectUserError({ code: r.status, stderr: r.stderr }, new RegExp(`the store at ${root} belongs to another user \\(uid 0\\); set TSDSL_ROOT to a store of your own`));
    }
    // Even opened up to everyone, and by root the other way round: no store of mixed owners.
    spawnSync('chmod', ['-R', 'a+rwX', root]);
    const opened = spawnSync(process.execPath, [BIN, 'gc'], { cwd: ROOT, uid: user.uid, gid: user.gid, env: { ...process.env, HOME: user.home, TSDSL_ROOT: root, TSDSL_PACKAGE_PATH: '' }, encoding: 'utf8', timeout: 60_000 });
    expectUserError({ code: opened.status, stderr: opened.stderr }, /belongs to another user \(uid 0\)/);
    const theirs = newRoot();
    chownSync(theirs, user.uid, user.gid);
    expectUserError(tsdsl(['build', '-d', 'zlib'], { env: { TSDSL_ROOT: theirs } }), new RegExp(`the store at ${theirs} belongs to another user \\(uid ${user.uid}\\)`));
  });
});

describe('a root with no store', () => {
  it('is an error for the commands that only read it, and is left uncreated', () => {
    const root = join(tmpdir(), `tsdsl-no-store-${process.pid}`);
    for (const args of [['verify'], ['gc', '--list-roots'], ['size', 'hwloc'], ['log', 'hwloc']]) {
      const r = tsdsl(args, { env: { TSDSL_ROOT: root } });
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toBe(`tsdsl: error: there is no store at ${root} (TSDSL_ROOT): nothing was built there yet, or TSDSL_ROOT is misspelt\n`);
    }
    expect(existsSync(root)).toBe(false);
  });
});

describe('progress off a terminal', () => {
  it('says downloads are downloads, and builds builds, one line each', async () => {
    const { progressReporter } = await import('../../src/cli/progress.js');
    let text = '';
    const stream = { isTTY: false, write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
    const r = progressReporter({ stream });
    r.event({ kind: 'plan', build: ['/s/b-hwloc.drv'], fetch: ['/s/f-hwloc.tar.bz2.drv', '/s/f-x.deb.drv'], cached: ['/s/f-x.deb.drv'] });
    r.event({ kind: 'start', drvPath: '/s/f-hwloc.tar.bz2.drv', name: 'hwloc.tar.bz2' });
    r.event({ kind: 'done', drvPath: '/s/f-hwloc.tar.bz2.drv', name: 'hwloc.tar.bz2', ms: 1500 });
    r.event({ kind: 'start', drvPath: '/s/f-x.deb.drv', name: 'x.deb' });
    r.event({ kind: 'done', drvPath: '/s/f-x.deb.drv', name: 'x.deb', ms: 100 });
    r.event({ kind: 'start', drvPath: '/s/b-hwloc.drv', name: 'hwloc-2.9.0' });
    r.event({ kind: 'done', drvPath: '/s/b-hwloc.drv', name: 'hwloc-2.9.0', ms: 20000 });
    r.close();
    expect(text).toBe(
      '1 to build, 2 to download (1 of them in the download cache)\ndownloading hwloc.tar.bz2\ndownloaded hwloc.tar.bz2 in 1.5 s\n' +
        'copying x.deb from the download cache\ncopied x.deb from the download cache in 0.1 s\nbuilding hwloc-2.9.0\nbuilt hwloc-2.9.0 in 20.0 s\n',
    );
  });
});

describe('build --dry-run', () => {
  it('marks the downloads whose file the download cache holds (copied, not fetched)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-dry-'));
    dirs.push(dir);
    const data = `data ${process.pid}\n`;
    const sha256 = createHash('sha256').update(data).digest('hex');
    mkdirSync(join(dir, 'cache'));
    writeFileSync(join(dir, 'cache', sha256), data);
    writeFileSync(
      join(dir, 'cached.ts'),
      `import { definePackage, trivial, url, licenses } from 'tsdsl';\nimport { bash, coreutils } from 'tsdsl/packages';\nexport const cached = definePackage({ name: 'cached-src', version: '1', buildSystem: trivial, nativeInputs: [bash, coreutils], source: url({ urls: 'https://example.org/data-1.txt', sha256: '${sha256}' }), arguments: { phases: { build: 'cp "$src" "$out/x"' } }, synopsis: 'S', description: 'D.', homePage: 'https://example.org/', license: licenses.expat });\n`,
    );
    const r = tsdsl(['build', '-n', '-L', dir, 'cached-src'], { env: { TSDSL_ROOT: join(dir, 'root'), TSDSL_DOWNLOAD_CACHE: join(dir, 'cache') } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/ files would be downloaded \(1 of them in the download cache\):\n/);
    expect(r.stderr).toMatch(/^   https:\/\/example\.org\/data-1\.txt \(in the download cache\)$/m);
    expect(r.stderr).toMatch(/^   mirror:\/\/debian\/\S+\.deb$/m);
    // A relative cache setting is said by the dry run, as the downloads would say it.
    const rel = tsdsl(['build', '-n', '-L', dir, 'cached-src'], { env: { TSDSL_ROOT: join(dir, 'root'), TSDSL_DOWNLOAD_CACHE: 'cache' } });
    expect(rel.stderr).toMatch(/^tsdsl: error: TSDSL_DOWNLOAD_CACHE `cache` is not absolute; use an absolute path/m);
    expect(rel.code).toBe(1);
  });
});

describe('progress on a terminal', () => {
  it('draws the whole status line on a terminal that reports no width', async () => {
    const { progressReporter } = await import('../../src/cli/progress.js');
    let text = '';
    const env = { CI: process.env['CI'], TERM: process.env['TERM'] };
    delete process.env['CI'];
    process.env['TERM'] = 'xterm';
    try {
      const stream = { isTTY: true, columns: 0, write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
      const r = progressReporter({ stream });
      r.event({ kind: 'start', drvPath: '/s/b-x.drv', name: 'x-1' });
      r.event({ kind: 'line', drvPath: '/s/b-x.drv', line: 'checking for ar... ar' });
      r.event({ kind: 'phase', drvPath: '/s/b-x.drv', phase: 'configure' });
      r.close();
    } finally {
      for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    expect(text).toContain('x-1 [configure] 0s checking for ar... ar\r');
  });
});

describe('causeOf', () => {
  it('quotes the line of a tool\'s error output that tells the cause, not its epilogue', async () => {
    const { causeOf } = await import('../../src/errors.js');
    const git = "fatal: '/srv/hwloc.git' does not appear to be a git repository\nfatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\nand the repository exists.\n";
    expect(causeOf(git, '?')).toBe("fatal: '/srv/hwloc.git' does not appear to be a git repository");
    expect(causeOf('gzip: stdin: not in gzip format\ntar: Child returned status 1\ntar: Error is not recoverable: exiting now\n', '?')).toBe('gzip: stdin: not in gzip format');
    expect(causeOf('just one line\n', '?')).toBe('just one line');
    // gpgv says where the signature was made first, and what is wrong last.
    const gpgv = 'gpgv: Signature made Fri Nov 27 10:00:00 2026 UTC\ngpgv:                using RSA key 0123456789ABCDEF\ngpgv: BAD signature from "Debian Archive Automatic Signing Key"\n';
    expect(causeOf(gpgv, '?')).toBe('gpgv: BAD signature from "Debian Archive Automatic Signing Key"');
    expect(causeOf('warning: redirecting to https://x/\nfatal: repository not found\n', '?')).toBe('fatal: repository not found');
    expect(causeOf('', 'exit status 2')).toBe('exit status 2');
  });
});

describe('closest', () => {
  it('finds a name inside a word or a word inside a name, but not a short name inside a long word', async () => {
    const { closest } = await import('../../src/errors.js');
    expect(closest('mump', ['mumps', 'mumps-openmpi', 'metis'])).toEqual(['mumps', 'mumps-openmpi']);
    expect(closest('hwloc2', ['hwloc', 'zlib'])).toEqual(['hwloc']);
    expect(closest('MUMPS', ['mumps'])).toEqual(['mumps']);
    expect(closest('nosuchpackagexyz', ['ack', 'age', 'zlib'])).toEqual([]);
  });

  it('puts a name with two neighbouring letters swapped before names one letter away', async () => {
    const { closest } = await import('../../src/errors.js');
    // Debian's index has many three-letter names one letter from `gls`: `gsl` was left out.
    expect(closest('gls', ['gjs', 'gle', 'glm', 'gsl', 'gts'])).toEqual(['gsl', 'gjs', 'gle']);
    expect(closest('hwlco', ['hwloc', 'hwlock'])[0]).toBe('hwloc');
    expect(closest('mpi', ['mip', 'mpc'])).toEqual(['mip', 'mpc']);
  });
});
