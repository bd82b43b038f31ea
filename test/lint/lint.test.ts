import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MIRRORS } from '../../src/build/mirrors.js';
import { checkers } from '../../src/lint/checkers.js';
import { ROOT, tsdsl } from '../cli/helpers.js';

/** A fixture directory of package files, loaded with -L. */
function fixtureDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsdsl-lint-'));
  mkdirSync(join(dir, 'pkgs'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, 'pkgs', name), text);
  return dir;
}

// A GNU mirror root from the mirror table (host names are not written in the code).
const gnuRoot = MIRRORS['gnu']![MIRRORS['gnu']!.length - 1]!;

/** One bad package per checker; each line noted is where that checker's finding must point. */
const BAD = `import { definePackage, gnu, inherit, licenses, local, trivial, url } from 'tsdsl';
import { bash, pkgconf, zlib } from 'tsdsl/packages';

export const badName = definePackage({
  name: 'Bad_Name',
  version: '1.0',
  source: url({ urls: 'https://example.org/archive/v1.0.tar.gz', sha256: '${'a'.repeat(64)}' }), buildSystem: trivial, nativeInputs: [bash], arguments: { phases: { build: 'mkdir -p $out' } },
  synopsis: 'Name checker fixture',
  description: 'Fixture.',
  homePage: 'https://example.org/',
  license: licenses.expat,
});

export const badVersion = inherit(badName, { name: 'bad-version', version: 'v2.0' });

export const badMeta = definePackage({
  name: 'bad-meta',
  version: '1.0',
  buildSystem: trivial, nativeInputs: [bash], arguments: { phases: { build: 'mkdir -p $out' } },
  synopsis: 'A library for things.',
  description: 'does things',
  homePage: 'https://example.org:99999/',
  license: [licenses.expat, licenses.expat],
});

export const badSource = definePackage({
  name: 'bad-source',
  version: '2.12',
  source: url({
    urls: ['mirror://debian/pool/main/h/hello/hello_2.12.orig.tar.gz', '${gnuRoot}hello/hello-2.12.tar.gz', 'https://example.org/hello-2.12.tar.gz'],
    sha256: '1j69p8a1pjpbpwn4w7l4dfxmaxxqikchjzqw1ncw05zmcmvlnjd4',
    patches: ['./Fix_Build.patch'],
  }),
  buildSystem: trivial, nativeInputs: [bash], arguments: { phases: { build: 'mkdir -p $out' } },
  synopsis: 'Source checker fixture',
  description: 'Fixture.',
  homePage: 'https://example.org/',
  license: licenses.expat,
});

export const badInputs = definePackage({
  name: 'bad-inputs',
  version: '1.0',
  buildSystem: gnu,
  variants: { fast: false },
  inputs: [zlib, pkgconf, zlib],
  arguments: { makeFlags: ['ZLIB=$zlib', 'RPATH=$ORIGIN', 'X=$$zlib', 'Z=\${zlbi}', 'J=\${NIX_BUILD_CORES}', 'O=\${out}/\${zlib}', 'M=$(CC)'], phases: { build: 'for zlb in a; do echo \${zlb}; done; make -C \${zlbi} \${dir} \${zlib}' } },
  synopsis: 'Inputs checker fixture',
  description: 'Fixture.',
  homePage: 'https://example.org/',
  license: licenses.expat,
});

export const badDerivation = definePackage({
  name: 'bad-derivation',
  version: '1.0',
  source: local('./no-such-directory'),
  buildSystem: trivial, nativeInputs: [bash], arguments: { phases: { build: 'mkdir -p $out' } },
  synopsis: 'Derivation checker fixture',
  description: 'Fixture.',
  homePage: 'https://example.org/',
  license: licenses.expat,
});

export const badFormat = definePackage({
  version: '1.0',
  name: 'bad-format',
  buildSystem: trivial, nativeInputs: [bash], arguments: { phases: { build: 'mkdir -p $out' } },
  synopsis: 'Formatting checker fixture',
  description: 'Fixture.',
  homePage: 'https://example.org/',
  license: licenses.expat,
});

export const badTwice = definePackage({
  name: 'bad-twice',
  version: '1.0',
  buildSystem: trivial,
  nativeInputs: [bash],
  arguments: { phases: { build: 'mkdir -p $out' } },
  synopsis: 'Definitions checker fixture',
  description: 'Fixture.',
  homePage: 'https://example.org/',
  license: licenses.expat,
});

export const badTwiceAgain = badTwice.with({ synopsis: 'Definitions checker fixture, again' });
`;

