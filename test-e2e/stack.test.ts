/**
 * Issue 9's stack built from upstream sources in the sandbox, each package running its upstream
 * tests there (scotch's `make check`, PT-Scotch's `ptcheck`, Open MPI's `make check`, MUMPS's
 * example drivers), each built twice and compared bit for bit (`--rounds=2`); then MUMPS's
 * example solving its shipped input from a chroot that holds nothing but its closure.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { build, physical, runInClosure, simpletestSolution, tsdsl } from './helpers.js';

const STACK = ['metis', 'scotch', 'pt-scotch', 'openblas', 'lapack', 'openmpi', 'scalapack-debian', 'mumps', 'mumps-openmpi'];

describe('the MUMPS stack', () => {
  let outs: Record<string, string> = {};

  it('builds from source with its tests, reproducibly (--rounds=2)', () => {
    const paths = build(STACK, ['--rounds=2']);
    expect(paths).toHaveLength(STACK.length);
    outs = Object.fromEntries(STACK.map((name, i) => [name, paths[i]!]));
    for (const [name, path] of Object.entries(outs)) expect(path).toMatch(new RegExp(`^/tsdsl/store/[0-9a-z]{32}-${name}-`));
  });

  it('MUMPS solves its example from a chroot of its closure alone', () => {
    const mumps = outs['mumps'];
    expect(mumps).toBeDefined();
    const input = readFileSync(join(physical(mumps!), 'share/mumps/examples/input_simpletest_real'), 'utf8');
    const r = runInClosure([mumps!], [`${mumps}/bin/dsimpletest`], { input });
    expect(r.code).toBe(0);
    simpletestSolution(r.stdout);
    const c = runInClosure([mumps!], [`${mumps}/bin/c_example`]);
    expect(c.stdout).toMatch(/Solution is : \(\s*1\.00\s+2\.00\)/);
  });

  it('MUMPS with Open MPI: two ranks solve the example in a chroot of its closure', () => {
    const mumps = outs['mumps-openmpi'];
    const openmpi = outs['openmpi'];
    expect(mumps && openmpi).toBeTruthy();
    const input = readFileSync(join(physical(mumps!), 'share/mumps/examples/input_simpletest_real'), 'utf8');
    const r = runInClosure([mumps!, openmpi!], [`${openmpi}/bin/mpirun`, '-np', '2', `${mumps}/bin/dsimpletest`], {
      input,
      // No ssh in the chroot: start both ranks locally; uid 0 in the user namespace.
      env: { OMPI_MCA_plm: 'isolated', OMPI_MCA_rmaps_base_oversubscribe: 'true', OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', HOME: '/tmp', TMPDIR: '/tmp' },
    });
    simpletestSolution(r.stdout);
    expect(r.code).toBe(0);
  });

  it('--tune: the tuned Scotch is compiled with -march (its makefile sets CFLAGS itself)', () => {
    const [tuned] = build(['scotch'], ['--tune=x86-64-v2']);
    expect(tuned).not.toBe(outs['scotch']);
    const compiles = (extra: string[]) => {
      const log = tsdsl(['log', 'scotch', ...extra]);
      expect(log.code).toBe(0);
      return log.stdout.split('\n').filter((l) => /^gcc .* -c /.test(l));
    };
    const lines = compiles(['--tune=x86-64-v2']);
    expect(lines.length).toBeGreaterThan(50);
    for (const l of lines) expect(l).toContain('-march=x86-64-v2');
    for (const l of compiles([])) expect(l).not.toContain('-march');
  });
});
