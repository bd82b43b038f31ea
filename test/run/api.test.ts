// run() — the code path of `tsdsl run` and `tsdsl shell` — as the unprivileged user `tsdsltest`,
// on the fixture closure packed three ways (tarball, docker-archive, squashfs): exit statuses
// through every engine that works here, the pack cache (unpacked once, held while a command
// runs, reclaimed by collectPackCache / `tsdsl gc --packs` only when nobody uses it), the
// environment (-E/--preserve) and binds (--expose/--share), and bad requests.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkSandboxSupport } from '../../src/build/sandbox.js';
import { PID_NAMESPACE, ownerWhere } from '../../src/store/lock.js';
import { afterAll, describe, expect, it } from 'vitest';
import type { EngineName, RunRequest } from '../../src/run/api.js';
import { buildFixture, cannotSwitchUser, makeDockerArchive, runDriver, startDriver, testUser, type Fixture } from './fixtures/closure.js';
import { BIN, ROOT } from '../cli/helpers.js';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
  error?: string;
}

const skipAll = cannotSwitchUser();
if (skipAll) console.log(`run() tests skipped: ${skipAll}`);
const f: Fixture | undefined = skipAll ? undefined : buildFixture();
const user = testUser();
afterAll(() => {
  if (f) rmSync(f.dir, { recursive: true, force: true });
});

const packs: Record<string, string> = {};
const availability = new Map<string, { ok: boolean; reason?: string }>();
let cache = '';
if (f) {
  packs['tarball'] = join(f.dir, 'fixture-pack.tar.gz');
  execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-C', f.root, '-czf', packs['tarball'], '.']);
  packs['docker'] = makeDockerArchive(f, join(f.dir, 'fixture-docker'));
  packs['squashfs'] = join(f.dir, 'fixture-image');
  execFileSync('mksquashfs', [f.root, packs['squashfs'], '-all-root', '-noappend', '-quiet', '-no-progress']);
  // The same with a runscript (what `--entry-point` makes without a shell): the fixture program.
  packs['squashfs-entry'] = join(f.dir, 'fixture-image-entry');
  execFileSync('mksquashfs', [f.root, packs['squashfs-entry'], '-all-root', '-noappend', '-quiet', '-no-progress', '-p', '.singularity.d d 755 0 0', '-p', '.singularity.d/runscript s 777 0 0 /bin/fixture']);
  execFileSync('chmod', ['a+r', ...Object.values(packs)]);
  cache = join(f.dir, 'cache');
  mkdirSync(cache);
  chownSync(cache, user!.uid, user!.gid);
  const r = runDriver(f, { mode: 'explain' });
  for (const e of (JSON.parse(r.stdout) as { report: { engines: Array<{ name: string; ok: boolean; reason?: string }> } }).report.engines) {
    availability.set(e.name, e.reason === undefined ? { ok: e.ok } : { ok: e.ok, reason: e.reason });
  }
}