const GOOD = `import { definePackage, licenses, trivial, url } from 'tsdsl';
import { bash, zlib } from 'tsdsl/packages';

// A sha256 written as an expression: its text is no hash to compare with.
const DIGEST = 'a'.repeat(64);
export const goodHash = definePackage({
  name: 'good-hash',
  version: '1.0',
  source: url({ urls: 'https://example.org/good-hash-1.0.tar.gz', sha256: 'b'.repeat(64) }),
  buildSystem: trivial, nativeInputs: [bash],
  arguments: { phases: { build: 'mkdir -p $out' } },
  synopsis: 'Package whose sha256 is an expression',
  description: 'good-hash has a hash computed by an expression.',
  homePage: 'https://example.org/good',
  license: licenses.expat,
});
export const goodConst = goodHash.with({ name: 'good-const', source: url({ urls: 'https://example.org/good-const-1.0.tar.gz', sha256: DIGEST }), description: 'Its hash is a constant.' });

export const good = definePackage({
  name: 'good',
  version: '1.0',
  buildSystem: trivial,
  variants: { compress: true },
  inputs: (v) => (v.compress ? [zlib] : []),
  nativeInputs: [bash],
  arguments: { phases: { build: 'mkdir -p $out' } },
  synopsis: 'Package that lints clean',
  description: 'good is a package with nothing to say against it.',
  homePage: 'https://example.org/good',
  license: licenses.expat,
});
`;

