// Every run engine this host has, exercised for real as the unprivileged user `tsdsltest` on a
// self-contained closure (fixtures/closure.ts): exit codes, signals, the exact environment, stdin,
// isolation, binds, the working directory and uid. Engines the host lacks are skipped with the
// reason their own probe gives.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findEngine, type Bind, type RunSpec } from '../../src/run/engines.js';
import { buildFixture, cannotSwitchUser, makeDockerArchive, runDriver, startDriver, testUser, type Fixture } from './fixtures/closure.js';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
  error?: string;
  tsdsl?: boolean;
}

const skipAll = cannotSwitchUser();
if (skipAll) console.log(`run-engine integration tests skipped: ${skipAll}`);

const f: Fixture | undefined = skipAll ? undefined : buildFixture();
// A file in the test user's $HOME, named for this process: test runs of other checkouts share that
// home and remove their own marker when they end.
const MARKER = `.tsdsl-run-marker-${process.pid}`;
afterAll(() => {
  if (f) rmSync(f.dir, { recursive: true, force: true });
  const u = testUser();
  if (u) rmSync(join(u.home, MARKER), { force: true });
});

/** What each engine may add to the environment (documented in its description). */
interface EngineCase {
  readonly engine: string;
  /** Name of the engine whose availability decides (userns-rootmapped is userns). */
  readonly probe: string;
  readonly extras: readonly string[];
  readonly uid: number;
  /** Whether --expose binds are read-only. */
  readonly readOnlyBinds: boolean;
  /** Whether the engine shows $HOME when not isolated. */
  readonly sharesHome: boolean;
  /** Whether variable names a shell would reject (A-B) pass. */
  readonly oddNames: boolean;
  /** Whether a missing command is caught before starting (directory engines). */
  readonly checksCommand: boolean;
  /** Whether the engine can take the network away (isolated runs have none unless asked). */
  readonly cutsNetwork: boolean;
  root?: string;
  image?: string;
}

const user = testUser();
const uid = user?.uid ?? 1001;
const CASES: EngineCase[] = [
  { engine: 'userns', probe: 'userns', extras: [], uid, readOnlyBinds: true, sharesHome: true, oddNames: true, checksCommand: true, cutsNetwork: true },
  { engine: 'userns-rootmapped', probe: 'userns', extras: [], uid: 0, readOnlyBinds: true, sharesHome: true, oddNames: true, checksCommand: true, cutsNetwork: true },
  { engine: 'userns-old', probe: 'userns', extras: [], uid: 0, readOnlyBinds: true, sharesHome: true, oddNames: true, checksCommand: true, cutsNetwork: true },
  { engine: 'charliecloud', probe: 'charliecloud', extras: ['CH_RUNNING'], uid, readOnlyBinds: false, sharesHome: true, oddNames: true, checksCommand: true, cutsNetwork: false },
  { engine: 'proot', probe: 'proot', extras: ['PWD'], uid, readOnlyBinds: false, sharesHome: true, oddNames: true, checksCommand: true, cutsNetwork: false },
  { engine: 'podman', probe: 'podman', extras: ['HOSTNAME'], uid, readOnlyBinds: true, sharesHome: true, oddNames: true, checksCommand: true, cutsNetwork: true },
  { engine: 'docker', probe: 'docker', extras: ['HOSTNAME'], uid, readOnlyBinds: true, sharesHome: true, oddNames: true, checksCommand: true, cutsNetwork: true },
  { engine: 'apptainer', probe: 'apptainer', extras: ['APPTAINER_*', 'SINGULARITY_*', 'LD_LIBRARY_PATH', 'PS1', 'LANG', 'TERM'], uid, readOnlyBinds: true, sharesHome: true, oddNames: false, checksCommand: false, cutsNetwork: true },
];

