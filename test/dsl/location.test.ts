import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = join(import.meta.dirname, '..', '..');

/**
 * Runs `body` as a package file of its own in a plain Node, with the built modules: no test
 * runner's source-map hook formats stacks there, so the DSL keeps only the definition's call
 * site (under vitest it keeps the stack for the hook; package.test.ts checks that path).
 */
function run(body: string, prelude = ''): unknown {
  const dir = mkdtempSync(join(tmpdir(), 'tsdsl-location-'));
  try {
    const file = join(dir, 'defs.mjs');
    const dsl = pathToFileURL(join(ROOT, 'dist/src/index.js')).href;
    writeFileSync(
      file,
      `import { definePackage, inherit, trivial, licenses } from ${JSON.stringify(dsl)};\n` +
        `const spec = { version: '1', buildSystem: trivial, synopsis: 's', description: 'd', homePage: 'https://example.org/', license: licenses.expat };\n` +
        `${prelude}\n` +
        `const at = (p) => p.location && { file: p.location.file, line: p.location.line };\n` +
        body,
    );
    return JSON.parse(execFileSync(process.execPath, [file], { encoding: 'utf8' }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('package locations (built modules, no source-map hook)', () => {
  it('are the lines of definePackage, inherit, .with() and a helper that defines packages', () => {
    const got = run(
      [
        /* 5 */ `const a = definePackage({ name: 'a', ...spec });`,
        /* 6 */ `const b = inherit(a, { name: 'b' });`,
        /* 7 */ `const c = a.with({ name: 'c' });`,
        /* 8 */ `const helper = (name) =>`,
        /* 9 */ `  definePackage({ name, ...spec });`,
        /* 10 */ `const d = helper('d');`,
        /* 11 */ `console.log(JSON.stringify([a, b, c, d].map(at)));`,
      ].join('\n'),
    ) as { file: string; line: number }[];
    expect(got.map((l) => l.line)).toEqual([5, 6, 7, 9]);
    for (const l of got) expect(l.file).toMatch(/tsdsl-location-[^/]+\/defs\.mjs$/);
  });

  it('pass over frames inside node_modules to the package file that called them (none when it is too deep)', () => {
    // A library of helpers installed as a dependency: the location is where the package file used it.
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-location-lib-'));
    try {
      const lib = join(dir, 'node_modules', 'helpers', 'index.mjs');
      mkdirSync(join(dir, 'node_modules', 'helpers'), { recursive: true });
      const dsl = pathToFileURL(join(ROOT, 'dist/src/index.js')).href;
      writeFileSync(
        lib,
        `import { definePackage } from ${JSON.stringify(dsl)};\n` +
          `export const make = (spec) => definePackage(spec);\n` +
          // Three calls deep in the library: no frame V8 records is the package file's.
          `export const deep = (spec) => deeper(spec);\nconst deeper = (spec) => deepest(spec);\nconst deepest = (spec) => definePackage(spec);\n`,
      );
      const got = run(
        [
          /* 5 */ `const e = make({ name: 'e', ...spec });`,
          /* 6 */ `const f = deep({ name: 'f', ...spec });`,
          // A stack formatter installed after the definitions (source-map-support, say) changes nothing.
          /* 7 */ `Error.prepareStackTrace = (e, sites) => String(e) + sites.map((s) => '\\n    at ' + s).join('');`,
          /* 8 */ `console.log(JSON.stringify([at(e), at(f) ?? null]));`,
        ].join('\n'),
        `import { make, deep } from ${JSON.stringify(pathToFileURL(lib).href)};`,
      ) as [{ file: string; line: number }, null];
      expect(got[0].line).toBe(5);
      expect(got[0].file).toMatch(/defs\.mjs$/);
      expect(got[1]).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('name the line in an error about the definition', () => {
    const got = run(
      [/* 5 */ `try { definePackage({ name: 'bad', ...spec, version: '' }); } catch (e) { console.log(JSON.stringify(e.message)); }`].join('\n'),
    ) as string;
    expect(got).toMatch(/package `bad` at .*defs\.mjs:5: version "" must be/);
  });
});

describe('package locations where tsdsl is installed in a node_modules (an npm pack tarball)', () => {
  it('are the collection\'s files, for show, edit and the module graph', () => {
    // Installed from a tarball, tsdsl's files are copies under the user's node_modules (a link
    // to a checkout resolves to the checkout): the collection is not a dependency's code to pass over.
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-installed-'));
    try {
      const inst = join(dir, 'node_modules', 'tsdsl');
      mkdirSync(inst, { recursive: true });
      for (const d of ['bin', 'dist', 'packages', 'src', 'package.json']) cpSync(join(ROOT, d), join(inst, d), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules'), join(inst, 'node_modules'));
      const cli = (args: string[], env: Record<string, string> = {}) =>
        execFileSync(process.execPath, [join(inst, 'bin', 'tsdsl.js'), ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, TSDSL_PACKAGE_PATH: '', ...env } });
      expect(cli(['show', 'hwloc'])).toContain('location: node_modules/tsdsl/packages/mpi.ts:28\n');
      expect(cli(['edit', 'hwloc'], { EDITOR: 'echo', VISUAL: '' })).toBe(`+28 ${join(inst, 'packages', 'mpi.ts')}\n`);
      expect(cli(['graph', '--type=module', 'hwloc'])).toContain('"node_modules/tsdsl/packages/mpi.ts" -> "node_modules/tsdsl/packages/base.ts"');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
