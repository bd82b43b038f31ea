/**
 * `tsdsl run` and `tsdsl shell` with the real binary: a hwloc tarball pack run through the
 * engines as an unprivileged user, exit codes passed through, `--explain`, and archives that are
 * refused (not a pack, corrupt, members escaping the cache) with nothing written outside it.
 */
import { randomBytes } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSandboxSupport } from '../../src/build/sandbox.js';
import { deleteTree } from '../../src/store/tree.js';
import { BIN, ROOT, tsdsl } from './helpers.js';

const support = checkSandboxSupport();
if (!support.ok) console.warn(`skipping run tests: ${support.reason}`);
const root = process.env['TSDSL_TEST_ROOT'] ?? join(tmpdir(), 'tsdsl-test-store');
const asUser = process.getuid?.() === 0 && spawnSync('id', ['tsdsltest']).status === 0;

/** Run the CLI as tsdsltest (or as ourselves when there is no such user). */
// Homes made for the test user (each holds an unpacked pack cache): removed after the file.
const homes: string[] = [];
afterAll(() => {
  for (const h of homes) deleteTree(h);
});

function asTester(args: string[], env: Record<string, string> = {}) {
  const home = mkdtempSync(join(tmpdir(), 'tsdsl-runner-'));
  homes.push(home);
  chmodSync(home, 0o777);
  const cmd = asUser
    ? ['runuser', '-u', 'tsdsltest', '--', 'env', `HOME=${home}`, ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, BIN, ...args]
    : ['env', `HOME=${home}`, ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, BIN, ...args];
  return spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', cwd: home, timeout: 300_000 });
}

