import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTsdslError } from '../../src/errors.js';
import { checkSandboxSupport, runSandboxed } from '../../src/build/sandbox.js';
import type { SandboxResult, SandboxSpec } from '../../src/build/sandbox.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../..');
const isRoot = process.getuid?.() === 0;
const support = checkSandboxSupport();
if (!support.ok) console.log(`skipping sandbox tests: ${support.reason}; ${support.fix}`);
const unprivilegedUser = 'tsdsltest';
const haveUser = isRoot && spawnSync('id', ['-u', unprivilegedUser]).status === 0;
if (support.ok && !isRoot) console.log(`skipping the runs as \`${unprivilegedUser}\`: the tests are not running as root, so they cannot switch user`);
else if (support.ok && !haveUser) console.log(`skipping the runs as \`${unprivilegedUser}\`: no such user on this machine`);

const STORE = '/tsdsl/store';
const IN = `${STORE}/${'a'.repeat(32)}-input`;
const OUT = `${STORE}/${'b'.repeat(32)}-output`;

/** Copies host programs and the shared libraries they need (per ldd) into a fresh root: a real rootfs, not the host's. */
function makeRootfs(root: string): void {
  const programs = ['sh', 'cat', 'ls', 'id', 'env', 'sleep', 'true'];
  mkdirSync(join(root, 'bin'), { recursive: true });
  const libs = new Set<string>();
  for (const name of programs) {
    const host = realpathSync(['/bin', '/usr/bin'].map((d) => join(d, name)).find((p) => existsSync(p))!);
    copyFileSync(host, join(root, 'bin', name));
    chmodSync(join(root, 'bin', name), 0o755);
    const listing = execFileSync('ldd', [host], { encoding: 'utf8' });
    for (const m of listing.matchAll(/(?:=>\s+)?(\/\S+)\s+\(0x/g)) libs.add(m[1]!);
  }
  for (const lib of libs) {
    mkdirSync(join(root, dirname(lib)), { recursive: true });
    copyFileSync(lib, join(root, lib));
    chmodSync(join(root, lib), 0o755);
  }
  for (const d of ['', 'bin', ...[...libs].flatMap((l) => dirname(l).split('/').map((_, i, a) => a.slice(0, i + 1).join('/')))]) chmodSync(join(root, d), 0o755);
}

interface Collected extends SandboxResult {
  stdout: string[];
  stderr: string[];
}

/** A test case: a partial spec (no paths, no streams) that both runners can use. */
interface Case {
  command: string[];
  env?: Record<string, string>;
  network?: boolean;
  timeoutMs?: number;
  maxSilentMs?: number;
  abortAfterMs?: number;
}

const CASES: Record<string, Case> = {
  identity: { command: ['/bin/sh', '-c', 'id -u; id -g; echo $$; cat /proc/sys/kernel/hostname; pwd; umask'] },
  isolation: { command: ['/bin/sh', '-c', 'ls /; cat /etc/passwd 2>/dev/null; echo "passwd=$?"; ls /work /root /home 2>/dev/null; echo "host=$?"'] },
  network: { command: ['/bin/cat', '/proc/net/dev'] },
  hostNetwork: { command: ['/bin/cat', '/proc/net/dev'], network: true },
  writes: {
    command: [
      '/bin/sh',
      '-c',
      `for f in /x /bin/x /dev/x /proc/x ${STORE}/new ${IN}/x ${IN}/data /tmp/x /build/x ${OUT}/x; do if (echo data > "$f") 2>/dev/null; then echo "$f ok"; else echo "$f denied"; fi; done; ` +
        `cat ${IN}/data; echo built > ${OUT}/result`,
    ],
  },
  env: { command: ['/bin/env'], env: { PATH: '/bin', HOME: '/homeless-shelter', ODD: "it's \"quoted\" $x `y` \\ \n second line", IFS: ':', LD_LIBRARY_PATH: '/nowhere', PWD: '/build', TZ: 'UTC' } },
  exit: { command: ['/bin/sh', '-c', 'echo to-out; echo to-err >&2; exit 7'] },
  notFound: { command: ['no-such-program'], env: { PATH: '/bin' } },
  segv: { command: ['/bin/sh', '-c', 'ulimit -c 0; ulimit -s 256; f() { f; }; f'] },
  timeout: { command: ['/bin/sh', '-c', '(while :; do echo >> /build/tick-timeout; sleep 0.05; done) & sleep 100'], timeoutMs: 700 },
  silence: { command: ['/bin/sh', '-c', 'echo started; (while :; do echo >> /build/tick-silence; sleep 0.05; done) & sleep 100'], maxSilentMs: 500, timeoutMs: 20_000 },
  abort: { command: ['/bin/sleep', '100'], abortAfterMs: 400 },
};

interface Paths {
  rootfs: string;
  build: string;
  input: string;
  output: string;
}

function specFor(c: Case, p: Paths): SandboxSpec {
  return {
    rootfs: p.rootfs,
    storeDir: STORE,
    storeBinds: [
      { hostPath: p.input, path: IN },
      { hostPath: p.output, path: OUT, writable: true },
    ],
    buildDir: p.build,
    env: c.env ?? { PATH: '/bin' },
    command: c.command,
    ...(c.network === undefined ? {} : { network: c.network }),
    ...(c.timeoutMs === undefined ? {} : { timeoutMs: c.timeoutMs }),
    ...(c.maxSilentMs === undefined ? {} : { maxSilentMs: c.maxSilentMs }),
  };
}

async function collect(c: Case, p: Paths): Promise<Collected> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const ac = new AbortController();
  if (c.abortAfterMs !== undefined) setTimeout(() => ac.abort(), c.abortAfterMs);
  const r = await runSandboxed({ ...specFor(c, p), signal: ac.signal, onLine: (l, s) => (s === 'stdout' ? stdout : stderr).push(l) });
  return { ...r, stdout, stderr };
}

