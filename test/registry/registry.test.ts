import { describe, expect, it } from 'vitest';
import { Collection } from '../../src/registry/collection.js';
import { joinVariantWords, parseSpec } from '../../src/registry/spec.js';
import { compareVersions, versionMatches } from '../../src/registry/version.js';
import { definePackage, licenses, trivial } from '../../src/dsl/index.js';
import { dummyPackage } from '../fixtures/dummy.js';
import { getDefaultCollection } from '../../src/transform/api.js';

describe('parseSpec', () => {
  it('reads names, versions, ranges and variants', () => {
    expect(parseSpec('hwloc')).toMatchObject({ name: 'hwloc', version: undefined, variants: {} });
    expect(parseSpec('hwloc@1')).toMatchObject({ name: 'hwloc', version: '1' });
    expect(parseSpec('hwloc@^2')).toMatchObject({ name: 'hwloc', version: '^2' });
    expect(parseSpec('hwloc@~2.9')).toMatchObject({ name: 'hwloc', version: '~2.9' });
    // A two-sided range, quoted as one word, then variants.
    expect(parseSpec('hwloc@>=1.11 <2 +libxml2')).toMatchObject({ name: 'hwloc', version: '>=1.11 <2', variants: { libxml2: true } });
    expect(parseSpec('scotch+mpi')).toMatchObject({ name: 'scotch', variants: { mpi: true } });
    expect(parseSpec('mumps@5.5~metis+int64')).toMatchObject({ name: 'mumps', version: '5.5', variants: { metis: false, int64: true } });
    expect(parseSpec('openblas target=generic')).toMatchObject({ name: 'openblas', variants: { target: 'generic' } });
    expect(parseSpec('pt-scotch')).toMatchObject({ name: 'pt-scotch' });
    expect(parseSpec('libstdc++6')).toMatchObject({ name: 'libstdc++6' });
    expect(parseSpec('libstdc++-12-dev')).toMatchObject({ name: 'libstdc++-12-dev' });
  });

  it('rejects what is not a spec, saying what is expected', () => {
    expect(() => parseSpec('@2')).toThrow(/is not a package spec; write NAME, NAME@VERSION/);
    // A package file where a package is expected: -L loads it.
    expect(() => parseSpec('my-packages/solver.ts')).toThrow(/\(to load the packages of the file or directory `my-packages\/solver\.ts`, give it to -L: -L my-packages\/solver\.ts NAME\)$/);
    expect(() => parseSpec('/tsdsl/store/hs830fip93bb76bvjnrw0a2mcgkxxj30-zlib-1.2.13.drv')).toThrow(/is a store path, not a package: name the package instead .*`tsdsl derivation show -r PATH`/);
    expect(() => parseSpec('@2')).not.toThrow(/-L/);
    expect(() => parseSpec('hwloc@')).toThrow(/the version after `@` is empty/);
    expect(() => parseSpec('scotch@@7')).toThrow('`scotch@@7`: `@` is written twice; write scotch@7');
    expect(() => parseSpec('scotch+mpi !x')).toThrow(/cannot read `!x`/);
    expect(() => parseSpec('scotch+mpi~mpi')).toThrow(/^`scotch\+mpi~mpi`: variant `mpi` is given twice; give it once$/);
    expect(() => parseSpec('openblas arch=a arch=b')).toThrow(/variant `arch` is given twice/);
  });

  it('reads an output last where outputs are meant, and refuses one elsewhere', () => {
    expect(parseSpec('hwloc:lib', { outputs: true })).toEqual({ text: 'hwloc:lib', name: 'hwloc', version: undefined, variants: {}, output: 'lib' });
    expect(parseSpec('mumps@5.5~metis:doc', { outputs: true })).toMatchObject({ name: 'mumps', version: '5.5', variants: { metis: false }, output: 'doc' });
    expect(parseSpec('openblas target=generic:doc', { outputs: true })).toMatchObject({ variants: { target: 'generic' }, output: 'doc' });
    expect(parseSpec('hwloc', { outputs: true }).output).toBeUndefined();
    // A shell's words: the variant joins its package, with the output after it.
    expect(joinVariantWords(['mumps', '~metis:lib'])).toEqual(['mumps ~metis:lib']);
    expect(parseSpec('mumps ~metis:lib', { outputs: true })).toMatchObject({ name: 'mumps', variants: { metis: false }, output: 'lib' });
    expect(() => parseSpec('hwloc:lib')).toThrow(/^`hwloc:lib` names the output `lib` of a package, where a package is meant; write `hwloc` \(an output is taken by build, pack, shell, size, gc and log, and by pack manifests\)$/);
    expect(() => parseSpec('two:doc:lib', { outputs: true })).toThrow(/^`two:doc:lib` names two outputs; a spec names one: give `two:doc` and `two:lib` as two arguments$/);
    expect(() => parseSpec('two::doc', { outputs: true })).toThrow(/^`two::doc`: write one `:` before the output: `two:doc`$/);
    // An output typed as a word of its own ends the spec before it; a second one is not joined.
    expect(joinVariantWords(['two', '~x', ':doc', 'three'])).toEqual(['two ~x:doc', 'three']);
    expect(joinVariantWords(['two:doc', ':lib'])).toEqual(['two:doc', ':lib']);
    expect(() => parseSpec('mumps:lib~metis', { outputs: true })).toThrow(/is not a package spec; .*; an output is written last: `mumps~metis:lib`$/);
    expect(() => parseSpec('mumps@5:lib+mpi')).toThrow(/^`mumps@5:lib\+mpi`: `5:lib` is no version; an output is written last: `mumps@5\+mpi:lib`$/);
    expect(() => parseSpec(':lib', { outputs: true })).toThrow(/^`:lib` names an output but no package; write NAME:OUTPUT, the output after its package/);
    // Spack's ranges (`@2.9:`, `@2.1:2.9`) are no outputs: what follows `:` is not a name.
    expect(parseSpec('hwloc@2.9:', { outputs: true })).toEqual({ text: 'hwloc@2.9:', name: 'hwloc', version: '2.9:', variants: {} });
    expect(parseSpec('hwloc@2.1:2.9', { outputs: true })).toEqual({ text: 'hwloc@2.1:2.9', name: 'hwloc', version: '2.1:2.9', variants: {} });
  });
});