describe.skipIf(!support.ok)('tsdsl run', () => {
  let pack = '';
  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-runpack-'));
    chmodSync(dir, 0o755);
    pack = join(dir, 'hwloc.tar.gz');
    const r = tsdsl(['pack', 'hwloc', '-S', '/bin=bin', '-o', pack], { env: { TSDSL_ROOT: root }, timeoutMs: 1_100_000 });
    expect(r.code, r.stderr).toBe(0);
    chmodSync(pack, 0o644);
  }, 1_200_000);

  it('runs a program of the pack without root, through userns and PRoot', () => {
    for (const engine of ['auto', 'userns', 'proot']) {
      const r = asTester(['run', `--engine=${engine}`, pack, '--', 'lstopo-no-graphics']);
      expect(r.stderr, engine).toBe('');
      expect(r.stdout, engine).toMatch(/^Machine \(/);
    }
  });

  it('runs a docker-archive and a squashfs image from `tsdsl pack` under charliecloud and podman', () => {
    const dir = join(pack, '..');
    const images: Record<string, string> = {};
    for (const format of ['docker', 'squashfs']) {
      images[format] = join(dir, `hwloc-${format}-image`);
      const r = tsdsl(['pack', 'hwloc', '-S', '/bin=bin', '-f', format, '-o', images[format]!], { env: { TSDSL_ROOT: root }, timeoutMs: 600_000 });
      expect(r.code, r.stderr).toBe(0);
      chmodSync(images[format]!, 0o644);
    }
    const explain = asTester(['run', '--explain', pack]).stdout;
    for (const engine of ['charliecloud', 'podman']) {
      const why = new RegExp(`^\\s*${engine}\\s+no\\s+(.*)$`, 'm').exec(explain);
      if (why) {
        console.log(`tsdsl run --engine=${engine} IMAGE skipped: ${why[1]}`);
        continue;
      }
      for (const format of ['docker', 'squashfs']) {
        const r = asTester(['run', `--engine=${engine}`, images[format]!, '--', 'lstopo-no-graphics']);
        expect(r.stderr, `${engine} ${format}`).toBe('');
        expect(r.stdout, `${engine} ${format}`).toMatch(/^Machine \(/);
        const code = asTester(['run', `--engine=${engine}`, images[format]!, '--', 'lstopo-no-graphics', '/nonexistent/dir/out.xml']);
        expect(code.status, `${engine} ${format}: ${code.stderr}`).toBe(1);
        expect(code.stderr).toMatch(/Failed to export XML/);
        // A misspelt command is said before the runtime starts, as the directory engines say it.
        const typo = asTester(['run', `--engine=${engine}`, images[format]!, '--', 'lstopo-no-graphic']);
        expect(typo.status, `${engine} ${format}: ${typo.stderr}`).toBe(127);
        expect(typo.stderr).toMatch(/^tsdsl: error: command `lstopo-no-graphic` not found in PATH=.* did you mean `lstopo-no-graphics`\?/);
      }
      if (engine === 'podman') {
        // One user, one HOME, two TMPDIRs (a long one too): podman's state does not follow TMPDIR.
        const home = mkdtempSync(join(tmpdir(), 'tsdsl-podman-home-'));
        homes.push(home);
        chmodSync(home, 0o777);
        for (const t of ['a', 'a-much-longer-temporary-directory-name-than-podman-likes-to-see']) {
          const tmp = join(home, t);
          mkdirSync(tmp);
          chmodSync(tmp, 0o777);
          const cmd = [...(asUser ? ['runuser', '-u', 'tsdsltest', '--'] : []), 'env', `HOME=${home}`, `TMPDIR=${tmp}`, 'XDG_RUNTIME_DIR=', process.execPath, BIN, 'run', '--engine=podman', images['docker']!, '--', 'lstopo-no-graphics'];
          const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', cwd: home, timeout: 300_000 });
          expect(r.status, `TMPDIR=${tmp}: ${r.stderr}`).toBe(0);
          expect(r.stdout).toMatch(/^Machine \(/);
        }
      }
    }
    // Apptainer is not packaged for Debian bookworm: its skip says why, from its own probe.
    const apptainer = /^\s*apptainer\s+(works|no)\s+(.*)$/m.exec(explain);
    if (apptainer?.[1] === 'no') {
      console.log(`tsdsl run --engine=apptainer IMAGE skipped: ${apptainer[2]}`);
      const r = asTester(['run', '--engine=apptainer', images['squashfs']!, '--', 'lstopo-no-graphics']);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/the apptainer engine cannot run here: `apptainer` is not on PATH.*; engines that work here: userns.* \(`tsdsl run --explain` says why the others do not\)\n$/);
      expect(r.stderr.split('\n')).toHaveLength(2); // one paragraph
    } else {
      const r = asTester(['run', '--engine=apptainer', images['squashfs']!, '--', 'lstopo-no-graphics']);
      expect(r.stdout).toMatch(/^Machine \(/);
    }
  }, 900_000);

  it('passes the exit code through, and names a missing command', () => {
    const r = asTester(['run', pack, '--', 'lstopo-no-graphics', '/nonexistent/dir/out.xml']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Failed to export XML/);
    const missing = asTester(['run', pack, '--', 'no-such-program']);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/no-such-program/);
  });

  it('--explain reports each engine truthfully', () => {
    const r = asTester(['run', '--explain', pack]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/userns\s+works/);
    expect(r.stdout).toMatch(/docker\s+no\s/);
    // The pack given: what it is and how the engines take it; one that is not there is an error.
    expect(r.stdout).toContain(`${pack} is a tarball pack: every engine runs it unpacked once into the pack cache`);
    expect(asTester(['run', '--explain', '--engine=proot', pack]).stdout).toContain(`${pack} is a tarball pack: proot runs it unpacked once`);
    // A SIF image: only Apptainer/Singularity open it; the others cannot run it at all.
    const sif = join(mkdtempSync(join(tmpdir(), 'tsdsl-sif-')), 'image.sif');
    writeFileSync(sif, Buffer.concat([Buffer.from('#!/usr/bin/env run-singularity\nSIF_MAGIC'), Buffer.alloc(64)]));
    chmodSync(dirname(sif), 0o755);
    chmodSync(sif, 0o644);
    expect(asTester(['run', '--explain', sif]).stdout).toContain(`${sif} is a SIF image: apptainer and singularity run it as it is; the other engines cannot run it`);
    expect(asTester(['run', '--explain', '--engine=userns', sif]).stdout).toContain(`${sif} is a SIF image: userns cannot run it`);
    // A file that is no pack is said to be none, as running it says, not called a tarball pack.
    const notes = join(dirname(sif), 'notes.txt');
    writeFileSync(notes, 'hello\n', { mode: 0o644 });
    const bogus = asTester(['run', '--explain', notes]);
    expect(bogus.status).toBe(1);
    expect(bogus.stderr).toMatch(/notes\.txt` is not a readable tar archive/);
    const absent = asTester(['run', '--explain', `${pack}.missing`]);
    expect(absent.status).toBe(1);
    expect(absent.stderr).toMatch(/pack `.*\.missing` does not exist/);
    const hidden = asTester(['run', '--explain', pack], { PATH: '/nonexistent' });
    expect(hidden.stdout).toMatch(/proot\s+no\s+`proot` is not on PATH/);
    // --engine: that engine alone, and exit 1 when it cannot run here.
    const one = asTester(['run', '--explain', '--engine=userns']);
    expect(one.status).toBe(0);
    expect(one.stdout).toMatch(/^Run engine on this host:\n  userns  works/);
    expect(one.stdout).not.toMatch(/docker|auto would/);
    const no = asTester(['run', '--explain', '--engine=proot'], { PATH: '/nonexistent' });
    expect(no.status).toBe(1);
    expect(no.stdout).toMatch(/proot\s+no\s+`proot` is not on PATH/);
    // Root without CAP_SYS_RESOURCE (a container's root, as here): podman's runc cannot set the
    // container's rlimits, and --explain says so rather than that podman works.
    const capEff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`);
    if (process.getuid?.() === 0 && ((capEff >> 24n) & 1n) === 0n && spawnSync('podman', ['--version']).status === 0) {
      const rootPodman = tsdsl(['run', '--explain', '--engine=podman']);
      expect(rootPodman.code).toBe(1);
      expect(rootPodman.stdout).toMatch(/podman\s+no\s+podman as root sets the container's rlimits, which needs CAP_SYS_RESOURCE, and this root lacks it/);
    } else console.log('podman as root without CAP_SYS_RESOURCE: not this host (not root, the capability held, or no podman)');
  });

  it('refuses archives that are not packs or would write outside the cache', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-badpack-'));
    const cache = join(dir, 'cache');
    writeFileSync(join(dir, 'notes.txt'), 'hello');
    spawnSync('tar', ['-cf', join(dir, 'plain.tar'), '-C', dir, 'notes.txt']);
    expect(tsdsl(['run', join(dir, 'plain.tar'), '--', 'true'], { env: { TSDSL_PACK_CACHE: cache } }).stderr).toMatch(/is not a tsdsl pack/);
    // An OCI layout (pack -f oci) is named as such.
    writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    spawnSync('tar', ['-cf', join(dir, 'oci.tar'), '-C', dir, 'oci-layout']);
    expect(tsdsl(['run', join(dir, 'oci.tar'), '--', 'true'], { env: { TSDSL_PACK_CACHE: cache } }).stderr).toMatch(/is an OCI image \(pack -f oci\), which tsdsl run does not run/);
    writeFileSync(join(dir, 'truncated.tar.gz'), 'not a tarball at all');
    expect(tsdsl(['run', join(dir, 'truncated.tar.gz'), '--', 'true'], { env: { TSDSL_PACK_CACHE: cache } }).stderr).toMatch(/is not a readable tar archive \(tar: This does not look like a tar archive\)/);
    mkdirSync(join(dir, 'tsdsl/store'), { recursive: true });
    spawnSync('tar', ['-cf', join(dir, 'evil.tar'), '-C', dir, '--transform=s,^notes.txt,../../escaped.txt,', 'notes.txt', 'tsdsl/store'], { encoding: 'utf8' });
    const evil = tsdsl(['run', join(dir, 'evil.tar'), '--', 'true'], { env: { TSDSL_PACK_CACHE: cache } });
    expect(evil.stderr).toMatch(/outside the unpacked pack/);
    expect(existsSync(join(dir, 'escaped.txt'))).toBe(false);
    // Only the cache's own lock directory may exist: no entry, no temporary directory.
    expect(existsSync(cache) ? readdirSync(cache).filter((n) => n !== '.locks' && n !== '.users') : []).toEqual([]);
    expect(tsdsl(['run', '--engine=magic', join(dir, 'plain.tar')]).stderr).toMatch(/magic/);
    // A relative cache would be another one from each directory.
    for (const args of [['run', join(dir, 'plain.tar'), '--', 'true'], ['gc', '--packs']]) {
      expect(tsdsl(args, { env: { TSDSL_PACK_CACHE: 'cache' } }).stderr, args[0]).toMatch(/^tsdsl: error: TSDSL_PACK_CACHE `cache` is not absolute; use an absolute path \(e\.g\. TSDSL_PACK_CACHE=\$PWD\/cache\)\n$/);
    }
    // A directory is taken for an unpacked pack only when it holds a store.
    const plain = join(dir, 'plain-dir');
    mkdirSync(plain);
    expect(tsdsl(['run', '--engine=userns', plain, '--', 'true']).stderr).toMatch(/^tsdsl: error: `.*plain-dir` is a directory but not an unpacked pack: it holds no store \(no `\*-profile` item, no \.\/tsdsl\/store\); give a pack made by `tsdsl pack`/);
  });

  it.skipIf(process.getuid?.() !== 0)('a pack cache on a full file system: one line that says so, and nothing left in the cache', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-fullcache-'));
    const cache = join(dir, 'cache');
    mkdirSync(cache);
    mkdirSync(join(dir, 'tsdsl/store/00000000000000000000000000000000-big'), { recursive: true });
    for (let i = 0; i < 8; i++) writeFileSync(join(dir, `tsdsl/store/00000000000000000000000000000000-big/f${i}`), randomBytes(256 << 10));
    spawnSync('tar', ['-cf', join(dir, 'big.tar'), '-C', dir, 'tsdsl']);
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', cache]).status).toBe(0);
    try {
      const r = tsdsl(['run', join(dir, 'big.tar'), '--', 'true'], { env: { TSDSL_PACK_CACHE: cache } });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^tsdsl: error: cannot unpack .*big\\.tar into the pack cache ${cache}: the file system is full \\(No space left on device\\); free some space .*TSDSL_PACK_CACHE[^\\n]*\\n$`));
      expect(readdirSync(cache).filter((n) => n !== '.locks' && n !== '.users')).toEqual([]);
    } finally {
      spawnSync('umount', [cache]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('Ctrl-C while a pack is first unpacked: exit 130, and no half-unpacked directory in the cache', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-intr-pack-'));
    homes.push(dir);
    const cache = join(dir, 'cache');
    // Many files, so that unpacking takes long enough for the signal to land in it on a busy machine.
    const files = join(dir, 'tsdsl/store/00000000000000000000000000000000-many');
    mkdirSync(files, { recursive: true });
    for (let i = 0; i < 80000; i++) writeFileSync(join(files, `f${i}`), `${i}\n`);
    spawnSync('tar', ['-cf', join(dir, 'many.tar'), '-C', dir, 'tsdsl']);
    const tmpNow = () => (existsSync(cache) ? readdirSync(cache).some((n) => n.startsWith('.tmp-')) : false);
    // The process is stopped (SIGSTOP) as soon as its temporary directory is seen; if the
    // directory is still there once it is stopped, the unpacking (synchronous, in the process)
    // is under way, and a SIGINT sent then lands in it when the process goes on (SIGCONT),
    // however loaded the machine. If the unpacking ended first, the cache is emptied and it is
    // tried again.
    const stopped = (pid: number) => /^\d+ \(.*\) [Tt]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    let code: number | null = null;
    let stderr = '';
    for (let attempt = 0; attempt < 5; attempt++) {
      if (existsSync(cache)) spawnSync('chmod', ['-R', 'u+w', cache]);
      rmSync(cache, { recursive: true, force: true });
      const child = spawn(process.execPath, [BIN, 'run', join(dir, 'many.tar'), '--', '/bin/true'], { env: { ...process.env, TSDSL_PACK_CACHE: cache }, stdio: ['ignore', 'ignore', 'pipe'] });
      stderr = '';
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const closed = new Promise<number | null>((done) => child.on('close', done));
      for (let i = 0; i < 6000 && !tmpNow(); i++) await new Promise((r) => setTimeout(r, 1));
      expect(tmpNow()).toBe(true);
      child.kill('SIGSTOP');
      for (let i = 0; i < 1000 && !stopped(child.pid!); i++) await new Promise((r) => setTimeout(r, 1));
      const midway = tmpNow();
      if (midway) child.kill('SIGINT');
      child.kill('SIGCONT');
      code = await closed;
      if (midway) break;
    }
    expect(code, stderr).toBe(130);
    // Only tsdsl got the signal: its tar finished the unpacking, which is kept (and said so).
    expect(stderr).toMatch(/interrupted while unpacking .*many\.tar; it was unpacked whole, and the next run uses it \(.*\/cache\/[0-9a-f]{64}\)/);
    expect(readdirSync(cache).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
    expect(readdirSync(cache).filter((n) => /^[0-9a-f]{64}$/.test(n))).toHaveLength(1);
  }, 120_000);
});

describe.skipIf(!support.ok)('tsdsl shell', () => {
  it('runs a command with the packages, on the host or in a container', () => {
    const env = { TSDSL_ROOT: root };
    const host = tsdsl(['shell', 'hwloc', '--', 'sh', '-c', `lstopo-no-graphics | head -1; test -e ${ROOT}/package.json && echo host-visible`], { env, timeoutMs: 600_000 });
    expect(host.stdout).toMatch(/^Machine \([\s\S]*host-visible/);
    const boxed = tsdsl(['shell', '--container', 'hwloc', '--', 'lstopo-no-graphics'], { env, timeoutMs: 600_000 });
    expect(boxed.stdout).toMatch(/^Machine \(/);
    const code = tsdsl(['shell', 'hwloc', '--', 'sh', '-c', 'exit 7'], { env, timeoutMs: 600_000 });
    expect(code.code).toBe(7);
    // The host's /bin stays visible outside a container: $SHELL is often /bin/bash or /bin/sh.
    const shell = tsdsl(['shell', 'hwloc', '--', '/bin/sh', '-c', 'command -v lstopo-no-graphics'], { env, timeoutMs: 600_000 });
    expect(shell.code, shell.stderr).toBe(0);
    expect(shell.stdout).toMatch(/-profile\/bin\/lstopo-no-graphics$/m);
  }, 700_000);

  // hwloc's closure has no shell: a static build of the run-engine fixture (read, write, env
  // modes) is exposed into the container instead.
  let tools = '';
  beforeAll(() => {
    tools = mkdtempSync(join(tmpdir(), 'tsdsl-shell-tools-'));
    chmodSync(tools, 0o755);
    spawnSync('gcc', ['-static', '-O2', '-o', join(tools, 'probe'), join(ROOT, 'test/run/fixtures/fixture.c')]);
  });

  it('--container cuts the network unless --network: /proc/net/dev lists the host interfaces only then', () => {
    const env = { TSDSL_ROOT: root };
    const devices = (text: string): string[] => [...text.matchAll(/^\s*([^\s:|]+):/gm)].map((m) => m[1]!).sort();
    const host = devices(readFileSync('/proc/net/dev', 'utf8'));
    expect(host.length).toBeGreaterThan(1); // the host has more than the loopback, or the test proves nothing
    const read = ['hwloc', '--', '/tools/probe', 'read', '/proc/net/dev'];
    const boxed = tsdsl(['shell', '--container', `--expose=${tools}=/tools`, ...read], { env, timeoutMs: 600_000 });
    expect(boxed.code, boxed.stderr).toBe(0);
    expect(devices(boxed.stdout)).toEqual(['lo']);
    const shared = tsdsl(['shell', '--container', '--network', `--expose=${tools}=/tools`, ...read], { env, timeoutMs: 600_000 });
    expect(shared.code, shared.stderr).toBe(0);
    expect(devices(shared.stdout)).toEqual(host);
    // Without -C the network is there anyway: -N is refused, as in Guix; -E without --pure or -C warns.
    expect(tsdsl(['shell', '--network', 'hwloc', '--', 'true'], { env }).stderr).toMatch(/-N\/--network keeps the network in a container; without -C\/--container/);
    expect(tsdsl(['shell', '-E', '^HOME$', 'hwloc', '--', 'true'], { env }).stderr).toMatch(/^tsdsl: warning: -E\/--preserve means nothing without --pure or -C\/--container/);
  }, 700_000);

  it('-E/--preserve, --expose and --share in a container', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-shell-binds-'));
    writeFileSync(join(dir, 'in'), 'exposed');
    const env = { TSDSL_ROOT: root, TSDSL_KEEP_ME: 'kept', TSDSL_DROP_ME: 'dropped' };
    const shell = (args: string[]) => tsdsl(['shell', '-C', `--expose=${tools}=/tools`, `--expose=${dir}=/data`, `--share=${dir}=/out`, ...args], { env, timeoutMs: 600_000 });
    const vars = shell(['-E', '^TSDSL_KEEP', 'hwloc', '--', '/tools/probe', 'env']);
    expect(vars.stdout).toMatch(/^TSDSL_KEEP_ME=kept$/m);
    expect(vars.stdout).not.toMatch(/TSDSL_DROP_ME/);
    expect(shell(['hwloc', '--', '/tools/probe', 'env']).stdout).not.toMatch(/TSDSL_KEEP_ME/);
    expect(shell(['hwloc', '--', '/tools/probe', 'read', '/data/in']).stdout).toBe('exposed');
    const ro = shell(['hwloc', '--', '/tools/probe', 'write', '/data/new', 'x']);
    expect(ro.code).not.toBe(0);
    expect(ro.stderr).toMatch(/Read-only file system/);
    const rw = shell(['hwloc', '--', '/tools/probe', 'write', '/out/new', 'written']);
    expect(rw.code, rw.stderr).toBe(0);
    expect(readFileSync(join(dir, 'new'), 'utf8')).toBe('written');
    expect(tsdsl(['shell', '--expose=/no/such/dir', 'hwloc', '--', 'true'], { env }).stderr).toMatch(/--expose=\/no\/such\/dir: `\/no\/such\/dir` does not exist/);
    expect(tsdsl(['shell', '--engine=podman', 'hwloc', '--', 'true'], { env }).stderr).toMatch(/the podman engine cannot run packages from the store .*use --engine=userns or proot/);
  }, 700_000);

  it('shell --pure: the help example runs; coreutils built here runs in a container, the toolchain\'s Debian binaries are said to be host-bound', () => {
    // The help example, with coreutils' own test suite left out: building coreutils is what
    // this test needs, and its tests take most of the time (over 15 minutes on a loaded
    // machine that builds it first).
    const r = tsdsl(['shell', '--pure', 'hwloc', 'coreutils', 'make', '--without-tests=coreutils', '--', 'env'], { env: { TSDSL_ROOT: root, TSDSL_DROP_ME: 'x' }, timeoutMs: 1_200_000 });
    expect(r.code, r.stderr).toBe(0);
    // Debian packages keep programs in usr/bin (make does): it is on PATH too.
    expect(r.stdout).toMatch(/^PATH=.*-profile\/bin:.*-profile\/usr\/bin(:|$)/m);
    expect(r.stdout).not.toMatch(/TSDSL_DROP_ME/);
    // make is the toolchain's Debian binary: it runs here, and the user is told where it does not.
    expect(r.stderr).toMatch(/tsdsl: warning: make@[\d.]+ is one of the bootstrap toolchain's Debian binaries: .*start on a host like Debian 12, and not from a pack/);
    expect(r.stderr).not.toMatch(/coreutils@/);
    // coreutils is built from source against the store's C library: it runs in a container.
    const c = tsdsl(['shell', '-C', 'hwloc', 'coreutils', '--without-tests=coreutils', '--', 'ls', '/'], { env: { TSDSL_ROOT: root }, timeoutMs: 600_000 });
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toMatch(/^tsdsl$/m);
    const m = tsdsl(['shell', '-C', 'hwloc', 'make', '--', 'make', '--version'], { env: { TSDSL_ROOT: root }, timeoutMs: 600_000 });
    expect(m.code).toBe(126);
    expect(m.stderr).toMatch(/not in this container/);
    expect(m.stderr).toMatch(/tsdsl: error: command `make` \(.*-profile\/(usr\/)?bin\/make\) asks for the loader \/lib64\/ld-linux-x86-64\.so\.2, which is not inside the container/);
  }, 2_400_000);

  it('shell --engine=proot shows the store items (read-only by their modes), though PRoot cannot make binds read-only', () => {
    const env = { TSDSL_ROOT: root };
    const r = tsdsl(['shell', '--engine=proot', 'hwloc', '--', 'lstopo-no-graphics', '--version'], { env, timeoutMs: 600_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^lstopo-no-graphics 2\.9\.0$/m);
    // A bind the user asks to be read-only is still refused.
    expect(tsdsl(['shell', '--engine=proot', `--expose=${tools}=/tools`, 'hwloc', '--', 'true'], { env }).stderr).toMatch(/PRoot cannot make the bind of .* read-only; use --share, or userns/);
  }, 700_000);
});
