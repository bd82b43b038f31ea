/**
 * `tsdsl gc`, `size`, `verify` and `log` on a temporary store: `tsdsl build -d hwloc` writes
 * the real derivations and sources, and the test registers a fake hwloc output (referring to
 * a fake library) and a build log, so nothing needs to be compiled.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logPath } from '../../src/build/scheduler.js';
import { openStore } from '../../src/store/store.js';
import type { LocalStore } from '../../src/store/store.js';
import { cannotSwitchUser, testUser } from '../run/fixtures/closure.js';
import { BIN, ROOT, tsdsl } from './helpers.js';

const SD = '/tsdsl/store';
let root: string;
let work: string;
let drvPath: string;
let out: string;
let lib: string;
const LOG = 'configure: checking for gcc... gcc\nmake: hwloc built\n';

const run = (args: string[]) => tsdsl(args, { env: { TSDSL_ROOT: root, TSDSL_STORE_DIR: SD } });
const lines = (text: string) => text.split('\n').filter(Boolean);

function withStore<T>(fn: (s: LocalStore) => T): T {
  const s = openStore({ root, storeDir: SD, env: {}, durable: false });
  try {
    return fn(s);
  } finally {
    // Closing drops this process's temporary roots, so the CLI sees only real roots.
    s.close();
  }
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'tsdsl-cli-gc-'));
  work = mkdtempSync(join(tmpdir(), 'tsdsl-cli-gc-work-'));
  const d = run(['build', '-d', 'hwloc']);
  expect(d.code, d.stderr).toBe(0);
  drvPath = d.stdout.trim();
  const shown = JSON.parse(run(['derivation', 'show', 'hwloc']).stdout) as Record<string, { outputs: { out: { path: string } } }>;
  out = shown[drvPath]!.outputs.out.path;

  const s = openStore({ root, storeDir: SD, env: {}, durable: false });
  try {
    mkdirSync(join(work, 'lib'));
    writeFileSync(join(work, 'lib/libfake.so'), 'x'.repeat(300_000));
    lib = `${SD}/${'0'.repeat(31)}1-libfake-1.0`;
    await s.registerPath(lib, join(work, 'lib'));
    mkdirSync(join(work, 'out/bin'), { recursive: true });
    writeFileSync(join(work, 'out/bin/lstopo'), `#!/bin/sh\n# needs ${lib}\n` + 'y'.repeat(100_000));
    await s.registerPath(out, join(work, 'out'), { referenceCandidates: [lib], deriver: drvPath });
    mkdirSync(join(root, 'var/log'), { recursive: true });
    writeFileSync(`${logPath(s, drvPath)}.gz`, gzipSync(LOG));
  } finally {
    s.close();
  }
}, 120_000);

afterAll(() => {
  for (const d of [root, work]) {
    spawnSync('chmod', ['-R', 'u+w', d]);
    rmSync(d, { recursive: true, force: true });
  }
});

describe('tsdsl gc queries', () => {
  it('--references, --requisites, --referrers and --derivers take store paths or packages', () => {
    expect(run(['gc', '--references', 'hwloc']).stdout).toBe(`${lib}\n`);
    expect(run(['gc', '--references', out]).stdout).toBe(`${lib}\n`);
    expect(run(['gc', '--references', `${out}/bin/lstopo`]).stdout).toBe(`${lib}\n`);
    expect(lines(run(['gc', '-R', 'hwloc']).stdout)).toEqual([lib, out].sort());
    expect(run(['gc', '--referrers', lib]).stdout).toBe(`${out}\n`);
    expect(run(['gc', '--derivers', 'hwloc']).stdout).toBe(`${drvPath}\n`);
    // A .drv's references are its sources and input derivations.
    const refs = lines(run(['gc', '--references', drvPath]).stdout);
    expect(refs.length).toBeGreaterThan(1);
    expect(refs.every((p) => p.startsWith(`${SD}/`))).toBe(true);
  });

  it('follows a symlink into the store, such as ./result', () => {
    const link = join(work, 'result');
    withStore((s) => symlinkSync(s.physicalPath(out), link));
    expect(run(['gc', '--references', link]).stdout).toBe(`${lib}\n`);
    unlinkSync(link);
  });

  it('a link named without ./ (`size result`) is read as a package, and the error says to write ./result', () => {
    const link = join(work, 'result');
    withStore((s) => symlinkSync(s.physicalPath(out), link));
    try {
      for (const cmd of [['size'], ['gc', '--references'], ['log'], ['derivation', 'show']]) {
        const r = tsdsl([...cmd, 'result'], { cwd: work, env: { TSDSL_ROOT: root, TSDSL_STORE_DIR: SD } });
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/^tsdsl: error: unknown package `result`.*; `result` is a file here: a path is written with a slash, `\.\/result` \(a link to a store item, such as \.\/result, names that item\)\n$/);
      }
      expect(tsdsl(['gc', '--references', './result'], { cwd: work, env: { TSDSL_ROOT: root, TSDSL_STORE_DIR: SD } }).stdout).toBe(`${lib}\n`);
      // No such file: the error is the one it was.
      expect(run(['size', 'result']).stderr).not.toMatch(/is a file here/);
    } finally {
      unlinkSync(link);
    }
  });

  it('says clearly when a path is not valid or a package not built', () => {
    const bogus = `${SD}/${'2'.repeat(32)}-nothing-1.0`;
    const r = run(['gc', '--references', bogus]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`tsdsl: error: tsdsl gc: ${bogus} is not a valid item of the store at ${root}; it was never built or added here, or it was collected\n`);
    const z = run(['gc', '--requisites', 'zlib']);
    expect(z.code).toBe(1);
    expect(z.stderr).toMatch(/package `zlib` is not built yet \(.*-zlib-[\d.]+ is not in the store\); build it with `tsdsl build zlib`/);
    expect(run(['gc', '--references', '/etc/passwd']).stderr).toMatch(/`\/etc\/passwd` is not in the store/);
    expect(run(['gc', '--references']).stderr).toMatch(/--references needs at least one PATH/);
    expect(run(['gc', '--references', '--list-dead', out]).stderr).toMatch(/--references and --list-dead cannot be combined/);
  });

  it('prints help with examples', () => {
    const r = run(['gc', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: tsdsl gc /);
    expect(r.stdout).toMatch(/--requisites/);
    expect(r.stdout).toMatch(/Examples:\n {2}tsdsl gc\n/);
  });
});

describe('tsdsl size', () => {
  it('lists the closure with total and self sizes, largest closure first, and the total', () => {
    const r = run(['size', 'hwloc']);
    expect(r.code, r.stderr).toBe(0);
    const [head, first, second, total] = lines(r.stdout);
    expect(head).toMatch(/^store item +total MiB +self MiB +share$/);
    expect(first).toMatch(new RegExp(`^${out} +0\\.38 +0\\.096 +2[0-9]\\.\\d%$`));
    expect(second).toMatch(new RegExp(`^${lib} +0\\.29 +0\\.29 +7[0-9]\\.\\d%$`));
    expect(total).toBe('total: 0.38 MiB');
  });

  it('--json gives bytes', () => {
    const j = JSON.parse(run(['size', '--json', out]).stdout) as { items: Array<{ path: string; self: number; total: number }>; total: number };
    expect(j.items.map((i) => i.path)).toEqual([out, lib]);
    expect(j.items[0]!.total).toBe(j.total);
    expect(j.items[0]!.self + j.items[1]!.self).toBe(j.total);
    expect(j.items[1]!.self).toBeGreaterThan(300_000);
  });

  it('says how to build a package that is not built', () => {
    const r = run(['size', 'zlib']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/tsdsl size: package `zlib` is not built yet .*; build it with `tsdsl build zlib`/);
    // The command it suggests chooses the same package: the -L and transformation options go with it.
    const empty = mkdtempSync(join(tmpdir(), 'tsdsl-empty-'));
    const t = run(['size', '-L', empty, 'zlib', '--without-tests=zlib', '--with-configure-flag=zlib=--a b']);
    rmSync(empty, { recursive: true });
    expect(t.stderr).toContain(`; build it with \`tsdsl build -L ${empty} --without-tests=zlib '--with-configure-flag=zlib=--a b' zlib\`\n`);
  });
});

describe('tsdsl log', () => {
  it("prints the gunzipped log of a package's derivation, of a .drv, or of an output's deriver", () => {
    for (const arg of ['hwloc', drvPath, out]) {
      const r = run(['log', arg]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(LOG);
    }
    // Several: each headed, as tail heads several files (they ran together with nothing between).
    const two = run(['log', 'hwloc', drvPath]);
    expect(two.code, two.stderr).toBe(0);
    expect(two.stdout).toBe(`==> hwloc <==\n${LOG}\n==> ${drvPath} <==\n${LOG}`);
  });

  it('a variant typed as a word of its own is part of the package before it (log, size)', () => {
    // hwloc's default is ~libxml2: the same derivation, whose fake output and log are there.
    expect(run(['log', 'hwloc', '~libxml2']).stdout).toBe(run(['log', 'hwloc']).stdout);
    const size = run(['size', 'hwloc', '~libxml2']);
    expect(size.code, size.stderr).toBe(0);
    expect(size.stdout).toBe(run(['size', 'hwloc']).stdout);
    expect(run(['size', 'hwloc', '+libxml2']).stderr).toMatch(/^tsdsl: error: tsdsl size: package `hwloc \+libxml2` is not built yet \(.*\); build it with `tsdsl build 'hwloc \+libxml2'`\n$/);
  });

  it('says when there is no log', () => {
    const r = run(['log', 'zlib']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tsdsl: error: tsdsl log: no build log for `zlib`: it was not built here yet \(.*-zlib-[\d.]+\.drv\); build it with `tsdsl build zlib`\n$/);
    expect(run(['log', lib]).stderr).toMatch(/no build log for .*-libfake-1\.0: it was not built here \(it was added or imported/);
    // A .drv (from build -d) that was never built: not built yet, not "imported".
    const zlibDrv = run(['build', '-d', 'zlib']).stdout.trim();
    expect(run(['log', zlibDrv]).stderr).toBe(`tsdsl: error: tsdsl log: no build log for ${zlibDrv}: it was not built here yet (none of its outputs is in the store); build its package with \`tsdsl build\`\n`);
    // A path that is not a valid item (a leftover of an interrupted write, say): said so, not "imported".
    const ghost = `${SD}/${'0'.repeat(32)}-ghost-1.0.drv`;
    expect(run(['log', ghost]).stderr).toMatch(new RegExp(`^tsdsl: error: tsdsl log: no build log for ${ghost}: it is not a valid item of the store at `));
    // A builtin's log is empty: said, not printed as nothing.
    const libc = Object.keys(JSON.parse(run(['derivation', 'show', 'libc6']).stdout) as object)[0]!;
    withStore((s) => writeFileSync(logPath(s, libc), ''));
    const empty = run(['log', 'libc6']);
    expect([empty.code, empty.stdout]).toEqual([0, '']);
    expect(empty.stderr).toMatch(/^tsdsl: warning: the build of libc6 wrote nothing to its log \(a builtin builder/);
  });
});

describe('tsdsl derivation show on store paths', () => {
  it('reads a .drv from the store, or the deriver of an output, as the package gives it', () => {
    const byPackage = run(['derivation', 'show', 'hwloc']).stdout;
    const byDrv = run(['derivation', 'show', drvPath]);
    expect(byDrv.code, byDrv.stderr).toBe(0);
    expect(byDrv.stdout).toBe(byPackage);
    expect(run(['derivation', 'show', out]).stdout).toBe(byPackage);
    // A transformation cannot change a store path: shown as stored, and said.
    const transformed = run(['derivation', 'show', '--with-input=scotch=pt-scotch', drvPath]);
    expect(transformed.stdout).toBe(byPackage);
    expect(transformed.stderr).toBe(`tsdsl: warning: --with-input=scotch=pt-scotch does not change ${drvPath}: a store path is taken as it is; name its package instead\n`);
    // --json, which other commands take, changes nothing: the output is JSON.
    expect(run(['derivation', 'show', '--json', 'hwloc']).stdout).toBe(byPackage);
    const all = (words: string[]) => Object.keys(JSON.parse(run(['derivation', 'show', '-r', ...words]).stdout) as object).sort();
    expect(all([drvPath])).toEqual(all(['hwloc']));
    // Every derivation the same, byte for byte, however it is named: env in sorted order (the
    // fetches, finalized from records in the order they were made, included).
    const recursive = JSON.parse(run(['derivation', 'show', '-r', 'hwloc']).stdout) as Record<string, { env: Record<string, string> }>;
    for (const d of Object.values(recursive)) expect(Object.keys(d.env)).toEqual(Object.keys(d.env).sort());
    const fetches = Object.keys(recursive).filter((p) => recursive[p]!.env['url'] !== undefined).slice(0, 2);
    expect(fetches.length).toBeGreaterThan(0);
    for (const path of fetches) expect(run(['derivation', 'show', path]).stdout).toBe(`${JSON.stringify({ [path]: recursive[path] }, null, 2)}\n`);
    expect(run(['derivation', 'show', lib]).stderr).toMatch(/libfake-1\.0 was not built from a derivation here \(it was added or imported\)/);
    expect(run(['derivation', 'show', `${SD}/${'3'.repeat(32)}-nothing.drv`]).stderr).toMatch(/is not in the store at .*; write it with `tsdsl build -d PACKAGE`/);
    // Words that name no item here are said as what they are.
    expect(run(['derivation', 'show', `${drvPath}/foo`]).stderr).toBe(`tsdsl: error: tsdsl derivation show: \`${drvPath}/foo\` does not exist: ${drvPath} has no \`foo\`; give the store path itself, ${drvPath}\n`);
    expect(run(['derivation', 'show', SD]).stderr).toMatch(/`\/tsdsl\/store` is the store directory itself; give a store path in it/);
    expect(run(['derivation', 'show', `/nix/store/${'3'.repeat(32)}-hwloc-2.9.0.drv`]).stderr).toMatch(/is a store path of \/nix\/store, but this store's directory is \/tsdsl\/store; run with TSDSL_STORE_DIR=\/nix\/store/);
  });
});

describe('tsdsl verify', () => {
  it('finds no problem in a sound store', () => {
    const r = run(['verify', '--check-contents']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^checked presence and contents of \d+ items: no problems\n$/);
  });

  it('notes what a killed writer left in the store directory, without calling it a problem', () => {
    const left = join(root, 'store', `${'4'.repeat(32)}-half-written-1.0.drv`);
    writeFileSync(left, 'Derive([("out"');
    try {
      const r = run(['verify']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/no problems\nnote: 1 unregistered entry in the store directory \(4{32}-half-written-1\.0\.drv\): left by an interrupted build or `build -d`, or being added right now; nothing uses it, and `tsdsl gc` deletes it once it is an hour old\n$/);
    } finally {
      rmSync(left);
    }
  });
});

/** Every file and directory under `dir`, with its owner and size: what a command may not change. */
function listing(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const full = join(d, name);
      const st = lstatSync(full);
      found.push(`${full} ${st.uid} ${st.isDirectory() ? 'dir' : st.size}`);
      if (st.isDirectory()) walk(full);
    }
  };
  walk(dir);
  return found;
}

