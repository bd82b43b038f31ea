/**
 * Issue 9's run stories, as the seed tells them: MUMPS switched to PT-Scotch with one flag,
 * packed, and solving its example on a "supercomputer" — a fresh unprivileged user with neither
 * tsdsl nor node on PATH — through `unshare -mrf chroot`, PRoot, `tsdsl run`, Charliecloud from
 * the docker pack, and the `-RR` pack's own `mpirun` with two ranks (and its PRoot fallback). Every engine must print the
 * same solution. Then the pack twice (identical bytes) and MUMPS rebuilt from a local tarball.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../test/cli/helpers.js';
import { E2E_ROOT, build, physical, runInClosure, simpletestSolution, tsdsl } from './helpers.js';

const asRoot = process.getuid?.() === 0 && spawnSync('id', ['tsdsltest']).status === 0;
if (!asRoot) console.warn('the run stories run as the unprivileged user tsdsltest: run the e2e suite as root where that user exists (.ci/run creates it)');

const work = mkdtempSync(join(tmpdir(), 'tsdsl-stories-'));
chmodSync(work, 0o755);
/** The supercomputer user's home: no tsdsl, no node on its PATH. */
const home = join(work, 'home');

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs a shell script as the fresh user, with a minimal PATH (no node, no tsdsl). */
function onSupercomputer(script: string, input = ''): { code: number | null; stdout: string; stderr: string } {
  const env = ['env', '-i', `HOME=${home}`, 'USER=tsdsltest', 'PATH=/usr/bin:/bin:/usr/sbin:/sbin', 'LC_ALL=C'];
  const r = spawnSync('runuser', ['-u', 'tsdsltest', '--', ...env, 'sh', '-c', `cd "$HOME" && ${script}`], { encoding: 'utf8', input, timeout: 900_000, maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The solution the example printed, checked to be (1, 2, 3, 4, 5) up to rounding. */
const solution = simpletestSolution;

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe.skipIf(!asRoot)('the seed story: MUMPS with PT-Scotch, packed, run without root', () => {
  let input = '';
  const solutions: Record<string, string> = {};
  const pack = join(work, 'mumps-pt.tar.gz');

  beforeAll(() => {
    const [mumps] = build(['mumps']);
    input = readFileSync(join(physical(mumps!), 'share/mumps/examples/input_simpletest_real'), 'utf8');
    spawnSync('install', ['-d', '-o', 'tsdsltest', '-g', 'tsdsltest', home]);
  });
  // The packs and the unpacked copies take a few hundred MB.
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('graphs the transformed stack as HTML', () => {
    const r = tsdsl(['graph', 'mumps', '--with-input=scotch=pt-scotch', '--backend=d3']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/<html/i);
    expect(r.stdout).toContain('pt-scotch');
  });

  it('packs mumps with PT-Scotch (-S /bin=bin -S /lib=lib), twice with identical bytes', () => {
    const r = tsdsl(['pack', 'mumps', '--with-input=scotch=pt-scotch', '-S', '/bin=bin', '-S', '/lib=lib', '-o', pack, '-j2', '--cores=2']);
    expect(r.code).toBe(0);
    // The load check: every program loads from the pack alone.
    expect(r.stderr).not.toMatch(/warning/);
    const again = join(work, 'again.tar.gz');
    expect(tsdsl(['pack', 'mumps', '--with-input=scotch=pt-scotch', '-S', '/bin=bin', '-S', '/lib=lib', '-o', again]).code).toBe(0);
    expect(sha256(again)).toBe(sha256(pack));
    chmodSync(pack, 0o644);
  });

  it('solves the example from the tarball through unshare -mrf chroot', () => {
    // The seed's commands, verbatim.
    const r = onSupercomputer(`mkdir -p .local && tar xf ${q(pack)} -C ~/.local && unshare -mrf chroot ~/.local /bin/dsimpletest`, input);
    expect(r.code, r.stderr).toBe(0);
    solutions['unshare'] = solution(r.stdout);
  });

  it('solves it through PRoot and through tsdsl run', () => {
    const p = onSupercomputer(`proot -r "$HOME/.local" -b /proc /bin/dsimpletest`, input);
    expect(p.code, p.stderr).toBe(0);
    solutions['proot'] = solution(p.stdout);
    const cmd = ['runuser', '-u', 'tsdsltest', '--', 'env', `HOME=${home}`, process.execPath, BIN, 'run', pack, '--', 'dsimpletest'];
    const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', input, cwd: home, timeout: 900_000 });
    expect(r.status, r.stderr).toBe(0);
    solutions['tsdsl run'] = solution(r.stdout);
  });

  it('solves it under Charliecloud from the docker pack (and packs mumps-openmpi in 16 layers)', () => {
    // Issue 6's command: the transformed MUMPS as a docker image of at most 20 layers.
    const image = join(work, 'mumps-pt-docker.tar.gz');
    expect(tsdsl(['pack', '-f', 'docker', '--max-layers=20', 'mumps', '--with-input=scotch=pt-scotch', '-S', '/bin=bin', '-o', image]).code).toBe(0);
    chmodSync(image, 0o644);
    const layers = spawnSync('skopeo', ['inspect', `docker-archive:${image}`], { encoding: 'utf8' });
    expect(layers.status, layers.stderr).toBe(0);
    expect((JSON.parse(layers.stdout) as { Layers: string[] }).Layers.length).toBeLessThanOrEqual(20);
    const cmd = ['runuser', '-u', 'tsdsltest', '--', 'env', `HOME=${home}`, 'USER=tsdsltest', process.execPath, BIN, 'run', '--engine=charliecloud', image, '--', 'dsimpletest'];
    const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', input, cwd: home, timeout: 900_000 });
    expect(r.status, r.stderr).toBe(0);
    solutions['charliecloud'] = solution(r.stdout);

    const layered = join(work, 'mumps-openmpi-docker.tar.gz');
    expect(tsdsl(['pack', '-f', 'docker', '--max-layers=16', 'mumps-openmpi', '-S', '/bin=bin', '-o', layered, '-j2', '--cores=2']).code).toBe(0);
    const inspect = spawnSync('skopeo', ['inspect', `docker-archive:${layered}`], { encoding: 'utf8' });
    expect(inspect.status, inspect.stderr).toBe(0);
    expect((JSON.parse(inspect.stdout) as { Layers: string[] }).Layers.length).toBeLessThanOrEqual(16);
  });

  it('every engine prints the same solution', () => {
    const distinct = new Set(Object.values(solutions));
    expect(Object.keys(solutions).sort()).toEqual(['charliecloud', 'proot', 'tsdsl run', 'unshare']);
    expect([...distinct]).toHaveLength(1);
  });

  it('the -RR pack runs mpirun with two ranks that agree, and runs under its own PRoot', () => {
    const rr = join(work, 'mumps-openmpi-rr.tar.gz');
    const packed = tsdsl(['pack', '-RR', 'mumps-openmpi', 'openmpi', 'bash', '-S', '/bin=bin', '-o', rr, '-j2', '--cores=2']);
    expect(packed.code, packed.stderr).toBe(0);
    // bash is the one built from source, linked against the store's C library, not the
    // toolchain's Debian binary (which asks for the host's /lib64 loader): no load warnings.
    // Open MPI's two profiling scripts ask for /usr/bin/perl (its build's perl is a native
    // input, the bootstrap's, not something to pack): said, and nothing else is.
    const scripts = /^tsdsl: warning: 2 scripts aggregate_profile\.pl, profile2mat\.pl ask for \/usr\/bin\/perl \(its #! line\), which the pack does not hold: .*\n/m;
    expect(packed.stderr).toMatch(scripts);
    expect(packed.stderr.replace(scripts, '')).not.toMatch(/warning/);
    chmodSync(rr, 0o644);
    // uid 0 in the user namespace; no ssh: both ranks start locally and talk through shared memory.
    const mpiEnv = 'OMPI_MCA_plm=isolated OMPI_MCA_rmaps_base_oversubscribe=true OMPI_MCA_btl=self,vader OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 TMPDIR=/tmp';
    const r = onSupercomputer(`mkdir rr && tar xf ${q(rr)} -C rr && cd rr && PATH="$PWD/bin:$PATH" ${mpiEnv} ./bin/mpirun -np 2 dsimpletest`, input);
    expect(r.code, r.stderr).toBe(0);
    expect(solution(r.stdout)).toBe(solutions['unshare']);
    const b = onSupercomputer(`cd rr && ./bin/bash -c 'echo "bash $BASH_VERSION"'`);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toMatch(/^bash 5\.2\.15/);
    const p = onSupercomputer(`cd rr && TSDSL_RELOCATABLE_ENGINE=proot ./bin/mpirun --version`);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/Open MPI\)? 4\./);
  });

  it('rebuilds mumps from a local copy of its tarball (--with-source) and packs it', () => {
    const tarball = readdirSync(join(E2E_ROOT, 'store')).find((n) => n.endsWith('-MUMPS_5.5.1.tar.gz'));
    expect(tarball, 'the fetched MUMPS tarball in the store').toBeDefined();
    copyFileSync(join(E2E_ROOT, 'store', tarball!), join(work, 'MUMPS_5.5.1.tar.gz'));
    const [original] = build(['mumps']);
    const local = tsdsl(['build', '-q', '-j2', '--cores=2', 'mumps', '--with-source=mumps@5.5.1=./MUMPS_5.5.1.tar.gz'], { cwd: work });
    expect(local.code).toBe(0);
    const rebuilt = local.stdout.trim();
    expect(rebuilt).not.toBe(original);
    const r = runInClosure([rebuilt], [`${rebuilt}/bin/dsimpletest`], { input });
    expect(r.code, r.stderr).toBe(0);
    expect(solution(r.stdout)).toBe(solutions['unshare']);
    const packed = tsdsl(['pack', 'mumps', '--with-source=mumps@5.5.1=./MUMPS_5.5.1.tar.gz', '-S', '/bin=bin', '-o', join(work, 'local.tar.gz')], { cwd: work });
    expect(packed.code).toBe(0);
  });
});