/** The same runs, done by a separate Node process as the unprivileged user, on the built module. */
const RUNNER = `
const [modulePath, configPath] = process.argv.slice(2);
const { runSandboxed } = await import(modulePath);
const { cases, paths, store, input, output } = JSON.parse((await import('node:fs')).readFileSync(configPath, 'utf8'));
const results = {};
for (const [name, c] of Object.entries(cases)) {
  const stdout = [], stderr = [];
  const ac = new AbortController();
  if (c.abortAfterMs !== undefined) setTimeout(() => ac.abort(), c.abortAfterMs);
  const spec = {
    rootfs: paths.rootfs, storeDir: store, buildDir: paths.build, env: c.env ?? { PATH: '/bin' }, command: c.command,
    storeBinds: [{ hostPath: paths.input, path: input }, { hostPath: paths.output, path: output, writable: true }],
    signal: ac.signal, onLine: (l, s) => (s === 'stdout' ? stdout : stderr).push(l),
  };
  for (const k of ['network', 'timeoutMs', 'maxSilentMs']) if (c[k] !== undefined) spec[k] = c[k];
  try {
    results[name] = { ...(await runSandboxed(spec)), stdout, stderr };
  } catch (e) {
    results[name] = { error: String(e && e.message) };
  }
}
process.stdout.write(JSON.stringify(results));
`;

let base: string;
let rootfs: string;
const runners: Record<string, { paths: Paths; results: Record<string, Collected> }> = {};

function makePaths(name: string, uid: number): Paths {
  const dir = join(base, name);
  const p: Paths = { rootfs, build: join(dir, 'build'), input: join(dir, 'input'), output: join(dir, 'output') };
  // Explicit modes: the other user must get in whatever the umask of the test run.
  for (const d of [dir, p.build, p.input, p.output]) {
    mkdirSync(d, { recursive: true });
    chmodSync(d, 0o755);
  }
  writeFileSync(join(p.input, 'data'), 'input data\n');
  chmodSync(join(p.input, 'data'), 0o644);
  if (uid !== process.getuid?.()) {
    chownSync(p.build, uid, uid);
    chownSync(p.output, uid, uid);
  }
  return p;
}

