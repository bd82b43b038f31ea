import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defineBuildSystem, definePackage, directInputs, licenses, trivial, withVariants, type Package } from '../../src/dsl/index.js';
import { Collection } from '../../src/registry/collection.js';
import { applyTransformations, findTransformation } from '../../src/transform/options.js';
import { packageMapping, rewriteInputs } from '../../src/transform/rewrite.js';
import { transform } from '../../src/transform/api.js';
import { nameAndVersionFromFile } from '../../src/transform/options.js';
import { dummyPackage } from '../fixtures/dummy.js';
import { tsdsl } from '../cli/helpers.js';

/** A small HPC-shaped collection: mumps → scotch → zlib, metis; pt-scotch; a toolchain. */
function fixture() {
  const zlib = dummyPackage({ name: 'zlib', version: '1.2.13' });
  const make = dummyPackage({ name: 'make', version: '4.3' });
  const gcc = dummyPackage({ name: 'gcc-toolchain', version: '12.2.0', properties: { toolchain: true } });
  const clang = dummyPackage({ name: 'clang-toolchain', version: '15.0.0', properties: { toolchain: true } });
  const gnuLike = defineBuildSystem({
    name: 'gnu',
    description: 'test gnu',
    phases: ['configure', 'build', 'check', 'install'],
    argumentKeys: ['configureFlags'],
    toolchain: () => [gcc],
    tools: () => [make, zlib],
  });
  const mpi = dummyPackage({ name: 'openmpi', version: '4.1.4', inputs: [zlib] });
  const metis = dummyPackage({ name: 'metis', version: '5.1.0', buildSystem: gnuLike });
  const scotch = dummyPackage({ name: 'scotch', version: '7.0.3', inputs: [zlib], buildSystem: gnuLike, source: null, properties: { tunable: true } });
  const ptScotch = scotch.with({ name: 'pt-scotch', propagatedInputs: [mpi] });
  const mumps = dummyPackage({ name: 'mumps', version: '5.5.1', inputs: [metis, scotch], buildSystem: gnuLike });
  const app = dummyPackage({ name: 'app', version: '1.0', inputs: [mumps, scotch] });
  const collection = new Collection([zlib, make, gcc, clang, mpi, metis, scotch, ptScotch, mumps, app]);
  return { zlib, make, gcc, clang, mpi, metis, scotch, ptScotch, mumps, app, collection };
}

function run(root: Package, opts: Array<[string, string]>, collection: Collection, warnings: string[] = []): Package {
  return applyTransformations([root], opts.map(([name, value]) => ({ name, value })), collection, { warn: (w) => warnings.push(w) }, { cwd: process.cwd() })[0]!;
}

function closure(p: Package, deep = false): Package[] {
  const seen = new Set<Package>();
  const visit = (q: Package) => {
    if (seen.has(q)) return;
    seen.add(q);
    for (const d of directInputs(q)) visit(d);
    if (deep) for (const d of [...q.buildSystem.toolchain(), ...q.buildSystem.tools()]) visit(d);
  };
  visit(p);
  return [...seen];
}

describe('packageMapping', () => {
  it('keeps untouched subgraphs as the same objects and diamonds as diamonds', () => {
    const f = fixture();
    const other = dummyPackage({ name: 'zlib-ng' });
    const mapping = packageMapping((p) => (p === f.zlib ? other : p), { cut: (p) => p === f.zlib });
    const app2 = mapping(f.app);
    expect(app2).not.toBe(f.app);
    const mumps2 = app2.inputs[0]!;
    const scotch2 = app2.inputs[1]!;
    expect(mumps2.inputs[1]).toBe(scotch2); // the diamond app → mumps → scotch, app → scotch
    expect(mumps2.inputs[0]).toBe(f.metis); // metis does not depend on zlib: same object
    expect(scotch2.inputs).toEqual([other]);
    expect(mapping.created).toBe(3); // app, mumps, scotch
    expect(f.app.inputs[0]).toBe(f.mumps); // the original is untouched
  });

  it('deep rewrites the implicit inputs of build systems, once per build system', () => {
    const f = fixture();
    const make2 = dummyPackage({ name: 'make', version: '4.4' });
    const mumps2 = packageMapping((p) => (p === f.make ? make2 : p), { deep: true })(f.mumps);
    expect(mumps2.buildSystem.tools()).toContain(make2);
    expect(mumps2.inputs[0]!.buildSystem).toBe(mumps2.buildSystem);
    const shallow = packageMapping((p) => (p === f.make ? make2 : p))(f.mumps);
    expect(shallow).toBe(f.mumps);
  });

  it('says what is wrong with its arguments and with what the function returns, naming the package', () => {
    const f = fixture();
    expect(() => packageMapping(() => undefined as never)(f.mumps)).toThrow(/^packageMapping: the function returned undefined for `\w[\w-]*@[\w.]+`; it must return a package/);
    expect(() => packageMapping((p) => (p === f.zlib ? ('zlib' as never) : p))(f.mumps)).toThrow("packageMapping: the function returned the string 'zlib' for `zlib@1.2.13`; it must return a package");
    expect(() => packageMapping('x' as never)).toThrow(/^packageMapping: the first argument is "x"; give a function/);
    expect(() => packageMapping((p) => p)('mumps' as never)).toThrow(/^packageMapping: the package to map is the string 'mumps', not a package; resolve it first/);
    expect(() => packageMapping((p) => p, { deeep: true } as never)).toThrow(/^packageMapping: unknown field `deeep`; did you mean `deep`/);
    expect(() => rewriteInputs({ scotch: f.ptScotch } as never)).toThrow(/^rewriteInputs: the replacements are .*; give a Map from package to package/);
  });

  it('rebuilt() rewrites a root\'s inputs, not the root, sharing the memo; fn gets the original second', () => {
    const f = fixture();
    const other = dummyPackage({ name: 'zlib-ng' });
    const seen: Array<[string, boolean]> = [];
    const mapping = packageMapping(
      (q, p) => {
        seen.push([p.name, q === p]);
        return p === f.zlib || p === f.scotch ? (p === f.zlib ? other : q.with({ name: 'scotch2' })) : q;
      },
      { cut: (p) => p === f.scotch },
    );
    const scotch = mapping.rebuilt(f.scotch); // cut is not consulted for the root itself
    expect(scotch.name).toBe('scotch');
    expect(scotch.inputs).toEqual([other]);
    const mumps = mapping(f.mumps);
    expect(mumps.inputs[1]!.name).toBe('scotch2'); // fn was given scotch as it was (cut): not rebuilt
    expect(mumps.inputs[1]!.inputs).toEqual([f.zlib]);
    expect(seen).toContainEqual(['scotch', true]);
    expect(mapping.rebuilt(f.scotch)).toBe(scotch);
  });
});