describe('versions', () => {
  it('compare component by component', () => {
    expect(compareVersions('2.10.0', '2.9.0')).toBeGreaterThan(0);
    expect(compareVersions('1.11.13', '2.9.0')).toBeLessThan(0);
    expect(compareVersions('2.0.0rc1', '2.0.0')).toBeLessThan(0);
    expect(compareVersions('5.1.0', '5.1.0')).toBe(0);
  });

  it('match by dot-component prefix or semver range', () => {
    expect(versionMatches('4.1', '4.1.2')).toBe(true);
    expect(versionMatches('4.1', '4.16')).toBe(false);
    expect(versionMatches('4.1', '4.1')).toBe(true);
    expect(versionMatches('^2', '2.9.0')).toBe(true);
    expect(versionMatches('^2', '1.11.13')).toBe(false);
    expect(versionMatches('>=5 <6', '5.1.0.dfsg')).toBe(true);
    expect(versionMatches('^2', '2.0.0rc1')).toBe(true);
  });
});

describe('Collection', () => {
  const h2 = dummyPackage({ name: 'hwloc', version: '2.9.0' });
  const h1 = dummyPackage({ name: 'hwloc', version: '1.11.13' });
  const h210 = dummyPackage({ name: 'hwloc', version: '2.10.0' });
  const scotch = definePackage({
    name: 'scotch', version: '7.0.3', buildSystem: trivial, variants: { mpi: false },
    synopsis: 'Graph partitioning', description: 'Partitions graphs and meshes; computes sparse matrix orderings.',
    homePage: 'https://example.org/', license: licenses.cecillC,
  });
  const mumps = dummyPackage({ name: 'mumps', version: '5.5.1', synopsis: 'Multifrontal sparse direct solver', description: 'Solves sparse linear systems.' });
  const c = new Collection([h2, h1, h210, scotch, mumps]);

  it('resolves an output where outputs are meant, checking the package has it', () => {
    const two = dummyPackage({ name: 'two', outputs: ['out', 'doc'] });
    const c2 = new Collection([two, scotch]);
    expect(c2.resolveItem('two:doc')).toEqual([two, 'doc']);
    expect(c2.resolveItem('two')).toBe(two);
    expect((c2.resolveItem('scotch+mpi:out') as readonly unknown[])[1]).toBe('out');
    expect(() => c2.resolveItem('two:dco')).toThrow(/^`two:dco`: two@1\.0 has no output `dco`; did you mean `doc`\? \(its outputs: out, doc\)$/);
    expect(() => c2.resolve('two:doc')).toThrow(/names the output `doc` of a package, where a package is meant/);
    expect(() => c2.resolve({ ...parseSpec('two:doc', { outputs: true }) })).toThrow(/names the output `doc`/);
    // Every problem at once, as resolveAll says them.
    expect(() => c2.resolveItems(['two:bin', 'tow'])).toThrow(/^2 problems with the packages given:\n  - `two:bin`: two@1\.0 has no output `bin`.*\n  - unknown package `tow`; did you mean `two`\?/);
  });

  it('the highest matching version wins', () => {
    expect(c.resolve('hwloc')).toBe(h210);
    expect(c.resolve('hwloc@1')).toBe(h1);
    expect(c.resolve('hwloc@2.9')).toBe(h2);
    expect(c.resolve('hwloc@^2')).toBe(h210);
    expect(c.resolve('hwloc@<2.10')).toBe(h2);
  });

  it('one version defined twice: the one added last wins, with one warning naming both places', async () => {
    const first = dummyPackage({ name: 'twin', version: '1.0' });
    const second = dummyPackage({ name: 'twin', version: '1.0' });
    const older = dummyPackage({ name: 'twin', version: '0.9' });
    const c = new Collection([first, older, second]);
    const warnings: string[] = [];
    c.warn = (w) => warnings.push(w);
    expect(c.resolve('twin')).toBe(second);
    expect(c.resolve('twin@1.0')).toBe(second);
    expect(c.resolve('twin@0.9')).toBe(older);
    expect(warnings).toEqual([
      expect.stringMatching(/^ambiguous package specification `twin`: `twin@1\.0` is defined 2 times \(test\/fixtures\/dummy\.ts:\d+, test\/fixtures\/dummy\.ts:\d+\); choosing the one at .*, loaded last$/),
    ]);
    // Variants of one definition exported beside it are not more definitions of it.
    const { withVariants } = await import('../../src/dsl/index.js');
    const base = dummyPackage({ name: 'vtwin', version: '1.0', variants: { x: false } } as never);
    const other = dummyPackage({ name: 'vtwin', version: '1.0', variants: { x: false } } as never);
    const v = new Collection([base, other, withVariants(other, { x: true })]);
    const said: string[] = [];
    v.warn = (w) => said.push(w);
    // The name alone is the default variants, though the variant was added last; `+x` is the variant.
    expect(v.resolve('vtwin')).toBe(other);
    expect(v.resolve('vtwin+x')).toBe(withVariants(other, { x: true }));
    expect(said).toEqual([expect.stringMatching(/is defined 2 times \(test\/fixtures\/dummy\.ts:\d+, test\/fixtures\/dummy\.ts:\d+\)/)]);
  });

  it('a hidden package is chosen by name only when no visible one has that name', () => {
    const hidden = dummyPackage({ name: 'bash', version: '5.2.15', properties: { hidden: true } });
    const built = dummyPackage({ name: 'bash', version: '5.2.15' });
    const older = dummyPackage({ name: 'bash', version: '5.1' });
    const onlyHidden = dummyPackage({ name: 'libc6', version: '2.36', properties: { hidden: true } });
    const d = new Collection([hidden, built, older, onlyHidden]);
    expect(d.resolve('bash')).toBe(built);
    expect(d.resolve('bash@5.1')).toBe(older);
    expect(d.resolve('libc6')).toBe(onlyHidden);
    // Registered the other way round: still the visible one.
    expect(new Collection([built, hidden]).resolve('bash')).toBe(built);
    expect(new Collection([hidden, built]).resolve('bash')).toBe(built);
  });

  it('applies variants and coerces value strings to the declared type', () => {
    expect(c.resolve('scotch+mpi').variants).toEqual({ mpi: true });
    expect(c.resolve('scotch mpi=true')).toBe(c.resolve('scotch+mpi'));
    expect(() => c.resolve('scotch+mip')).toThrow(/has no variant `mip`; did you mean `mpi`/);
  });

  it('a variant typed as a word of its own belongs to the spec before it (as a shell splits `scotch mpi=true`)', () => {
    expect(joinVariantWords(['openblas', 'arch=HASWELL', 'mumps', '~metis', '+int64', 'scotch'])).toEqual(['openblas arch=HASWELL', 'mumps ~metis +int64', 'scotch']);
    const all = getDefaultCollection();
    const [openblas, mumps, scotch] = all.resolveAll(joinVariantWords(['openblas', 'arch=HASWELL', 'mumps', '~metis', 'scotch', '+mpi']));
    expect(openblas!.variants['arch']).toBe('HASWELL');
    expect(mumps).toBe(all.resolve('mumps~metis'));
    expect(scotch).toBe(all.resolve('scotch+mpi'));
    // Alone, it is said to be a variant.
    expect(() => all.resolveAll(joinVariantWords(['~metis']))).toThrow(/`~metis` is a variant, not a package: give it after its package \(`mumps ~metis`/);
  });

  it('unknown names suggest the closest ones; unknown versions list the available ones', () => {
    expect(() => c.resolve('scoth')).toThrow(/unknown package `scoth`; did you mean `scotch`/);
    expect(() => c.resolve('hwlco')).toThrow(/did you mean `hwloc`/);
    // Named as a store path names it: the version goes after @.
    expect(() => c.resolve('scotch-7.0.3')).toThrow(/^unknown package `scotch-7\.0\.3`; did you mean `scotch@7\.0\.3`\? \(a version is written after @\)$/);
    expect(() => c.resolve('hwloc@3')).toThrow(/`hwloc` has no version matching `3`; available: 2\.10\.0, 2\.9\.0, 1\.11\.13/);
    expect(() => c.resolveAll(['scoth', 'mumsp'])).toThrow(/^2 problems with the packages given:\n  - unknown package `scoth`.*\n  - unknown package `mumsp`/);
  });

  it('search ranks name matches above synopsis above description', () => {
    const hits = c.search([/sparse/i]);
    expect(hits.map((h) => h.pkg.name)).toEqual(['mumps', 'scotch']);
    expect(c.search([/scotch/i])[0]!.pkg).toBe(scotch);
    // A global pattern's test() would start where its last match ended and skip packages.
    const g = /sparse/gi;
    expect(c.search([g]).map((h) => h.pkg.name)).toEqual(['mumps', 'scotch']);
    expect(c.search([g]).map((h) => h.pkg.name)).toEqual(['mumps', 'scotch']);
  });

  it('search ranks a match that starts a word above one inside a word, and still lists both', () => {
    const gcc = dummyPackage({ name: 'gcc', synopsis: 'GNU C compiler', description: 'The GNU compiler collection.' });
    const ompi = dummyPackage({ name: 'ompi', synopsis: 'Message passing', description: 'An MPI implementation.' });
    const tools = dummyPackage({ name: 'tools', synopsis: 'MPI tools', description: 'Tools.' });
    const hits = new Collection([gcc, ompi, tools]).search([/mpi/i]);
    // `mpi` is the word MPI in `tools`' synopsis (4), in `ompi`'s name (8) and description (2),
    // and only inside "compiler" in `gcc`'s synopsis (2) and description (1).
    expect(hits.map((h) => [h.pkg.name, h.score])).toEqual([['ompi', 10], ['tools', 4], ['gcc', 3]]);
    // Letters of any script count: `mpi` after "é" is inside a word. A pattern that Unicode mode
    // refuses (`\-`) still ranks, with ASCII letters and digits.
    const accent = dummyPackage({ name: 'accent', synopsis: 'Outil émpi', description: 'MPI.' });
    expect(new Collection([accent]).search([/mpi/i])[0]!.score).toBe(2 + 2);
    expect(new Collection([tools]).search([/m\-?pi/i])[0]!.score).toBe(4);
  });
});