// Which engines work here, as the test user — asked of the engines themselves.
const availability = new Map<string, { ok: boolean; reason?: string }>();
if (f) {
  const r = runDriver(f, { mode: 'explain' });
  const report = JSON.parse(r.stdout) as { report: { engines: Array<{ name: string; ok: boolean; reason?: string }> } };
  for (const e of report.report.engines) availability.set(e.name, e.reason === undefined ? { ok: e.ok } : { ok: e.ok, reason: e.reason });

  // charliecloud writes /etc files and mount points into the unpacked image: give it a copy the
  // test user owns (as a pack's cache directory would be).
  const chroot = join(f.dir, 'chroot');
  execFileSync('cp', ['-a', f.root, chroot]);
  execFileSync('chown', ['-R', `${uid}:${user!.gid}`, chroot]);
  CASES.find((c) => c.engine === 'charliecloud')!.root = chroot;
  const archive = makeDockerArchive(f, join(f.dir, 'fixture-docker.tar'));
  CASES.find((c) => c.engine === 'podman')!.image = archive;
  CASES.find((c) => c.engine === 'docker')!.image = archive;
  // a file in $HOME and a directory to bind
  writeFileSync(join(user!.home, MARKER), 'home');
  chownSync(join(user!.home, MARKER), uid, user!.gid);
  mkdirSync(join(f.dir, 'share'));
  writeFileSync(join(f.dir, 'share', 'file'), 'shared-content');
}