describe('tsdsl lint', () => {
  const dir = fixtureDir({ 'bad.ts': BAD, 'good.ts': GOOD });
  const run = (...args: string[]) => tsdsl(['lint', '-L', 'pkgs', ...args], { cwd: dir });
  const lines = (out: string) => out.split('\n').filter(Boolean);

  it('every checker fires on a crafted bad package, at the field it is about', () => {
    const names = ['bad-name', 'bad-version', 'bad-meta', 'bad-source', 'bad-inputs', 'bad-derivation', 'bad-format', 'bad-twice'].map((n) => (n === 'bad-name' ? 'Bad_Name' : n));
    const r = run(...names);
    // Naming the package defined twice says so (and which is taken), as any command would.
    expect(r.stderr).toBe('tsdsl: warning: ambiguous package specification `bad-twice`: `bad-twice@1.0` is defined 2 times (pkgs/bad.ts:87, pkgs/bad.ts:75); choosing the one at pkgs/bad.ts:87, loaded last\n');
    expect(r.code).toBe(1);
    const out = lines(r.stdout);
    const fired = new Set(out.map((l) => l.split(': ')[1]));
    expect([...fired].sort()).toEqual(checkers.filter((c) => !c.network).map((c) => c.name).sort());
    const at = (line: number, checker: string, text: RegExp) =>
      expect(out.some((l) => l.startsWith(`pkgs/bad.ts:${line}:`) && l.includes(`: ${checker}: `) && text.test(l)), `${checker} at line ${line}`).toBe(true);
    at(5, 'name', /`Bad_Name` should be lower case .* `bad_name`/);
    at(7, 'source-file-name', /the source file name `v1\.0\.tar\.gz` says nothing of the package \(only its version\): set `fileName: 'Bad_Name-1\.0\.tar\.gz'` in url\(\)/);
    at(14, 'version', /should not start with `v`; write `2.0`/);
    at(20, 'synopsis', /should not start with an article: drop `A`/);
    at(20, 'synopsis', /should not end with a period/);
    at(21, 'description', /should start with a capital letter/);
    at(21, 'description', /should end with a full stop/);
    at(22, 'home-page', /not a well-formed URL/);
    at(23, 'license', /listed more than once/);
    at(31, 'source', /sha256 should be written as lower-case hex/);
    at(30, 'source', new RegExp(`should be written \`mirror://gnu/hello/hello-2.12.tar.gz\``));
    at(30, 'source', /upstream URL .* comes after a mirror:\/\/ URL/);
    at(32, 'patch-file-names', /patch `.*Fix_Build.patch` not found/);
    at(32, 'patch-file-names', /patch file name `Fix_Build\.patch` should be lower case .* and end in \.patch or \.diff: e\.g\. `fix_build\.patch`/);
    at(46, 'inputs-should-be-native', /`pkgconf` is a build tool; move it from inputs to nativeInputs/);
    at(46, 'duplicate-inputs', /`zlib` is listed 2 times/);
    at(45, 'unused-variants', /variant `fast` changes nothing/);
    at(47, 'flag-variables', /`ZLIB=\$zlib`: `\$zlib` is passed as written .*; write `\$\{zlib\}`/);
    at(47, 'flag-variables', /`Z=\$\{zlbi\}`: `\$\{zlbi\}` is not an input of this package nor a variable of its build; did you mean `\$\{zlib\}`\?/);
    // In a phase (shell, with variables of its own): only a near miss of an input set nowhere.
    at(47, 'flag-variables', /phase `build`: `\$\{zlbi\}` is set nowhere \(the shell expands it to nothing\); did you mean `\$\{zlib\}`\?/);
    expect(out.filter((l) => l.includes('flag-variables'))).toHaveLength(3);
    at(54, 'derivation', /bad-derivation@1.0: lowering to a derivation fails/);
    at(67, 'formatting', /`name` should come before `version`.*; run `tsdsl style pkgs\/bad.ts`/);
    at(87, 'duplicate-definitions', /`bad-twice@1.0` is also defined at pkgs\/bad\.ts:75; a command naming it takes this one, loaded last/);
    // Each line has the documented shape.
    for (const l of out) expect(l).toMatch(/^pkgs\/bad\.ts:\d+:\d+: [a-z-]+: [A-Za-z_-]+@[\w.]+: .+$/);
  });

  it('--json gives the findings the lines give, as one array (and the checkers with -l)', () => {
    const names = ['bad-meta', 'bad-version'];
    const text = run(...names);
    const json = run(...names, '--json');
    expect([json.code, json.stderr]).toEqual([1, '']);
    const found = JSON.parse(json.stdout) as Array<{ file: string; line: number; column: number; checker: string; package: string; message: string }>;
    expect(found.map((f) => `${f.file}:${f.line}:${f.column}: ${f.checker}: ${f.package}: ${f.message}`)).toEqual(lines(text.stdout));
    expect(Object.keys(found[0]!)).toEqual(['file', 'line', 'column', 'checker', 'package', 'message']);
    const clean = run('good', '--json');
    expect([clean.code, clean.stdout]).toEqual([0, '[]\n']);
    const listed = JSON.parse(run('--list-checkers', '--json').stdout) as Array<{ name: string; network: boolean }>;
    expect(listed.map((c) => c.name)).toEqual(checkers.map((c) => c.name));
    expect(listed.find((c) => c.name === 'source-available')?.network).toBe(true);
  });

  it('is silent on a clean package, and exits 0', () => {
    const r = run('good', 'good-hash', 'good-const');
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('license: the guess tsdsl import leaves under a TODO(license) comment is a finding until the comment goes', () => {
    const def = (comment: string) => `import { definePackage, licenses, trivial } from 'tsdsl';
export const guessed = definePackage({
  name: 'guessed',
  version: '1.0',
  buildSystem: trivial,
  synopsis: 'Guessed license',
  description: 'Its license was guessed.',
  homePage: 'https://example.org/',
${comment}  license: licenses.publicDomain,
});
`;
    const d = fixtureDir({ 'guessed.ts': def('  // TODO(license): the tarball has no COPYING or LICENSE file; set the real license.\n') });
    const r = tsdsl(['lint', '-L', 'pkgs', '-c', 'license', 'guessed'], { cwd: d });
    expect(r.stdout).toBe(
      'pkgs/guessed.ts:10:3: license: guessed@1.0: license is still a guess to check (`TODO(license): the tarball has no COPYING or LICENSE file; set the real license.`); set the real one and remove the comment\n',
    );
    expect(r.code).toBe(1);
    writeFileSync(join(d, 'pkgs', 'guessed.ts'), def('  // Checked against the README: public domain.\n'));
    const ok = tsdsl(['lint', '-L', 'pkgs', '-c', 'license', 'guessed'], { cwd: d });
    expect(ok.stdout).toBe('');
    expect(ok.code).toBe(0);
  });

  it('is silent on the default collection', () => {
    const r = tsdsl(['lint'], { timeoutMs: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('');
    expect(r.code).toBe(0);
  });

  it('fails when a package file of TSDSL_PACKAGE_PATH does not load (elsewhere only a warning)', () => {
    const broken = mkdtempSync(join(tmpdir(), 'tsdsl-lint-broken-'));
    writeFileSync(join(broken, 'b.ts'), "import { definePackage } from 'tsdsl';\nexport const b = definePackage({ name: 'b', properties: { e: undefinedThing } });\n");
    const r = tsdsl(['lint', '-c', 'synopsis'], { env: { TSDSL_PACKAGE_PATH: broken }, timeoutMs: 120_000 });
    expect(r.code).toBe(2); // an error, as documented for lint: 1 is for findings
    expect(r.stderr).toMatch(/warning: loading package file .*b\.ts:2 failed: undefinedThing is not defined/);
    expect(r.stderr).toMatch(/\ntsdsl: error: tsdsl lint: 1 package file of TSDSL_PACKAGE_PATH did not load \(see the warning above\), so its packages were not checked: .*b\.ts\n$/);
    // Naming packages checks those alone: the broken file does not concern them.
    expect(tsdsl(['lint', '-c', 'synopsis', 'zlib'], { env: { TSDSL_PACKAGE_PATH: broken } }).code).toBe(0);
    rmSync(broken, { recursive: true });
  });

  it('names the first ten files that did not load, and counts the others (one broken file many import stopped thousands)', () => {
    const broken = mkdtempSync(join(tmpdir(), 'tsdsl-lint-broken-'));
    writeFileSync(join(broken, 'common.ts'), "import { licenses } from 'tsdsl';\nexport const lic = licenses.expat;\nthrow new Error('boom');\n");
    for (let i = 10; i < 40; i++) writeFileSync(join(broken, `u${i}.ts`), "import { lic } from './common';\nexport const x = lic;\n");
    const r = tsdsl(['lint', '-c', 'synopsis'], { env: { TSDSL_PACKAGE_PATH: broken }, timeoutMs: 120_000 });
    expect(r.code).toBe(2);
    const last = r.stderr.trim().split('\n').at(-1)!;
    expect(last).toMatch(/^tsdsl: error: tsdsl lint: 31 package files of TSDSL_PACKAGE_PATH did not load \(see the warnings above\), so their packages were not checked: (\S+\.ts, ){10}and 21 more$/);
    rmSync(broken, { recursive: true });
  });

  it('-c and -x that leave no checker are an error, not a clean bill', () => {
    expect(run('good', '-c', 'synopsis', '-x', 'synopsis').stderr).toBe('tsdsl: error: -x excludes every checker -c names (synopsis), so nothing would be checked; drop one of them\n');
  });

  it('-c runs only the named checkers, -x skips some', () => {
    const only = lines(run('bad-meta', '-c', 'synopsis,license').stdout);
    expect(new Set(only.map((l) => l.split(': ')[1]))).toEqual(new Set(['synopsis', 'license']));
    const rest = lines(run('bad-meta', '-x', 'synopsis', '-x', 'description').stdout);
    expect(rest.map((l) => l.split(': ')[1]).sort()).toEqual(['home-page', 'license']);
    // An empty list (a variable that was empty) is refused: it would have run every checker.
    // A usage error exits 2: exit 1 is lint's "there are findings" (as grep's and diff's).
    const empty = run('bad-meta', '--checkers=');
    expect(empty.code).toBe(2);
    expect(run('bad-meta', '-c', 'bogus').code).toBe(2);
    expect(empty.stderr).toMatch(/tsdsl lint: --checkers names no checker; give their names/);
  });

  it('--list-checkers lists every checker with its description', () => {
    const r = tsdsl(['lint', '--list-checkers']);
    expect(r.code).toBe(0);
    for (const c of checkers) expect(r.stdout).toMatch(new RegExp(`^  ${c.name} +${c.description.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'));
    // A selection beside it would be ignored: said.
    const both = tsdsl(['lint', '--list-checkers', '-c', 'nonsense']);
    expect(both.code).toBe(2);
    expect(both.stderr).toBe('tsdsl: error: tsdsl lint: --list-checkers lists every checker, so --checkers has no effect; drop one of them\n');
  });

  it('source-available (network) finds a source no URL serves, and passes a real one', (ctx) => {
    const real = tsdsl(['lint', '-c', 'source-available', 'zlib']);
    if (/no source URL answers: \S+ \((?!HTTP)/.test(real.stdout)) ctx.skip(); // the Debian archive cannot be reached from here
    expect(real.stdout).toBe('');
    expect(real.code).toBe(0);
    const d = fixtureDir({
      'gone.ts': `import { definePackage, licenses, trivial, url } from 'tsdsl';
export const gone = definePackage({
  name: 'gone',
  version: '1.0',
  source: url({ urls: 'mirror://debian/pool/main/n/no-such-package/no-such-package_1.0.orig.tar.gz', sha256: '${'0'.repeat(64)}' }),
  buildSystem: trivial,
  synopsis: 'Package whose source is gone',
  description: 'Fixture.',
  homePage: 'https://example.org/',
  license: licenses.expat,
});
`,
    });
    const r = tsdsl(['lint', '-L', 'pkgs', '--network', 'gone'], { cwd: d });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^pkgs\/gone\.ts:5:17: source-available: gone@1\.0: no source URL answers: \S+no-such-package_1\.0\.orig\.tar\.gz \(HTTP 404\)/m);
    // Without --network (or -c), network checkers do not run.
    expect(tsdsl(['lint', '-L', 'pkgs', 'gone'], { cwd: d }).stdout).not.toMatch(/source-available/);
  });

  it('an unknown checker or package is an error with a suggestion', () => {
    const r = tsdsl(['lint', '-c', 'synopis', 'hwloc']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unknown lint checker `synopis`.*did you mean `synopsis`/);
    const p = tsdsl(['lint', 'hwlco']);
    expect(p.stderr).toMatch(/unknown package `hwlco`; did you mean `hwloc`/);
  });
});

describe('unused-variants on a chosen variant', () => {
  it('judges each variant against the package\'s own value, not the default', async () => {
    const { definePackage, trivial, licenses, withVariants } = await import('../../src/dsl/index.js');
    const dep = definePackage({ name: 'dep', version: '1', buildSystem: trivial, synopsis: 'D', description: 'D.', homePage: 'https://example.org/', license: licenses.expat });
    const p = definePackage({
      name: 'vary', version: '1', buildSystem: trivial, variants: { mpi: false, idle: false },
      inputs: (v) => (v['mpi'] ? [dep] : []),
      synopsis: 'V', description: 'V.', homePage: 'https://example.org/', license: licenses.expat,
    });
    const checker = checkers.find((c) => c.name === 'unused-variants')!;
    for (const q of [p, withVariants(p, { mpi: true })]) {
      const found = await checker.check(q, {} as never);
      expect(found.map((f) => f.message)).toEqual(['variant `idle` changes nothing: no input, argument or source depends on it; use it or remove it']);
    }
    // A number that matters only past a threshold is used.
    const threshold = definePackage({
      name: 'threshold', version: '1', buildSystem: trivial, variants: { jobs: 4 },
      inputs: (v) => ((v['jobs'] as number) > 8 ? [dep] : []),
      synopsis: 'T', description: 'T.', homePage: 'https://example.org/', license: licenses.expat,
    });
    expect(await checker.check(threshold, {} as never)).toEqual([]);
  });

  it('a BigInt in properties is a value like any other (it was an internal error of lint)', async () => {
    const { definePackage, trivial, licenses } = await import('../../src/dsl/index.js');
    const p = definePackage({
      name: 'serial', version: '1', buildSystem: trivial, variants: { big: false },
      arguments: (v: Record<string, unknown>) => ({ phases: { build: v['big'] ? 'big' : 'small' } }),
      properties: { serial: 10n ** 20n },
      synopsis: 'S', description: 'S.', homePage: 'https://example.org/', license: licenses.expat,
    } as never);
    const checker = checkers.find((c) => c.name === 'unused-variants')!;
    expect(await checker.check(p, {} as never)).toEqual([]);
  });

  it('derivation: a package that fails only with another variant value is reported, naming the value', async () => {
    const { definePackage, trivial, licenses } = await import('../../src/dsl/index.js');
    const { lintPackages } = await import('../../src/lint/lint.js');
    const { bash } = await import('../../packages/index.js');
    const p = definePackage({
      name: 'varfn', version: '1', buildSystem: trivial, nativeInputs: [bash], variants: { debug: false },
      arguments: (v) => (v['debug'] ? ({ phase: { build: 'x' } } as never) : { phases: { build: 'mkdir -p $out' } }),
      synopsis: 'V', description: 'V.', homePage: 'https://example.org/', license: licenses.expat,
    });
    const found = await lintPackages([p], checkers.filter((c) => c.name === 'derivation'));
    expect(found.map((f) => f.message)).toEqual([expect.stringMatching(/^with \+debug, .*unknown argument `phase`.*did you mean `phases`/)]);
    // A trivial package without its build phase lowers, but its build would fail at once.
    const empty = definePackage({ name: 'empty', version: '1', buildSystem: trivial, synopsis: 'E', description: 'E.', homePage: 'https://example.org/', license: licenses.expat });
    expect((await lintPackages([empty], checkers.filter((c) => c.name === 'derivation'))).map((f) => f.message)).toEqual([
      "the trivial build system runs arguments.phases.build, which is not given, so the build would fail; write what makes $out: phases: { build: 'mkdir -p $out …' }",
    ]);
    // One with its phase but no bash among its native inputs would find no shell to run it.
    const shell = definePackage({ name: 'no-shell', version: '1', buildSystem: trivial, arguments: { phases: { build: 'mkdir -p $out' } }, synopsis: 'E', description: 'E.', homePage: 'https://example.org/', license: licenses.expat });
    const said = await lintPackages([shell], checkers.filter((c) => c.name === 'derivation'));
    expect(said.map((f) => [f.message, f.line > 0])).toEqual([
      ["the trivial build system runs arguments.phases.build with the bash of nativeInputs, and none is there, so the build would find no shell: add it, nativeInputs: [bash, coreutils] (import { bash, coreutils } from 'tsdsl/packages')", true],
    ]);
    // A native input that propagates bash gives the build its shell, as lowering finds it.
    const tools = definePackage({ name: 'tools', version: '1', buildSystem: trivial, nativeInputs: [bash], propagatedInputs: [bash], arguments: { phases: { build: 'mkdir -p $out' } }, synopsis: 'T', description: 'T.', homePage: 'https://example.org/', license: licenses.expat });
    const viaTools = definePackage({ name: 'via-tools', version: '1', buildSystem: trivial, nativeInputs: [tools], arguments: { phases: { build: 'mkdir -p $out' } }, synopsis: 'E', description: 'E.', homePage: 'https://example.org/', license: licenses.expat });
    expect(await lintPackages([viaTools], checkers.filter((c) => c.name === 'derivation'))).toEqual([]);
  });

  it('a package whose build system is malformed is one finding; the other packages are linted all the same', async () => {
    const { defineBuildSystem, definePackage, trivial, licenses } = await import('../../src/dsl/index.js');
    const { lintPackages } = await import('../../src/lint/lint.js');
    const meta = { version: '1', synopsis: 'V', description: 'V.', homePage: 'https://example.org/', license: licenses.expat };
    const odd = defineBuildSystem({ name: 'odd', description: 'x', phases: ['build'], toolchain: () => ['gcc'] as never });
    const bad = definePackage({ name: 'bad', buildSystem: odd, ...meta });
    const [a, b] = ['foo-bar', 'foo_bar'].map((name) => definePackage({ name, buildSystem: trivial, ...meta }));
    const good = definePackage({ name: 'good', buildSystem: trivial, inputs: [a!, b!], ...meta });
    const found = await lintPackages([bad, good], checkers.filter((c) => !c.network));
    // Said once (the derivation checker says it; the checkers it stopped do not say it again).
    const stopped = found.filter((f) => f.package.startsWith('bad@'));
    expect(stopped.map((f) => f.message)).toEqual([expect.stringMatching(/build system `odd`: toolchain\(\) returned a list whose item 0 is the string "gcc"; it must return a list of packages/)]);
    expect(found.filter((f) => f.package.startsWith('good@')).map((f) => f.checker)).toContain('duplicate-inputs');
    // Without the derivation checker, the first checker it stopped reports it, at the definition.
    const alone = await lintPackages([bad], checkers.filter((c) => c.name === 'flag-variables'));
    expect(alone.map((f) => [f.checker, f.message, f.line > 0])).toEqual([['flag-variables', expect.stringMatching(/^build system `odd`: toolchain\(\) returned/), true]]);
  });

  it('duplicate-inputs: inputs whose names differ only in - . _ share a build variable, which holds the first', async () => {
    const { definePackage, trivial, licenses } = await import('../../src/dsl/index.js');
    const { lintPackages } = await import('../../src/lint/lint.js');
    const meta = { synopsis: 'V', description: 'V.', homePage: 'https://example.org/', license: licenses.expat };
    const [a, b, c] = ['foo-bar', 'foo_bar', 'foo.bar'].map((name) => definePackage({ name, version: '1', buildSystem: trivial, ...meta }));
    const top = definePackage({ name: 'top', version: '1', buildSystem: trivial, nativeInputs: [c!], inputs: [a!, b!], ...meta });
    const found = await lintPackages([top], checkers.filter((x) => x.name === 'duplicate-inputs'));
    expect(found.map((f) => f.message)).toEqual([
      '`foo.bar`, `foo-bar` and `foo_bar` are all known to the build as `$foo_bar`, which holds the prefix of `foo.bar` only (the others are on the search paths and in `$inputs` or `$nativeInputs`, without a variable); a flag naming `${foo_bar}` gets `foo.bar`',
    ]);
    // Lowering agrees: the native input's prefix is the variable's value.
    const { Lowerer } = await import('../../src/derivation/lower.js');
    const l = new Lowerer('/tsdsl/store');
    expect(l.lower(top).derivation.drv.env['foo_bar']).toBe(l.lower(c!).outputs['out']);
  });

  it('version: the suggestion fixes every problem of the version at once', async () => {
    const { definePackage, trivial, licenses } = await import('../../src/dsl/index.js');
    const { lintPackages } = await import('../../src/lint/lint.js');
    const meta = { buildSystem: trivial, synopsis: 'V', description: 'V.', homePage: 'https://example.org/', license: licenses.expat };
    const only = checkers.filter((x) => x.name === 'version');
    const said = async (version: string) => (await lintPackages([definePackage({ name: 'v', version, ...meta })], only)).map((f) => f.message);
    expect(await said('v1.0-')).toEqual(['version `v1.0-` should not start with `v`; write `1.0`']);
    expect(await said('1.0-')).toEqual(['version `1.0-` should not end with `-`; write `1.0`']);
  });

  it('synopsis and description: a placeholder (what tsdsl import writes) is a finding', async () => {
    const { definePackage, trivial, licenses } = await import('../../src/dsl/index.js');
    const { lintPackages } = await import('../../src/lint/lint.js');
    const p = definePackage({ name: 'todo', version: '1', buildSystem: trivial, synopsis: 'TODO', description: 'TODO', homePage: 'https://example.org/', license: licenses.expat });
    const found = await lintPackages([p], checkers.filter((x) => x.name === 'synopsis' || x.name === 'description'));
    expect(found.map((f) => f.message)).toEqual([
      'synopsis `TODO` is a placeholder; say in a few words what the package is',
      'description `TODO` is a placeholder; describe what the package does in a few sentences',
    ]);
  });

  it('duplicate-definitions: two definitions of one name and version are each a finding; variants of one definition are not', async () => {
    const { definePackage, trivial, licenses, withVariants } = await import('../../src/dsl/index.js');
    const { lintPackages } = await import('../../src/lint/lint.js');
    const { Collection } = await import('../../src/registry/collection.js');
    const meta = { version: '1', buildSystem: trivial, synopsis: 'V', description: 'V.', homePage: 'https://example.org/', license: licenses.expat };
    const a = definePackage({ name: 'dupe', ...meta });
    const b = definePackage({ name: 'dupe', ...meta });
    const v = definePackage({ name: 'solo', variants: { mpi: false }, ...meta });
    const c = new Collection([a, b, v, withVariants(v, { mpi: true })]);
    const only = checkers.filter((x) => x.name === 'duplicate-definitions');
    const found = await lintPackages(c.all(), only, { collection: c });
    expect(found.map((f) => f.package)).toEqual(['dupe@1', 'dupe@1']);
    expect(found[0]!.message).toMatch(/^`dupe@1` is also defined at .*lint\.test\.ts:\d+; a command naming it takes /);
    // Without the collection (a list of packages alone), nothing to compare with.
    expect(await lintPackages([a, b], only)).toEqual([]);
  });

  it("duplicate-inputs: an input named as a variable the build sets itself (libc, an output) has none of its own", async () => {
    const { definePackage, trivial, licenses } = await import('../../src/dsl/index.js');
    const { lintPackages } = await import('../../src/lint/lint.js');
    const meta = { synopsis: 'V', description: 'V.', homePage: 'https://example.org/', license: licenses.expat };
    const [libc, doc] = ['libc', 'doc'].map((name) => definePackage({ name, version: '1', buildSystem: trivial, ...meta }));
    const top = definePackage({ name: 'top', version: '1', buildSystem: trivial, outputs: ['out', 'doc'], inputs: [libc!, doc!], ...meta });
    const found = await lintPackages([top], checkers.filter((x) => x.name === 'duplicate-inputs'));
    expect(found.map((f) => f.message)).toEqual([
      "input `libc` has no build variable: `$libc` is the build's own (set by every build), so a flag naming `${libc}` does not get its prefix; find it through `$inputs`, or give the package another name",
      "input `doc` has no build variable: `$doc` is the build's own (an output), so a flag naming `${doc}` does not get its prefix; find it through `$inputs`, or give the package another name",
    ]);
    // Lowering agrees: $doc is the output.
    const { Lowerer } = await import('../../src/derivation/lower.js');
    const l = new Lowerer('/tsdsl/store');
    expect(l.lower(top).derivation.drv.env['doc']).toBe(l.lower(top).outputs['doc']);
  });

  it('source: an all-zero sha256 (the placeholder one writes until the file is at hand), and an ftp:// URL, are said', async () => {
    const { definePackage, url, trivial, licenses } = await import('../../src/dsl/index.js');
    const { lintPackages } = await import('../../src/lint/lint.js');
    const p = definePackage({ name: 'zeros', version: '1', source: url({ urls: 'https://example.org/zeros-1.tar.gz', sha256: '0'.repeat(64) }), buildSystem: trivial, synopsis: 'Z', description: 'Z.', homePage: 'https://example.org/', license: licenses.expat });
    const found = await lintPackages([p], checkers.filter((c) => c.name === 'source'));
    expect(found.map((f) => f.message)).toEqual([expect.stringMatching(/^sha256 is all zeros, a placeholder: give the file's \(`tsdsl hash FILE`/)]);
    const { git } = await import('../../src/dsl/index.js');
    const gitZeros = definePackage({ name: 'git-zeros', version: '1', source: git({ url: 'https://example.org/g.git', commit: 'a'.repeat(40), sha256: '0'.repeat(64) }), buildSystem: trivial, synopsis: 'Z', description: 'Z.', homePage: 'https://example.org/', license: licenses.expat });
    expect((await lintPackages([gitZeros], checkers.filter((c) => c.name === 'source'))).map((f) => f.message)).toEqual([expect.stringMatching(/^sha256 is all zeros, a placeholder: give the checkout's/)]);
    const ftp = definePackage({ name: 'ftp', version: '1', source: url({ urls: ['https://example.org/ftp-1.tar.gz', 'ftp://example.org/ftp-1.tar.gz'], sha256: 'a'.repeat(64) }), buildSystem: trivial, synopsis: 'F', description: 'F.', homePage: 'https://example.org/', license: licenses.expat });
    expect((await lintPackages([ftp], checkers.filter((c) => c.name === 'source'))).map((f) => f.message)).toEqual([
      'URL `ftp://example.org/ftp-1.tar.gz` is never tried: tsdsl fetches over https://, http:// and file://; give the https:// URL of the same file, or drop it',
    ]);
  });

  it("source: an inherit() that changes the version and not the source builds the parent's tarball: said, naming it", async () => {
    const { definePackage, inherit, url, trivial, licenses } = await import('../../src/dsl/index.js');
    const { lintPackages } = await import('../../src/lint/lint.js');
    const base = definePackage({ name: 'solver', version: '2.9.0', source: url({ urls: 'https://example.org/solver-2.9.0.tar.gz', sha256: 'a'.repeat(64) }), buildSystem: trivial, synopsis: 'S', description: 'S.', homePage: 'https://example.org/', license: licenses.expat });
    const old = inherit(base, { version: '2.8.0' });
    const source = checkers.filter((c) => c.name === 'source');
    expect((await lintPackages([old], source)).map((f) => f.message)).toEqual([
      "version 2.8.0 keeps the source of `solver@2.9.0`, which it inherits (https://example.org/solver-2.9.0.tar.gz); give this version's source too (`source: url({ urls, sha256 })`)",
    ]);
    // With its own source, or the version unchanged (a renamed copy), there is nothing to say.
    const own = inherit(base, { version: '2.8.0', source: url({ urls: 'https://example.org/solver-2.8.0.tar.gz', sha256: 'b'.repeat(64) }) });
    expect(await lintPackages([own, inherit(base, { name: 'solver-mine' })], source)).toEqual([]);
  });

  it('an unpinned git source (and a user of it) is said not pinned, not said to fail to lower: build -d fetches and hashes it', async () => {
    const { definePackage, git, trivial, licenses } = await import('../../src/dsl/index.js');
    const { lintPackages } = await import('../../src/lint/lint.js');
    const { bash } = await import('../../packages/index.js');
    const meta = { synopsis: 'G', description: 'G.', homePage: 'https://example.org/', license: licenses.expat, arguments: { phases: { build: 'mkdir -p $out' } }, nativeInputs: [bash] };
    const g = definePackage({ name: 'unpinned', version: '1', source: git({ url: 'https://example.org/g.git', commit: 'a'.repeat(40) }), buildSystem: trivial, ...meta });
    const user = definePackage({ name: 'user-of-unpinned', version: '1', buildSystem: trivial, inputs: [g], ...meta });
    const found = await lintPackages([g, user], checkers.filter((c) => c.name === 'derivation' || c.name === 'source'));
    expect(found.map((f) => `${f.package}: ${f.message}`)).toEqual([expect.stringMatching(/^unpinned@1: git source is not pinned/)]);
  });

  it('a patch an inherited package keeps from its parent may be named after the parent', async () => {
    const { definePackage, inherit, trivial, licenses, local } = await import('../../src/dsl/index.js');
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-lint-inherit-'));
    writeFileSync(join(dir, 'hello-fix.patch'), '');
    mkdirSync(join(dir, 'src'));
    const hello = definePackage({
      name: 'hello', version: '1', buildSystem: trivial, source: local(join(dir, 'src'), { patches: [join(dir, 'hello-fix.patch')] }),
      synopsis: 'H', description: 'H.', homePage: 'https://example.org/', license: licenses.expat,
    });
    const checker = checkers.find((c) => c.name === 'patch-file-names')!;
    expect(await checker.check(inherit(hello, { name: 'hello-mine' }), {} as never)).toEqual([]);
    const other = definePackage({ ...{ name: 'other', version: '1', buildSystem: trivial, synopsis: 'O', description: 'O.', homePage: 'https://example.org/', license: licenses.expat }, source: hello.source });
    expect((await checker.check(other, {} as never)).map((f) => f.message)).toEqual(['patch file name `hello-fix.patch` should start with the package name: `other-hello-fix.patch`']);
  });
});

describe('source-file-name', () => {
  it("flags a url() source named by its version alone (a forge's archive URL), as Guix's source-file-name does", async () => {
    const { definePackage, trivial, licenses, url } = await import('../../src/dsl/index.js');
    const { getDefaultCollection } = await import('../../src/transform/api.js');
    type Package = ReturnType<typeof definePackage>;
    const checker = checkers.find((c) => c.name === 'source-file-name')!;
    const meta = { version: '1.2', buildSystem: trivial, synopsis: 'F', description: 'F.', homePage: 'https://example.org/', license: licenses.expat } as const;
    const sha256 = 'a'.repeat(64);
    const at = (urls: string, fileName?: string) => definePackage({ name: 'foo', ...meta, source: url({ urls, sha256, ...(fileName ? { fileName } : {}) }) });
    const found = async (p: Package) => (await checker.check(p, {} as never)).map((f) => f.message);
    expect(await found(at('https://example.org/foo/archive/v1.2.tar.gz'))).toEqual(["the source file name `v1.2.tar.gz` says nothing of the package (only its version): set `fileName: 'foo-1.2.tar.gz'` in url()"]);
    expect(await found(at('https://example.org/foo/archive/1.2.zip'))).toEqual(["the source file name `1.2.zip` says nothing of the package (only its version): set `fileName: 'foo-1.2.zip'` in url()"]);
    expect(await found(at('https://example.org/foo/archive/v1.2.tar.gz', 'foo-1.2.tar.gz'))).toEqual([]);
    expect(await found(at('https://example.org/foo-1.2.tar.gz'))).toEqual([]);
    // The whole collection is clean.
    const collection = await getDefaultCollection();
    const all = (await Promise.all(collection.all().map((p) => checker.check(p, {} as never)))).flat();
    expect(all).toEqual([]);
  });
});

describe('lint loads ts-morph only when it needs the package files', () => {
  it('not for checkers that do not read them on packages without findings; for placing a finding, and for those that read them', () => {
    // A child process: this one has ts-morph loaded already (other tests parse files).
    const script = (checker: string, pkg: string) => `
      import { createRequire } from 'node:module';
      const { lintPackages } = await import(${JSON.stringify(`${ROOT}/dist/src/lint/lint.js`)});
      const { checkers } = await import(${JSON.stringify(`${ROOT}/dist/src/lint/checkers.js`)});
      const { definePackage, trivial, licenses } = await import(${JSON.stringify(`${ROOT}/dist/src/index.js`)});
      const pkgs = { good: definePackage({ name: 'good', version: '1.0', source: undefined, buildSystem: trivial, arguments: { phases: { build: 'true' } }, synopsis: 'a', description: 'a.', homePage: 'https://example.org', license: licenses.expat }),
        Bad: definePackage({ name: 'Bad', version: '1.0', source: undefined, buildSystem: trivial, arguments: { phases: { build: 'true' } }, synopsis: 'a', description: 'a.', homePage: 'https://example.org', license: licenses.expat }) };
      const found = await lintPackages([pkgs[${JSON.stringify(pkg)}]], checkers.filter((c) => c.name === ${JSON.stringify(checker)}));
      const loaded = Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('/ts-morph/'));
      console.log(JSON.stringify({ loaded, found: found.map((f) => [f.checker, f.line > 0]) }));`;
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-lint-lazy-'));
    const child = (checker: string, pkg: string) => {
      const file = join(dir, `${checker}-${pkg}.mjs`);
      writeFileSync(file, script(checker, pkg));
      return JSON.parse(execFileSync(process.execPath, [file], { encoding: 'utf8' })) as { loaded: boolean; found: Array<[string, boolean]> };
    };
    try {
      expect(child('name', 'good')).toEqual({ loaded: false, found: [] });
      // A finding is placed at its field in the file: that parses it.
      expect(child('name', 'Bad')).toEqual({ loaded: true, found: [['name', true]] });
      expect(child('formatting', 'good').loaded).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