const switchUser = cannotSwitchUser();
if (switchUser) console.log(`skipping the queries of another user's store: ${switchUser}`);

describe("another user's store", () => {
  it.skipIf(switchUser !== undefined)('is read by the query commands (read-only), refused by those that write, and left as it was', () => {
    const user = testUser()!;
    chmodSync(root, 0o755);
    const asUser = (args: string[]) => {
      const r = spawnSync('runuser', ['-u', 'tsdsltest', '--', 'env', `HOME=${user.home}`, `TSDSL_ROOT=${root}`, `TSDSL_STORE_DIR=${SD}`, 'TSDSL_PACKAGE_PATH=', process.execPath, BIN, ...args], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 60_000,
      });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    const queries = [
      ['size', out],
      ['gc', '--references', out],
      ['gc', '--requisites', out],
      ['gc', '--referrers', lib],
      ['gc', '--derivers', out],
      ['gc', '--list-roots'],
      ['gc', '--list-dead'],
      ['log', drvPath],
      ['log', out],
      ['derivation', 'show', drvPath],
      ['verify'],
    ];
    // What the owner gets, before the listing: the owner's commands may tidy.
    const expected = queries.map((q) => run(q));
    const before = listing(root);
    for (const [i, q] of queries.entries()) {
      const r = asUser(q);
      expect(r.stderr, q.join(' ')).not.toMatch(/internal error|belongs to another user/);
      expect(r, q.join(' ')).toEqual(expected[i]);
      expect(r.code, q.join(' ')).toBe(0);
    }
    expect(expected[7]!.stdout).toBe(LOG);
    // What writes keeps its refusal.
    for (const q of [['build', '-d', 'hwloc'], ['gc'], ['verify', '--repair']]) {
      const r = asUser(q);
      expect(r.stderr, q.join(' ')).toBe(`tsdsl: error: the store at ${root} belongs to another user (uid 0); set TSDSL_ROOT to a store of your own\n`);
      expect(r.code, q.join(' ')).toBe(1);
    }
    // Nothing was made, tidied or changed in it: no -wal or -shm, no reserve, no lock.
    expect(listing(root)).toEqual(before);
    // While its owner has the database open, it is read through the owner's -wal and -shm.
    const s = openStore({ root, storeDir: SD, env: {}, durable: false });
    try {
      expect(existsSync(join(root, 'var', 'db.sqlite-shm'))).toBe(true);
      const during = listing(root);
      expect(asUser(['gc', '--references', out])).toEqual(expected[1]);
      expect(listing(root)).toEqual(during);
    } finally {
      s.close();
    }
  });

  it.skipIf(switchUser !== undefined)("one's own store on read-only files is read too, and a write refused, saying why", () => {
    const user = testUser()!;
    const dirs = [join(root, 'store'), join(root, 'store', '.tmp'), join(root, 'var'), join(root, 'var', 'locks')];
    const as = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, uid: user.uid, gid: user.gid, env: { ...process.env, HOME: user.home, TSDSL_ROOT: root, TSDSL_STORE_DIR: SD, TSDSL_PACKAGE_PATH: '' }, encoding: 'utf8', timeout: 60_000 });
    chownSync(root, user.uid, user.gid);
    for (const d of dirs) chmodSync(d, 0o555);
    chmodSync(join(root, 'var', 'db.sqlite'), 0o444);
    try {
      const q = as(['gc', '--references', out]);
      expect(q.stderr).toBe('');
      expect(q.stdout).toBe(`${lib}\n`);
      const w = as(['build', '-d', 'hwloc']);
      expect(w.stderr).toMatch(new RegExp(`^tsdsl: error: the store at ${root} is not writable by you \\(${root}/store\\): it belongs to another user or is read-only`));
      expect(w.status).toBe(1);
    } finally {
      chownSync(root, 0, 0);
      for (const d of dirs) chmodSync(d, 0o755);
      chmodSync(join(root, 'var', 'db.sqlite'), 0o644);
    }
  });

  it('opened read-only from code, refuses a write with a TsdslError that says so', () => {
    const before = listing(root);
    const s = openStore({ root, storeDir: SD, env: {}, readOnly: true });
    try {
      expect(s.readOnly).toBe('as asked');
      expect(s.queryReferences(out)).toEqual([lib]);
      for (const write of [() => s.addRoot(out, 'mine'), () => s.addTextToStore('x', 'y', []), () => s.addTempRoots([out]), () => s.deletePaths([out]), () => s.makeTempDir()]) {
        expect(write).toThrow(new RegExp(`^the store at ${root} was opened read-only \\(as asked\\), so .* is refused; set TSDSL_ROOT to a store of your own to write to$`));
      }
    } finally {
      s.close();
    }
    expect(listing(root)).toEqual(before);
  });
});