for (const c of CASES) {
  const a = availability.get(c.probe);
  const why = skipAll ?? (a && !a.ok ? `engine ${c.probe} is not available here: ${a.reason}` : undefined);
  if (why && !skipAll) console.log(`run-engine tests for ${c.engine} skipped: ${why}`);

  describe.skipIf(why !== undefined)(`engine ${c.engine}`, () => {
    // Isolated runs have no network unless asked; engines that cannot cut it are asked to keep it.
    const ISOLATED: Partial<RunSpec> = c.cutsNetwork ? { isolate: true } : { isolate: true, network: true };
    const spec = (command: string[], more: Partial<RunSpec> = {}): RunSpec => ({
      root: c.root ?? f!.root,
      storeDir: f!.storeDir,
      command,
      env: { PATH: '/bin', HOME: user!.home },
      cwd: f!.work,
      ...(c.image ? { image: c.image } : {}),
      ...more,
    });
    const batch = (jobs: Array<{ spec: RunSpec; stdin?: string }>): Result[] => {
      const r = runDriver(f!, { mode: 'batch', jobs: jobs.map((j) => ({ engine: c.engine, ...j })) });
      if (r.code !== 0) throw new Error(`driver failed (${r.code}): ${r.stderr}`);
      return JSON.parse(r.stdout) as Result[];
    };
    const ok = (r: Result): Result => {
      if (r.error) throw new Error(r.error);
      return r;
    };

    it('returns the exit code (0, 3, 42) and reaches the command by name through PATH', () => {
      const rs = batch([{ spec: spec(['fixture', 'exit', '0']) }, { spec: spec(['fixture', 'exit', '3']) }, { spec: spec([f!.bin, 'exit', '42']) }]);
      expect(rs.map((r) => ok(r).code)).toEqual([0, 3, 42]);
    });

    it('passes the environment exactly (only documented additions)', () => {
      const env: Record<string, string> = { PATH: '/bin', HOME: user!.home, A: '1', SPACED: 'a  b\tc', EMPTY: '', EQ: 'x=y=z', IFS: 'x', DOLLAR: '$HOME' };
      if (c.oddNames) env['A-B'] = 'odd';
      const [r] = batch([{ spec: spec(['fixture', 'env'], { env }) }]);
      const lines = ok(r!).stdout.split('\n').filter(Boolean);
      const got = new Map(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      for (const [k, v] of Object.entries(env)) expect(got.get(k), k).toBe(v);
      const allowed = (k: string): boolean => k in env || c.extras.some((x) => (x.endsWith('*') ? k.startsWith(x.slice(0, -1)) : k === x));
      expect([...got.keys()].filter((k) => !allowed(k))).toEqual([]);
    });

    it('pipes stdin through (stdio pipe and inherit)', () => {
      const [r] = batch([{ spec: spec(['fixture', 'cat']), stdin: 'through a pipe\n' }]);
      expect(ok(r!).stdout).toBe('through a pipe\n');
      const inherit = runDriver(f!, { mode: 'run', job: { engine: c.engine, spec: spec(['fixture', 'cat']) } }, { input: 'through the terminal\n' });
      expect(inherit.stdout).toBe('through the terminal\n');
      expect(inherit.code).toBe(0);
    });

    it('runs in the working directory, as the expected uid', () => {
      const [cwd, id] = batch([{ spec: spec(['fixture', 'cwd']) }, { spec: spec(['fixture', 'id']) }]);
      expect(ok(cwd!).stdout.trim()).toBe(f!.work);
      expect(ok(id!).stdout).toMatch(new RegExp(`^uid=${c.uid} `));
    });

    it('shows $HOME unless isolated', () => {
      const marker = join(user!.home, MARKER);
      const [shared, isolated] = batch([{ spec: spec(['fixture', 'exists', marker]) }, { spec: spec(['fixture', 'exists', marker, '/dev/null', '/proc/self'], ISOLATED) }]);
      if (c.sharesHome) expect(ok(shared!).stdout).toBe(`${marker} yes\n`);
      expect(ok(isolated!).stdout).toBe(`${marker} no\n/dev/null yes\n/proc/self yes\n`);
    });

    it('shows a bind, read-only when exposed', () => {
      const bind: Bind = { source: join(f!.dir, 'share'), target: '/data', writable: !c.readOnlyBinds };
      const [read, write] = batch([{ spec: spec(['fixture', 'read', '/data/file'], { binds: [bind] }) }, { spec: spec(['fixture', 'write', '/data/new', 'x'], { binds: [bind] }) }]);
      expect(ok(read!).stdout).toBe('shared-content');
      if (c.readOnlyBinds) {
        expect(ok(write!).code).not.toBe(0);
        expect(write!.stderr).toMatch(/Read-only file system/);
      }
    });

    it.skipIf(c.cutsNetwork)('refuses what it cannot do: no network, read-only binds', () => {
      const eng = findEngine(c.probe);
      expect(eng.accepts?.(spec(['fixture', 'true'], { isolate: true }))).toMatchObject({ ok: false, reason: expect.stringMatching(/cannot take (the network|it) away \(--container without --network\)/) });
      expect(eng.accepts?.(spec(['fixture', 'true'], { binds: [{ source: f!.dir, target: '/data', writable: false }] }))).toMatchObject({ ok: false, reason: expect.stringMatching(/read-only/) });
    });

    it('the store is read-only inside', () => {
      const [r] = batch([{ spec: spec(['fixture', 'write', `${f!.item}/new`, 'x']) }]);
      if (c.engine !== 'proot') expect(ok(r!).code).not.toBe(0);
    });

    it.skipIf(!c.checksCommand)('a missing command is one sentence, before anything starts', () => {
      const [r] = batch([{ spec: spec(['fixtur', 'true']) }]);
      expect(r!.tsdsl).toBe(true);
      expect(r!.error).toMatch(/command `fixtur` not found in PATH=\/bin where the command runs .*did you mean `fixture`\?/);
    });

    const signalTest = (signal: NodeJS.Signals, expected: number, more: Partial<RunSpec> = {}, startDelayMs = 0) => async () => {
      const child = startDriver(f!, { mode: 'run', job: { engine: c.engine, spec: spec(['fixture', 'sleep'], more), startDelayMs } });
      let out = '';
      let err = '';
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      await new Promise<void>((resolve, reject) => {
        // Podman copies the image into its vfs storage first: slow on a loaded 2-core machine.
        const t = setTimeout(() => reject(new Error(`no "ready" from the command; stderr: ${err}`)), 150_000);
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('ready')) {
            clearTimeout(t);
            resolve();
          }
        });
      });
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      // Podman starts its signal proxy a moment after the container runs: a signal in that
      // instant stops podman itself (exit 1). docs/running.md says so; give the proxy time.
      if (c.engine === 'podman') await new Promise((r) => setTimeout(r, 1500));
      // A run that ended by itself is said with its code and output, not as kill's ESRCH.
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the run ended before the signal was sent (${child.exitCode ?? child.signalCode}); stderr: ${err}`);
      process.kill(child.pid!, signal); // to tsdsl (the driver), which must pass it on
      expect(await exited, err).toBe(expected);
      // The exit status says it; no shell inside the container adds its own "Terminated".
      expect(err).not.toMatch(/^(Terminated|Interrupt)$/m);
    };
    // Podman under a full test run once ended a container a moment after it started (the run was
    // gone before the signal; not seen alone): one more try for podman only.
    const retry = c.engine === 'podman' ? 1 : 0;
    it('SIGTERM sent to tsdsl reaches the command: 143', { timeout: 180_000, retry }, signalTest('SIGTERM', 143));
    it('SIGINT sent to tsdsl reaches the command: 130', { timeout: 180_000, retry }, signalTest('SIGINT', 130));
    it('SIGTERM reaches the command when isolated too', { timeout: 180_000, retry }, signalTest('SIGTERM', 143, ISOLATED));
    // The isolated init starts the command as a background job, which shells start with SIGINT
    // ignored; env --default-signal restores it (the run hung until SIGKILL before).
    it.skipIf(c.probe !== 'userns')('SIGINT reaches the command when isolated too', signalTest('SIGINT', 130, { isolate: true }), 180_000);
    // tsdsl slow right after the command started (onStart records it as a user of the pack and
    // the scratch directory: file writes, long on a busy disk), and the signal sent meanwhile:
    // it was lost (tsdsl died of it, its command ran on holding the output; seen once in CI).
    it.skipIf(c.engine !== 'userns')('a signal sent while tsdsl is busy starting the command reaches it', signalTest('SIGINT', 130, {}, 2000), 60_000);

    it.skipIf(c.probe !== 'userns')('isolated: own PID namespace and a private /tmp', () => {
      // Host PIDs (this test runner's) are not in the fresh /proc; the host's /tmp (holding the
      // fixture's directory) is replaced by a private one.
      const [r] = batch([{ spec: spec(['fixture', 'exists', '/proc/1', `/proc/${process.pid}`, join(f!.dir, 'share'), '/tmp'], { isolate: true }) }]);
      expect(ok(r!).stdout).toBe(`/proc/1 yes\n/proc/${process.pid} no\n${join(f!.dir, 'share')} no\n/tmp yes\n`);
    });

    it('isolated: $HOME is private, empty and writable; a working directory inside it is still shown', () => {
      const home = user!.home;
      const cwd = join(home, `.tsdsl-run-cwd-${process.pid}`);
      mkdirSync(cwd, { recursive: true });
      writeFileSync(join(cwd, 'file'), 'in the cwd');
      execFileSync('chown', ['-R', `${uid}:${user!.gid}`, cwd]);
      const written = join(home, `.tsdsl-run-private-${process.pid}`);
      try {
        const [w, seen, inCwd] = batch([
          { spec: spec(['fixture', 'write', written, 'x'], ISOLATED) },
          { spec: spec(['fixture', 'exists', home, join(home, MARKER)], ISOLATED) },
          { spec: spec(['fixture', 'read', 'file'], { ...ISOLATED, cwd }) },
        ]);
        expect(ok(w!).code).toBe(0);
        expect(ok(seen!).stdout).toBe(`${home} yes\n${join(home, MARKER)} no\n`);
        expect(ok(inCwd!).stdout).toBe('in the cwd');
        // Run from the directory holding $HOME (or from $HOME), it is seen through the working directory, by every engine.
        const [above, at] = batch([
          { spec: spec(['fixture', 'exists', join(home, MARKER)], { ...ISOLATED, cwd: dirname(home) }) },
          { spec: spec(['fixture', 'exists', join(home, MARKER)], { ...ISOLATED, cwd: home }) },
        ]);
        expect(ok(above!).stdout).toBe(`${join(home, MARKER)} yes\n`);
        expect(ok(at!).stdout).toBe(`${join(home, MARKER)} yes\n`);
        // What the command wrote there went with the run.
        expect(existsSync(written)).toBe(false);
      } finally {
        rmSync(cwd, { recursive: true, force: true });
        rmSync(written, { force: true });
      }
    });

    it('isolated: a file and a directory bound inside the private $HOME are shown there', () => {
      const home = user!.home;
      const file: Bind = { source: join(f!.dir, 'share', 'file'), target: join(home, `.tsdsl-run-file-${process.pid}`), writable: !c.readOnlyBinds };
      const dir: Bind = { source: join(f!.dir, 'share'), target: join(home, `.tsdsl-run-dir-${process.pid}`, 'data'), writable: !c.readOnlyBinds };
      const [r, d] = batch([
        { spec: spec(['fixture', 'read', file.target], { ...ISOLATED, binds: [file] }) },
        { spec: spec(['fixture', 'read', join(dir.target, 'file')], { ...ISOLATED, binds: [dir] }) },
      ]);
      expect(ok(r!).stdout).toBe('shared-content');
      expect(ok(d!).stdout).toBe('shared-content');
    });

    it.skipIf(c.engine !== 'charliecloud')("isolated with a ':' in $HOME: refused in one sentence naming $HOME, and no scratch directory left behind", () => {
      const before = new Set(readdirSync('/dev/shm'));
      const [r] = batch([{ spec: spec(['fixture', 'true'], { ...ISOLATED, env: { PATH: '/bin', HOME: '/home/a:b' } }) }]);
      expect(r!.tsdsl).toBe(true);
      expect(r!.error).toMatch(/^engine charliecloud cannot give the container a private \$HOME at \/home\/a:b: ch-run's -b SRC:DST syntax does not allow ':'/);
      expect(readdirSync('/dev/shm').filter((n) => n.startsWith('tsdsl-ch-') && !before.has(n))).toEqual([]);
    });

    it('isolated with the store inside $HOME: $HOME is not made empty over it, and the command runs', () => {
      const above = f!.storeDir.split('/').slice(0, -1).join('/');
      const [r] = batch([{ spec: spec(['fixture', 'exit', '7'], { ...ISOLATED, env: { PATH: '/bin', HOME: above } }) }]);
      expect(ok(r!).code, r!.stderr).toBe(7);
    });

    it('isolated: a file bound into the private /tmp is there (charliecloud refuses it, saying why)', () => {
      const file = join(f!.dir, 'share', 'file');
      const [r] = batch([{ spec: spec(['fixture', 'read', '/tmp/bound-file'], { ...ISOLATED, binds: [{ source: file, target: '/tmp/bound-file', writable: !c.readOnlyBinds }] }) }]);
      // userns mounted the binds over a fresh tmpfs, where X-mount.mkdir makes no file ("mount point does not exist").
      if (c.probe === 'charliecloud') expect(r!.error).toMatch(/ch-run cannot bind the file .*share\/file into its private \/tmp \(it makes mount points there for directories only\); bind its directory, or use --engine userns/);
      else expect(ok(r!).stdout, r!.stderr).toBe('shared-content');
    });

    it.skipIf(c.probe !== 'userns')('network: false leaves only the loopback device', () => {
      const [cut, kept] = batch([{ spec: spec(['fixture', 'read', '/proc/net/dev'], { network: false }) }, { spec: spec(['fixture', 'read', '/proc/net/dev']) }]);
      const devices = (r: Result): string[] => [...ok(r).stdout.matchAll(/^\s*([^\s:]+):/gm)].map((m) => m[1]!);
      expect(devices(cut!)).toEqual(['lo']);
      expect(devices(kept!).length).toBeGreaterThanOrEqual(1);
    });

    it.skipIf(c.probe !== 'userns' && c.probe !== 'proot' && c.probe !== 'podman')('binds paths with blanks and backslashes', () => {
      const odd = join(f!.dir, 'share', 'dir with space\tand\\slash');
      mkdirSync(odd, { recursive: true });
      writeFileSync(join(odd, 'file'), 'odd');
      const [r] = batch([{ spec: spec(['fixture', 'read', '/data x/file'], { binds: [{ source: odd, target: '/data x', writable: !c.readOnlyBinds }] }) }]);
      expect(ok(r!).stdout).toBe('odd');
    });
  });
}

describe.skipIf(skipAll !== undefined || availability.get('podman')?.ok !== true)('podman without an image', () => {
  it('imports the unpacked root as an image and runs it', () => {
    const spec: RunSpec = { root: f!.root, storeDir: f!.storeDir, command: ['fixture', 'exit', '5'], env: { PATH: '/bin' }, cwd: f!.work };
    const r = runDriver(f!, { mode: 'batch', jobs: [{ engine: 'podman', spec }] });
    expect((JSON.parse(r.stdout) as Result[])[0]!.code).toBe(5);
  });
});

describe.skipIf(skipAll !== undefined || availability.get('charliecloud')?.ok !== true)('charliecloud from a docker-archive', () => {
  it('unpacks the image into the cache directory (ch-convert when installed) and runs it', () => {
    const cache = join(f!.dir, 'ch-cache');
    mkdirSync(cache);
    chownSync(cache, uid, user!.gid);
    const spec: RunSpec = {
      root: join(cache, 'image'),
      storeDir: f!.storeDir,
      image: makeDockerArchive(f!, join(f!.dir, 'for-ch.tar')),
      command: ['fixture', 'exit', '6'],
      env: { PATH: '/bin' },
      cwd: f!.work,
    };
    const r = runDriver(f!, { mode: 'batch', jobs: [{ engine: 'charliecloud', spec }, { engine: 'charliecloud', spec: { ...spec, command: ['fixture', 'exit', '7'] } }] });
    const rs = JSON.parse(r.stdout) as Result[];
    expect(rs.map((x) => x.error ?? x.code)).toEqual([6, 7]);
  });
});

// The real pack module's docker-archive, layered (so charliecloud's own layer flattening runs
// too). src/pack/docker.ts is written concurrently by another engineer: skip while it is not ready.
let packed: string | undefined;
let packSkip = skipAll;
if (!packSkip) {
  try {
    const { findPackFormat } = await import('../../src/pack/formats.js');
    const docker = findPackFormat('docker');
    const out = join(f!.dir, 'packed-docker.tar');
    await docker.write(
      {
        storeDir: f!.storeDir,
        items: [f!.glibc, f!.item].map((p) => ({ path: p, physical: join(f!.root, p) })),
        profile: f!.item,
        symlinks: [{ link: '/bin', target: 'bin' }],
        env: { PATH: '/bin' },
        name: 'run-fixture-packed',
        references: new Map([[f!.item, [f!.glibc]], [f!.glibc, []]]),
      },
      { maxLayers: 3 },
      out,
    );
    execFileSync('chmod', ['a+r', out]);
    packed = out;
  } catch (e) {
    packSkip = `the docker pack module (src/pack/docker.ts) is not ready: ${(e as Error).message}`;
    console.log(`packed-image run tests skipped: ${packSkip}`);
  }
}

describe.skipIf(packSkip !== undefined)('a layered image from `tsdsl pack -f docker`', () => {
  it.skipIf(availability.get('podman')?.ok !== true)('runs under podman', () => {
    const spec: RunSpec = { root: f!.root, storeDir: f!.storeDir, image: packed!, command: ['fixture', 'exit', '11'], env: { PATH: '/bin' }, cwd: f!.work };
    const r = runDriver(f!, { mode: 'batch', jobs: [{ engine: 'podman', spec }] });
    const [x] = JSON.parse(r.stdout) as Result[];
    expect(x!.error ?? x!.code).toBe(11);
  });

  it.skipIf(availability.get('charliecloud')?.ok !== true)('runs under charliecloud (layers flattened into the cache directory)', () => {
    const cache = join(f!.dir, 'ch-cache-layered');
    mkdirSync(cache);
    chownSync(cache, uid, user!.gid);
    const spec: RunSpec = { root: join(cache, 'image'), storeDir: f!.storeDir, image: packed!, command: ['fixture', 'exit', '12'], env: { PATH: '/bin' }, cwd: f!.work };
    const r = runDriver(f!, { mode: 'batch', jobs: [{ engine: 'charliecloud', spec }] });
    const [x] = JSON.parse(r.stdout) as Result[];
    expect(x!.error ?? x!.code).toBe(12);
  });
});

describe.skipIf(skipAll !== undefined)('auto', () => {
  it('uses the first available engine and runs the command', () => {
    const spec: RunSpec = { root: f!.root, storeDir: f!.storeDir, command: ['fixture', 'exit', '9'], env: { PATH: '/bin' }, cwd: f!.work };
    const r = runDriver(f!, { mode: 'run', job: { engine: 'auto', spec } });
    expect(r.code).toBe(9);
  });
});
