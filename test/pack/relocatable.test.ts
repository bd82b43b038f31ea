/**
 * Relocatable packs (`-R`, `-RR`). The fake closure's tarball is checked member by member and
 * run from a directory that is not `/` as the unprivileged user; then hwloc, built in the shared
 * test store (TSDSL_TEST_ROOT), is packed with `tsdsl pack -R` and `-RR` and its
 * `bin/lstopo-no-graphics` run as `tsdsltest` through user namespaces and through PRoot —
 * chosen by TSDSL_RELOCATABLE_ENGINE, and as the fallback when user namespaces are switched off
 * (`user.max_user_namespaces` set to 0 inside an outer user namespace).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { checkSandboxSupport } from '../../src/build/sandbox.js';
import { removeTree } from '../../src/pack/compress.js';
import { tarball } from '../../src/pack/formats.js';
import { RELOCATABLE_DIR, wrapperScript } from '../../src/pack/relocatable.js';
import { tsdsl } from '../cli/helpers.js';
import { GREETING, makeClosure } from './fixtures/closure.js';
import type { FakeClosure } from './fixtures/closure.js';

const hasUser = spawnSync('id', ['tsdsltest']).status === 0 && process.getuid?.() === 0;
const support = checkSandboxSupport();

/** Runs a shell script as `tsdsltest` (or as the current user when there is none). */
function asUser(script: string, env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const argv = hasUser ? ['runuser', '-u', 'tsdsltest', '--', 'env', ...vars, 'sh', '-c', script] : ['env', ...vars, 'sh', '-c', script];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A directory every user can write to, removed after the test. */
function sharedDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(d, 0o777);
  return d;
}

let base: string;
let closure: FakeClosure;
let dir: string;
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'tsdsl-reloc-closure-'));
  closure = makeClosure(base);
});
afterAll(() => removeTree(base));
beforeEach(() => {
  dir = sharedDir('tsdsl-reloc-');
});
afterEach(() => removeTree(dir));