function tickStable(file: string): Promise<boolean> {
  const size = (): number => (existsSync(file) ? statSync(file).size : -1);
  const before = size();
  return new Promise((resolve) => setTimeout(() => resolve(before > 0 && size() === before), 400));
}

beforeAll(async () => {
  if (!support.ok) return;
  base = mkdtempSync(join(tmpdir(), 'tsdsl-sandbox-test-'));
  chmodSync(base, 0o755);
  rootfs = join(base, 'rootfs');
  makeRootfs(rootfs);

  const self = makePaths('self', process.getuid!());
  const results: Record<string, Collected> = {};
  for (const [name, c] of Object.entries(CASES)) results[name] = await collect(c, self);
  runners.self = { paths: self, results };

  if (haveUser) {
    // The unprivileged run imports the built module. Rebuild only when it is stale: the build
    // empties dist/ first, which would break other test files running beside this one.
    const built = join(repo, 'dist/src/build/sandbox.js');
    const sources = ['src/build/sandbox.ts', 'src/errors.ts', 'src/derivation/hash.ts'].map((f) => join(repo, f));
    if (!existsSync(built) || sources.some((f) => statSync(f).mtimeMs > statSync(built).mtimeMs)) {
      execFileSync(process.execPath, [join(repo, 'scripts/build.mjs')], { cwd: repo, env: { ...process.env, TSDSL_BUILD_QUIET: '1' }, stdio: 'inherit' });
    }
    const uid = Number(execFileSync('id', ['-u', unprivilegedUser], { encoding: 'utf8' }).trim());
    const paths = makePaths('user', uid);
    const runner = join(base, 'runner.mjs');
    const config = join(base, 'config.json');
    writeFileSync(runner, RUNNER);
    writeFileSync(config, JSON.stringify({ cases: CASES, paths, store: STORE, input: IN, output: OUT }));
    chmodSync(runner, 0o644);
    chmodSync(config, 0o644);
    const r = spawnSync('runuser', ['-u', unprivilegedUser, '--', process.execPath, runner, join(repo, 'dist/src/build/sandbox.js'), config], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) throw new Error(`runner as ${unprivilegedUser} failed (${r.status}): ${r.stderr}`);
    runners.user = { paths, results: JSON.parse(r.stdout) as Record<string, Collected> };
  }
}, 180_000);

afterAll(() => {
  if (base) rmSync(base, { recursive: true, force: true });
});

const hostInterfaces = readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean).sort();

