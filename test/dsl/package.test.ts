import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  defineBuildSystem,
  definePackage,
  directInputs,
  inherit,
  isPackage,
  licenses,
  modifyInputs,
  trivial,
  url,
  git,
  local,
  withOrigin,
  withVariants,
  specString,
  type Package,
} from '../../src/dsl/index.js';
import { PackageMap, derive, inputLabels } from '../../src/dsl/package.js';
import { TsdslError } from '../../src/errors.js';
import { dummyPackage } from '../fixtures/dummy.js';
import { cmake, gnu } from '../../packages/build-systems.js';

const SHA_HEX = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
const SHA_NIX32 = '1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s';
const SHA_SRI = 'sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=';

function errorOf(f: () => unknown): TsdslError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TsdslError);
    return e as TsdslError;
  }
  throw new Error('expected an error');
}

describe('definePackage', () => {
  it('returns a frozen, brand-checked record with defaults filled in', () => {
    const p = dummyPackage({ name: 'hello', version: '2.12' });
    expect(isPackage(p)).toBe(true);
    expect(isPackage({ name: 'hello' })).toBe(false);
    expect(Object.isFrozen(p)).toBe(true);
    expect(Object.isFrozen(p.inputs)).toBe(true);
    expect(p.outputs).toEqual(['out']);
    expect(p.source).toBeNull();
    expect(() => {
      (p as { name: string }).name = 'x';
    }).toThrow();
  });

  it("freezes copies: the caller's arrays and objects stay theirs, and changing them does not change the package", () => {
    const flags = ['--enable-x'];
    const phases = { build: 'make' };
    const meta = { tags: ['a'] };
    const p = dummyPackage({ name: 'own-lists', buildSystem: gnu, arguments: { configureFlags: flags, phases }, properties: { meta } });
    flags.push('--more');
    phases.build = 'other';
    meta.tags.push('b');
    expect(p.arguments.configureFlags).toEqual(['--enable-x']);
    expect(p.arguments.phases).toEqual({ build: 'make' });
    expect(p.properties['meta']).toEqual({ tags: ['a'] });
    expect(Object.isFrozen(p.arguments.configureFlags)).toBe(true);
    const inputs = [p];
    const q = dummyPackage({ name: 'user', inputs });
    inputs.push(q);
    expect(q.inputs).toEqual([p]);
  });

  it('captures the location of the definition (this file and line)', () => {
    const line = new Error().stack!.split('\n')[1]!.match(/:(\d+):\d+\)?$/)![1];
    const p = definePackage({
      name: 'located', version: '1', buildSystem: trivial, synopsis: 's', description: 'd', homePage: 'https://example.org/', license: licenses.expat,
    });
    expect(p.location?.file).toMatch(/test\/dsl\/package\.test\.ts$/);
    expect(p.location?.line).toBe(Number(line) + 1);
  });

  it('keeps input lists of its own: plain, frozen, checked at every index, unchanged by later edits to the caller\'s', () => {
    const spec = { version: '1', buildSystem: trivial, synopsis: 's', description: 'd', homePage: 'https://example.org/', license: licenses.expat };
    const a = definePackage({ name: 'a', ...spec });
    const b = definePackage({ name: 'b', ...spec });
    // An Array subclass does not make (or iterate) the package's list.
    class Odd<T> extends Array<T> {
      override *[Symbol.iterator](): ArrayIterator<T> {
        yield this[0]!;
      }
    }
    const odd = new Odd<Package>();
    odd.push(a, b);
    const p = definePackage({ name: 'p', ...spec, inputs: odd });
    expect(Object.getPrototypeOf(p.inputs)).toBe(Array.prototype);
    expect([...p.inputs].map((x) => x.name)).toEqual(['a', 'b']);
    // Changing the caller's list after the definition changes neither the package nor its variants.
    const list: Package[] = [a];
    const q = definePackage({ name: 'q', ...spec, variants: { x: false }, inputs: list });
    list.push(b);
    expect(q.inputs.map((x) => x.name)).toEqual(['a']);
    expect(withVariants(q, { x: true }).inputs.map((x) => x.name)).toEqual(['a']);
    // A hole is an undefined input, in a definition and in derive's fast path alike; a list of
    // many is named by its first few.
    expect(errorOf(() => definePackage({ name: 'r', ...spec, inputs: [a, , b] as Package[] })).message).toMatch(/inputs\[1\] is undefined, not a package/);
    expect(errorOf(() => derive(a, { inputs: [a, , b] as Package[] })).message).toMatch(/inputs\[1\] is undefined, not a package/);
    const holes: Package[] = [];
    holes.length = 100_000;
    const many = errorOf(() => definePackage({ name: 's', ...spec, inputs: holes })).message;
    expect(many).toMatch(/has 11 problems/);
    expect(many).toContain('inputs: 99990 more items are not packages');
  });

  it('does not let a field function change the variants it is given', () => {
    // The variants handed to `inputs: (v) => …` are the package's own (frozen) record.
    expect(() =>
      definePackage({
        name: 'meddler', version: '1', buildSystem: trivial, synopsis: 's', description: 'd', homePage: 'https://example.org/', license: licenses.expat,
        variants: { mpi: false },
        inputs: (v: Record<string, unknown>) => {
          v['mpi'] = true;
          return [];
        },
      }),
    ).toThrow(/package `meddler` at .*: `inputs` \(a function of the variants\) threw: Cannot assign to read only property 'mpi'/);
  });

  it('refuses env entries, flags and outputs the build could not pass or would silently override', () => {
    const e = errorOf(() =>
      dummyPackage({
        name: 'envy',
        buildSystem: gnu,
        outputs: ['out', 'inputs', 'lib-dev'],
        arguments: {
          configureFlags: ['--a=x\n--b', '', '--fine'],
          phases: { build: 'make' },
          env: { 'BAD=NAME': 'x', '': 'e', NUL: 'a\u0000b', outputHash: '0'.repeat(64), doCheck: '', buildPhase: 'echo', OK_1: 'fine' },
        },
      }),
    );
    expect(e.message).toMatch(/package `envy` at test\/fixtures\/dummy\.ts:\d+ has 10 problems/);
    expect(e.message).toContain('arguments.configureFlags[0] "--a=x\\n--b" holds a line break or NUL; give each flag as its own string');
    expect(e.message).toContain('arguments.configureFlags[1] is empty');
    expect(e.message).toContain('arguments.env: "BAD=NAME" is not a variable name');
    expect(e.message).toContain('arguments.env: "" is not a variable name');
    expect(e.message).toContain('arguments.env.NUL holds a NUL byte');
    expect(e.message).toContain('arguments.env.outputHash: `outputHash` means something to Nix');
    expect(e.message).toContain('arguments.env.doCheck: `doCheck` is set by the build system');
    expect(e.message).toContain('arguments.env.buildPhase and arguments.phases.build both set `buildPhase`; keep one');
    expect(e.message).toContain('output name `lib-dev` must be words of letters, digits and _ (not -)');
    // `__proto__` (as JSON.parse makes it) would be dropped by the copies made of the record.
    const proto = errorOf(() => dummyPackage({ name: 'proto', arguments: { env: JSON.parse('{"__proto__":"x","B":"y"}') as Record<string, string> } }));
    expect(proto.message).toContain('arguments.env: `__proto__` cannot be given as a variable name');
    // Found together with the bad name, not one fix at a time.
    expect(e.message).toContain('output `inputs` is named after a variable the build system sets');
    expect(errorOf(() => dummyPackage({ name: 'two', outputs: ['lib', 'bad-name'] })).message).toMatch(/has 2 problems:\n  - output name `bad-name` .*\n  - outputs must include "out"$/);
    expect(errorOf(() => dummyPackage({ name: 'none', outputs: [] })).message).toContain('outputs must be a non-empty list of output names such as ["out", "lib", "doc"], not an empty list');
    // A variant declaration says what is wrong with it.
    const variant = (d: unknown) => errorOf(() => dummyPackage({ name: 'v', variants: { mode: d } as never })).message;
    expect(variant('yes')).toContain('variant `mode` is declared as the string "yes"; a variant is declared by its default');
    expect(variant({ default: 'c', values: ['a', 'b'] })).toContain('variant `mode` has the default "c", which is not among its values ("a", "b"); add it, or choose one of them');
    expect(variant({ values: ['a'] })).toContain('variant `mode` has no `default`');
    expect(errorOf(() => dummyPackage({ name: 'lone', arguments: { env: { X: 'a\ud800b', OK: '😀' } } })).message).toMatch(/: arguments\.env\.X holds a lone UTF-16 surrogate/);
    expect(errorOf(() => dummyPackage({ name: 'lic', license: (licenses as unknown as Record<string, never>)['gpl3plus'] } as never)).message).toContain(
      'a misspelt name such as licenses.gpl3plus is undefined; the names are agpl3Plus,',
    );
    const one = dummyPackage({ name: 'pt-scotch' });
    expect(errorOf(() => dummyPackage({ name: 'listy', nativeInputs: one as never })).message).toContain('nativeInputs must be a list of packages, not one package; wrap it: [ptScotch]');
    const o = errorOf(() => dummyPackage({ name: 'outy', outputs: ['out', 'inputs'] }));
    expect(o.message).toContain('output `inputs` is named after a variable the build system sets');
    // What the builder script or the sandbox sets over the derivation's env would never reach the build.
    const over = errorOf(() => dummyPackage({ name: 'over', buildSystem: gnu, outputs: ['out', 'HOME', 'PATH'], arguments: { env: { PATH: '/opt/bin', PKG_CONFIG_PATH: '/opt', LC_ALL: 'en_US.UTF-8', TMPDIR: '/x', HOME: '/h', CFLAGS: '-O3' } } }));
    expect(over.message).toMatch(/has 5 problems/);
    for (const k of ['PATH', 'PKG_CONFIG_PATH', 'LC_ALL', 'TMPDIR']) expect(over.message).toContain(`arguments.env.${k}: \`${k}\` is set by the build system`);
    expect(over.message).toContain('output `PATH` is named after a variable the build system sets');
    // The trivial build system's script sets only PATH: the locale and search paths are the package's to set.
    const trivialOver = errorOf(() => dummyPackage({ name: 'trivial-over', arguments: { phases: { build: 'mkdir $out' }, env: { PATH: '/opt/bin', LC_ALL: 'C.UTF-8', PKG_CONFIG_PATH: '/opt' } } }));
    expect(trivialOver.message).toMatch(/: arguments\.env\.PATH: `PATH` is set by the build system; choose another variable name$/);
  });

  it('refuses a version a store path name cannot hold, saying how to write it', () => {
    expect(errorOf(() => dummyPackage({ name: 'tilde', version: '1.0~rc1' })).message).toMatch(/: version "1\.0~rc1" contains `~`, which a store path name cannot hold \(letters, digits and \+ - \. _ only\); write it as "1\.0rc1"$/);
    expect(errorOf(() => dummyPackage({ name: 'epoch', version: '1:2.3' })).message).toMatch(/contains `:`, .*; write it as "2\.3"$/);
    expect(errorOf(() => dummyPackage({ name: 'spaced', version: '1.0 beta' })).message).toMatch(/contains a space, .*; write it as "1\.0-beta"$/);
    // A blank at either end is dropped, not made a `-` (which lint would then flag).
    expect(errorOf(() => dummyPackage({ name: 'trailing', version: '1.0 ' })).message).toMatch(/contains a space, .*; write it as "1\.0"$/);
    // A URL's file name names its store item: one a store path cannot hold is said where it is written.
    expect(() => url({ urls: 'https://example.org/foo%201.0.tar.gz', sha256: 'a'.repeat(64) })).toThrow(/the file name taken from the first URL, "foo 1\.0\.tar\.gz", cannot name a store path .*; set `fileName: 'foo-1\.0\.tar\.gz'`$/);
    expect(() => url({ urls: 'https://example.org/x.tar.gz', sha256: 'a'.repeat(64), fileName: 'été.tgz' })).toThrow(/fileName "été\.tgz" cannot name a store path .*; write fileName to a name of letters, digits and \+ - \. _$/);
    expect(errorOf(() => dummyPackage({ name: 'foo bar!' })).message).toMatch(/name "foo bar!" must be a non-empty string of letters, digits and \+ - \. _ \(not starting with \. or -\); write it as "foo-bar"/);
    // Every character said; a slash is a separator; no suggestion that would drop letters.
    expect(errorOf(() => dummyPackage({ name: 'slashed', version: '1.0/beta' })).message).toMatch(/contains `\/`, .*; write it as "1\.0-beta"$/);
    expect(errorOf(() => dummyPackage({ name: 'accented', version: '1.0/évil' })).message).toMatch(/contains `\/` and `é`, which a store path name cannot hold \(letters, digits and \+ - \. _ only\)$/);
    // A number has lost its zeros by then (1.0 is 1): it is said to be one.
    expect(errorOf(() => dummyPackage({ name: 'number', version: 1.0 as never })).message).toMatch(/: version 1 is a number, not a string: quote it as written \(`version: '1\.0'`; a number drops zeros, 1\.0 is 1 and 2\.10 is 2\.1\)$/);
  });

  it('says where a build argument or a source field written at the top level belongs; refuses anything but an object of fields', () => {
    const e = errorOf(() => dummyPackage({ name: 'flat', configureFlags: ['--x'], tests: false, sha256: '0'.repeat(64), synopsys: 's' } as never));
    expect(e.message).toContain('unknown field `configureFlags` (a build argument: put it in `arguments: { configureFlags: … }`)');
    expect(e.message).toContain('unknown field `tests` (a build argument: put it in `arguments: { tests: … }`)');
    expect(e.message).toContain('unknown field `sha256` (a field of the source: put it in `source: url({ …, sha256 })`)');
    expect(e.message).toMatch(/unknown field `synopsys`; did you mean `synopsis`/);
    // Written in the definition on a line of its own, an unknown field is pointed at.
    const placed = errorOf(() =>
      definePackage({
        name: 'placed', version: '1', buildSystem: trivial, synopsis: 'S', description: 'D.', homePage: 'https://example.org/', license: licenses.expat,
        sypnosis: 'misspelt',
      } as never),
    );
    const line = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').findIndex((l) => l.includes("sypnosis: 'misspelt'")) + 1;
    expect(placed.message).toMatch(new RegExp(`unknown field \`sypnosis\`; did you mean \`synopsis\`\\? \\(test/dsl/package\\.test\\.ts:${line}\\)$`));
    // So is a misspelt argument, on its line inside `arguments`.
    const arg = errorOf(() =>
      definePackage({
        name: 'placed-arg', version: '1', buildSystem: gnu, synopsis: 'S', description: 'D.', homePage: 'https://example.org/', license: licenses.expat,
        arguments: {
          configureflags: ['--x'],
        },
      } as never),
    );
    const argLine = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').findIndex((l) => l.includes("configureflags: ['--x']")) + 1;
    expect(arg.message).toMatch(new RegExp(`unknown argument \`configureflags\`; did you mean \`configureFlags\`\\? .* \\(test/dsl/package\\.test\\.ts:${argLine}\\)$`));
    for (const [arg, shown] of [['a', 'the string "a"'], [null, 'null'], [undefined, 'undefined'], [[], 'an empty list']] as const) {
      const m = errorOf(() => definePackage(arg as never)).message;
      expect(m).toMatch(new RegExp(`^definePackage at test/dsl/package\\.test\\.ts:\\d+ takes one object of fields \\(\\{ name, version, source, buildSystem, inputs, … \\}\\), not ${shown.replace(/[()[\]]/g, '\\$&')}$`));
    }
  });

  it('reports every problem at once, naming the file and line', () => {
    const e = errorOf(() =>
      definePackage({
        name: 'bad name',
        version: '',
        buildSystem: trivial,
        inputs: [undefined as unknown as Package, 'zlib' as unknown as Package],
        outputs: ['lib'],
        synopsis: 's',
        description: 'd',
        homePage: 'not a url',
        license: 'MIT' as never,
        bogus: 1,
      } as never),
    );
    expect(e.message).toMatch(/package `bad name` at test\/dsl\/package\.test\.ts:\d+ has \d+ problems/);
    expect(e.message).toContain('unknown field `bogus`');
    expect(e.message).toContain('name "bad name"');
    expect(e.message).toContain('version ""');
    expect(e.message).toContain('inputs[0] is undefined, not a package (is it imported?');
    expect(e.message).toContain('inputs[1] is the string "zlib", not a package');
    expect(e.message).toContain('outputs must include "out"');
    expect(e.message).toContain('homePage `not a url`');
    expect(e.message).toContain('license must be a value of the license table');
  });

  it('suggests the right name for a misspelt field, phase or argument', () => {
    const e = errorOf(() => dummyPackage({ sypnosis: 'x' } as never));
    expect(e.message).toContain('unknown field `sypnosis`; did you mean `synopsis`?');
    // The field it stands for is not reported missing as well: one problem, not two.
    const only = errorOf(() => definePackage({ name: 'typo', version: '1', buildSystem: trivial, sypnosis: 'S', description: 'D.', homePage: 'https://example.org/', license: licenses.expat } as never));
    expect(only.message).toMatch(/^package `typo` at .*: unknown field `sypnosis`; did you mean `synopsis`\?$/);
    const e2 = errorOf(() => dummyPackage({ arguments: { phases: { biuld: 'make' } } }));
    expect(e2.message).toContain('unknown phase `biuld`; did you mean `build`?');
    const e3 = errorOf(() => dummyPackage({ arguments: { tests: 'yes' as never } }));
    expect(e3.message).toContain('arguments.tests must be true or false');
    // Another build system's argument would be ignored: it is refused, naming who takes it.
    const e4 = errorOf(() => dummyPackage({ arguments: { configureFlags: ['--x'] } }));
    expect(e4.message).toMatch(/argument `configureFlags` belongs to the cmake and gnu build systems, not to trivial: choose `buildSystem: cmake` or `buildSystem: gnu` \(the trivial build system takes: tests, phases, .*\)$/);
    const e5 = errorOf(() => dummyPackage({ buildSystem: gnu, arguments: { cmakeFlags: ['-DX=1'] } }));
    // It is cmake's first, whatever it looks like; the close name of gnu's comes after.
    expect(e5.message).toMatch(/argument `cmakeFlags` belongs to the cmake build system, not to gnu: choose `buildSystem: cmake`, or write `makeFlags` if you meant the gnu build system's \(the gnu build system takes: /);
    // cmake's check phase runs ctest, which neither names a make target nor is made serial: refused.
    for (const k of ['testTarget', 'parallelTests']) {
      const e7 = errorOf(() => dummyPackage({ buildSystem: cmake, arguments: { [k]: k === 'testTarget' ? 'unit' : false } as never }));
      expect(e7.message, k).toMatch(new RegExp(`argument \`${k}\` belongs to the gnu build system, not to cmake`));
    }
    // A phase, or a step before or after one, written beside the flags: it goes in `phases`.
    for (const k of ['postBuild', 'preConfigure', 'install']) {
      const e6 = errorOf(() => dummyPackage({ buildSystem: gnu, arguments: { [k]: 'true' } as never }));
      expect(e6.message, k).toContain(`unknown argument \`${k}\`: a phase or a step before or after one goes in \`phases\`: \`arguments: { phases: { ${k}: '…' } }\``);
    }
  });

  it('requires a build system and says how to add one', () => {
    const e = errorOf(() => dummyPackage({ buildSystem: undefined as never }));
    expect(e.message).toContain('buildSystem is missing; add e.g. `buildSystem: gnu`');
    // So for the metadata fields, and for overrides that are not an object.
    expect(errorOf(() => dummyPackage({ description: undefined as never })).message).toContain("description is missing; add description: '…' (a few sentences saying what it does)");
    expect(errorOf(() => dummyPackage({ name: 'w' }).with('x' as never)).message).toMatch(/^inheriting from `w@[^`]+`: the fields to change are an object, such as \{ version: '2\.0' \}, not the string "x"$/);
    expect(errorOf(() => inherit({ name: 'x' } as never, {})).message).toMatch(/^inherit: the first argument is \{"name":"x"\}, not a package$/);
  });
});

describe('origins', () => {
  it('accepts sha256 in hex, nix-base32 and SRI form, normalised to hex', () => {
    for (const h of [SHA_HEX, SHA_NIX32, SHA_SRI]) {
      const o = url({ urls: 'https://example.org/abc-1.0.tar.gz', sha256: h });
      expect(o.sha256).toBe(SHA_HEX);
      expect(o.fileName).toBe('abc-1.0.tar.gz');
    }
  });

  it('rejects a malformed hash, an unknown mirror and a bad URL, with the location', () => {
    const e = errorOf(() => url({ urls: ['mirror://nowhere/x.tar.gz', 'gopher://x'], sha256: 'abc' }));
    expect(e.message).toMatch(/url origin at test\/dsl\/package\.test\.ts:\d+ has 3 problems/);
    expect(e.message).toContain('unknown mirror `nowhere`');
    expect(e.message).toContain('gopher://x');
    expect(e.message).toContain('sha256 hash `abc` has 3 characters; expected 64 hex, 52 nix-base32 or 44 base64 characters, or an SRI `sha256-…` string; `tsdsl hash FILE` (or `sha256sum FILE`) prints the sha256 of the downloaded file');
    expect(errorOf(() => url({ urls: 'mirror://gnuu/x.tar.gz', sha256: 'a'.repeat(64) })).message).toMatch(/unknown mirror `gnuu` in `mirror:\/\/gnuu\/x\.tar\.gz`; did you mean `gnu`\? \(the mirrors: debian, gnu, .*; or give the full https:\/\/ URL\)$/);
    // FTP, which the fetcher does not speak, is refused where it is written, not at the download;
    // as one URL among others it is passed over (lint says so).
    expect(url({ urls: ['https://example.org/x-1.tar.gz', 'ftp://ftp.example.org/pub/x-1.tar.gz'], sha256: 'a'.repeat(64) }).urls).toHaveLength(2);
    expect(errorOf(() => url({ urls: 'ftp://ftp.example.org/pub/x-1.tar.gz', sha256: 'a'.repeat(64) })).message).toMatch(
      /URL `ftp:\/\/ftp\.example\.org\/pub\/x-1\.tar\.gz`: tsdsl fetches https:\/\/, http:\/\/ and file:\/\/ URLs, not FTP; give the https:\/\/ URL of the same file .*https:\/\/ftp\.example\.org\/pub\/x-1\.tar\.gz\)$/,
    );
  });

  it('withOrigin checks what it changes as url() does, and keeps the kind and location', () => {
    const o = url({ urls: 'https://example.org/a-1.tar.gz', sha256: SHA_HEX, patches: ['/srv/one.patch'] });
    const more = withOrigin(o, { patches: [...o.patches, './two.patch'] });
    expect(more.patches).toEqual(['/srv/one.patch', join(import.meta.dirname, 'two.patch')]);
    expect(more.kind).toBe('url');
    expect(more.location).toEqual(o.location);
    expect(withOrigin(o, { patches: undefined } as never).patches).toEqual([]);
    const e = errorOf(() => withOrigin(o, { patches: './fix.patch' as never, sha256: 'abc', urls: ['gopher://x'] }));
    expect(e.message).toMatch(/url origin at test\/dsl\/package\.test\.ts:\d+ has 3 problems/);
    expect(e.message).toContain('patches must be a list of file names and url() origins');
    expect(e.message).toContain('sha256 hash `abc` has 3 characters');
    expect(e.message).toContain('gopher://x');
    expect(errorOf(() => withOrigin(o, { patchez: [] } as never)).message).toContain('unknown field `patchez`; did you mean `patches`?');
    expect(errorOf(() => withOrigin(null as never, {})).message).toMatch(/withOrigin origin at .*: the first argument is null, not an origin/);
  });

  it('a url() without sha256 says how to find it', () => {
    expect(errorOf(() => url({ urls: 'https://example.org/x-1.tar.gz' } as never)).message).toMatch(/sha256 is missing: a url\(\) source is pinned by the sha256 of its file; download the file and run `tsdsl hash FILE`/);
  });

  it('names unknown and misshapen fields of url(), git() and local(), with the closest names', () => {
    const e = errorOf(() => url({ url: 'https://example.org/a-1.tar.gz', sha256: SHA_HEX, patchez: [] } as never));
    expect(e.message).toMatch(/url origin at test\/dsl\/package\.test\.ts:\d+ has 3 problems/);
    expect(e.message).toContain('no URL given');
    expect(e.message).toContain('unknown field `url`; did you mean `urls`?');
    expect(e.message).toContain('unknown field `patchez`; did you mean `patches`?');
    expect(e.message).not.toContain('file name');
    const g = errorOf(() => git({ url: 'file:///srv/x.git', commit: 'v1', recursiv: true, zzz: 1 } as never));
    expect(g.message).toContain('unknown field `recursiv`; did you mean `recursive`?');
    expect(g.message).toContain('unknown field `zzz` (git() takes: url, commit, sha256, recursive, patches, patchFlags, snippet)');
    expect(errorOf(() => local('./x', { patch: ['a'] } as never)).message).toContain('unknown field `patch`; did you mean `patches` or `patchFlags`?');
    expect(errorOf(() => url('https://example.org/a-1.tar.gz' as never)).message).toMatch(
      /url\(\) takes one object such as \{ urls: .*, not the string "https:\/\/example\.org\/a-1\.tar\.gz"/,
    );
    const p = errorOf(() => url({ urls: 'https://example.org/a-1.tar.gz', sha256: SHA_HEX, patches: './fix.patch', patchFlags: '-p0' } as never));
    expect(p.message).toContain('patches must be a list');
    expect(p.message).toContain('patchFlags must be a list of strings');
  });

  it('resolves relative patches and local paths against the defining file', () => {
    const o = url({ urls: 'https://example.org/a-1.tar.gz', sha256: SHA_HEX, patches: ['./patches/fix.patch'] });
    expect(o.patches[0]).toMatch(/test\/dsl\/patches\/fix\.patch$/);
    expect(o.patchFlags).toEqual(['-p1']);
    const l = local('../fixtures');
    expect(l.path).toMatch(/test\/fixtures$/);
    const g = git({ url: 'file:///srv/x.git', commit: 'v1.0' });
    expect(g.kind).toBe('git');
    expect(g.sha256).toBeUndefined();
  });
});

describe('inherit, with and modifyInputs', () => {
  const zlib = dummyPackage({ name: 'zlib' });
  const mpi = dummyPackage({ name: 'openmpi' });
  const scotch = dummyPackage({ name: 'scotch', buildSystem: gnu, version: '7.0.3', inputs: [zlib], arguments: { makeFlags: ['-C', 'src'], phases: { build: 'make' } } });

  it('inherit keeps every field but the overrides, and the parent is untouched', () => {
    const pt = inherit(scotch, { name: 'pt-scotch', propagatedInputs: [mpi] });
    expect(pt.name).toBe('pt-scotch');
    expect(pt.version).toBe('7.0.3');
    expect(pt.inputs).toEqual([zlib]);
    expect(pt.propagatedInputs).toEqual([mpi]);
    expect(scotch.propagatedInputs).toEqual([]);
    expect(pt.location?.file).toMatch(/package\.test\.ts$/);
  });

  it('merges argument overrides key by key, phases included', () => {
    const v = scotch.with({ arguments: { tests: false, phases: { postBuild: 'true' } } });
    expect(v.arguments.makeFlags).toEqual(['-C', 'src']);
    expect(v.arguments.tests).toBe(false);
    expect(v.arguments.phases).toEqual({ build: 'make', postBuild: 'true' });
  });

  it('override functions receive the parent', () => {
    const v = inherit(scotch, { inputs: (_v, parent) => [...parent.inputs, mpi] });
    expect(v.inputs.map((p) => p.name)).toEqual(['zlib', 'openmpi']);
  });

  it('modifyInputs replaces, deletes, appends and prepends by name', () => {
    const bz = dummyPackage({ name: 'bzip2' });
    const xz = dummyPackage({ name: 'xz' });
    const zlib2 = dummyPackage({ name: 'zlib-ng' });
    const p = modifyInputs(dummyPackage({ inputs: [zlib, bz], nativeInputs: [xz] }), {
      replace: { zlib: zlib2 },
      delete: ['xz'],
      append: [mpi],
      prepend: [xz],
    });
    expect(p.inputs.map((x) => x.name)).toEqual(['xz', 'zlib-ng', 'bzip2', 'openmpi']);
    expect(p.nativeInputs).toEqual([]);
  });

  it('modifyInputs names the missing input, suggests close ones, and says where it was called', () => {
    const e = errorOf(() => modifyInputs(scotch, { delete: ['zlibb'] }));
    expect(e.message).toContain('has no input named `zlibb`; did you mean `zlib`?');
    expect(e.message).toMatch(/^modifyInputs at test\/dsl\/package\.test\.ts:\d+: /);
  });

  it('modifyInputs refuses edits of the wrong shape instead of ignoring them or reading a name as letters', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ remove: ['zlib'] }, /unknown edit `remove`; did you mean `delete`\? \(the edits are replace, delete, append and prepend\)/],
      [{ add: [mpi] }, /unknown edit `add`; did you mean `append`\?/],
      [{ constructor: [mpi] }, /unknown edit `constructor` \(the edits are/],
      [{ delete: 'zlib' }, /`delete` is the string "zlib"; give a list of input names: delete: \['zlib'\]/],
      [{ replace: mpi }, /`replace` is .*; give a table from input names to packages/],
      [{ append: mpi }, /`append` is one package; wrap it in a list: append: \[openmpi\]/],
      [{ prepend: ['hwloc'] }, /`prepend` is .*; give a list of packages/],
    ];
    for (const [edits, why] of cases) {
      const e = errorOf(() => modifyInputs(scotch, edits as never));
      expect(e.message, JSON.stringify(edits)).toMatch(/^modifyInputs at test\/dsl\/package\.test\.ts:\d+: /);
      expect(e.message).toMatch(why);
    }
    // Every problem at once: a misspelt edit, and names of inputs it does not have.
    const all = errorOf(() => modifyInputs(scotch, { replace: { zlibb: mpi }, delete: ['bisonn'], apend: [mpi] } as never)).message;
    expect(all).toMatch(/^modifyInputs at test\/dsl\/package\.test\.ts:\d+ has 2 problems:\n  - unknown edit `apend`; did you mean `append`\?.*\n  - `scotch@7\.0\.3` has no input named `zlibb`; did you mean `zlib`\?, `bisonn` \(its inputs: zlib\)$/);
    // Not a package (a misspelt import is undefined): said, not "cannot read properties of undefined".
    expect(errorOf(() => modifyInputs(undefined as never, { append: [mpi] })).message).toMatch(/^modifyInputs at test\/dsl\/package\.test\.ts:\d+: the first argument is undefined, not a package \(is it imported\?/);
  });

  it('an heir keeps its parent\'s variant values, so its variants and inputs agree', () => {
    const dep = dummyPackage({ name: 'dep' });
    const p = dummyPackage({ name: 'vp', variants: { dep: true }, inputs: (v) => (v['dep'] ? [dep] : []) });
    const without = withVariants(p, { dep: false });
    for (const heir of [inherit(without, { name: 'vp2' }), modifyInputs(without, { append: [zlib] })]) {
      expect(heir.variants['dep'], heir.name).toBe(false);
      expect(heir.inputs.map((x) => x.name)).not.toContain('dep');
      // And the other value brings the input back.
      expect(withVariants(heir, { dep: true }).inputs.map((x) => x.name)).toContain('dep');
    }
  });

  it('a replacement keeps the replaced name as a label, through inherit and variants', () => {
    const zlib2 = dummyPackage({ name: 'zlib-ng' });
    const edited = modifyInputs(dummyPackage({ inputs: [zlib], variants: { fast: false } }), { replace: { zlib: zlib2 } });
    expect(inputLabels(edited)?.get(zlib2)).toBe('zlib');
    expect(inputLabels(inherit(edited, { name: 'my-scotch' }))?.get(zlib2)).toBe('zlib');
    expect(inputLabels(withVariants(edited, { fast: true }))?.get(zlib2)).toBe('zlib');
  });
});

describe('variants', () => {
  const metis = dummyPackage({ name: 'metis' });
  const mpi = dummyPackage({ name: 'openmpi' });
  const solver = definePackage({
    name: 'solver',
    version: '5.5.1',
    buildSystem: gnu,
    variants: { metis: true, mpi: false, int: { default: '32', values: ['32', '64'] } },
    inputs: (v) => [...(v.metis ? [metis] : []), ...(v.mpi ? [mpi] : [])],
    arguments: (v) => ({ makeFlags: [`INTSIZE=${v.int}`] }),
    synopsis: 's',
    description: 'd',
    homePage: 'https://example.org/',
    license: licenses.expat,
  });

  it('fields are functions of the chosen variants', () => {
    expect(solver.inputs).toEqual([metis]);
    const v = withVariants(solver, { metis: false, mpi: true, int: '64' });
    expect(v.inputs).toEqual([mpi]);
    expect(v.arguments.makeFlags).toEqual(['INTSIZE=64']);
    expect(specString(v)).toBe('solver@5.5.1~metis+mpi int=64');
  });

  it('the same choice gives the same object; the default choice gives the package itself', () => {
    expect(withVariants(solver, { mpi: true })).toBe(withVariants(solver, { mpi: true }));
    expect(withVariants(solver, { metis: true })).toBe(solver);
  });

  it('an unknown variant or a wrong type lists the declared ones', () => {
    expect(() => withVariants(solver, { mip: true })).toThrow(/has no variant `mip`; did you mean `mpi`\? Its variants: metis \(boolean\), mpi \(boolean\), int \(string\)/);
    expect(() => withVariants(solver, { mpi: 'yes' })).toThrow(/variant `mpi` of `solver` is a boolean/);
    expect(() => withVariants(solver, { int: '16' })).toThrow(/must be one of 32, 64/);
    const openblasLike = definePackage({ name: 'blasish', version: '1', buildSystem: trivial, variants: { arch: { default: 'GENERIC', values: ['GENERIC', 'HASWELL', 'SKYLAKEX'] } }, synopsis: 'S', description: 'D.', homePage: 'https://example.org/', license: licenses.expat });
    expect(() => withVariants(openblasLike, { arch: 'HASWEL' })).toThrow(/not `HASWEL`; did you mean `HASWELL`\?$/);
    expect(() => withVariants(openblasLike, { arch: 'skylakx' })).toThrow(/not `skylakx`; did you mean `SKYLAKEX`\?$/);
    expect(() => withVariants(solver, { zzz: true })).toThrow(/has no variant `zzz`\. Its variants: metis/);
  });

  it('a variant that needs itself is a cycle error naming the package and its file, not a stack overflow', () => {
    const self: Package = definePackage({
      name: 'selfish', version: '1', buildSystem: trivial, variants: { x: false },
      inputs: (v) => (v.x ? [withVariants(self, { x: true })] : []),
      synopsis: 'S', description: 'D.', homePage: 'https://example.org/', license: licenses.expat,
    });
    const e = errorOf(() => withVariants(self, { x: true }));
    expect(e.message).toMatch(/^dependency cycle: `selfish` with variants x=true \(test\/dsl\/package\.test\.ts:\d+\) needs itself with the same variants/);
    // Nothing half-made is remembered: asking again gives the same error.
    expect(() => withVariants(self, { x: true })).toThrow(/dependency cycle/);
  });

  it('a cycle through variants of two packages names both, in order', () => {
    const meta = { version: '1', buildSystem: trivial, synopsis: 'S', description: 'D.', homePage: 'https://example.org/', license: licenses.expat } as const;
    const a: Package = definePackage({ ...meta, name: 'cyc-a', variants: { x: false }, inputs: (v) => (v.x ? [withVariants(b, { y: true })] : []) });
    const b: Package = definePackage({ ...meta, name: 'cyc-b', variants: { y: false }, inputs: (v) => (v.y ? [withVariants(a, { x: true })] : []) });
    const e = errorOf(() => withVariants(a, { x: true }));
    expect(e.message).toMatch(/^dependency cycle: `cyc-a` with variants x=true \(test\/dsl\/package\.test\.ts:\d+\) needs `cyc-b` with variants y=true \(test\/dsl\/package\.test\.ts:\d+\), which needs the first again/);
    // The stack of variants being made is left empty: b+y alone is the same cycle, seen from b.
    expect(errorOf(() => withVariants(b, { y: true })).message).toMatch(/^dependency cycle: `cyc-b` with variants y=true .* needs `cyc-a` with variants x=true/);
  });

  it('inherited packages follow variant changes through their parent', () => {
    const child = inherit(solver, { name: 'solver-extra', inputs: (_v, parent) => [...parent.inputs, mpi] });
    expect(child.inputs).toEqual([metis, mpi]);
    expect(withVariants(child, { metis: false }).inputs).toEqual([mpi]);
  });

  it('directInputs lists inputs, native and propagated inputs', () => {
    const p = dummyPackage({ inputs: [metis], nativeInputs: [mpi] });
    expect(directInputs(p)).toEqual([metis, mpi]);
  });
});

describe('PackageMap', () => {
  it('maps packages (made, derived, or varied) to values, each its own key', () => {
    const a = dummyPackage();
    const b = dummyPackage({ inputs: [a] });
    const c = b.with({ version: '2.0' });
    const m = new PackageMap<string>();
    expect(m.get(a)).toBeUndefined();
    expect(m.has(c)).toBe(false);
    m.set(c, 'c').set(a, 'a');
    expect([m.get(a), m.get(b), m.get(c)]).toEqual(['a', undefined, 'c']);
    m.set(a, 'A');
    expect(m.get(a)).toBe('A');
    m.delete(a);
    m.delete(b);
    expect([m.has(a), m.has(b), m.get(c)]).toEqual([false, false, 'c']);
    // Iteration is in the order the packages were made.
    m.set(b, 'b').set(a, 'a');
    expect([...m.entries()]).toEqual([
      [a, 'a'],
      [b, 'b'],
      [c, 'c'],
    ]);
  });

  it('keeps thousands of packages apart, whatever order they are set in', () => {
    const ps = Array.from({ length: 3000 }, () => dummyPackage());
    const m = new PackageMap<number>();
    for (let i = ps.length - 1; i >= 0; i -= 2) m.set(ps[i]!, i);
    for (let i = 0; i < ps.length; i++) expect(m.get(ps[i]!)).toBe(i % 2 === 1 ? i : undefined);
    expect([...m.entries()].length).toBe(1500);
  });

  it('keeps keys made far apart (on pages of their own) and deletes them', () => {
    const first = dummyPackage();
    for (let i = 0; i < 5000; i++) dummyPackage();
    const last = dummyPackage();
    const m = new PackageMap<string>().set(last, 'last').set(first, 'first');
    expect([m.get(first), m.get(last)]).toEqual(['first', 'last']);
    expect([...m.entries()].map(([, v]) => v)).toEqual(['first', 'last']);
    m.delete(first);
    expect([m.has(first), m.get(last)]).toEqual([false, 'last']);
  });
});

describe('defineBuildSystem', () => {
  it('checks its fields as definePackage does: a misspelt or mistyped one is an error', () => {
    expect(() => defineBuildSystem({ name: 'mine', descripton: 'd', phases: ['build'] } as never)).toThrow(/^build system `mine`: unknown field `descripton`; did you mean `description`/);
    expect(() => defineBuildSystem({ name: 'mine', description: 'd', phases: 'build' } as never)).toThrow(/^build system `mine`: phases is the string "build"; give a list of phase names/);
    expect(() => defineBuildSystem({ name: 'mine', description: 'd', phases: ['build'], tolchain: () => [] } as never)).toThrow(/unknown field `tolchain`; did you mean `toolchain`/);
    expect(() => defineBuildSystem({ name: 'My Build', description: 'd', phases: ['build'] })).toThrow(/^build system `My Build`: name is the string "My Build"; give a lower-case name/);
    expect(() => defineBuildSystem({ name: 'mine', phases: ['build'] } as never)).toThrow(/^build system `mine`: description is undefined; give a sentence/);
    expect(() => defineBuildSystem({ name: 'mine', description: 'd', phases: ['build'], argumentKeys: 'flags' } as never)).toThrow(/argumentKeys is the string "flags"; give a list/);
    expect(() => defineBuildSystem(undefined as never)).toThrow(/^defineBuildSystem takes one object of fields/);
    expect(defineBuildSystem({ name: 'mine', description: 'd', phases: ['build'] }).phases).toEqual(['build']);
  });
});