/** Runs requests through run() as the test user; defaults: cwd f.work, the test cache. */
function api(runs: RunRequest[], env: Record<string, string> = {}): Result[] {
  const r = runDriver(f!, { mode: 'api', runs: runs.map((x) => ({ cwd: f!.work, cacheDir: cache, ...x })) }, { env, timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`driver failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Result[];
}
const codeOf = (r: Result): number | string => r.error ?? r.code;

describe('the API', () => {
  it('refuses binds that would hide the store, a path in it, /proc, /dev or /sys', async () => {
    const { checkBindTargets } = await import('../../src/run/api.js');
    const bind = (target: string, writable = true) => [{ source: '/tmp', target, writable }];
    for (const [target, why] of [
      ['/tsdsl/store', /would hide the store \(\/tsdsl\/store\)/],
      ['/tsdsl/', /would hide the store/],
      ['/', /would hide the store/],
      ['/tsdsl/store/abc-x', /would hide a path in the store/],
      ['/proc', /would hide the container's \/proc/],
      ['//dev/', /would hide the container's \/dev/],
      // Inside the kernel's trees, where a rootless mount fails only later, in mount(8).
      ['/proc/x', /would hide a path of the kernel's \/proc, where nothing can be mounted without root/],
      ['/sys/fs/y', /a path of the kernel's \/sys/],
    ] as const) {
      expect(() => checkBindTargets(bind(target), '/tsdsl/store'), target).toThrow(why);
    }
    expect(() => checkBindTargets(bind('/tsdsl/store', false), '/tsdsl/store')).toThrow(/^--expose=\/tmp=\/tsdsl\/store: binding onto .*; choose another target, e.g. --expose=\/tmp=\/data$/);
    // Beside the store, under /dev, and a store dir that only shares a prefix are fine.
    for (const target of ['/tsdsl/other', '/dev/shm', '/tsdsl/storehouse', '/data']) expect(() => checkBindTargets(bind(target), '/tsdsl/store'), target).not.toThrow();
  });

  it('exports run() from the package entry point', async () => {
    const index = await import('../../src/index.js');
    const api = await import('../../src/run/api.js');
    expect(index.run).toBe(api.run);
  });

  // The example as a user runs it: pack hwloc, run() from the pack, run() from the packages in a
  // container (with the shared test store, where hwloc is usually built already).
  it.skipIf(!checkSandboxSupport().ok)('examples/run-pack.ts packs hwloc and runs lstopo from the pack and the packages', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'tsdsl-example-')), 'hwloc.tar.gz');
    const r = spawnSync(process.execPath, ['scripts/run-ts.mjs', 'examples/run-pack.ts', out], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, TSDSL_ROOT: process.env['TSDSL_TEST_ROOT'] ?? join(tmpdir(), 'tsdsl-test-store'), TSDSL_PACK_CACHE: join(out, '..', 'cache') },
      timeout: 1_100_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Machine \(/m);
    expect(r.stdout).toMatch(/^Core L#0\nCore L#1/m);
  }, 1_200_000);
});

describe.skipIf(skipAll !== undefined)('run({ pack })', () => {
  const engines = ['auto', 'userns', 'proot', 'charliecloud', 'podman'];
  for (const kind of ['tarball', 'docker', 'squashfs']) {
    it(`runs a ${kind} pack under every engine that works here and returns the exit status`, () => {
      const usable = engines.filter((e) => e === 'auto' || availability.get(e)?.ok);
      for (const e of engines.filter((x) => !usable.includes(x))) console.log(`${kind} under ${e} skipped: ${availability.get(e)?.reason}`);
      const results = api(usable.map((engine, i) => ({ pack: packs[kind]!, engine: engine as EngineName, command: ['fixture', 'exit', String(20 + i)] })));
      expect(results.map(codeOf)).toEqual(usable.map((_, i) => 20 + i));
    }, 600_000);
  }

  it('apptainer: skipped with the reason its own probe gives (it is not installable here)', () => {
    const a = availability.get('apptainer');
    if (a?.ok) {
      const [r] = api([{ pack: packs['squashfs']!, engine: 'apptainer', command: ['fixture', 'exit', '4'] }]);
      expect(codeOf(r!)).toBe(4);
    } else {
      console.log(`apptainer run tests skipped: ${a?.reason}`);
      expect(a?.reason).toMatch(/apptainer/);
      const [r] = api([{ pack: packs['squashfs']!, engine: 'apptainer', command: ['fixture', 'exit', '4'] }]);
      expect(r!.error).toMatch(/the apptainer engine cannot run here: .*apptainer/);
    }
  });

  it("with no command, a docker pack runs its image's entry point, a squashfs its runscript (a tarball, sh)", () => {
    const [docker, tarball] = api([
      { pack: packs['docker']!, engine: 'userns' },
      { pack: packs['tarball']!, engine: 'userns' },
    ]);
    // The fixture's entry point with no argument exits 0; the tarball has no shell.
    expect(codeOf(docker!)).toBe(0);
    expect(tarball!.error).toMatch(/there is no shell to start/);
    // A squashfs with a runscript runs it, as `apptainer run` does (arguments go with `command`).
    const [entry] = api([{ pack: packs['squashfs-entry']!, engine: 'userns' }]);
    expect(codeOf(entry!)).toBe(0);
  });

  it('unpacks each pack once into the cache and reuses it', () => {
    api([{ pack: packs['tarball']!, engine: 'userns', command: ['fixture', 'true'] }]);
    const entries = readdirSync(cache).filter((n) => /^[0-9a-f]{64}$/.test(n));
    expect(entries.length).toBe(4); // tarball, docker, squashfs, squashfs with a runscript
    const before = Object.fromEntries(entries.map((e) => [e, statSync(join(cache, e)).ino]));
    // What a run killed while unpacking left: removed by the next run.
    const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout);
    const left = join(cache, `.tmp-${'e'.repeat(64)}-${dead}-ns${PID_NAMESPACE}`);
    mkdirSync(join(left, 'usr'), { recursive: true });
    for (const d of [left, join(left, 'usr')]) chownSync(d, user!.uid, user!.gid);
    api([{ pack: packs['docker']!, engine: 'userns', command: ['fixture', 'true'] }, { pack: packs['tarball']!, engine: 'proot', command: ['fixture', 'true'] }]);
    expect(Object.fromEntries(entries.map((e) => [e, statSync(join(cache, e)).ino]))).toEqual(before);
    expect(readdirSync(cache).filter((n) => n.startsWith('.tmp-') || n.startsWith('.tsdsl-unpack-'))).toEqual([]);
    expect(existsSync(left)).toBe(false);
  });

  it('keeps the unpacked pack read-only: a command cannot change what later runs get, whatever the engine', () => {
    // The tarball's entry: named by the sha256 of the file.
    const entry = join(cache, createHash('sha256').update(readFileSync(packs['tarball']!)).digest('hex'));
    expect(existsSync(join(entry, 'bin', 'fixture'))).toBe(true);
    const writable: string[] = [];
    const walk = (p: string): void => {
      const st = lstatSync(p);
      if (st.isSymbolicLink()) return;
      if (st.mode & 0o222) writable.push(p);
      if (st.isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
    };
    // As an older tsdsl left it: writable. Its next use makes it read-only.
    execFileSync('chmod', ['-R', 'u+w', entry]);
    const usable = ['proot', 'charliecloud'].filter((e) => availability.get(e)?.ok);
    for (const e of ['proot', 'charliecloud'].filter((x) => !usable.includes(x))) console.log(`read-only pack cache under ${e} skipped: ${availability.get(e)?.reason}`);
    // PRoot runs the command in the cache entry itself; Charliecloud makes its mount points there.
    const tarball = packs['tarball']!;
    const runs = api([
      ...usable.map((engine) => ({ pack: tarball, engine: engine as EngineName, command: ['fixture', 'write', `/etc/by-${engine}`, 'x'] })),
      ...usable.map((engine) => ({ pack: tarball, engine: engine as EngineName, command: ['fixture', 'write', '/bin/fixture', 'x'] })),
      { pack: tarball, engine: 'userns', command: ['fixture', 'exists', ...usable.map((e) => `/etc/by-${e}`)] },
      // Charliecloud's empty /etc/passwd mount point is not taken for the pack's own.
      ...['userns', ...usable].map((engine) => ({ pack: tarball, engine: engine as EngineName, command: ['fixture', 'read', '/etc/passwd'] })),
    ]);
    const n = usable.length;
    for (const r of runs.slice(0, 2 * n)) expect(codeOf(r), r.stderr).not.toBe(0);
    expect(runs[2 * n]!.stdout).toBe(usable.map((e) => `/etc/by-${e} no\n`).join(''));
    for (const r of runs.slice(2 * n + 1)) expect(r.stdout, r.stderr).toMatch(/^root:x:0:0:/);
    const proot = runs.slice(2 * n + 1)[1 + usable.indexOf('proot')];
    if (proot) expect(proot.stdout).toContain(`:x:${user!.uid}:`);
    walk(entry);
    expect(writable).toEqual([]);
    // A pack the user unpacked is theirs: Charliecloud's mount points there are writable.
    if (usable.includes('charliecloud')) {
      const own = join(f!.dir, 'unpacked-by-user');
      mkdirSync(own);
      execFileSync('tar', ['-xzf', tarball, '-C', own]);
      execFileSync('chown', ['-R', `${user!.uid}:${user!.gid}`, own]);
      expect(codeOf(api([{ pack: own, engine: 'charliecloud', command: ['fixture', 'true'] }])[0]!)).toBe(0);
      expect(statSync(join(own, 'etc', 'passwd')).mode & 0o200).not.toBe(0);
    }
  });

  it('passes -E/--preserve variables and sets env; nothing else of the caller', () => {
    const [r] = api([{ pack: packs['tarball']!, engine: 'userns', command: ['fixture', 'env'], preserve: ['^TSDSL_T_'], env: { EXTRA: 'x' } }], {
      TSDSL_T_ONE: '1',
      TSDSL_T_TWO: 'two words',
      NOT_PASSED: 'no',
    });
    const lines = r!.stdout.split('\n');
    expect(lines).toContain('TSDSL_T_ONE=1');
    expect(lines).toContain('TSDSL_T_TWO=two words');
    expect(lines).toContain('EXTRA=x');
    expect(r!.stdout).not.toMatch(/NOT_PASSED/);
    const [bad] = api([{ pack: packs['tarball']!, command: ['true'], preserve: ['(unclosed'] }]);
    expect(bad!.error).toMatch(/--preserve=\(unclosed is not a valid regular expression/);
  });

  it('--expose binds read-only, --share writable, at SRC or at DST', () => {
    const dir = join(f!.dir, 'binds');
    mkdirSync(dir);
    writeFileSync(join(dir, 'in'), 'exposed');
    chownSync(dir, user!.uid, user!.gid);
    const [read, denied, written] = api([
      { pack: packs['tarball']!, engine: 'userns', command: ['fixture', 'read', '/data/in'], expose: [`${dir}=/data`], container: true },
      { pack: packs['tarball']!, engine: 'userns', command: ['fixture', 'write', '/data/out', 'no'], expose: [`${dir}=/data`] },
      { pack: packs['tarball']!, engine: 'userns', command: ['fixture', 'write', join(dir, 'out'), 'shared'], share: [dir], container: true },
    ]);
    expect(read!.stdout, JSON.stringify(read)).toBe('exposed');
    expect(denied!.code).not.toBe(0);
    expect(denied!.stderr).toMatch(/Read-only file system/);
    expect(codeOf(written!)).toBe(0);
    expect(existsSync(join(dir, 'out'))).toBe(true);
    const [missing] = api([{ pack: packs['tarball']!, command: ['true'], share: ['/no/such/dir=/x'] }]);
    expect(missing!.error).toMatch(/--share=\/no\/such\/dir=\/x: `\/no\/such\/dir` does not exist/);
  });

  it.skipIf(!availability.get('podman')?.ok)('podman gives a tarball pack (imported from the read-only cache) a writable /tmp', () => {
    const [tmp, isolated] = api([
      { pack: packs['tarball']!, engine: 'podman', command: ['fixture', 'write', '/tmp/by-podman', 'x'] },
      { pack: packs['tarball']!, engine: 'podman', command: ['fixture', 'write', '/tmp/by-podman', 'x'], container: true },
    ]);
    expect(codeOf(tmp!), tmp!.stderr).toBe(0);
    expect(codeOf(isolated!), isolated!.stderr).toBe(0);
  });

  it('refuses bad requests with one clear sentence', () => {
    const [both, unknown, missing, notInPack, unwritable, procfs, existing] = api([
      { pack: packs['tarball']!, packages: ['hwloc'], command: ['true'] },
      { pack: packs['tarball']!, engine: 'magic' as never, command: ['true'] },
      { pack: join(f!.dir, 'nope.tar.gz'), command: ['true'] },
      { pack: packs['tarball']!, engine: 'userns', command: ['no-such-program'] },
      // f.dir belongs to root: the test user cannot make a directory in it
      { pack: packs['tarball']!, engine: 'userns', command: ['true'], cacheDir: join(f!.dir, 'no-cache-here') },
      // mkdir(2) says ENOENT there although /proc exists (Node's recursive mkdir would loop forever)
      { pack: packs['tarball']!, engine: 'userns', command: ['true'], cacheDir: '/proc/no-cache-here' },
      // one that exists, but is root's: refused before anything is written in it
      { pack: packs['tarball']!, engine: 'userns', command: ['true'], cacheDir: f!.dir },
    ]);
    expect(procfs!.error).toMatch(/cannot use \/proc\/no-cache-here for the cache of unpacked packs \(ENOENT\)/);
    expect(unwritable!.error).toMatch(/cannot use .*\/no-cache-here for the cache of unpacked packs \(EACCES\); set TSDSL_PACK_CACHE/);
    expect(existing!.error).toMatch(/cannot use .* for the cache of unpacked packs \(EACCES\); set TSDSL_PACK_CACHE to a directory you can write/);
    expect(both!.error).toMatch(/either `pack`.*or `packages`/);
    expect(unknown!.error).toMatch(/unknown run engine `magic`/);
    expect(missing!.error).toMatch(/nope\.tar\.gz` does not exist/);
    expect(notInPack!.error).toMatch(/command `no-such-program` not found/);
    // A bind onto a link of the pack into the store (-S /bin=bin): the engines that follow the
    // link would mount over the store item's directory.
    const [linked, inside] = api([
      { pack: packs['tarball']!, engine: 'userns', command: ['fixture', 'true'], share: [`${f!.work}=/bin`] },
      { pack: packs['tarball']!, engine: 'userns', command: ['fixture', 'true'], expose: [`${f!.work}=/bin/more`] },
    ]);
    expect(linked!.error).toMatch(/^--share=\S+=\/bin: binding onto `\/bin` would hide \/tsdsl\/store\/[0-9a-z]{32}-[^/]+\/bin, in the store: in the pack, `\/bin` is a link there \(-S\); choose another target/);
    expect(inside!.error).toMatch(/binding onto `\/bin\/more` would hide a path inside \/tsdsl\/store\/\S+\/bin, in the store: in the pack, `\/bin` is a link there/);
    // The same in a docker-archive podman runs as it is (not unpacked): read from its layers.
    if (availability.get('podman')?.ok) {
      const [native] = api([{ pack: packs['docker']!, engine: 'podman', command: ['fixture', 'true'], share: [`${f!.work}=/bin`] }]);
      expect(native!.error).toMatch(/^--share=\S+=\/bin: binding onto `\/bin` would hide \/tsdsl\/store\/[0-9a-z]{32}-[^/]+\/bin, in the store: in the pack, `\/bin` is a link there \(-S\)/);
    }
    // A gzip docker-archive, which podman cannot load: said before podman fails on it.
    if (availability.get('podman')?.ok) {
      const gz = join(f!.dir, 'fixture-docker.tar.gz');
      execFileSync('sh', ['-c', `gzip -c ${packs['docker']} > ${gz} && chmod a+r ${gz}`]);
      // A pack cache, and so a podman storage, of its own, where the image is not loaded yet (the
      // same image already loaded from another compression would run).
      const fresh = join(f!.dir, 'gzip-cache');
      mkdirSync(fresh);
      chownSync(fresh, user!.uid, user!.gid);
      const [gzipped] = api([{ pack: gz, engine: 'podman', command: ['fixture', 'true'], cacheDir: fresh }]);
      expect(gzipped!.error).toMatch(/fixture-docker\.tar\.gz is a gzip-compressed docker-archive, which podman cannot load .*; run it with another engine \(--engine=userns\), or make the pack with -C xz, -C zstd or -C none$/);
    }
  });
});