for (const who of ['self', 'user'] as const) {
  const label = who === 'self' ? `as ${isRoot ? 'root' : 'the current user'}` : `as the unprivileged user ${unprivilegedUser}`;
  const enabled = support.ok && (who === 'self' || haveUser);
  describe.skipIf(!enabled)(`runSandboxed ${label}`, () => {
    const r = (name: string): Collected => {
      const x = runners[who]!.results[name]!;
      if ((x as unknown as { error?: string }).error) throw new Error((x as unknown as { error: string }).error);
      return x;
    };

    it('runs as uid 0, PID 1, host name sandbox, in /build, with umask 022', () => {
      expect(r('identity')).toMatchObject({ code: 0, signal: null, killed: null, stdout: ['0', '0', '1', 'sandbox', '/build', '0022'] });
    });

    it('sees only the root file system and its binds, not the host', () => {
      const x = r('isolation');
      const top = x.stdout.slice(0, x.stdout.indexOf('passwd=1'));
      expect(top.sort()).toEqual(['bin', 'build', 'dev', 'lib', 'lib64', 'proc', 'tmp', 'tsdsl']);
      expect(x.stdout).toContain('passwd=1');
      expect(x.stdout).toContain('host=2');
      expect(x.stdout.join('\n')).not.toContain('root:x:0:0');
    });

    it('has no network but lo, unless asked for it', () => {
      const names = (x: Collected): string[] => x.stdout.slice(2).map((l) => l.split(':')[0]!.trim()).sort();
      expect(names(r('network'))).toEqual(['lo']);
      expect(names(r('hostNetwork'))).toEqual(hostInterfaces);
    });

    it('cannot write its inputs or outside /build, /tmp and its outputs', () => {
      const x = r('writes');
      expect(x.code).toBe(0);
      expect(x.stdout).toEqual([
        '/x denied',
        '/bin/x denied',
        '/dev/x denied',
        '/proc/x denied',
        `${STORE}/new denied`,
        `${IN}/x denied`,
        `${IN}/data denied`,
        '/tmp/x ok',
        '/build/x ok',
        `${OUT}/x ok`,
        'input data',
      ]);
      const p = runners[who]!.paths;
      expect(readFileSync(join(p.output, 'result'), 'utf8')).toBe('built\n');
      expect(readFileSync(join(p.build, 'x'), 'utf8')).toBe('data\n');
      expect(readFileSync(join(p.input, 'data'), 'utf8')).toBe('input data\n');
    });

    it('passes exactly the given environment', () => {
      const lines = r('env').stdout.join('\n');
      const expected = Object.entries(CASES.env!.env!).map(([k, v]) => `${k}=${v}`);
      for (const e of expected) expect(lines).toContain(e);
      // Nothing else: the lines of the listed variables are all there is.
      expect(lines.length).toBe(expected.join('\n').length);
    });

    it('passes exit codes, output streams and signals through', () => {
      expect(r('exit')).toMatchObject({ code: 7, signal: null, stdout: ['to-out'], stderr: ['to-err'] });
      expect(r('notFound').code).toBe(127);
      expect(r('segv')).toMatchObject({ code: null, signal: 'SIGSEGV', killed: null });
    });

    it('kills the whole process tree on timeout', async () => {
      expect(r('timeout')).toMatchObject({ code: null, signal: 'SIGKILL', killed: 'timeout' });
      expect(await tickStable(join(runners[who]!.paths.build, 'tick-timeout'))).toBe(true);
    });

    it('kills the whole process tree when the build is silent too long', async () => {
      expect(r('silence')).toMatchObject({ signal: 'SIGKILL', killed: 'silence', stdout: ['started'] });
      expect(await tickStable(join(runners[who]!.paths.build, 'tick-silence'))).toBe(true);
    });

    it('kills the build when aborted', () => {
      const x = r('abort');
      expect(x).toMatchObject({ signal: 'SIGKILL', killed: 'abort' });
      expect(x.durationMs).toBeLessThan(10_000);
    });
  });
}