describe('tsdsl gc', () => {
  it('lists dead items and roots; an indirect root keeps its closure while the link exists', () => {
    const all = withStore((s) => s.allValidPaths());
    expect(lines(run(['gc', '--list-dead']).stdout)).toEqual(all);
    const link = join(work, 'keep');
    withStore((s) => {
      symlinkSync(s.physicalPath(out), link);
      s.addRoot(out, link);
    });
    expect(run(['gc', '--list-roots']).stdout).toBe(`${link}\t${out}\n`);
    // The root's closure, and the derivation that built it with its own (keep-derivations).
    const live = withStore((s) => [lib, out, ...s.queryRequisites([drvPath])]).sort();
    expect(lines(run(['gc', '--list-live']).stdout)).toEqual(live);
    expect(lines(run(['gc', '--list-dead']).stdout)).toEqual(all.filter((p) => !live.includes(p)));
  });

  it('--dry-run deletes nothing; gc deletes the dead items and says how much it freed', () => {
    const before = withStore((s) => s.allValidPaths());
    const live = withStore((s) => [lib, out, ...s.queryRequisites([drvPath])]).sort();
    const dry = run(['gc', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(lines(dry.stdout).sort()).toEqual(before.filter((p) => !live.includes(p)));
    expect(dry.stderr).toMatch(/^would free about [\d.]+ MiB in \d+ items\n$/);
    expect(withStore((s) => s.allValidPaths())).toEqual(before);

    const r = run(['gc']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^freed [\\d.]+ MiB in ${before.length - live.length} items\\n$`));
    expect(withStore((s) => s.allValidPaths())).toEqual(live);
    expect(run(['gc', '--list-dead']).stdout).toBe('');
    expect(run(['gc']).stderr).toBe('freed 0.0 MiB in 0 items\n');
    // A root whose link is gone is dropped, and said apart from the items.
    withStore((s) => s.addRoot(lib, join(work, 'gone-link')));
    expect(run(['gc', '--dry-run']).stderr).toBe('would free about 0.0 MiB in 0 items; 1 dead indirect root would be dropped\n');
    expect(run(['gc']).stderr).toBe('freed 0.0 MiB in 0 items; 1 dead indirect root dropped\n');
    expect(run(['gc', '--list-roots']).stdout).not.toContain('gone-link');
  });

  it('verify reports a corrupted and a missing item, one line each, and fails', () => {
    const file = withStore((s) => join(s.physicalPath(out), 'bin/lstopo'));
    chmodSync(file, 0o644);
    writeFileSync(file, 'tampered\n');
    const r = run(['verify', '--check-contents']);
    expect(r.code).toBe(1);
    expect(lines(r.stdout)).toEqual([expect.stringMatching(new RegExp(`^hash mismatch: ${out} has NAR hash sha256:\\w+ \\(\\d+ bytes\\), but the database records sha256:\\w+ \\(\\d+ bytes\\)$`))]);
    expect(r.stderr).toMatch(/: 1 problem\nNothing was repaired\. A missing or damaged item: `tsdsl verify --repair` forgets it and the items that refer to it, for the next build to make again\. \n$/);

    withStore((s) => {
      const dir = s.physicalPath(lib);
      chmodSync(dir, 0o755);
      rmSync(dir, { recursive: true });
    });
    const quick = run(['verify']);
    expect(quick.code).toBe(1);
    expect(lines(quick.stdout)).toEqual([expect.stringMatching(new RegExp(`^missing: ${lib} is valid but .* does not exist$`))]);

    // --repair forgets both, and what refers to them (only out refers to lib), deleting their files.
    const before = withStore((s) => s.allValidPaths());
    const repaired = run(['verify', '--check-contents', '--repair']);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(lines(repaired.stdout).filter((l) => l.startsWith('forgotten: '))).toEqual([lib, out].sort().map((p) => `forgotten: ${p}`));
    expect(repaired.stderr).toMatch(/\nrepaired: forgot 2 items \(2 missing or damaged\); building again makes them at the same paths\n$/);
    expect(withStore((s) => s.allValidPaths())).toEqual(before.filter((p) => p !== lib && p !== out));
    expect(withStore((s) => existsSync(s.physicalPath(out)))).toBe(false);
    const after = run(['verify', '--check-contents']);
    expect([after.code, after.stdout]).toEqual([0, '']);
  });
});

describe('tsdsl build -n --json', () => {
  it('has `check` whenever a rebuild is asked for, empty when nothing is in the store to build again', () => {
    // A store of its own: -n writes the .drv files, which the shared store's gc tests would see.
    const own = mkdtempSync(join(tmpdir(), 'tsdsl-cli-dry-'));
    const runOwn = (args: string[]) => tsdsl(args, { env: { TSDSL_ROOT: own, TSDSL_STORE_DIR: SD } });
    try {
      const r = runOwn(['build', '-n', '--rounds=2', '--json', 'zlib']);
      expect(r.code, r.stderr).toBe(0);
      const got = JSON.parse(r.stdout) as { build: string[]; check?: string[]; download: unknown[] };
      expect(got.check).toEqual([]);
      expect(got.build.some((p) => p.endsWith('-zlib-1.2.13.drv'))).toBe(true);
      expect(JSON.parse(runOwn(['build', '-n', '--json', 'zlib']).stdout)).not.toHaveProperty('check');
    } finally {
      spawnSync('chmod', ['-R', 'u+w', own]);
      rmSync(own, { recursive: true, force: true });
    }
  });
});

describe('tsdsl build -d with -r, and options -d cannot honour', () => {
  it('-r roots the .drv (and so its closure of derivations and sources), as Guix does', () => {
    const link = join(work, 'drv-root');
    const r = run(['build', '-d', '-r', link, 'hwloc']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${drvPath}\n`);
    expect(run(['gc', '--list-roots']).stdout).toContain(`${link}\t${drvPath}\n`);
    const live = lines(run(['gc', '--list-live']).stdout);
    expect(live).toContain(drvPath);
    expect(live.length).toBeGreaterThan(10);
    expect(run(['gc', '--list-dead']).stdout).not.toContain('.drv\n');
    // Several packages: FILE, FILE-2; a missing directory is an error before anything is done.
    const two = run(['build', '-d', '-r', join(work, 'two'), 'hwloc', 'zlib']);
    expect(two.code, two.stderr).toBe(0);
    const roots = run(['gc', '--list-roots']).stdout;
    for (const [i, drv] of two.stdout.trim().split('\n').entries()) expect(roots).toContain(`${join(work, i ? `two-${i + 1}` : 'two')}\t${drv}\n`);
    expect(run(['build', '-d', '-r', '/nonexistent/dir/r', 'hwloc']).stderr).toBe('tsdsl: error: cannot write `/nonexistent/dir/r`: the directory `/nonexistent/dir` does not exist; create it first, or choose another place with -r FILE\n');
    // A regular file in the way is refused before anything is built, and left as it was.
    const precious = join(root, 'precious.txt');
    writeFileSync(precious, 'data');
    expect(run(['build', '-d', '-r', precious, 'hwloc']).stderr).toBe(`tsdsl: error: --root ${precious}: the file exists and is not a symbolic link; remove it or choose another name\n`);
    expect(readFileSync(precious, 'utf8')).toBe('data');
  });

  it('a registered .drv deleted by hand is not printed (or rooted): said, with the way out', () => {
    const own = mkdtempSync(join(tmpdir(), 'tsdsl-cli-gone-'));
    const runOwn = (args: string[]) => tsdsl(args, { env: { TSDSL_ROOT: own, TSDSL_STORE_DIR: SD } });
    const drv = runOwn(['build', '-d', 'zlib']).stdout.trim();
    const file = join(own, 'store', drv.slice(SD.length + 1));
    chmodSync(join(own, 'store'), 0o755);
    unlinkSync(file);
    const r = runOwn(['build', '-d', '-r', join(own, 'r'), 'zlib']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`tsdsl: error: the store item needed here is registered but missing from disk (${drv}); run \`tsdsl verify --repair\` to forget the damaged items and those that refer to them, then run this again\n`);
    expect(runOwn(['gc', '--list-roots']).stdout).toBe('');
    expect(runOwn(['log', drv]).stderr).toBe(`tsdsl: error: tsdsl log: no build log for ${drv}, and it is registered, but its files are gone from ${own}/store; \`tsdsl verify\` lists what else is missing\n`);
    chmodSync(own, 0o755);
    spawnSync('chmod', ['-R', 'u+w', own]);
    rmSync(own, { recursive: true, force: true });
  });

  it('an option about building given with -d, or an argument to verify, is an error, not ignored', () => {
    expect(run(['verify', 'foo']).stderr).toMatch(/^tsdsl: error: tsdsl verify: unexpected argument `foo`/);
    for (const opt of ['--check', '--dry-run', '-j2', '--rounds=2', '--keep-going']) {
      const r = run(['build', '-d', opt, 'hwloc']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^tsdsl: error: tsdsl build: -d writes derivations and builds nothing, so --[a-z-]+ has no effect; drop one of them\n$/);
    }
  });
});

describe('tsdsl build -S', () => {
  it('of a local source with no patch adds its store item (no derivation makes it) and prints it, with -d too', () => {
    const fresh = mkdtempSync(join(tmpdir(), 'tsdsl-cli-source-'));
    const dir = join(fresh, 'pkgs');
    mkdirSync(join(dir, 'fresh-src'), { recursive: true });
    writeFileSync(join(dir, 'fresh-src', 'x.c'), 'int main(void) { return 0; }\n');
    writeFileSync(
      join(dir, 'l.ts'),
      "import { definePackage, gnu, licenses, local } from 'tsdsl';\nexport const fresh = definePackage({ name: 'fresh', version: '1.0', source: local('./fresh-src'), buildSystem: gnu, synopsis: 'Fresh', description: 'Fresh.', homePage: 'https://example.org/', license: licenses.expat });\n",
    );
    const env = { TSDSL_ROOT: join(fresh, 'root'), TSDSL_STORE_DIR: SD };
    // It said the item "is registered, but its files are gone", and to run gc.
    const r = tsdsl(['build', '-S', '-L', dir, 'fresh'], { env });
    expect(r.code, r.stderr).toBe(0);
    const path = r.stdout.trim();
    expect(path).toMatch(/^\/tsdsl\/store\/[0-9a-z]{32}-fresh-src$/);
    expect(readFileSync(join(fresh, 'root', 'store', path.slice(SD.length + 1), 'x.c'), 'utf8')).toContain('main');
    const d = tsdsl(['build', '-S', '-d', '-L', dir, 'fresh'], { env });
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toBe(`${path}\n`);
    rmSync(fresh, { recursive: true, force: true });
  });
});
