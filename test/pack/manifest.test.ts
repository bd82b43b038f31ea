/**
 * `tsdsl pack -m manifest.ts` and `--save-provenance`, through the real binary. The derivation
 * of a manifest's profile (`-d`, nothing built) must equal the one of the same packages and
 * transformations given on the command line; errors name the manifest's file and line; a full
 * pack of hwloc (from the shared test store) records the collection revision, reproducibly.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSandboxSupport } from '../../src/build/sandbox.js';
import { removeTree } from '../../src/pack/compress.js';
import { collectionRevision, defineManifest } from '../../src/pack/manifest.js';
import { tsdsl } from '../cli/helpers.js';

const root = process.env['TSDSL_TEST_ROOT'] ?? join(tmpdir(), 'tsdsl-test-store');
const env = { TSDSL_ROOT: root };
const dir = mkdtempSync(join(tmpdir(), 'tsdsl-manifest-'));
afterAll(() => removeTree(dir));

function manifest(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

function drv(args: readonly string[]): string {
  const r = tsdsl(['pack', '-d', ...args], { env, cwd: dir });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

describe('pack manifests', () => {
  it('gives the profile of the same packages and transformations as the command line', () => {
    const object = manifest(
      'object.ts',
      `import { defineManifest } from 'tsdsl';\nexport default defineManifest({\n  packages: ['hwloc', 'mumps'],\n  transformations: { withInput: { scotch: 'pt-scotch' }, withoutTests: ['hwloc'] },\n});\n`,
    );
    const strings = manifest(
      'strings.ts',
      `import { defineManifest } from 'tsdsl';\nimport { hwloc } from 'tsdsl/packages';\nexport default defineManifest({\n  packages: [hwloc, 'mumps'],\n  transformations: ['--with-input=scotch=pt-scotch', '--without-tests=hwloc'],\n});\n`,
    );
    const cli = drv(['hwloc', 'mumps', '--with-input=scotch=pt-scotch', '--without-tests=hwloc']);
    expect(cli).toMatch(/^\/[^\n]+-profile\.drv$/);
    expect(drv(['-m', object])).toBe(cli);
    expect(drv(['-m', strings])).toBe(cli);
    // The manifest's own transformations change some of its packages: no "had no effect".
    expect(tsdsl(['pack', '-d', '-m', object], { env, cwd: dir }).stderr).toBe('');
    const none = manifest('none.ts', `import { defineManifest } from 'tsdsl';\nexport default defineManifest({\n  packages: ['hwloc'],\n  transformations: { withInput: { scotch: 'pt-scotch' } },\n});\n`);
    expect(tsdsl(['pack', '-d', '-m', none], { env, cwd: dir }).stderr).toMatch(/warning: --with-input=scotch=pt-scotch had no effect on `hwloc@2\.9\.0`\n$/);
    // Without the transformations it is another profile.
    expect(drv(['hwloc', 'mumps'])).not.toBe(cli);
    // Command-line transformations apply to a manifest's packages, with no "had no effect" warning.
    const plain = manifest('plain.ts', `import { defineManifest } from 'tsdsl';\nexport default defineManifest({ packages: ['hwloc', 'mumps'] });\n`);
    const both = tsdsl(['pack', '-d', '-m', plain, '--with-input=scotch=pt-scotch', '--without-tests=hwloc'], { env, cwd: dir });
    expect([both.stdout.trim(), both.stderr]).toEqual([cli, '']);
  }, 300_000);

  it('lists each package of a profile once, and refuses two different derivations of one name', () => {
    // zlib given and also propagated by scotch: one entry, the one given (with its transformation).
    const profile = drv(['scotch', 'zlib', '--without-tests=zlib']);
    const shown = JSON.parse(tsdsl(['derivation', 'show', profile], { env, cwd: dir }).stdout) as Record<string, { env: Record<string, string> }>;
    const { env: penv } = Object.values(shown)[0]!;
    const listed = (JSON.parse(penv['manifest']!) as { packages: Array<{ name: string; propagated: boolean; transformations: Array<{ option: string }> }> }).packages;
    expect(listed.map((p) => [p.name, p.propagated, p.transformations.map((t) => t.option)])).toEqual([
      ['scotch', false, ['without-tests']],
      ['zlib', false, ['without-tests']],
    ]);
    expect(new Set(penv['inputs']!.split(' ')).size).toBe(penv['inputs']!.split(' ').length);
    // A manifest that transforms mumps, and mumps on the command line: two mumps, refused.
    const m = manifest('conflict.ts', `import { defineManifest } from 'tsdsl';\nexport default defineManifest({ packages: ['mumps'], transformations: { withInput: { scotch: 'pt-scotch' } } });\n`);
    const both = tsdsl(['pack', '-d', '-m', m, 'mumps'], { env, cwd: dir });
    expect(both.code).toBe(1);
    expect(both.stderr).toMatch(/^tsdsl: error: a profile cannot hold two different `mumps`: `mumps@5\.5\.1` and `mumps@5\.5\.1` \(--with-input=scotch=pt-scotch\) would install the same files/);
    // The same manifest twice is one profile of one mumps.
    expect(drv(['-m', m, '-m', m])).toBe(drv(['-m', m]));
  }, 300_000);

  it("reads relative file names from the manifest's directory, wherever tsdsl runs", () => {
    const patch = join(dir, 'fix.patch');
    writeFileSync(patch, '--- a/README\n+++ b/README\n@@ -1 +1,2 @@\n x\n+y\n');
    const rel = manifest('relative.ts', `import { defineManifest } from 'tsdsl';\nexport default defineManifest({\n  packages: ['hwloc'],\n  transformations: { withPatch: { hwloc: './fix.patch' } },\n});\n`);
    const fromElsewhere = tsdsl(['pack', '-d', '-m', rel], { env, cwd: tmpdir() });
    expect(fromElsewhere.code, fromElsewhere.stderr).toBe(0);
    // The same as the command line run in the manifest's directory (the option as written is recorded).
    expect(fromElsewhere.stdout.trim()).toBe(drv(['hwloc', '--with-patch=hwloc=./fix.patch']));
  }, 300_000);

  it('reports errors with the manifest file and line', () => {
    const unknown = manifest('unknown.ts', `import { defineManifest } from 'tsdsl';\n\nexport default defineManifest({\n  packages: ['hwlok'],\n});\n`);
    expect(tsdsl(['pack', '-d', '-m', unknown], { env, cwd: dir }).stderr).toMatch(/unknown\.ts:4: unknown package `hwlok`; did you mean `hwloc`/); // the entry's line, not the call's
    const badKey = manifest('bad-key.ts', `import { defineManifest } from 'tsdsl';\nexport default defineManifest({\n  packages: ['hwloc'],\n  transformations: { withFoo: {} },\n});\n`);
    expect(tsdsl(['pack', '-d', '-m', badKey], { env, cwd: dir }).stderr).toMatch(/bad-key\.ts:4: unknown transformation `withFoo`/);
    // Not an object at all (null, a number): said, not an internal error.
    const none = manifest('null.ts', `export default null;\n`);
    expect(tsdsl(['pack', '-d', '-m', none], { env, cwd: dir }).stderr).toMatch(/^tsdsl: error: \S*null\.ts: a manifest is an object \{ packages: \[\.\.\.\], transformations\?: \{\.\.\.\} \}, not null/);
    const badField = manifest('bad-field.ts', `import { defineManifest } from 'tsdsl';\nexport default defineManifest({\n  package: ['hwloc'],\n} as never);\n`);
    expect(tsdsl(['pack', '-d', '-m', badField], { env, cwd: dir }).stderr).toMatch(/bad-field\.ts:3: unknown manifest field `package`/);
    const syntax = manifest('syntax.ts', `import { defineManifest } from 'tsdsl';\nexport default defineManifest({\n  packages: ['hwloc',\n});\n`);
    expect(tsdsl(['pack', '-d', '-m', syntax], { env, cwd: dir }).stderr).toMatch(/syntax error in manifest file \(-m\) .*syntax\.ts:4/);
    // A file the manifest imports is said to be that, with the manifest.
    manifest('lib.ts', 'export const x = undefinedThing;\n');
    const imports = manifest('imports.ts', `import { x } from './lib.ts';\nexport default { packages: ['hwloc'], x };\n`);
    expect(tsdsl(['pack', '-d', '-m', imports], { env, cwd: dir }).stderr).toMatch(/loading manifest file \(-m\) \S*imports\.ts \(at \S*lib\.ts:1, in a file it imports\) failed: undefinedThing is not defined/);
    const noDefault = manifest('no-default.ts', `export const x = 1;\n`);
    expect(tsdsl(['pack', '-d', '-m', noDefault], { env, cwd: dir }).stderr).toMatch(/no-default\.ts: the manifest file has no default export/);
    // -d builds nothing, so options about building or packing are refused, as with build -d.
    expect(tsdsl(['pack', '-d', '-j2', 'hwloc'], { env, cwd: dir }).stderr).toBe("tsdsl: error: tsdsl pack: -d writes the profile's derivation and builds nothing, so --max-jobs has no effect; drop one of them\n");
    expect(tsdsl(['pack', '-m', join(dir, 'missing.ts')], { env, cwd: dir }).stderr).toMatch(/missing\.ts: no such manifest file/);
  }, 300_000);

  it('checks the manifest where defineManifest is called', () => {
    // The line of the call (where its `packages` is), not the first `packages:` of the file.
    const marker = '// @' + 'empty-packages';
    const line = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').findIndex((l) => l.includes(marker)) + 1;
    expect(() => defineManifest({ packages: [] })).toThrow(new RegExp(`manifest\\.test\\.ts:${line}: \`packages\` must be a non-empty list`)); // @empty-packages
    expect(() => defineManifest({ packages: ['hwloc'], transformations: 3 as never })).toThrow(/`transformations` is an object/);
  });

  it('computes the same collection revision twice, and another one when a user file changes', () => {
    const file = manifest('rev.ts', 'export default { packages: ["hwloc"] };\n');
    const a = collectionRevision([file]);
    expect(a).toMatch(/^tsdsl \d+\.\d+\.\d+ (git:[0-9a-f]{40}(-dirty\+sha256:[0-9a-f]{64})?|sha256:[0-9a-f]{64}); rev\.ts sha256:[0-9a-f]{64}$/);
    expect(collectionRevision([file])).toBe(a);
    writeFileSync(file, 'export default { packages: ["mumps"] };\n');
    expect(collectionRevision([file])).not.toBe(a);
    expect(() => collectionRevision([join(dir, 'typo')])).toThrow(/collection revision: `.*typo` does not exist/);
  });

  it('calls a git checkout dirty when an untracked package file is there, and finds the directories defining what is packed', async () => {
    const repo = mkdtempSync(join(tmpdir(), 'tsdsl-rev-git-'));
    const git = (...args: string[]) => spawnSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@example.org', ...args], { encoding: 'utf8' });
    git('init', '-q');
    writeFileSync(join(repo, 'a.ts'), 'export {};\n');
    git('add', 'a.ts');
    git('commit', '-qm', 'a');
    expect(collectionRevision([repo])).toMatch(/; tsdsl-rev-git-\w+ git:[0-9a-f]{40}$/);
    writeFileSync(join(repo, 'notes.txt'), 'not a package file\n');
    expect(collectionRevision([repo])).toMatch(/git:[0-9a-f]{40}$/);
    writeFileSync(join(repo, 'b.ts'), "import { definePackage } from 'tsdsl';\n");
    const dirty = collectionRevision([repo]);
    expect(dirty).toMatch(/git:[0-9a-f]{40}-dirty\+sha256:[0-9a-f]{64}$/);
    // The same edit, the same record; another edit, another one (the commit alone cannot tell).
    expect(collectionRevision([repo])).toBe(dirty);
    writeFileSync(join(repo, 'b.ts'), "import { definePackage } from 'tsdsl'; // changed\n");
    expect(collectionRevision([repo])).toMatch(/git:[0-9a-f]{40}-dirty\+sha256:[0-9a-f]{64}$/);
    expect(collectionRevision([repo])).not.toBe(dirty);
    const { definingDirectories } = await import('../../src/pack/manifest.js');
    const { dummyPackage } = await import('../fixtures/dummy.js');
    const { getDefaultCollection } = await import('../../src/transform/api.js');
    const mine = dummyPackage({ name: 'mine', inputs: [getDefaultCollection().resolve('hwloc')] });
    expect(definingDirectories([mine])).toEqual([expect.stringMatching(/\/test\/fixtures$/)]);
  });
});

describe.skipIf(!checkSandboxSupport().ok)('--save-provenance', () => {
  it('records the collection revision in the profile manifest, reproducibly', () => {
    const m = manifest('hwloc.ts', `import { defineManifest } from 'tsdsl';\nexport default defineManifest({ packages: ['hwloc'] });\n`);
    const slow = { env, cwd: dir, timeoutMs: 1_100_000 };
    const a = tsdsl(['pack', '-m', m, '--save-provenance', '-S', '/bin=bin', '-o', 'a.tar.gz', '-j2'], slow);
    expect(a.code, a.stderr).toBe(0);
    const b = tsdsl(['pack', '-m', m, '--save-provenance', '-S', '/bin=bin', '-o', 'b.tar.gz'], slow);
    expect(b.code, b.stderr).toBe(0);
    expect(readFileSync(join(dir, 'a.tar.gz')).equals(readFileSync(join(dir, 'b.tar.gz')))).toBe(true);
    const json = spawnSync('tar', ['-xzOf', join(dir, 'a.tar.gz'), '--wildcards', './tsdsl/store/*-profile/manifest.json'], { encoding: 'utf8' }).stdout;
    const profile = JSON.parse(json) as { packages: Array<{ name: string; transformations: unknown[] }>; collectionRevision?: string };
    expect(profile.packages.map((p) => p.name)).toEqual(['hwloc']);
    expect(profile.collectionRevision).toMatch(/^tsdsl \d+\.\d+\.\d+ \S+; hwloc\.ts sha256:[0-9a-f]{64}$/);
    // Without the flag there is no revision, hence another profile.
    const c = tsdsl(['pack', '-m', m, '-S', '/bin=bin', '-o', 'c.tar.gz'], slow);
    expect(c.code, c.stderr).toBe(0);
    const plain = spawnSync('tar', ['-xzOf', join(dir, 'c.tar.gz'), '--wildcards', './tsdsl/store/*-profile/manifest.json'], { encoding: 'utf8' }).stdout;
    expect(JSON.parse(plain)).not.toHaveProperty('collectionRevision');
  }, 1_200_000);
});