describe.skipIf(!support.ok)('runSandboxed set-up', () => {
  it('names a missing store item before starting', async () => {
    const p = { rootfs, build: join(base, 'self/build'), input: join(base, 'nope'), output: join(base, 'self/output') };
    const err = await runSandboxed(specFor({ command: ['/bin/true'] }, p)).catch((e: unknown) => e);
    expect(isTsdslError(err)).toBe(true);
    expect((err as Error).message).toMatch(/store item `.*-input`: host path `.*nope` does not exist/);
  });

  it('reports the failed set-up step', async () => {
    const p = runners.self!.paths;
    // /bin comes read-only from the rootfs, which has no `newfile` to mount on.
    const err = await runSandboxed({ ...specFor({ command: ['/bin/true'] }, p), binds: [{ hostPath: join(p.input, 'data'), path: '/bin/newfile' }] }).catch((e: unknown) => e);
    expect(isTsdslError(err)).toBe(true);
    expect((err as Error).message).toMatch(/the build sandbox could not be set up: "mount the file systems" failed: .*newfile/);
  });

  it('rejects environment names a shell cannot export, and binds over sandbox directories', async () => {
    const p = runners.self!.paths;
    await expect(runSandboxed({ ...specFor({ command: ['/bin/true'] }, p), env: { 'a-b': '1' } })).rejects.toThrow(/`a-b` cannot be passed/);
    await expect(runSandboxed({ ...specFor({ command: ['/bin/true'] }, p), binds: [{ hostPath: p.input, path: '/proc/x' }] })).rejects.toThrow(/would hide/);
  });

  it('writes the log to a file descriptor or a stream', async () => {
    const p = runners.self!.paths;
    const logFile = join(base, 'log.txt');
    const fd = openSync(logFile, 'w');
    const chunks: Buffer[] = [];
    const sink = new PassThrough().on('data', (c: Buffer) => chunks.push(c));
    try {
      const x = await runSandboxed({ ...specFor({ command: ['/bin/sh', '-c', 'echo one; echo two >&2; echo three'] }, p), stdout: fd, stderr: sink });
      expect(x.code).toBe(0);
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(logFile, 'utf8')).toBe('one\nthree\n');
    expect(Buffer.concat(chunks).toString()).toBe('two\n');
  });

  it('a log that cannot be written (a full disk) neither stops reading the builder nor crashes: the run ends with its code', async () => {
    const p = runners.self!.paths;
    // Fails every write as a file on a full file system does, after the first one.
    let writes = 0;
    const full = (autoDestroy = true) =>
      new Writable({
        autoDestroy,
        write(_chunk, _enc, cb) {
          if (writes++ === 0) return cb();
          cb(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
        },
      });
    // Output after the failure on both streams, more than a pipe holds: the builder blocks
    // on a pipe nobody reads, and the run never ends, if the sink's failure stops the reading.
    const lines: string[] = [];
    const script = 'echo first; sleep 0.2; i=0; while [ $i -lt 3000 ]; do echo "out line $i with some padding to fill the pipe"; echo "err line $i with some padding" >&2; i=$((i+1)); done; exit 3';
    // Separate sinks, one shared by both streams, and one that stays undestroyed when it fails.
    for (const sinks of [{ stdout: full(), stderr: full() }, (() => { const s = full(); return { stdout: s, stderr: s }; })(), { stdout: full(false), stderr: full(false) }]) {
      writes = 0;
      lines.length = 0;
      const x = await runSandboxed({ ...specFor({ command: ['/bin/sh', '-c', script] }, p), ...sinks, timeoutMs: 60_000, onLine: (l) => lines.push(l) });
      expect(x).toMatchObject({ code: 3, killed: null });
      // onLine still sees everything (the progress display does not depend on the log).
      expect(lines.length).toBe(6001);
    }
    // A healthy sink shared by runs keeps no listener of theirs once they end.
    const chunks: Buffer[] = [];
    const sink = new PassThrough().on('data', (c: Buffer) => chunks.push(c));
    const listeners = () => ['error', 'drain', 'close'].map((e) => sink.listenerCount(e));
    const before = listeners();
    await Promise.all([1, 2].map(() => runSandboxed({ ...specFor({ command: ['/bin/sh', '-c', 'echo out; echo err >&2'] }, p), stdout: sink, stderr: sink })));
    expect(listeners()).toEqual(before);
    expect(Buffer.concat(chunks).toString().split('\n').sort().join(' ')).toBe(' err err out out');
  }, 120_000);

  it('starts quickly (median of 20 runs of `true`)', async () => {
    const p = runners.self!.paths;
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = process.hrtime.bigint();
      const x = await runSandboxed(specFor({ command: ['/bin/true'] }, p));
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
      expect(x.code).toBe(0);
    }
    times.sort((a, b) => a - b);
    console.log(`sandbox start-up: median ${times[10]!.toFixed(1)} ms, min ${times[0]!.toFixed(1)} ms, max ${times[19]!.toFixed(1)} ms over 20 runs of \`true\``);
    expect(times[10]).toBeLessThan(2000);
  });
});
