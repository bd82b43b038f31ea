/**
 * Issue 7's `tsdsl shell` stories on the real stack: packages from the store (built on demand),
 * a command run in their profile, and an interactive shell fed on its standard input with the
 * transformation honoured.
 */
import { describe, expect, it } from 'vitest';
import { build, simpletestSolution, tsdsl } from './helpers.js';

describe('tsdsl shell with the MPI stack', () => {
  it('runs mpirun from a profile of hwloc and Open MPI', () => {
    build(['hwloc', 'openmpi']);
    const r = tsdsl(['shell', 'hwloc', 'openmpi', '--', 'mpirun', '--version']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Open MPI\)? 4\.1\.4/);
  });

  it('gives an interactive shell with MUMPS linked against PT-Scotch', () => {
    const [mumps] = build(['mumps'], ['--with-input=scotch=pt-scotch']);
    // The shell reads its commands from standard input when it is not a terminal.
    const script = [
      'set -e',
      'p=$(command -v dsimpletest)',
      'echo "dsimpletest is $p"',
      'dsimpletest < "${p%/bin/dsimpletest}/share/mumps/examples/input_simpletest_real"',
      'exit 7',
    ].join('\n');
    const r = tsdsl(['shell', 'mumps', '--with-input=scotch=pt-scotch'], { input: script, env: { SHELL: '/bin/sh' }, expectCode: 7 });
    expect(r.code, r.stderr).toBe(7);
    // The profile's dsimpletest is the transformed MUMPS (its bin/ is linked into the profile).
    expect(r.stdout).toMatch(/dsimpletest is \/\S+\/bin\/dsimpletest/);
    simpletestSolution(r.stdout);
    expect(mumps).toMatch(/-mumps-5\.5\.1$/);
  });
});
