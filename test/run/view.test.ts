// The engines' pure parts: the table, the container view (binds, symlinks, command lookup), the
// argv builders of the engines this host may not have (apptainer, docker), ELF parsing.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import { join, posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTsdslError, type TsdslError } from '../../src/errors.js';
import {
  type RunEngine,
  type RunSpec,
  ENGINE_ORDER,
  autoEngine,
  chooseEngine,
  checkCommand,
  currentHost,
  exitCode,
  findEngine,
  launch,
  planShares,
  resolveInView,
  runEngines,
} from '../../src/run/engines.js';
import { apptainerExecArgs, envFile } from '../../src/run/apptainer.js';
import { ociRunArgs } from '../../src/run/oci.js';
import { elfInterpreter } from '../../src/run/proot.js';
import { nixBase32 } from './fixtures/closure.js';

let dir: string;
let root: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsdsl-run-view-'));
  root = join(dir, 'root');
  const item = join(root, 'tsdsl/store/aaaa-hello-1.0');
  mkdirSync(join(item, 'bin'), { recursive: true });
  writeFileSync(join(item, 'bin/hello'), '#!/bin/dash\n', { mode: 0o755 });
  writeFileSync(join(item, 'bin/dash'), '', { mode: 0o755 }); // hello's interpreter (no `sh`: a pack without a shell)
  symlinkSync('tsdsl/store/aaaa-hello-1.0/bin', join(root, 'bin'));
  mkdirSync(join(root, 'profile'), { recursive: true });
  symlinkSync('/tsdsl/store/aaaa-hello-1.0/bin', join(root, 'profile/bin')); // absolute, as in profiles
  mkdirSync(join(dir, 'share'));
  writeFileSync(join(dir, 'share/data.txt'), 'x');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const spec = (overrides: Partial<RunSpec> = {}): RunSpec => ({
  root,
  storeDir: '/tsdsl/store',
  command: ['hello'],
  env: { PATH: '/bin' },
  cwd: dir,
  ...overrides,
});