describe.skipIf(skipAll !== undefined)('the pack cache and `tsdsl gc --packs`', () => {
  // A cache directory of this file's own, so that nothing goes to the user's (podman's images go
  // in the pack cache named, gcCache, which gc --packs reclaims too).
  const xdgCache = (): string => {
    const d = join(f!.dir, 'xdg-cache');
    if (!existsSync(d)) {
      mkdirSync(d);
      chownSync(d, user!.uid, user!.gid);
    }
    return d;
  };
  const gc = (...args: string[]) => gcWith({}, ...args);
  const gcWith = (env: Record<string, string>, ...args: string[]) => {
    const argv = ['setpriv', `--reuid=${user!.uid}`, `--regid=${user!.gid}`, '--clear-groups', '--', process.execPath, BIN, 'gc', ...args];
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env: { PATH: process.env['PATH']!, HOME: user!.home, TSDSL_PACK_CACHE: gcCache, XDG_CACHE_HOME: xdgCache(), ...env }, cwd: f!.work });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  let gcCache = '';

  /** Until the fixture's `sleep` run says it is ready (it is then running, and its run registered). */
  const untilReady = (sleeper: ReturnType<typeof startDriver>): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      let out = '';
      sleeper.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready')) resolve();
      });
      sleeper.once('exit', (code) => reject(new Error(`the sleeping run exited (${code}) before it was ready`)));
    });

  it('keeps an entry while a run uses it, removes it afterwards; --dry-run removes nothing', async () => {
    gcCache = join(f!.dir, 'gc-cache');
    mkdirSync(gcCache);
    chownSync(gcCache, user!.uid, user!.gid);
    const sleeper = startDriver(f!, { mode: 'api-run', run: { pack: packs['tarball'], engine: 'userns', command: ['fixture', 'sleep'], cwd: f!.work, cacheDir: gcCache } });
    try {
      await untilReady(sleeper);
      const entry = readdirSync(gcCache).find((n) => /^[0-9a-f]{64}$/.test(n))!;
      const held = gc('--packs=all');
      expect(held.code, held.stderr).toBe(0);
      expect(held.stderr).toMatch(new RegExp(`kept .*${entry}: in use by process \\d+`));
      expect(existsSync(join(gcCache, entry))).toBe(true);
      // The run killed with -9 while its command goes on: the command still holds the entry.
      // 'exit', not 'close': the command still holds the driver's output pipe.
      const exited = new Promise((resolve) => sleeper.once('exit', resolve));
      sleeper.kill('SIGKILL');
      await exited;
      const orphan = gc('--packs=all');
      expect(orphan.stderr).toMatch(new RegExp(`kept .*${entry}: in use by process \\d+`));
      expect(existsSync(join(gcCache, entry))).toBe(true);
      // Its scratch directory (in /dev/shm) too: the command uses the root made there. A later
      // run leaves it while the command runs, and removes it once the command is gone.
      const scratch = () => readdirSync('/dev/shm').filter((n) => n.startsWith(`tsdsl-run-${sleeper.pid}-${ownerWhere()}-`));
      const quick = { pack: packs['tarball']!, engine: 'userns' as EngineName, command: ['fixture', 'true'], cacheDir: gcCache };
      expect(scratch()).toHaveLength(1);
      expect(codeOf(api([quick])[0]!)).toBe(0);
      expect(scratch()).toHaveLength(1);
      // Stop the command (the tokens of the users file: tsdsl's, then the command's).
      for (const name of readdirSync(join(gcCache, '.users', entry))) {
        for (const line of readFileSync(join(gcCache, '.users', entry, name), 'utf8').split('\n').filter(Boolean)) {
          try {
            process.kill(Number(line.split(' ')[0]), 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
      spawnSync('pkill', ['-KILL', '-f', '^fixture sleep$']);
      for (let i = 0; i < 200 && spawnSync('pgrep', ['-f', '^fixture sleep$']).status === 0; i++) await new Promise((r) => setTimeout(r, 25));
      expect(codeOf(api([quick])[0]!)).toBe(0);
      expect(scratch()).toEqual([]);
    } finally {
      if (sleeper.exitCode === null && sleeper.signalCode === null) {
        sleeper.kill('SIGTERM');
        await new Promise((resolve) => sleeper.once('close', resolve));
      }
    }
    const entry = readdirSync(gcCache).find((n) => /^[0-9a-f]{64}$/.test(n))!;
    // What a docker-archive unpack killed with -9 left (charliecloud's unpack directory).
    const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout);
    const unpackLeft = join(gcCache, `.tsdsl-unpack-${dead}-ns${PID_NAMESPACE}-AbC123`);
    mkdirSync(unpackLeft);
    writeFileSync(join(unpackLeft, 'layer.tar'), 'x');
    chownSync(unpackLeft, user!.uid, user!.gid);
    const dry = gc('--packs=all', '--dry-run');
    expect(dry.stdout).toBe(`${join(gcCache, entry)}\n`);
    expect(existsSync(join(gcCache, entry))).toBe(true);
    const freed = gc('--packs=all');
    expect(freed.stderr).toMatch(/freed [\d.]+ MiB in 1 unpacked pack \(and 1 interrupted unpack\) /);
    expect(existsSync(unpackLeft)).toBe(false);
    expect(readdirSync(gcCache).filter((n) => !n.startsWith('.'))).toEqual([]);
  }, 120_000);

  it('--packs=DAYS removes only what was not used for that long; bad values are refused', () => {
    api([
      { pack: packs['tarball']!, engine: 'userns', command: ['fixture', 'true'], cacheDir: gcCache },
      { pack: packs['docker']!, engine: 'userns', command: ['fixture', 'true'], cacheDir: gcCache },
    ]);
    const entries = readdirSync(gcCache).filter((n) => /^[0-9a-f]{64}$/.test(n));
    expect(entries.length).toBe(2);
    const old = new Date(Date.now() - 40 * 86_400_000);
    utimesSync(join(gcCache, entries[0]!, '.tsdsl-unpacked'), old, old);
    const r = gc('--packs');
    expect(r.stderr).toMatch(/freed [\d.]+ MiB in 1 unpacked pack .*; 1 kept/);
    expect(readdirSync(gcCache).filter((n) => /^[0-9a-f]{64}$/.test(n))).toEqual([entries[1]]);
    expect(gc('--packs=soon').stderr).toMatch(/--packs takes a number of days \(e\.g\. --packs=7\) or `all`, not `soon`/);
    expect(gc('--packs', '--list-dead').stderr).toMatch(/--packs and --list-dead cannot be combined/);
    // The scratch directory a run killed with -9 left in /dev/shm (its command gone too) goes with
    // gc --packs, not only with the next run.
    const deadPid = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout);
    // In a runtime directory of this test's own: the runs of other test files, sweeping /dev/shm
    // as they start, would take it first.
    const runtime = mkdtempSync(join(tmpdir(), 'tsdsl-runtime-gc-'));
    const scratch = join(runtime, `tsdsl-run-${deadPid}-ns${PID_NAMESPACE}-abcdef`);
    mkdirSync(join(scratch, 'root'), { recursive: true });
    execFileSync('chown', ['-R', `${user!.uid}:${user!.gid}`, runtime]);
    chmodSync(runtime, 0o700);
    expect(gcWith({ XDG_RUNTIME_DIR: runtime }, '--packs', '--dry-run').stderr).toMatch(/would free [\d.]+ MiB in 0 unpacked packs \(and 1 scratch directory of killed runs\)/);
    expect(existsSync(scratch)).toBe(true);
    expect(gcWith({ XDG_RUNTIME_DIR: runtime }, '--packs').stderr).toMatch(/freed [\d.]+ MiB in 0 unpacked packs \(and 1 scratch directory of killed runs\)/);
    expect(existsSync(scratch)).toBe(false);
    rmSync(runtime, { recursive: true, force: true });
  }, 120_000);

  it.skipIf(!availability.get('podman')?.ok)("reclaims tsdsl's podman images: kept while a run holds one or used recently, the containers of killed runs and the copies of interrupted imports removed", async () => {
    const env = { XDG_CACHE_HOME: xdgCache() };
    const podmanRun = { pack: packs['docker']!, engine: 'podman' as EngineName, cwd: f!.work, cacheDir: gcCache };
    const sleeper = startDriver(f!, { mode: 'api-run', run: { ...podmanRun, command: ['fixture', 'sleep'] } }, { env });
    try {
      await untilReady(sleeper);
      const held = gc('--packs=all');
      expect(held.stderr).toMatch(/kept podman image \S+: in use by a running `tsdsl run`/);
      // In the pack cache named (cacheDir for the run, TSDSL_PACK_CACHE for gc), not in XDG_CACHE_HOME.
      expect(held.stderr).toContain(`freed 0.0 MiB in 0 podman images from ${join(gcCache, 'podman')}; 1 kept`);
    } finally {
      const closed = new Promise((resolve) => sleeper.once('close', resolve));
      sleeper.kill('SIGTERM');
      await closed;
    }
    // Used just now: 30 days keep it.
    expect(gc('--packs').stderr).toMatch(/freed 0\.0 MiB in 0 podman images .*; 1 kept/);
    // A container left by a run killed before podman removed it (its owner is gone), made as
    // tsdsl makes them, in tsdsl's storage with the runtime directory recorded for it.
    const podmanDir = join(gcCache, 'podman');
    const storage = readdirSync(podmanDir).find((n) => /^vfs-[0-9a-f]{8}$/.test(n))!;
    const rt = readFileSync(join(podmanDir, 'used', storage, '.runroot'), 'utf8').trim();
    const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout);
    const podman = (...args: string[]) =>
      spawnSync('setpriv', [`--reuid=${user!.uid}`, `--regid=${user!.gid}`, '--clear-groups', '--', 'podman', '--log-level=error', `--root=${join(podmanDir, storage)}`, `--runroot=${rt}/tsdsl-podman`, '--storage-driver=vfs', '--cgroup-manager=cgroupfs', '--events-backend=file', ...args], {
        encoding: 'utf8',
        env: { PATH: process.env['PATH']!, HOME: user!.home, XDG_RUNTIME_DIR: rt },
        cwd: f!.work,
      });
    const image = podman('images', '--format', '{{.ID}}').stdout.trim();
    expect(podman('create', `--label=tsdsl.owner=${dead} 1`, image, 'true').status).toBe(0);
    const dry = gc('--packs=all', '--dry-run');
    expect(dry.stdout).toMatch(/^podman image \S+ \(vfs-[0-9a-f]{8}\)$/m);
    expect(dry.stderr).toMatch(/would free [\d.]+ MiB in 1 podman image \(and 1 container of killed runs\)/);
    expect(podman('ps', '-aq').stdout.trim()).not.toBe('');
    const all = gc('--packs=all');
    expect(all.stderr).toMatch(/freed [1-9][\d.]* MiB in 1 podman image \(and 1 container of killed runs\) .*; 0 kept/);
    expect(podman('ps', '-aq').stdout.trim()).toBe('');
    expect(podman('images', '-q').stdout.trim()).toBe('');
    // And the next run loads it again.
    expect(codeOf(api([{ ...podmanRun, command: ['fixture', 'exit', '7'] }], env)[0]!)).toBe(7);
    // A SIGTERM as soon as podman made the container (its --cidfile is written), before it runs:
    // podman exits 0 itself then, leaving the container; the run ends 143, the container goes.
    const early = startDriver(f!, { mode: 'api-run', run: { ...podmanRun, command: ['fixture', 'sleep'] } }, { env });
    const closed = new Promise<number | null>((resolve) => early.once('close', (code) => resolve(code)));
    const cid = new RegExp(`^tsdsl-podman-${early.pid}-[0-9a-f]+\\.cid$`);
    // In the driver's temporary directory: /tmp (its environment sets no TMPDIR).
    for (let i = 0; i < 4000 && !readdirSync('/tmp').some((n) => cid.test(n)) && early.exitCode === null; i++) await new Promise((r) => setTimeout(r, 5));
    early.kill('SIGTERM');
    expect(await closed).toBe(143);
    expect(podman('ps', '-aq').stdout.trim()).toBe('');
    expect(readdirSync('/tmp').filter((n) => cid.test(n))).toEqual([]);

    // A SIGTERM while podman imports an unpacked root (a tarball pack): podman copies the tar
    // into its TMPDIR first, tsdsl's directory, not /var/tmp (an interrupted import left its
    // copy there, 30-45 MB each). The import stops, its copy goes, the run ends 143.
    const temps = join(podmanDir, 'tmp');
    const copying = (): boolean => existsSync(temps) && readdirSync(temps).some((d) => readdirSync(join(temps, d)).some((n) => n.startsWith('podman')));
    // Through the command line, whose exit status says the signal (the driver's says an error).
    const cli = ['setpriv', `--reuid=${user!.uid}`, `--regid=${user!.gid}`, '--clear-groups', '--', process.execPath, BIN, 'run', '-e', 'podman', packs['tarball']!, '--', 'fixture', 'true'];
    const importing = spawn(cli[0]!, cli.slice(1), { env: { PATH: process.env['PATH']!, HOME: user!.home, TSDSL_PACK_CACHE: gcCache, ...env }, cwd: f!.work, stdio: ['ignore', 'pipe', 'pipe'] });
    let importErr = '';
    importing.stderr!.on('data', (d: Buffer) => (importErr += d.toString()));
    const imported = new Promise<number | null>((resolve) => importing.once('close', (code) => resolve(code)));
    for (let i = 0; i < 12000 && !copying() && importing.exitCode === null; i++) await new Promise((r) => setTimeout(r, 5));
    importing.kill('SIGTERM');
    expect(await imported, importErr).toBe(143);
    expect(importErr).toMatch(/interrupted while podman imported .*; the command did not run/);
    expect(readdirSync(temps)).toEqual([]);
    // What a killed one left (kill -9: no clean-up) goes with gc once its tsdsl is gone.
    const left = join(temps, `load-${dead}-ns${PID_NAMESPACE}-abcdef`);
    mkdirSync(left);
    writeFileSync(join(left, 'podman123'), 'x'.repeat(4096));
    execFileSync('chown', ['-R', `${user!.uid}:${user!.gid}`, left]);
    expect(gc('--packs', '--dry-run').stderr).toMatch(/would free [\d.]+ MiB in 0 podman images \(and 1 temporary copy podman left\)/);
    expect(existsSync(left)).toBe(true);
    expect(gc('--packs').stderr).toMatch(/freed [\d.]+ MiB in 0 podman images \(and 1 temporary copy podman left\)/);
    expect(existsSync(left)).toBe(false);
  }, 400_000);
});