describe('relocatable tarball (-R)', () => {
  it('replaces the -S link by wrappers, adds the runner, and is reproducible', async () => {
    const a = join(dir, 'a.tar');
    const b = join(dir, 'b.tar');
    await tarball.write(closure.input, { compression: 'none', relocatable: 1 }, a);
    await tarball.write(closure.input, { compression: 'none', relocatable: 1 }, b);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    const rows = spawnSync('tar', ['-tvf', a], { encoding: 'utf8' }).stdout.trim().split('\n');
    const names = rows.map((r) => r.split(/\s+/)[5]);
    expect(names).toContain('./bin/');
    expect(names).toContain(`.${RELOCATABLE_DIR}/run`);
    expect(names).toContain(`.${RELOCATABLE_DIR}/root/`);
    expect(rows.find((r) => r.endsWith(' ./bin/hello'))).toMatch(/^-rwxr-xr-x /);
    const wrapper = spawnSync('tar', ['-xOf', a, './bin/hello'], { encoding: 'utf8' }).stdout;
    expect(wrapper).toBe(wrapperScript(`${closure.paths.profile}/bin/hello`, '/bin'));
    expect(wrapper.startsWith('#!/bin/sh\n')).toBe(true);
  });

  it('runs the program from a directory that is not / as an unprivileged user, in its working directory', async () => {
    const pack = join(dir, 'p.tar');
    await tarball.write(closure.input, { compression: 'none', relocatable: 1 }, pack);
    chmodSync(pack, 0o644);
    const r = asUser(`set -e; cd ${dir}; mkdir -p unpacked/here work; tar xf p.tar -C unpacked/here; cd work; ../unpacked/here/bin/hello; pwd`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${GREETING}${dir}/work\n`);
    // The runner keeps the user's uid (a nested user namespace where util-linux has --map-user)
    // and the process id: a signal sent to it reaches the program, whose status comes back.
    const run = `${dir}/unpacked/here${RELOCATABLE_DIR}/run ${dir}/unpacked/here`;
    const mapUser = spawnSync('unshare', ['--help'], { encoding: 'utf8' }).stdout.includes('--map-user');
    const uid = asUser(`${run} /usr/bin/id -u`);
    expect(uid.stdout.trim()).toBe(hasUser && mapUser ? spawnSync('id', ['-u', 'tsdsltest'], { encoding: 'utf8' }).stdout.trim() : String(process.getuid?.()));
    const signalled = asUser(`${run} /bin/sleep 30 & p=$!; sleep 1; kill -TERM $p; wait $p; echo "status $?"`);
    expect(signalled.stdout).toBe('status 143\n');
  });

  it('refuses a pack without a -S link to a directory of programs, leaving nothing behind', async () => {
    const dest = join(dir, 'none.tar');
    await expect(tarball.write({ ...closure.input, symlinks: [{ link: '/etc', target: 'etc/profile' }] }, { relocatable: 1 }, dest)).rejects.toThrow(
      /-S \/bin=bin/,
    );
    expect(existsSync(dest)).toBe(false);
    await expect(tarball.write(closure.input, { relocatable: 2 }, dest)).rejects.toThrow(/-RR/);
    expect(existsSync(dest)).toBe(false);
  });
});

const root = process.env['TSDSL_TEST_ROOT'] ?? join(tmpdir(), 'tsdsl-test-store');
const env = { TSDSL_ROOT: root };
const slow = { env, timeoutMs: 1_100_000 };

describe.skipIf(!support.ok)('tsdsl pack -R / -RR of hwloc', () => {
  it('-R runs lstopo-no-graphics from any directory as tsdsltest; exit codes pass through', () => {
    const r = tsdsl(['pack', '-R', 'hwloc', '-S', '/bin=bin', '-o', join(dir, 'r.tar.gz'), '-j2'], slow);
    expect(r.code, r.stderr).toBe(0);
    chmodSync(join(dir, 'r.tar.gz'), 0o644);
    const run = asUser(`set -e; cd ${dir}; mkdir -p opt/x w; tar xf r.tar.gz -C opt/x; cd w; ../opt/x/bin/lstopo-no-graphics --of xml topo.xml; ls`);
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('topo.xml\n');
    expect(readFileSync(join(dir, 'w', 'topo.xml'), 'utf8')).toMatch(/<topology/);
    expect(asUser(`${dir}/opt/x/bin/hwloc-calc --no-such-option`).code).not.toBe(0);
    // Found through a relative directory with CDPATH set (cd prints what CDPATH finds): it still runs.
    const cdpath = asUser(`cd ${dir}/opt && CDPATH=${dir}/opt x/bin/lstopo-no-graphics --of xml -`);
    expect([cdpath.code, cdpath.stdout.includes('<topology')]).toEqual([0, true]);
    // Without PRoot in the pack, userns switched off is an explanation, not a crash.
    const off = asUser(`unshare -Ur sh -c 'echo 0 >/proc/sys/user/max_user_namespaces; exec ${dir}/opt/x/bin/lstopo-no-graphics'`);
    expect(off.code).toBe(127);
    expect(off.stderr).toMatch(/max_user_namespaces is 0.*-RR/s);
    // Same closure: the -R pack is reproducible too.
    const again = tsdsl(['pack', '-R', 'hwloc', '-S', '/bin=bin', '-o', join(dir, 'r2.tar.gz')], slow);
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(join(dir, 'r.tar.gz')).equals(readFileSync(join(dir, 'r2.tar.gz')))).toBe(true);
  }, 1_200_000);

  it('-RR falls back to PRoot when user namespaces are off, and says why', () => {
    // Without -o: the default name is not -R's, so the two packs can sit side by side.
    const r = tsdsl(['pack', '-RR', 'hwloc', '-S', '/bin=bin', '-j2'], { ...slow, cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    renameSync(join(dir, 'hwloc-relocatable-proot-pack.tar.gz'), join(dir, 'rr.tar.gz'));
    chmodSync(join(dir, 'rr.tar.gz'), 0o644);
    mkdirSync(join(dir, 'w'), { mode: 0o777 });
    chmodSync(join(dir, 'w'), 0o777);
    expect(asUser(`set -e; cd ${dir}; mkdir x; tar xf rr.tar.gz -C x`).code).toBe(0);
    const lstopo = `${dir}/x/bin/lstopo-no-graphics`;
    // Chosen by the environment variable.
    const forced = asUser(`cd ${dir}/w && ${lstopo}`, { TSDSL_RELOCATABLE_ENGINE: 'proot' });
    expect(forced.stderr).toBe('');
    expect(forced.stdout).toMatch(/^Machine \(/);
    expect(asUser(`${dir}/x/bin/hwloc-calc --no-such-option`, { TSDSL_RELOCATABLE_ENGINE: 'proot' }).code).not.toBe(0);
    // The fallback: user namespaces disabled by sysctl inside an outer namespace.
    const off = asUser(`cd ${dir}/w && unshare -Ur sh -c 'echo 0 >/proc/sys/user/max_user_namespaces; exec ${lstopo} --of xml t.xml'`);
    expect(off.code, off.stderr).toBe(0);
    expect(off.stderr).toMatch(/^lstopo-no-graphics \(relocatable pack\): user namespaces are disabled \(\/proc\/sys\/user\/max_user_namespaces is 0\); running .* under PRoot/);
    expect(readFileSync(join(dir, 'w', 't.xml'), 'utf8')).toMatch(/<topology/);
    const bad = asUser(lstopo, { TSDSL_RELOCATABLE_ENGINE: 'chroot' });
    expect(bad.code).toBe(127);
    expect(bad.stderr).toMatch(/^lstopo-no-graphics \(relocatable pack\): TSDSL_RELOCATABLE_ENGINE=chroot is not an engine/);
  }, 1_200_000);

  it('-R is refused for other formats and without -S; so are other options of other formats', () => {
    expect(tsdsl(['pack', '-R', '-f', 'docker', 'hwloc'], { env }).stderr).toMatch(/-R makes relocatable tarballs/);
    expect(tsdsl(['pack', '-R', 'hwloc'], { env }).stderr).toMatch(/-S \/bin=bin/);
    expect(tsdsl(['pack', '-RRR', 'hwloc', '-S', '/bin=bin'], { env }).stderr).toMatch(/3 times/);
    // A link where the runner lives would replace it.
    for (const link of ['/.tsdsl-relocatable/root', '/.tsdsl-relocatable']) {
      const r = tsdsl(['pack', '-R', 'hwloc', '-S', '/bin=bin', '-S', `${link}=bin`, '-o', join(dir, 'clash.tar.gz')], { env });
      expect(r.stderr).toMatch(new RegExp(`-S ${link}=bin: \`/\.tsdsl-relocatable\` holds the runner of a relocatable pack`));
      expect(existsSync(join(dir, 'clash.tar.gz'))).toBe(false);
    }
    // Other options of some formats only are refused the same way, not dropped.
    expect(tsdsl(['pack', '--image-tag=a:b', 'hwloc'], { env }).stderr).toMatch(/--image-tag applies to -f docker and -f oci images; it does not apply to -f tarball/);
    expect(tsdsl(['pack', '-f', 'squashfs', '--max-layers=3', 'hwloc'], { env }).stderr).toMatch(/--max-layers applies to -f docker and -f oci images; it does not apply to -f squashfs/);
    expect(tsdsl(['pack', '--entry-point=bin/lstopo', 'hwloc'], { env }).stderr).toMatch(/--entry-point applies to images/);
    expect(tsdsl(['pack', '-f', 'docker', '--image-tag=', 'hwloc'], { env }).stderr).toMatch(/--image-tag was given an empty value; give one \(--image-tag=hwloc:2\.9\)/);
    expect(tsdsl(['pack', '-f', 'docker', '--entry-point=', 'hwloc'], { env }).stderr).toMatch(/--entry-point was given an empty value/);
    expect(tsdsl(['pack', '-C', 'lz4', 'hwloc'], { env }).stderr).not.toMatch(/--list-compressors/);
    // A gzipped docker-archive is for docker load only: said before anything is built.
    const gz = tsdsl(['pack', '-f', 'docker', '-C', 'gzip', '-o', '/nonexistent/x.tar.gz', 'hwloc'], { env });
    expect(gz.stderr).toMatch(/^tsdsl: warning: a gzip-compressed docker-archive is for `docker load` only: skopeo 1\.9 and `podman load`/);
    // zstd OCI layers are beyond Debian's umoci: said too.
    const zst = tsdsl(['pack', '-f', 'oci', '-C', 'zstd', '-o', '/nonexistent/x.tar', 'hwloc'], { env });
    expect(zst.stderr).toMatch(/^tsdsl: warning: zstd-compressed OCI layers are read by skopeo and podman, but not by umoci 0\.4/);
  });
});