describe('the engine table', () => {
  it('lists every engine once, in the documented auto order', () => {
    expect(runEngines().map((e) => e.name)).toEqual([...ENGINE_ORDER]);
    expect(ENGINE_ORDER[0]).toBe('userns');
    expect(ENGINE_ORDER[ENGINE_ORDER.length - 1]).toBe('proot');
    for (const e of runEngines()) expect(e.description.length).toBeGreaterThan(40);
  });

  it('findEngine, suggests close names for a typo', () => {
    expect(findEngine('userns').name).toBe('userns');
    expect(findEngine('auto').name).toBe('auto');
    expect(findEngine('unshare').name).toBe('userns');
    try {
      findEngine('podmn');
      expect.unreachable();
    } catch (e) {
      expect(isTsdslError(e)).toBe(true);
      expect((e as Error).message).toContain('did you mean `podman`');
    }
  });

  it('auto, says for each engine why not when none can run', async () => {
    const no = (name: string, reason: string): RunEngine => ({
      name,
      description: name,
      available: async () => ({ ok: false, reason }),
      run: async () => 0,
    });
    const picky: RunEngine = { ...no('picky', ''), available: async () => ({ ok: true }), accepts: () => ({ ok: false, reason: 'cannot cut the network' }) };
    const engines = [no('a', 'binary missing'), picky, no('c', 'daemon unreachable')];
    await expect(chooseEngine(spec(), engines)).rejects.toThrow(/a\s+binary missing\n\s+picky\s+cannot cut the network\n\s+c\s+daemon unreachable/);
    const ok: RunEngine = { ...no('ok', ''), available: async () => ({ ok: true }), run: async () => 7 };
    expect((await chooseEngine(spec(), [...engines, ok])).engine.name).toBe('ok');
    expect(await autoEngine(currentHost(), [...engines, ok]).run(spec())).toBe(7);
    // An engine whose probe throws (podman's runtime directory not private, say) is passed over.
    const crashing: RunEngine = { ...no('crashing', ''), available: async () => { throw new Error('runtime directory is not private'); } };
    const chosen = await chooseEngine(spec(), [crashing, ok]);
    expect(chosen.engine.name).toBe('ok');
    expect(chosen.tried).toEqual([{ name: 'crashing', ok: false, reason: 'probing it failed: runtime directory is not private' }]);
  });

  it('launch, an aborted run gets SIGTERM and reports 143; pipes carry stdin and stdout', async () => {
    const ac = new AbortController();
    const running = launch({ argv: ['sleep', '30'], env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' }, stdio: 'pipe' }, { signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    expect((await running).code).toBe(143);
    const chunks: Buffer[] = [];
    const stdout = new Writable({
      write(c: Buffer, _e, cb) {
        chunks.push(Buffer.from(c));
        cb();
      },
    });
    const r = await launch({ argv: ['cat'], env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' }, stdio: 'pipe' }, { stdin: 'in and out', stdout });
    expect(r.code).toBe(0);
    expect(Buffer.concat(chunks).toString()).toBe('in and out');
  });

  it('exitCode, 128+n for a signal', () => {
    expect(exitCode(3, null)).toBe(3);
    expect(exitCode(null, 'SIGTERM')).toBe(143);
    expect(exitCode(null, 'SIGINT')).toBe(130);
  });
});

describe('the container view', () => {
  const host = currentHost({ home: '/nonexistent-home' });

  it('resolveInView, follows absolute links from the container root', () => {
    expect(resolveInView(root, [], '/profile/bin/hello')).toBe(join(root, 'tsdsl/store/aaaa-hello-1.0/bin/hello'));
    expect(resolveInView(root, [], '/bin/hello')).toBe(join(root, 'tsdsl/store/aaaa-hello-1.0/bin/hello'));
    expect(resolveInView(root, [], '/bin/nope')).toBeUndefined();
    expect(resolveInView(root, [{ source: join(dir, 'share'), target: '/data', writable: false }], '/data/data.txt')).toBe(join(dir, 'share/data.txt'));
    // A bind below directories the root lacks (a working directory under /tmp/…): the engine
    // makes them as its mount point, so the path is there (podman refused ./script, exit 127).
    expect(resolveInView(root, [{ source: join(dir, 'share'), target: '/work/deep/d', writable: true }], '/work/deep/d/data.txt')).toBe(join(dir, 'share/data.txt'));
    expect(resolveInView(root, [{ source: join(dir, 'share'), target: '/work/deep/d', writable: true }], '/work/other')).toBeUndefined();
  });

  it('checkCommand, a script whose #! interpreter is missing there is one sentence, exit 126', () => {
    const script = join(root, 'tsdsl/store/aaaa-hello-1.0/bin/py-tool');
    writeFileSync(script, '#!/usr/bin/python3 -u\nprint(1)\n', { mode: 0o755 });
    try {
      const s = planShares(spec(), host);
      expect(() => checkCommand(spec({ command: ['py-tool'], isolate: true }), s)).toThrow(/command `py-tool` \(\/bin\/py-tool\) is a script for \/usr\/bin\/python3, which is not inside the container .*, or run it without -C$/);
      // Not isolated (a pack run as it is): the advice is about the pack, and -C is not named.
      expect(() => checkCommand(spec({ command: ['py-tool'] }), s)).toThrow(/is a script for \/usr\/bin\/python3, which is not where the command runs .*; add the package that provides it to the pack \(bash provides \/bin\/sh, in a pack made with -S \/bin=bin\)$/);
    } finally {
      rmSync(script);
    }
  });

  it('checkCommand, a program whose loader is missing there (a prebuilt FHS binary) is one sentence, exit 126', () => {
    // The host's own `true` names the FHS loader, which the fake root does not hold.
    const fhs = join(root, 'tsdsl/store/aaaa-hello-1.0/bin/fhs-true');
    writeFileSync(fhs, readFileSync('/bin/true'), { mode: 0o755 });
    const s = planShares(spec(), host);
    const interpreter = elfInterpreter('/bin/true')!;
    try {
      checkCommand(spec({ command: ['fhs-true'], isolate: true }), s);
      expect.unreachable();
    } catch (e) {
      expect((e as TsdslError).message).toMatch(new RegExp(`command \`fhs-true\` \\(/bin/fhs-true\\) asks for the loader ${interpreter}, which is not inside the container .*prebuilt binary`));
      expect((e as TsdslError).exitCode).toBe(126);
    }
    expect(() => checkCommand(spec({ command: ['/bin/fhs-true'] }), s)).toThrow(/asks for the loader/);
    // With the loader there, it starts.
    mkdirSync(join(root, posix.dirname(interpreter)), { recursive: true });
    writeFileSync(join(root, interpreter), '');
    try {
      expect(() => checkCommand(spec({ command: ['fhs-true'] }), s)).not.toThrow();
    } finally {
      rmSync(join(root, interpreter));
      rmSync(fhs);
    }
  });

  it('planShares, binds the working directory and drops one already visible', () => {
    const s = planShares(spec({ binds: [{ source: dir, target: dir, writable: false }, { source: join(dir, 'share'), target: join(dir, 'share'), writable: true }] }), host);
    expect(s.cwd).toBe(dir);
    // the cwd bind comes first and the --expose of the same directory replaces it (read-only now);
    // the writable directory inside it stays a separate mount
    expect(s.binds).toEqual([
      { source: dir, target: dir, writable: false },
      { source: join(dir, 'share'), target: join(dir, 'share'), writable: true },
    ]);
    const same = planShares(spec({ binds: [{ source: join(dir, 'share'), target: join(dir, 'share'), writable: true }] }), host);
    expect(same.binds).toEqual([{ source: dir, target: dir, writable: true }]);
  });

  it('planShares, rejects a missing source and a relative target', () => {
    expect(() => planShares(spec({ binds: [{ source: join(dir, 'missing'), target: '/x', writable: false }] }), host)).toThrow(/bind source .*missing.* does not exist/);
    expect(() => planShares(spec({ binds: [{ source: dir, target: 'x', writable: false }] }), host)).toThrow(/not an absolute path/);
    // A bind over a parent of the working directory would hide it (the engine then failed to chdir),
    // unless it shows the same host directory.
    const parent = posix.dirname(dir);
    expect(() => planShares(spec({ binds: [{ source: join(dir, 'share'), target: parent, writable: true }] }), host)).toThrow(
      new RegExp(`^--share=.*share=${parent} would hide the working directory ${dir}, which is inside ${parent}; run from another directory`),
    );
    expect(() => planShares(spec({ binds: [{ source: parent, target: parent, writable: true }] }), host)).not.toThrow();
  });

  it('checkCommand, finds names through PATH and symlinks; a typo is one sentence with a suggestion', () => {
    const s = planShares(spec(), host);
    expect(() => checkCommand(spec(), s)).not.toThrow();
    expect(() => checkCommand(spec({ command: ['/profile/bin/hello'] }), s)).not.toThrow();
    expect(() => checkCommand(spec({ command: ['helo'] }), s)).toThrow(/command `helo` not found in PATH=\/bin where the command runs .*did you mean `hello`/);
    expect(() => checkCommand(spec({ command: ['helo'], isolate: true }), s)).toThrow(/command `helo` not found in PATH=\/bin inside the container /);
    expect(() => checkCommand(spec({ command: ['/bin/nope'] }), s)).toThrow(/`\/bin\/nope` does not exist where the command runs/);
    // No command given: a pack without a shell says what to do.
    expect(() => checkCommand(spec({ command: ['sh'] }), s)).toThrow(/there is no shell to start: give the command to run after `--`/);
    // Exit code 127, as a shell's "command not found".
    for (const command of [['helo'], ['/bin/nope']]) {
      try {
        checkCommand(spec({ command }), s);
      } catch (e) {
        expect((e as TsdslError).exitCode).toBe(127);
      }
    }
    // A file without an execute bit: 126 and what to do, by path or found through PATH.
    const plain = join(dir, 'not-executable.sh');
    writeFileSync(plain, 'echo hi\n', { mode: 0o644 });
    try {
      const sp = planShares(spec(), host);
      expect(() => checkCommand(spec({ command: [plain] }), sp)).toThrow(/is not executable \(no x permission\); chmod \+x it/);
      try {
        checkCommand(spec({ command: ['not-executable.sh'], env: { PATH: dir } }), sp);
        expect.unreachable();
      } catch (e) {
        expect((e as TsdslError).exitCode).toBe(126);
      }
    } finally {
      rmSync(plain);
    }
  });
});

describe('argv builders', () => {
  const host = currentHost({ home: dir, uid: 1001, gid: 1001, user: 'someone' });

  it('apptainer, --containall and the working directory when isolated; binds with their mode', () => {
    const iso = apptainerExecArgs(host, spec({ isolate: true, binds: [{ source: join(dir, 'share'), target: '/data', writable: false }] }), '/img.sqfs', '/env');
    expect(iso).toEqual(['exec', '--cleanenv', '--env-file=/env', '--containall', '--net', '--network=none', `--bind=${dir}:${dir}:rw`, `--bind=${join(dir, 'share')}:/data:ro`, `--pwd=${dir}`, '/img.sqfs', 'hello']);
    const shared = apptainerExecArgs(host, spec(), '/img.sqfs', '/env');
    expect(shared).toEqual(['exec', '--cleanenv', '--env-file=/env', `--pwd=${dir}`, '/img.sqfs', 'hello']);
  });

  it('apptainer engine, runs the binary with the env file and returns its exit code (a stand-in binary: none here)', async () => {
    const bin = join(dir, 'fake-apptainer');
    mkdirSync(bin);
    const out = join(dir, 'fake-apptainer-out');
    writeFileSync(
      join(bin, 'apptainer'),
      `#!/bin/sh\nif [ "$1" = --version ]; then echo "apptainer version 1.3.0"; exit 0; fi\nprintf '%s\\n' "$@" > ${out}.argv\nfor a; do case $a in --env-file=*) cp "\${a#--env-file=}" ${out}.env;; esac; done\nexit 42\n`,
      { mode: 0o755 },
    );
    const fakeHost = currentHost({ path: `${bin}:${process.env['PATH']}`, home: '/nonexistent', uid: 0 });
    const engine = findEngine('apptainer', fakeHost);
    expect(await engine.available()).toEqual({ ok: true, detail: 'apptainer version 1.3.0' });
    const image = join(dir, 'img.sqfs');
    writeFileSync(image, '');
    const code = await engine.run(spec({ image, command: ['hello', 'a b'], env: { PATH: '/bin', Q: "it's" } }));
    expect(code).toBe(42);
    expect(readFileSync(`${out}.argv`, 'utf8')).toBe(`exec\n--cleanenv\n${readFileSync(`${out}.argv`, 'utf8').split('\n')[2]}\n--pwd=${dir}\n${image}\nhello\na b\n`);
    expect(readFileSync(`${out}.argv`, 'utf8').split('\n')[2]).toMatch(/^--env-file=\/.*\/env$/);
    expect(readFileSync(`${out}.env`, 'utf8')).toBe(`export PATH='/bin'\nexport Q='it'\\''s'\n`);
  });

  it('docker engine, asks the daemon, loads the archive, runs it and returns the exit code (a stand-in binary)', async () => {
    const bin = join(dir, 'fake-docker');
    mkdirSync(bin);
    const out = join(dir, 'fake-docker-out');
    writeFileSync(
      join(bin, 'docker'),
      `#!/bin/sh\ncase "$1" in\n info) echo 24.0.7;;\n image) exit 1;;\n load) echo "Loaded image: tsdsl/x:latest";;\n run) printf '%s\\n' "$@" > ${out}; exit 7;;\nesac\n`,
      { mode: 0o755 },
    );
    const fakeHost = currentHost({ path: `${bin}:${process.env['PATH']}`, home: '/nonexistent', uid: 1001, gid: 1001, env: { PATH: bin } });
    const engine = findEngine('docker', fakeHost);
    expect(await engine.available()).toEqual({ ok: true, detail: 'Docker daemon 24.0.7' });
    const image = join(dir, 'image.tar');
    writeFileSync(image, '');
    expect(await engine.run(spec({ image, command: ['hello'] }))).toBe(7);
    const recorded = readFileSync(out, 'utf8').split('\n').filter(Boolean);
    expect(recorded[0]).toBe('run');
    expect(recorded).toContain('--user=1001:1001');
    expect(recorded).toContain('--init');
    expect(recorded).toContain('--network=none');
    expect(recorded.slice(-2)).toEqual(['--entrypoint=hello', 'tsdsl/x:latest']);
    const broken = findEngine('docker', currentHost({ path: `${join(dir, 'no-daemon')}:${process.env['PATH']}` }));
    mkdirSync(join(dir, 'no-daemon'));
    writeFileSync(join(dir, 'no-daemon', 'docker'), '#!/bin/sh\necho "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2\nexit 1\n', { mode: 0o755 });
    expect(await broken.available()).toEqual({
      ok: false,
      reason:
        'Docker daemon unreachable: `docker info` failed: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?; fix: start the Docker daemon (systemctl start docker), or use --engine podman',
    });
  });

  it('apptainer env file, quotes values for the shell', () => {
    expect(envFile({ A: "it's", B: 'x y\n$z' })).toBe(`export A='it'\\''s'\nexport B='x y\n$z'\n`);
    expect(() => envFile({ 'A-B': '1' })).toThrow(/only shell names/);
  });

  it('docker, runs as the caller with the command as entrypoint and no network', () => {
    const a = ociRunArgs(host, 'docker', spec({ command: ['hello', '-v'], env: { PATH: '/bin', X: '1' } }), 'img:1', false, ['--init']);
    expect(a).toEqual([
      'run', '--rm', '-i', '--network=none', '--security-opt=label=disable', '--init', '--user=1001:1001',
      '--env=PATH=/bin', '--env=X=1', `--mount=type=bind,source=${dir},target=${dir}`, `--workdir=${dir}`, '--entrypoint=hello', 'img:1', '-v',
    ]);
    // podman gets a writable /tmp of the run's own (an imported pack's is left out, its cache read-only),
    // unless a bind shows a host directory there.
    expect(ociRunArgs(host, 'podman', spec({ command: ['hello'] }), 'img:1', false, [])).toContain('--mount=type=tmpfs,destination=/tmp,tmpfs-mode=1777');
    const tmp = mkdtempSync(join(tmpdir(), 'tsdsl-tmp-bind-'));
    expect(ociRunArgs(host, 'podman', spec({ command: ['hello'], cwd: '/', binds: [{ source: tmp, target: '/tmp', writable: true }] }), 'img:1', false, [])).not.toContain('--mount=type=tmpfs,destination=/tmp,tmpfs-mode=1777');
    rmSync(tmp, { recursive: true });
    // Isolated, $HOME is a tmpfs of the run's own; not when the working directory is $HOME itself
    // (bound there: podman refuses two mounts at one destination), nor one holding it (which shows it).
    const home = join(dir, 'share');
    const homeTmpfs = `--mount=type=tmpfs,destination=${home},tmpfs-mode=0700,U=true`;
    expect(ociRunArgs(host, 'podman', spec({ command: ['hello'], isolate: true, cwd: '/', env: { PATH: '/bin', HOME: home } }), 'img:1', false, [])).toContain(homeTmpfs);
    expect(ociRunArgs(host, 'podman', spec({ command: ['hello'], isolate: true, env: { PATH: '/bin', HOME: home } }), 'img:1', false, [])).not.toContain(homeTmpfs);
    const fromHome = ociRunArgs(host, 'podman', spec({ command: ['hello'], isolate: true, cwd: home, env: { PATH: '/bin', HOME: home } }), 'img:1', false, []);
    expect(fromHome).not.toContain(homeTmpfs);
    expect(fromHome.filter((a) => a.includes(`destination=${home},`) || a.includes(`target=${home},`) || a.endsWith(`target=${home}`))).toHaveLength(1);
    // A $HOME its --mount syntax cannot name is said, as a bind's source is, not left to the image.
    for (const kind of ['podman', 'docker'] as const) {
      expect(() => ociRunArgs(host, kind, spec({ command: ['hello'], isolate: true, cwd: '/', env: { PATH: '/bin', HOME: '/home/a,b' } }), 'img:1', false, [])).toThrow(
        new RegExp(`^engine ${kind} cannot give the container an empty, private \\$HOME \\(/home/a,b\\): its --mount syntax does not allow ',' in paths`),
      );
    }
  });
});

describe('small parsers', () => {
  it('elfInterpreter, reads PT_INTERP; static binaries have none', () => {
    expect(elfInterpreter(process.execPath)).toMatch(/ld-linux/);
    expect(elfInterpreter(join(root, 'bin/hello'))).toBeUndefined(); // a script
  });

  it('nixBase32, matches Nix for a known hash', () => {
    // sha1 of "" (20 bytes) in Nix base32 (cross-checked with src/derivation/hash.ts nix32Encode).
    const sha1 = Buffer.from('da39a3ee5e6b4b0d3255bfef95601890afd80709', 'hex');
    expect(nixBase32(sha1)).toBe('143xibwh31h9bvxzalr0sjvbbvpa6ffs');
  });
});

describe('the podman storage', () => {
  it('is in TSDSL_PACK_CACHE when that is set (gc --packs stays in it), else in the user cache', async () => {
    const { podmanStoragesDir } = await import('../../src/run/podman-storage.js');
    expect(podmanStoragesDir(currentHost({ env: { HOME: '/home/u', TSDSL_PACK_CACHE: '/scratch/packs' } }))).toBe('/scratch/packs/podman');
    expect(podmanStoragesDir(currentHost({ env: { HOME: '/home/u' }, home: '/home/u' }))).toBe('/home/u/.cache/tsdsl/podman');
    expect(podmanStoragesDir(currentHost({ env: { HOME: '/home/u', XDG_CACHE_HOME: '/xdg' } }))).toBe('/xdg/tsdsl/podman');
  });
});
