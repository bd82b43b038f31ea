/**
 * `--tune` and `--with-debug-info` add compiler flags (`$extraCFlags`, which the builder appends
 * to CFLAGS, CXXFLAGS and FFLAGS). A package whose own makefile or flags set the compiler flags
 * ignores those variables, and its "tuned" build would be the generic one under another hash.
 * These tests run each tunable package's own configuration steps (the configure phase, make's
 * reading of the result, the builder's expansion of CMake flags) with the tuned derivation's
 * environment, and check that the flags reach the variables the compilers are called with.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Lowerer } from '../../src/derivation/lower.js';
import { gnuBuilderScript } from '../../src/derivation/builders/gnu.js';
import { transform, getDefaultCollection } from '../../src/transform/api.js';

const c = getDefaultCollection();
/** The CMake builder's script, and its line that exports CFLAGS, CXXFLAGS and FFLAGS with $extraCFlags. */
const CMAKE_BUILDER = gnuBuilderScript('cmake');
const FLAG_EXPORTS = /^export CFLAGS=.*$/m.exec(CMAKE_BUILDER)![0];
const work = mkdtempSync(join(tmpdir(), 'tsdsl-tuning-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The build environment of `spec`, tuned for haswell, with debug info, or neither. */
async function buildEnv(spec: string, how: 'tuned' | 'debug' | 'plain'): Promise<Record<string, string>> {
  const p = c.resolve(spec);
  const name = p.name;
  const t = how === 'tuned' ? transform(p, { tune: 'haswell' }, { collection: c }) : how === 'debug' ? transform(p, { withDebugInfo: [name] }, { collection: c }) : p;
  const l = new Lowerer('/tsdsl/store');
  await l.prepare([t]);
  return { ...l.lower(t).derivation.drv.env };
}

let dirs = 0;
/** Runs `script` with bash in a new directory, in the environment `env` (and the host's PATH). */
function bash(env: Record<string, string>, script: string, setup: (dir: string) => void = () => {}): string {
  const dir = join(work, String(dirs++));
  mkdirSync(dir);
  setup(dir);
  const r = spawnSync('bash', ['-euc', script], { cwd: dir, env: { ...env, PATH: process.env['PATH'] ?? '/usr/bin:/bin' }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bash failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** What make makes of VARS in MAKEFILE, run as the build runs it (the derivation's environment). */
function makeValues(env: Record<string, string>, makefile: string, vars: readonly string[], setup?: (dir: string) => void): string[] {
  const show = `show:\n\t@printf '%s\\n' ${vars.map((v) => `'$(${v})'`).join(' ')}\n`;
  const withShow = (dir: string) => {
    setup?.(dir);
    writeFileSync(join(dir, 'show.mk'), show);
  };
  const out = bash(env, `eval "$configurePhase"\nmake -s -f ${makefile} -f show.mk show`, withShow);
  return out.trimEnd().split('\n');
}

describe('--tune and --with-debug-info reach the compilers', () => {
  it('mumps and mumps-openmpi: OPTF, OPTC and OPTL of the Makefile.inc they write', async () => {
    for (const spec of ['mumps', 'mumps-openmpi']) {
      const vars = ['OPTF', 'OPTC', 'OPTL'];
      const tuned = makeValues(await buildEnv(spec, 'tuned'), 'Makefile.inc', vars);
      expect(tuned, spec).toHaveLength(3);
      for (const v of tuned) expect(v, spec).toMatch(/ -march=haswell$/);
      for (const v of makeValues(await buildEnv(spec, 'debug'), 'Makefile.inc', vars)) expect(v, spec).toMatch(/ -g$/);
      for (const v of makeValues(await buildEnv(spec, 'plain'), 'Makefile.inc', vars)) expect(v, spec).not.toMatch(/-march|-g\b/);
    }
  });

  it("scotch and pt-scotch: the CFLAGS of upstream's Makefile.inc template", async () => {
    // The template's line as Scotch 7.0.3 ships it (src/Make.inc/Makefile.inc.x86-64_pc_linux2).
    const template = (dir: string) => {
      mkdirSync(join(dir, 'src/Make.inc'), { recursive: true });
      writeFileSync(
        join(dir, 'src/Make.inc/Makefile.inc.x86-64_pc_linux2'),
        'EXE\t\t=\nCCS\t\t= gcc\nCFLAGS\t\t= -O3 -DCOMMON_FILE_COMPRESS_GZ -DCOMMON_PTHREAD -DCOMMON_RANDOM_FIXED_SEED -DSCOTCH_RENAME -DSCOTCH_PTHREAD -Drestrict=__restrict -DIDXSIZE64\nLDFLAGS\t\t= -lz -lm -lrt -pthread\n',
      );
    };
    for (const spec of ['scotch', 'scotch+int64', 'pt-scotch']) {
      const [tuned] = makeValues(await buildEnv(spec, 'tuned'), 'src/Makefile.inc', ['CFLAGS'], template);
      expect(tuned, spec).toMatch(/^-O3 -DCOMMON_FILE_COMPRESS_GZ .* -march=haswell$/);
      if (spec.includes('int64')) expect(tuned).toContain('-DINTSIZE64');
      const [debug] = makeValues(await buildEnv(spec, 'debug'), 'src/Makefile.inc', ['CFLAGS'], template);
      expect(debug, spec).toMatch(/ -g$/);
      const [plain] = makeValues(await buildEnv(spec, 'plain'), 'src/Makefile.inc', ['CFLAGS'], template);
      expect(plain, spec).toMatch(/^-O3 -DCOMMON_FILE_COMPRESS_GZ /);
      expect(plain, spec).not.toMatch(/-march|-g\b/);
    }
  });

  it("scalapack: CMAKE_Fortran_FLAGS as the builder expands the package's CMake flags", async () => {
    // The builder's own flag exports and expansion function, run on the package's flag line.
    const expand = /^expand_refs\(\) \{[\s\S]*?^\}$/m.exec(CMAKE_BUILDER)![0];
    const fortranFlags = async (how: 'tuned' | 'debug' | 'plain') => {
      const env = await buildEnv('scalapack', how);
      const line = env['cmakeFlags']!.split('\n').find((f) => f.startsWith('-DCMAKE_Fortran_FLAGS='))!;
      return bash({ ...env, line }, `${FLAG_EXPORTS}\n${expand}\nexpand_refs "$line"`);
    };
    expect(await fortranFlags('tuned')).toBe('-DCMAKE_Fortran_FLAGS=-fallow-argument-mismatch -O2 -march=haswell');
    expect(await fortranFlags('debug')).toBe('-DCMAKE_Fortran_FLAGS=-fallow-argument-mismatch -O2 -g');
    expect(await fortranFlags('plain')).toBe('-DCMAKE_Fortran_FLAGS=-fallow-argument-mismatch -O2');
  });

  it('metis and lapack (CMake, flags from the environment) see the tuned CFLAGS and FFLAGS', async () => {
    // Neither sets CMAKE_C_FLAGS or CMAKE_Fortran_FLAGS, so CMake starts them from $CFLAGS and
    // $FFLAGS, which the builder exports with $extraCFlags appended.
    for (const spec of ['metis', 'lapack']) {
      const env = await buildEnv(spec, 'tuned');
      expect(env['cmakeFlags'], spec).not.toMatch(/CMAKE_(C|CXX|Fortran)_FLAGS=/);
      expect(bash(env, `${FLAG_EXPORTS}\nprintf '%s|%s' "$CFLAGS" "$FFLAGS"`), spec).toBe('-O2 -march=haswell|-O2 -march=haswell');
    }
  });

  it('every tunable package of the collection is one of those checked above', () => {
    const tunable = c.all().filter((p) => p.properties['tunable'] === true).map((p) => p.name);
    expect([...new Set(tunable)].sort()).toEqual(['lapack', 'metis', 'mumps', 'mumps-openmpi', 'pt-scotch', 'scalapack', 'scotch']);
  });
});