describe('transformation options', () => {
  it('--with-input replaces deep occurrences, keeps the rest, and records provenance', () => {
    const f = fixture();
    const app = run(f.app, [['with-input', 'scotch=pt-scotch']], f.collection);
    const names = closure(app).map((p) => p.name);
    expect(names).toContain('pt-scotch');
    expect(names).not.toContain('scotch');
    expect(app.inputs[0]!.inputs[0]).toBe(f.metis);
    expect(app.properties['transformations']).toEqual([{ option: 'with-input', spec: 'scotch=pt-scotch', cacheable: true }]);
    expect(f.app.properties['transformations']).toBeUndefined();
  });

  it('a root that another root depends on stays one package, recorded, in both graphs', () => {
    const f = fixture();
    const apply = (opts: Array<[string, string]>) =>
      applyTransformations([f.mumps, f.scotch], opts.map(([name, value]) => ({ name, value })), f.collection, { warn: () => {} }, { cwd: process.cwd() });
    // Both change, and mumps's scotch is the recorded root itself (was a second, unrecorded copy).
    for (const opts of [[['without-tests', 'scotch']], [['without-tests', 'zlib']], [['with-configure-flag', 'scotch=--y'], ['tune', 'x86-64-v3']]] as Array<Array<[string, string]>>) {
      const [mumps, scotch] = apply(opts);
      expect(mumps!.inputs[1]).toBe(scotch);
      expect((scotch!.properties['transformations'] as Array<{ option: string }>).map((t) => t.option)).toEqual(opts.map(([o]) => o));
      // zlib, reached through both, is one object too.
      expect(closure(mumps!).filter((p) => p.name === 'zlib')).toHaveLength(1);
    }
    // --with-input replaces the dependencies of each root, not the root: scotch given stays scotch.
    const [mumps, scotch] = apply([['with-input', 'scotch=pt-scotch']]);
    expect(scotch).toBe(f.scotch);
    expect(mumps!.inputs[1]!.name).toBe('pt-scotch');
    // ... and a root's dependency it changes is the one object the other root's graph holds.
    const zlib2 = dummyPackage({ name: 'zlib-ng', version: '2.0' });
    const c = new Collection([...f.collection.all(), zlib2]);
    const [m2, s2] = applyTransformations([f.mumps, f.scotch], [{ name: 'with-input', value: 'zlib=zlib-ng' }], c, { warn: () => {} }, { cwd: process.cwd() });
    expect(m2!.inputs[1]).toBe(s2);
    expect(s2!.inputs[0]!.name).toBe('zlib-ng');
  });

  it('a package an earlier option puts in as an object may be named by a later one', () => {
    const f = fixture();
    const zlibNg = dummyPackage({ name: 'zlib-ng', version: '2.0', variants: { compat: false } });
    const t = transform(f.mumps, { withInput: { zlib: zlibNg }, withoutTests: ['zlib-ng'] }, { collection: f.collection });
    const put = closure(t, true).find((p) => p.name === 'zlib-ng')!;
    expect(put.arguments.tests).toBe(false);
    expect(() => transform(f.mumps, { withInput: { zlib: zlibNg }, withoutTests: ['zlib-ng+compt'] }, { collection: f.collection })).toThrow(/`zlib-ng` has no variant `compt`; did you mean `compat`/);
    // Named before it is put in: still unknown.
    expect(() => transform(f.mumps, ['--without-tests=zlib-ng'], { collection: f.collection })).toThrow(/zlib-ng/);
  });

  it('applyTransformations refuses an option name that is not one, as applyTransformOptions does', () => {
    const f = fixture();
    expect(() => applyTransformations([f.mumps], [{ name: 'withInput', value: 'scotch=pt-scotch' }], f.collection, { warn: () => {} })).toThrow(
      /^applyTransformations\(\): `withInput` is not a transformation option; write `with-input`/,
    );
  });

  it('transform() of a list transforms the packages together, as the command line does', () => {
    const f = fixture();
    const [mumps, scotch] = transform([f.mumps, f.scotch], { withoutTests: ['scotch'] }, { collection: f.collection });
    expect(mumps!.inputs[1]).toBe(scotch);
    expect(scotch!.arguments.tests).toBe(false);
    expect(transform([f.mumps], ['--without-tests=scotch'], { collection: f.collection })).toHaveLength(1);
  });

  it('--with-input reaches implicit inputs (deep)', () => {
    const f = fixture();
    const zlib2 = dummyPackage({ name: 'zlib-ng', version: '2.0' });
    const c = new Collection([...f.collection.all(), zlib2]);
    const mumps = run(f.mumps, [['with-input', 'zlib=zlib-ng']], c);
    expect(mumps.buildSystem.tools().map((p) => p.name)).toEqual(['make', 'zlib-ng']);
    expect(closure(mumps, true).map((p) => p.name)).not.toContain('zlib');
  });

  it('matches versions by dot components', () => {
    const f = fixture();
    const warnings: string[] = [];
    expect(closure(run(f.app, [['with-input', 'scotch@7.0=pt-scotch']], f.collection)).map((p) => p.name)).toContain('pt-scotch');
    expect(() => run(f.app, [['with-input', 'scotch@7.01=pt-scotch']], f.collection)).toThrow(/`scotch` has no version matching `7.01`; available: 7.0.3/);
    const same = run(f.app, [['with-input', 'openmpi=pt-scotch']], f.collection, warnings);
    expect(same).toBe(f.app);
    expect(warnings[0]).toMatch(/--with-input=openmpi=pt-scotch had no effect on `app@1.0`/);
  });

  it('applies options in command-line order', () => {
    const f = fixture();
    // Tests off for scotch, then scotch → pt-scotch: the replacement keeps its tests.
    const a = run(f.app, [['without-tests', 'scotch'], ['with-input', 'scotch=pt-scotch']], f.collection);
    expect(closure(a).find((p) => p.name === 'pt-scotch')!.arguments.tests).toBeUndefined();
    // The other order: pt-scotch is in the graph when tests are turned off; scotch is gone.
    const warnings: string[] = [];
    const b = run(f.app, [['with-input', 'scotch=pt-scotch'], ['without-tests', 'scotch']], f.collection, warnings);
    expect(closure(b).find((p) => p.name === 'pt-scotch')!.arguments.tests).toBeUndefined();
    expect(warnings).toHaveLength(1);
    const c = run(f.app, [['with-input', 'scotch=pt-scotch'], ['without-tests', 'pt-scotch']], f.collection);
    expect(closure(c).find((p) => p.name === 'pt-scotch')!.arguments.tests).toBe(false);
  });

  it('--with-configure-flag, --with-debug-info, --tune and --with-graft record their effects', () => {
    const f = fixture();
    const zlib2 = dummyPackage({ name: 'zlibp', version: '1.2.1' });
    const c = new Collection([...f.collection.all(), zlib2]);
    const app = run(
      f.app,
      [
        ['with-configure-flag', 'scotch=--with-x=y'],
        ['with-debug-info', 'scotch'],
        ['tune', 'x86-64-v3'],
        ['with-graft', 'zlib=zlibp'],
      ],
      c,
    );
    const scotch = closure(app).find((p) => p.name === 'scotch')!;
    expect(scotch.arguments.configureFlags).toEqual(['--with-x=y']);
    expect(scotch.arguments.stripBinaries).toBe(false);
    expect(scotch.properties['debugInfo']).toBe(true);
    expect(scotch.properties['tune']).toBe('x86-64-v3');
    // As Guix: a tuned package's tests do not run (the builder may not run code for that CPU).
    expect(scotch.arguments.tests).toBe(false);
    expect(scotch.inputs[0]!.replacement).toBe(zlib2);
    expect((app.properties['transformations'] as unknown[]).length).toBe(4);
  });

  it('--tune=native is recorded as the CPU it resolved to; --with-configure-flag warns of a configure phase of its own', () => {
    const f = fixture();
    const tuned = run(f.app, [['tune', 'native']], f.collection);
    const cpu = closure(tuned).find((p) => p.name === 'scotch')!.properties['tune'];
    expect(cpu).toMatch(/^x86-64/);
    expect(tuned.properties['transformations']).toEqual([{ option: 'tune', spec: cpu, cacheable: true }]);
    const own = f.metis.with({ arguments: { phases: { configure: 'cmake .' } } });
    const warnings: string[] = [];
    run(own, [['with-configure-flag', 'metis=--x']], new Collection([...f.collection.all().filter((p) => p !== f.metis), own]), warnings);
    expect(warnings).toEqual([expect.stringMatching(/^--with-configure-flag=metis=--x: `metis@5\.1\.0` replaces the configure phase with its own, which does not read configureFlags/)]);
  });

  it('a replacement already among the inputs is kept once', () => {
    const f = fixture();
    const app = run(f.mumps, [['with-input', 'scotch=metis']], f.collection);
    expect(app.inputs.map((p) => p.name)).toEqual(['metis']);
  });

  it('--with-c-toolchain changes the package and its dependents, not its dependencies', () => {
    const f = fixture();
    const app = run(f.app, [['with-c-toolchain', 'scotch=clang-toolchain']], f.collection);
    const all = closure(app);
    const byName = (n: string) => all.find((p) => p.name === n)!;
    expect(byName('scotch').buildSystem.toolchain().map((p) => p.name)).toEqual(['clang-toolchain']);
    expect(byName('mumps').buildSystem.toolchain().map((p) => p.name)).toEqual(['clang-toolchain']);
    expect(byName('metis').buildSystem.toolchain().map((p) => p.name)).toEqual(['gcc-toolchain']);
    // The toolchain a package has already: nothing changes, and the warning says so.
    const warnings: string[] = [];
    expect(run(f.app, [['with-c-toolchain', 'scotch=gcc-toolchain']], f.collection, warnings)).toBe(f.app);
    expect(warnings).toEqual([expect.stringMatching(/^--with-c-toolchain=scotch=gcc-toolchain had no effect/)]);
  });

  it('--with-c-toolchain with a toolchain that leaves the bag as it was (a Fortran compiler propagating the same C toolchain, already a native input) has no effect, and says so', () => {
    const f = fixture();
    const fortran = dummyPackage({ name: 'gfortran', version: '12.2.0', propagatedInputs: [f.gcc] });
    const scotch = f.scotch.with({ nativeInputs: [fortran] });
    const c = new Collection([...f.collection.all().filter((p) => p !== f.scotch), fortran, scotch]);
    const warnings: string[] = [];
    expect(run(scotch, [['with-c-toolchain', 'scotch=gfortran']], c, warnings)).toBe(scotch);
    expect(warnings).toEqual([expect.stringMatching(/^--with-c-toolchain=scotch=gfortran had no effect on `scotch@7\.0\.3`/)]);
    // Without it among the native inputs, the bag changes (the compiler is added): an effect.
    const warned: string[] = [];
    expect(run(f.scotch, [['with-c-toolchain', 'scotch=gfortran']], new Collection([...f.collection.all(), fortran]), warned).buildSystem.toolchain()).toEqual([fortran]);
    expect(warned).toEqual([]);
  });

  it('--without-tests of a package tsdsl assembles itself (a union, a Debian binary) has no effect, and says so', () => {
    const union = defineBuildSystem({ name: 'union', description: 'a symlink union', phases: ['install'] });
    const bundle = dummyPackage({ name: 'bundle', buildSystem: union });
    const warnings: string[] = [];
    expect(run(bundle, [['without-tests', 'bundle']], new Collection([bundle]), warnings)).toBe(bundle);
    expect(warnings).toEqual(['--without-tests=bundle had no effect on `bundle@1.0`']);
  });

  it('--with-c-toolchain refuses a package that is not a toolchain, and lists the ones there are', () => {
    const f = fixture();
    expect(() => run(f.app, [['with-c-toolchain', 'scotch=metis']], f.collection)).toThrow(
      /--with-c-toolchain=scotch=metis: `metis` is not a C toolchain: .* marked `properties: \{ toolchain: true \}`.*Toolchains known here: clang-toolchain, gcc-toolchain\./,
    );
    // A toolchain with extra packages (as gcc-toolchain,gfortran) is one.
    expect(() => run(f.app, [['with-c-toolchain', 'scotch=metis,clang-toolchain']], f.collection)).not.toThrow();
  });

  it('--with-source infers name and version from the file name, and --with-patch adds a patch', () => {
    const f = fixture();
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-src-'));
    writeFileSync(join(dir, 'scotch-7.1.0rc1.tar.gz'), 'not really a tarball');
    writeFileSync(join(dir, 'fix.patch'), '--- a\n+++ b\n');
    const app = run(f.app, [['with-source', join(dir, 'scotch-7.1.0rc1.tar.gz')]], f.collection);
    const scotch = closure(app).find((p) => p.name === 'scotch')!;
    expect(scotch.version).toBe('7.1.0rc1');
    expect(scotch.source).toMatchObject({ kind: 'local', path: join(dir, 'scotch-7.1.0rc1.tar.gz') });
    // The version comes from the file even when its name is another, as in Guix.
    writeFileSync(join(dir, 'mysrc-7.5.tar.gz'), 'not really a tarball');
    const other = run(f.app, [['with-source', `scotch=${join(dir, 'mysrc-7.5.tar.gz')}`]], f.collection);
    expect(closure(other).find((p) => p.name === 'scotch')!.version).toBe('7.5');
    // A file name without a version names the package, whose version stays (as in Guix).
    writeFileSync(join(dir, 'scotch.tar.gz'), 'not really a tarball');
    const unversioned = closure(run(f.app, [['with-source', join(dir, 'scotch.tar.gz')]], f.collection)).find((p) => p.name === 'scotch')!;
    expect([unversioned.version, unversioned.source]).toMatchObject([f.scotch.version, { kind: 'local', path: join(dir, 'scotch.tar.gz') }]);
    const patched = run(app, [['with-patch', `scotch=${join(dir, 'fix.patch')}`]], f.collection);
    expect(closure(patched).find((p) => p.name === 'scotch')!.source!.patches).toEqual([join(dir, 'fix.patch')]);
    // --with-source after --with-patch: the patch goes with the old source, and that is said.
    const warnings: string[] = [];
    const lost = run(app, [['with-patch', `scotch=${join(dir, 'fix.patch')}`], ['with-source', `scotch=${join(dir, 'mysrc-7.5.tar.gz')}`]], f.collection, warnings);
    expect(closure(lost).find((p) => p.name === 'scotch')!.source!.patches).toEqual([]);
    expect(warnings).toEqual([
      `--with-source=scotch=${join(dir, 'mysrc-7.5.tar.gz')}: the source of \`scotch@7.1.0rc1\` it replaces had a patch (fix.patch), which the new source does not get; to apply it, give --with-patch after --with-source`,
    ]);
    // --with-patch after it: the patches are seen to, nothing to say.
    const seen: string[] = [];
    const repatched = run(
      app,
      [['with-patch', `scotch=${join(dir, 'fix.patch')}`], ['with-source', `scotch=${join(dir, 'mysrc-7.5.tar.gz')}`], ['with-patch', `scotch=${join(dir, 'fix.patch')}`]],
      f.collection,
      seen,
    );
    expect(closure(repatched).find((p) => p.name === 'scotch')!.source!.patches).toEqual([join(dir, 'fix.patch')]);
    expect(seen).toEqual([]);
    const url = run(f.app, [['with-source', 'scotch@7.2=https://example.org/dl/scotch-7.2.tar.gz']], f.collection);
    const s2 = closure(url).find((p) => p.name === 'scotch')!;
    expect(s2.version).toBe('7.2');
    expect(s2.source).toMatchObject({ kind: 'url', sha256: undefined, urls: ['https://example.org/dl/scotch-7.2.tar.gz'] });
    expect((url.properties['transformations'] as Array<{ cacheable: boolean }>)[0]!.cacheable).toBe(false);
  });

  it('infers names and versions like Guix', () => {
    expect(nameAndVersionFromFile('./hwloc-2.0.0rc1.tar.gz')).toEqual({ name: 'hwloc', version: '2.0.0rc1' });
    expect(nameAndVersionFromFile('MUMPS_5.5.1.tar.gz')).toEqual({ name: 'MUMPS', version: '5.5.1' });
    expect(nameAndVersionFromFile('pt-scotch-7.0.3.tar.xz')).toEqual({ name: 'pt-scotch', version: '7.0.3' });
    expect(nameAndVersionFromFile('hwloc.tar.gz')).toBeUndefined();
    expect(nameAndVersionFromFile('./hwloc-2.9.0-mine.tar.gz')).toEqual({ name: 'hwloc', version: '2.9.0-mine' });
    // Everything from `.tar` is extension, whatever compresses it; Debian's `.orig` too.
    expect(nameAndVersionFromFile('hwloc-2.1.tar.lz4')).toEqual({ name: 'hwloc', version: '2.1' });
    expect(nameAndVersionFromFile('hwloc_2.2.orig.tar.gz')).toEqual({ name: 'hwloc', version: '2.2' });
    expect(nameAndVersionFromFile('hwloc-2.3.zip')).toEqual({ name: 'hwloc', version: '2.3' });
  });

  it('git options resolve branches, tags and commits of a local repository', () => {
    const f = fixture();
    const repo = mkdtempSync(join(tmpdir(), 'tsdsl-git-'));
    const sh = (args: string[], cwd = repo) => execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e' } }).trim();
    sh(['init', '-q', '-b', 'master']);
    mkdirSync(join(repo, 'src'));
    writeFileSync(join(repo, 'src', 'a.c'), 'int main(){return 0;}\n');
    sh(['add', '.']);
    sh(['commit', '-qm', 'one']);
    sh(['tag', 'v2.9.0']);
    const tagged = sh(['rev-parse', 'HEAD']);
    writeFileSync(join(repo, 'src', 'b.c'), '\n');
    sh(['add', '.']);
    sh(['commit', '-qm', 'two']);
    const head = sh(['rev-parse', 'HEAD']);
    const url = `file://${repo}`;

    const a = run(f.app, [['with-commit', 'scotch=v2.9.0'], ['with-git-url', `scotch=${url}`]], f.collection);
    const sa = closure(a).find((p) => p.name === 'scotch')!;
    // As Guix's commit->version-string: the tag's leading v is dropped.
    expect(sa.version).toBe('2.9.0');
    expect(sa.source).toMatchObject({ kind: 'git', url, commit: tagged });

    const b = run(f.app, [['with-git-url', `scotch=${url}`], ['with-branch', 'scotch=master']], f.collection);
    const sb = closure(b).find((p) => p.name === 'scotch')!;
    expect(sb.version).toBe('git.master');
    expect(sb.source).toMatchObject({ kind: 'git', commit: head });
    // The provenance says what the branch was when it was read, not only its name.
    expect(b.properties['transformations']).toEqual([
      { option: 'with-git-url', spec: `scotch=${url}`, cacheable: false, commit: head },
      { option: 'with-branch', spec: 'scotch=master', cacheable: false, commit: head },
    ]);

    const c = run(f.app, [['with-commit', `scotch=${tagged}`], ['with-git-url', `scotch=${url}`]], f.collection);
    expect(closure(c).find((p) => p.name === 'scotch')!.version).toBe(`git.${tagged.slice(0, 7)}`);
    // An abbreviated id of a branch or tag head is resolved to the full one; another is refused.
    const short = run(f.app, [['with-commit', `scotch=${head.slice(0, 8)}`], ['with-git-url', `scotch=${url}`]], f.collection);
    expect(closure(short).find((p) => p.name === 'scotch')!.source).toMatchObject({ commit: head });
    // A second repository (its refs read afresh): one commit that is no branch or tag head.
    const repo2 = mkdtempSync(join(tmpdir(), 'tsdsl-git-'));
    sh(['clone', '-q', repo, repo2]);
    sh(['checkout', '-q', '-b', 'feature/x'], repo2);
    sh(['commit', '-q', '--allow-empty', '-m', 'three'], repo2);
    const between = sh(['rev-parse', 'HEAD'], repo2);
    sh(['commit', '-q', '--allow-empty', '-m', 'four'], repo2);
    const url2 = `file://${repo2}`;
    expect(() => run(f.app, [['with-commit', `scotch=${between.slice(0, 9)}`], ['with-git-url', `scotch=${url2}`]], f.collection)).toThrow(
      new RegExp(`^--with-commit=scotch=${between.slice(0, 9)}: the abbreviated commit id .* give the full 40-character id`),
    );
    // A branch with a slash makes a version without one (as Guix: git.feature-x).
    const slash = run(f.app, [['with-branch', 'scotch=feature/x'], ['with-git-url', `scotch=${url2}`]], f.collection);
    expect(closure(slash).find((p) => p.name === 'scotch')!.version).toBe('git.feature-x');

    expect(() => run(f.app, [['with-branch', 'scotch=nope'], ['with-git-url', `scotch=${url}`]], f.collection)).toThrow(/^--with-branch=scotch=nope: git repository .* has no branch `nope` \(branches: master\)/);
    expect(() => run(f.app, [['with-git-url', 'scotch=file:///nonexistent/repo.git']], f.collection)).toThrow(/does not answer/);
    expect(() => run(f.app, [['with-branch', 'scotch=master']], f.collection)).toThrow(/not a git repository and no URL is known; add --with-git-url=scotch=URL/);
  });

  it('the package on the left is matched by its variants too, hidden ones only when meant, and by versions earlier options make', () => {
    const int64 = dummyPackage({ name: 'solver', version: '1', variants: { int64: false } });
    const lib = dummyPackage({ name: 'lib', version: '1', variants: { int64: false } });
    const pt = dummyPackage({ name: 'pt-lib', version: '1', variants: { int64: false } });
    const app = dummyPackage({ name: 'app', version: '1', variants: { int64: false }, inputs: (v) => [withVariants(lib, { int64: v['int64'] === true })] });
    const hiddenTool = dummyPackage({ name: 'tool', version: '1', properties: { hidden: true } });
    const tool = dummyPackage({ name: 'tool', version: '2' });
    const user = dummyPackage({ name: 'user', version: '1', inputs: [hiddenTool] });
    const c = new Collection([int64, lib, pt, app, hiddenTool, tool, user]);
    const big = withVariants(app, { int64: true });
    const libOf = (p: Package) => directInputs(p).find((q) => q.name === 'lib')!;
    // `lib~int64` is not the 64-bit lib; `lib+int64` is.
    const warnings: string[] = [];
    expect(run(big, [['without-tests', 'lib~int64']], c, warnings)).toBe(big);
    expect(warnings).toEqual(['--without-tests=lib~int64 had no effect on `app@1+int64`']);
    expect(libOf(run(big, [['without-tests', 'lib+int64']], c)).arguments.tests).toBe(false);
    expect(() => run(big, [['without-tests', 'lib+bogus']], c)).toThrow(/^--without-tests=lib\+bogus: `lib` has no variant `bogus`/);
    // A replacement whose variant differs is said, with the spec to write.
    const replaced: string[] = [];
    const r = run(big, [['with-input', 'lib=pt-lib']], c, replaced);
    expect(directInputs(r).map((q) => q.name)).toEqual(['pt-lib']);
    expect(replaced).toEqual(['--with-input=lib=pt-lib: `lib@1+int64` is replaced by `pt-lib@1`, whose `int64` differs (~int64); to keep it, write --with-input=lib=pt-lib+int64']);
    const kept: string[] = [];
    run(big, [['with-input', 'lib=pt-lib+int64']], c, kept);
    expect(kept).toEqual([]);
    // A variant written on the right is a choice: not warned, even when it differs.
    run(big, [['with-input', 'lib=pt-lib~int64']], c, kept);
    expect(kept).toEqual([]);
    // A replacement given as an object is pointed to withVariants, not to a spec to write.
    const asObject: string[] = [];
    transform(big, { withInput: { lib: pt } }, { collection: c, warn: (w) => asObject.push(w) });
    expect(asObject).toEqual(['--with-input=lib=pt-lib@1: `lib@1+int64` is replaced by `pt-lib@1`, whose `int64` differs (~int64); to keep it, give withVariants(…, { int64: true }) of it instead']);
    // An object given with a variant chosen (withVariants) is a choice, as `pt-lib+int64` written is.
    const chosen: string[] = [];
    transform(app, { withInput: { lib: withVariants(pt, { int64: true }) } }, { collection: c, warn: (w) => chosen.push(w) });
    expect(chosen).toEqual([]);
    // `tool` means version 2, the visible one: the hidden tool among user's inputs is not matched.
    const hidden: string[] = [];
    expect(run(user, [['without-tests', 'tool']], c, hidden)).toBe(user);
    expect(hidden).toEqual(['--without-tests=tool had no effect on `user@1`']);
    // A version an earlier option makes may be named; one nothing makes is still an error.
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-made-version-'));
    writeFileSync(join(dir, 'lib-2.0rc1.tar.gz'), 'x');
    const made = run(app, [['with-source', join(dir, 'lib-2.0rc1.tar.gz')], ['without-tests', 'lib@2.0rc1']], c);
    expect(libOf(made)).toMatchObject({ version: '2.0rc1', arguments: { tests: false } });
    expect(() => run(app, [['without-tests', 'lib@2.0rc1']], c)).toThrow(/^--without-tests=lib@2\.0rc1: `lib` has no version matching `2\.0rc1`/);
  });

  it('--with-source is cacheable for files, not for URLs, whatever their query says', () => {
    const t = findTransformation('with-source')!;
    expect(t.cacheable('https://example.org/hwloc-2.1.tar.gz?raw=1')).toBe(false);
    expect(t.cacheable('hwloc=https://example.org/x.tar.gz?a=b')).toBe(false);
    expect(t.cacheable('file:///tmp/hwloc-2.0.0rc1.tar.gz')).toBe(true);
    expect(t.cacheable('./hwloc-2.0.0rc1.tar.gz')).toBe(true);
    // A package's name without its file: said so.
    const f = fixture();
    expect(() => run(f.app, [['with-source', 'scotch']], f.collection)).toThrow(/`scotch` is a package: to give its source, write --with-source=scotch=FILE/);
  });

  it('malformed specs and unknown packages are clear errors', () => {
    const f = fixture();
    const t = (name: string, value: string) => () => run(f.app, [[name, value]], f.collection);
    expect(t('with-input', 'scotch')).toThrow(/--with-input=scotch: expected PACKAGE=REPLACEMENT \(e\.g\. --with-input=scotch=pt-scotch\)/);
    expect(t('with-input', '=pt-scotch')).toThrow(/the package before `=` is missing/);
    expect(t('with-input', 'a=b=c')).toThrow(/with one `=`/);
    // The `=` of a version range belongs to the package, not the option.
    expect(t('with-input', 'scotch@>=8=pt-scotch')).toThrow(/`scotch` has no version matching `>=8`/);
    expect(t('with-input', 'scotch=pt-scotch@>=9')).toThrow(/`pt-scotch` has no version matching `>=9`/);
    expect(t('with-input', 'scoth=pt-scotch')).toThrow(/^--with-input=scoth=pt-scotch: unknown package `scoth`; did you mean `scotch`/);
    expect(t('with-input', 'scotch=pt-scoth')).toThrow(/^--with-input=scotch=pt-scoth: unknown package `pt-scoth`; did you mean `pt-scotch`/);
    expect(t('with-source', '/x/nope.tar.gz')).toThrow(/does not exist/);
    // Written after @, a version is taken as written (not `~rc1` read as a variant), and checked.
    expect(t('with-source', 'scotch@7.1~rc1=/x/mysrc.tar.gz')).toThrow(/^--with-source=scotch@7\.1~rc1=\/x\/mysrc\.tar\.gz: the version `7\.1~rc1` cannot be part of a store path name .*; give one that can: --with-source=scotch@7\.1rc1=\/x\/mysrc\.tar\.gz$/);
    expect(t('with-source', 'scotch@1:7.1=/x/mysrc.tar.gz')).toThrow(/: the version `1:7\.1` cannot be part of a store path name .*: --with-source=scotch@7\.1=/);
    // A version a store path cannot hold (Debian's `~`), read from the file name: what to give instead.
    expect(t('with-source', '/x/scotch-7.1~rc1.tar.gz')).toThrow(
      /^--with-source=\/x\/scotch-7\.1~rc1\.tar\.gz: the file name's version `7\.1~rc1` cannot be part of a store path name \(letters, digits and \+ - \. _ only\); give one that can: --with-source=scotch@7\.1rc1=\/x\/scotch-7\.1~rc1\.tar\.gz$/,
    );
    expect(t('tune', 'pentium9')).toThrow(/unknown CPU `pentium9`/);
    expect(t('with-patch', 'scotch=/nonexistent.patch')).toThrow(/patch file/);
    expect(t('with-patch', `scotch=${tmpdir()}`)).toThrow(/is a directory, not a patch file; name the \.patch file itself/);
    expect(t('without-tests', 'scoth')).toThrow(/^--without-tests=scoth: unknown package `scoth`/);
    expect(t('with-source', '/nonexistent/scotch-1.0.tar.gz')).toThrow(/^--with-source=\/nonexistent\/scotch-1\.0\.tar\.gz: .*does not exist/);
    // A name read from the file that is no package: the PACKAGE= form is suggested.
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-src-'));
    writeFileSync(join(dir, 'mysrc-3.1.tar.gz'), 'x');
    expect(t('with-source', join(dir, 'mysrc-3.1.tar.gz'))).toThrow(/unknown package `mysrc`.*if `mysrc-3\.1\.tar\.gz` is the source of another package, name it \(--with-source=PACKAGE=/);
    // A version that is none (found when applied) names the option.
    expect(t('with-source', `scotch@^2=${join(dir, 'mysrc-3.1.tar.gz')}`)).toThrow(/^--with-source=scotch@\^2=.*: the version `\^2` cannot be part of a store path name .*; give one that can: --with-source=scotch@2=/);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('transform (code API)', () => {
  it("reads relative file names from the directory of the file calling it, as local() does", () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-transform-cwd-'));
    try {
      mkdirSync(join(dir, 'pk'));
      writeFileSync(join(dir, 'pk', 'fix.patch'), '--- a/README\n+++ b/README\n@@ -1 +1,2 @@\n x\n+y\n');
      writeFileSync(
        join(dir, 'pk', 't.ts'),
        "import { inherit, transform } from 'tsdsl';\nimport { hwloc } from 'tsdsl/packages';\nexport const patched = inherit(transform(hwloc, { withPatch: { hwloc: './fix.patch' } }), { name: 'hwloc-patched' });\n",
      );
      // Run from the directory above the package file's: './fix.patch' is still pk/fix.patch.
      const r = tsdsl(['show', '--json', '-L', 'pk', 'hwloc-patched'], { cwd: dir });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)[0].source.patches).toEqual([join(dir, 'pk', 'fix.patch')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('object form and option-string form give the same graph; the input is untouched', () => {
    const f = fixture();
    const viaObject = transform(f.app, { withInput: { scotch: f.ptScotch } }, { collection: f.collection });
    const viaStrings = transform(f.app, ['--with-input=scotch=pt-scotch'], { collection: f.collection });
    const shape = (p: Package): unknown => ({ n: p.name, i: directInputs(p).map(shape) });
    expect(shape(viaObject)).toEqual(shape(viaStrings));
    // Split as a shell would split it, the option is one string with `=`: the error says so.
    expect(() => transform(f.app, ['--with-input', 'scotch=pt-scotch'], { collection: f.collection })).toThrow(
      /^transform: `--with-input` and `scotch=pt-scotch` are one option here, written with `=`: '--with-input=scotch=pt-scotch'$/,
    );
    expect(closure(viaObject)).toContain(f.ptScotch);
    expect(f.app.inputs[1]).toBe(f.scotch);
    // Provenance, warnings and errors name a package object by its spec, as the CLI would.
    expect(viaObject.properties['transformations']).toEqual([{ option: 'with-input', spec: `scotch=pt-scotch@${f.ptScotch.version}`, cacheable: true }]);
    const warnings: string[] = [];
    transform(f.app, { withInput: { 'pt-scotch': f.ptScotch } }, { collection: f.collection, warn: (w) => warnings.push(w) });
    expect(warnings).toEqual([`--with-input=pt-scotch=pt-scotch@${f.ptScotch.version} had no effect on \`app@1.0\``]);
    expect(() => transform(f.app, { withInput: { scoth: f.ptScotch } }, { collection: f.collection })).toThrow(
      new RegExp(`^--with-input=scoth=pt-scotch@${f.ptScotch.version.replace(/\./g, '\\.')}: unknown package \`scoth\``),
    );
    expect(JSON.stringify(warnings)).not.toContain('\\u0000');
  });

  it('a value or an option of the wrong shape is an error, not a silent no-op (transform, lowerPackages, loadCollection)', async () => {
    const f = fixture();
    const c = { collection: f.collection };
    expect(() => transform(f.app, { withoutTests: 3 } as never, c)).toThrow(/^transform: `withoutTests` is 3; give a list of package names, such as \['hwloc'\] \(or leave it out\)$/);
    expect(() => transform(f.app, { tune: false } as never, c)).toThrow(/^transform: `tune` is false; give true \(the build machine's CPU\) or a CPU name/);
    expect(() => transform(f.app, ['--without-tests=app'], { colection: f.collection } as never)).toThrow(/^transform: unknown field `colection`; did you mean `collection`/);
    // Each value says which it is and what it takes.
    expect(() => transform(f.app, { withoutTests: [f.scotch] } as never, c)).toThrow("transform: `withoutTests[0]` is the package object `scotch@7.0.3`; give a package name ('scotch@7.0.3')");
    expect(() => transform(f.app, { withSource: { scotch: 5 } } as never, c)).toThrow('transform: `withSource.scotch` is 5; give a file name or URL');
    expect(() => transform(f.app, { withInput: { scotch: [f.ptScotch, 5] } } as never, c)).toThrow('transform: `withInput.scotch[1]` is 5; give a package or a package name');
    // The options themselves, checked (they failed later as TypeErrors).
    expect(() => transform(f.app, ['--without-tests=app'], { ...c, warn: 'yes' } as never)).toThrow(/^transform: `warn` must be a function, not "yes"/);
    expect(() => transform(f.app, ['--without-tests=app'], { collection: 'x' } as never)).toThrow(/`collection` must be a collection \(loadCollection\(\), or getDefaultCollection\(\)\), not "x"/);
    expect(() => transform(f.app, ['--without-tests=app'], { ...c, cwd: 5 } as never)).toThrow(/`cwd` must be a non-empty string, not 5$/);
    expect(() => transform('app' as never, ['--without-tests=app'], c)).toThrow(/^transform: the first argument is the string 'app', not a package; resolve it first/);
    expect(() => transform([f.app, undefined] as never, ['--without-tests=app'], c)).toThrow(/^transform: the first argument's item 1 is undefined, not a package/);
    const { lowerPackages } = await import('../../src/derivation/lower.js');
    await expect(lowerPackages([f.app], { storedir: '/nix/store' } as never)).rejects.toThrow(/^lowerPackages\(\): unknown field `storedir`; did you mean `storeDir`/);
    await expect(lowerPackages(f.app as never)).rejects.toThrow('lowerPackages() takes an array of packages or package names, not one package: wrap it, [app]');
    await expect(lowerPackages([f.app], { storeDir: 3 } as never)).rejects.toThrow(/^lowerPackages\(\): `storeDir` must be a non-empty string, not 3$/);
    // Names resolved in the collection given.
    const { results } = await lowerPackages(['app'], { collection: f.collection, storeDir: '/nix/store' });
    expect(results[0]!.drvPath).toMatch(/^\/nix\/store\/[0-9a-z]{32}-app-1\.0\.drv$/);
    const { loadCollection } = await import('../../src/registry/load.js');
    await expect(loadCollection('/dir' as never)).rejects.toThrow(`loadCollection() takes options, not the string "/dir": loadCollection({ loadPath: ['./my-packages'] })`);
    await expect(loadCollection({ loadpath: '/dir' } as never)).rejects.toThrow(/^loadCollection\(\): unknown field `loadpath`; did you mean `loadPath`/);
    // The rest of the API: an argument of the wrong kind is a TsdslError saying what to give.
    const api = await import('../../src/index.js');
    const said = async (f: () => unknown) => {
      try {
        await f();
      } catch (e) {
        expect(api.isTsdslError(e), String(e)).toBe(true);
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(await said(() => api.withVariants('mumps' as never, {}))).toBe(`withVariants: the first argument is the string 'mumps', not a package; resolve it first (getDefaultCollection().resolve('mumps')) or import it from 'tsdsl/packages'`);
    expect(await said(() => api.buildGraph('package' as never, []))).toBe("buildGraph: the first argument is a node type, such as findNodeType('package'), not the string 'package'");
    expect(await said(() => api.lint({ packages: 'hwloc' as never }))).toBe("lint(): `packages` is an array of packages or package names: wrap it, ['hwloc']");
    expect(await said(() => api.pack(undefined as never))).toMatch(/^pack\(\) takes one object of fields \(packages, .*\), not nothing$/);
    expect(await said(() => api.run(undefined as never))).toMatch(/^run\(\) takes one object of fields \(pack, packages, .*\), not nothing$/);
    expect(await said(() => api.parseSpec(undefined as never))).toBe("parseSpec: a package spec is a string such as 'mumps@5.5~metis', not nothing");
    // These failed as TypeErrors, or read a string one character at a time, or took a misspelt option.
    const type = api.findNodeType('package');
    const g = fixture();
    expect(await said(() => api.buildGraph(type, ['mumps'] as never))).toMatch(/^buildGraph \(its second argument, the roots\): item 0 is the string 'mumps', not a package; resolve it first/);
    expect(await said(() => api.buildGraph(type, [g.mumps], { maxdepth: 1 } as never))).toMatch(/^buildGraph: unknown field `maxdepth`; did you mean `maxDepth`/);
    expect(await said(() => api.buildGraph(type, [g.mumps], { maxDepth: -1 }))).toMatch(/^buildGraph: `maxDepth` is -1; give a whole number/);
    const { graph } = await api.buildGraph(type, [g.mumps], { maxDepth: 1 });
    expect(api.findBackend('graphviz').render(graph)).toContain('digraph "tsdsl package"'); // options may be left out
    expect(await said(() => api.shortestPath(type, 'mumps' as never, 'zlib' as never))).toMatch(/^shortestPath: the start is the string 'mumps', not a node; give a package \(getDefaultCollection\(\)\.resolve\('mumps'\)\)/);
    expect(await said(() => api.getDefaultCollection().resolve(5 as never))).toBe("resolve(): a package spec is a string such as 'mumps@5.5~metis', not 5");
    expect(await said(() => new api.Lowerer().lower('hwloc' as never))).toMatch(/^Lowerer\.lower\(\): the argument is the string 'hwloc', not a package; resolve it first .*, or give lowerPackages\(\) the name: lowerPackages\(\['hwloc'\]\)$/);
    expect(await said(() => api.style(5 as never))).toBe('style() takes the name of a package file, not 5');
    expect(await said(() => api.run({ packages: ['hwloc'], engine: { name: 'x' } as never }))).toMatch(/^run\(\): `engine` must be an engine name .* or an engine object with a name, available\(\) and run\(\), not \{"name":"x"\}/);
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-api-store-'));
    const store = api.openStore({ root: dir });
    try {
      expect(await said(() => api.closureSizes(store, '/tsdsl/store/x' as never))).toBe("closureSizes() takes an array of store paths, not a string: wrap it, ['/tsdsl/store/x']");
      expect(await said(() => api.realise(store, new api.Lowerer(), '/tsdsl/store/x.drv' as never))).toBe("realise() takes an array of .drv paths, not a string: wrap it, ['/tsdsl/store/x.drv']");
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('accepts variants in replacement specs', () => {
    const f = fixture();
    const solver = definePackage({
      name: 'solver', version: '1', buildSystem: trivial, variants: { mpi: false },
      inputs: (v) => (v.mpi ? [f.mpi] : []), synopsis: 's', description: 'd', homePage: 'https://example.org/', license: licenses.expat,
    });
    const top = dummyPackage({ name: 'top', inputs: [solver] });
    const c = new Collection([...f.collection.all(), solver, top]);
    const t = transform(top, ['--with-input=solver=solver+mpi'], { collection: c });
    expect(t.inputs[0]!.variants).toEqual({ mpi: true });
    expect(t.inputs[0]!.inputs).toEqual([f.mpi]);
  });
});
