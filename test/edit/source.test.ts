/**
 * The ts-morph rewrites on fixture package files in a temporary directory: field replacement
 * keeps everything else byte for byte and is a no-op the second time, insertion lands in
 * alphabetical order with its imports, and edits that break or cannot read a file leave it
 * untouched with a file:line error.
 */
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { insertDefinition, rewritePackage, writeAtomically } from '../../src/edit/source.js';

const FIXTURE = new URL('../fixtures/update/pkgs/hpc.ts', import.meta.url);
const original = readFileSync(FIXTURE, 'utf8');

function copy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsdsl-edit-'));
  const file = join(dir, 'hpc.ts');
  copyFileSync(FIXTURE, file);
  return file;
}

const HWLOC_LINE = original.split('\n').indexOf('export const hwloc = definePackage({') + 1;

describe('rewritePackage', () => {
  it('replaces version, sha256, URLs and debianVersion, keeping quotes, comments and layout', async () => {
    const file = copy();
    const r = await rewritePackage({ file, line: HWLOC_LINE, column: 22 }, 'hwloc', {
      version: '2.9.0',
      sha256: 'b3fb1a43a14d8fbcd8e976de5ede2ea7ce1d768ed173adb33c7ceaaf098dc970',
      urls: (old) => old.map((u) => u.replaceAll('2.8', '2.9')),
      properties: { debianVersion: '2.9.0-1' },
    });
    expect(r.changed).toBe(true);
    const expected = original
      .replace('version: "2.8.0",   // quoted', 'version: "2.9.0",   // quoted')
      .replace('/v2.8/hwloc-2.8.0.tar.bz2', '/v2.9/hwloc-2.9.0.tar.bz2')
      .replace('hwloc_2.8.0.orig.tar.bz2', 'hwloc_2.9.0.orig.tar.bz2')
      .replace('311d44e99bbf6d269c2cbc569d073978d88352bc31d51e31457d4df94783172d', 'b3fb1a43a14d8fbcd8e976de5ede2ea7ce1d768ed173adb33c7ceaaf098dc970')
      .replace("debianVersion: '2.8.0-1'", "debianVersion: '2.9.0-1'");
    expect(readFileSync(file, 'utf8')).toBe(expected);
    const again = await rewritePackage({ file, line: HWLOC_LINE, column: 22 }, 'hwloc', { version: '2.9.0', sha256: 'b3fb1a43a14d8fbcd8e976de5ede2ea7ce1d768ed173adb33c7ceaaf098dc970' });
    expect(again.changed).toBe(false);
    expect(readFileSync(file, 'utf8')).toBe(expected);
  });

  it("adds a fileName, after the URLs and their comment, when the new Debian file name holds a `~` (a store path cannot): refresh -u wrote a definition url() refused", async () => {
    const file = copy();
    const { addedFileName } = await import('../../src/update/urls.js');
    const edit = {
      version: '3.0rc1',
      sha256: 'b3fb1a43a14d8fbcd8e976de5ede2ea7ce1d768ed173adb33c7ceaaf098dc970',
      urls: (old: readonly string[]) => old.map((u) => (u.startsWith('mirror://debian/') ? 'mirror://debian/pool/main/h/hwloc/hwloc_3.0~rc1.orig.tar.bz2' : u)),
      fileName: (old: string) => old,
      addFileName: addedFileName,
    };
    // Debian's file first (the upstream URL dropped): its name needs a fileName.
    writeFileSync(file, original.replace("      'https://download.open-mpi.org/release/hwloc/v2.8/hwloc-2.8.0.tar.bz2',\n", ''));
    await rewritePackage({ file, line: HWLOC_LINE, column: 22 }, 'hwloc', edit);
    const after = readFileSync(file, 'utf8');
    expect(after).toContain("      'mirror://debian/pool/main/h/hwloc/hwloc_3.0~rc1.orig.tar.bz2', // Debian's copy\n    ],\n    fileName: 'hwloc_3.0rc1.orig.tar.bz2',\n    sha256: 'b3fb");
    // Written once: a second run changes nothing.
    expect((await rewritePackage({ file, line: HWLOC_LINE, column: 22 }, 'hwloc', edit)).changed).toBe(false);
    // A single URL with a comment after it: the fileName goes on the next line.
    const one = copy();
    writeFileSync(one, original.replace(/    urls: \[\n[^\]]*\],\n/, "    urls: 'mirror://debian/pool/main/h/hwloc/hwloc_2.8.0.orig.tar.bz2', // Debian's\n"));
    await rewritePackage({ file: one, line: HWLOC_LINE, column: 22 }, 'hwloc', edit);
    expect(readFileSync(one, 'utf8')).toContain("    urls: 'mirror://debian/pool/main/h/hwloc/hwloc_3.0~rc1.orig.tar.bz2', // Debian's\n    fileName: 'hwloc_3.0rc1.orig.tar.bz2',\n");
    // An upstream URL first names the store item well: nothing added.
    const up = copy();
    await rewritePackage({ file: up, line: HWLOC_LINE, column: 22 }, 'hwloc', edit);
    expect(readFileSync(up, 'utf8')).not.toContain('fileName');
  });

  it('keeps the CRLF line endings of a file, changing only the edited lines', async () => {
    const file = copy();
    const crlf = original.replace(/\n/g, '\r\n');
    writeFileSync(file, crlf);
    const edit = { version: '2.9.0', sha256: 'b3fb1a43a14d8fbcd8e976de5ede2ea7ce1d768ed173adb33c7ceaaf098dc970', urls: (old: readonly string[]) => old.map((u) => u.replaceAll('2.8', '2.9')) };
    await rewritePackage({ file, line: HWLOC_LINE, column: 22 }, 'hwloc', edit);
    // A second edit in the same process reads the file anew.
    await rewritePackage({ file, line: HWLOC_LINE, column: 22 }, 'hwloc', { ...edit, version: '2.9.1' });
    const after = readFileSync(file, 'utf8');
    expect(after.split('\r\n')).toHaveLength(crlf.split('\r\n').length);
    expect(after.replace(/\r\n/g, '')).not.toContain('\n');
    const changed = after.split('\r\n').filter((l, i) => l !== crlf.split('\r\n')[i]);
    expect(changed).toEqual(['  version: "2.9.1",   // quoted and spaced on purpose: the rewrite keeps both', expect.stringContaining('/v2.9/hwloc-2.9.0.tar.bz2'), expect.stringContaining('hwloc_2.9.0.orig.tar.bz2'), expect.stringContaining('b3fb1a43')]);
  });

  it('keeps a byte-order mark the file had when it writes the edited text', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tsdsl-bom-')), 'a.ts');
    writeFileSync(file, '\uFEFFexport const a = 1;\n');
    expect(writeAtomically(file, 'export const a = 2;\n')).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe('\uFEFFexport const a = 2;\n');
    expect(writeAtomically(file, 'export const a = 2;\n')).toBe(false);
  });

  it('leaves a read-only file as it is, saying so, rather than replacing it by a rename', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tsdsl-ro-')), 'a.ts');
    writeFileSync(file, 'export const a = 1;\n');
    chmodSync(file, 0o444);
    expect(() => writeAtomically(file, 'export const a = 2;\n')).toThrow(/a\.ts is read-only, so it was not changed; make it writable \(`chmod u\+w \S+a\.ts`\)/);
    expect(readFileSync(file, 'utf8')).toBe('export const a = 1;\n');
    expect(statSync(file).mode & 0o777).toBe(0o444);
    chmodSync(file, 0o644);
    expect(writeAtomically(file, 'export const a = 2;\n')).toBe(true);
  });

  it('leaves a file saved meanwhile (from an editor, by another tsdsl) as it is, rather than losing that change', async () => {
    const file = copy();
    const saved = original.replace('// An older hwloc', '// An older hwloc (saved from the editor meanwhile)');
    expect(saved).not.toBe(original);
    // The URLs are computed between reading the file and writing it: the editor saves then.
    const edit = {
      version: '2.9.0',
      urls: (old: readonly string[]) => {
        writeFileSync(file, saved);
        return old.map((u) => u.replaceAll('2.8', '2.9'));
      },
    };
    await expect(rewritePackage({ file, line: HWLOC_LINE, column: 22 }, 'hwloc', edit)).rejects.toThrow(/hpc\.ts changed while it was being edited \(saved from an editor, or by another tsdsl\), so it was left as it is; run the command again/);
    expect(readFileSync(file, 'utf8')).toBe(saved);
    expect(() => writeAtomically(file, 'x', original)).toThrow(/changed while it was being edited/);
    expect(writeAtomically(file, 'export const a = 1;\n', saved)).toBe(true);
  });

  it('refuses a file that does not parse, naming file:line, and leaves it untouched', async () => {
    const file = copy();
    const broken = original.replace("  buildSystem: gnu,\n  arguments:", "  buildSystem: gnu,,\n  arguments:");
    writeFileSync(file, broken);
    const line = broken.split('\n').findIndex((l) => l.includes('gnu,,')) + 1;
    await expect(rewritePackage({ file, line: HWLOC_LINE, column: 22 }, 'hwloc', { version: '2.9.0' })).rejects.toThrow(
      new RegExp(`hpc\\.ts:${line}:\\d+: .*the file does not parse, so it was not edited`),
    );
    expect(readFileSync(file, 'utf8')).toBe(broken);
  });

  it('rewrites the definition of the package named when two start on one line, never its neighbour', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tsdsl-oneline-')), 'tools.ts');
    const def = (name: string, version: string, sha: string) =>
      `definePackage({ name: '${name}', version: '${version}', source: url({ urls: 'mirror://debian/pool/main/p/${name}/${name}_${version}.orig.tar.gz', sha256: '${sha.repeat(64)}' }), buildSystem: gnu, synopsis: 'Tool', description: 'A tool.', homePage: 'https://example.org', license: licenses.gpl3Plus })`;
    const text = `import { definePackage, gnu, licenses, url } from 'tsdsl';\n\nexport const tools = [${def('patchelf', '0.14.3', '4')}, ${def('proot', '5.1.0', '5')}];\n`;
    writeFileSync(file, text);
    const column = text.split('\n')[2]!.lastIndexOf('definePackage') + 1;
    const edit = { version: '5.4.0', sha256: '6'.repeat(64), urls: (old: readonly string[]) => old.map((u) => u.replaceAll('5.1.0', '5.4.0')) };
    // The column of a compiled file may be off: the name decides.
    for (const col of [column, 1]) {
      writeFileSync(file, text);
      await rewritePackage({ file, line: 3, column: col }, 'proot', edit);
      const after = readFileSync(file, 'utf8');
      expect(after).toContain(def('patchelf', '0.14.3', '4'));
      expect(after).toContain(def('proot', '5.4.0', '6'));
    }
    writeFileSync(file, text);
    await expect(rewritePackage({ file, line: 3, column }, 'spglib', edit)).rejects.toThrow(/tools\.ts:3: no definePackage\(…\) or inherit\(…, \{…\}\) call for `spglib` starts on this line \(only one for `patchelf`, `proot`\)/);
    expect(readFileSync(file, 'utf8')).toBe(text);
  });

  it('sets a version given by a constant of the file, leaving URLs written as templates of it as they are', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-const-'));
    const file = join(dir, 'cmocka.ts');
    const def = (ext: string) =>
      [
        "import { definePackage, gnu, licenses, url } from 'tsdsl';",
        '',
        "const version = '1.1.4'; // ours",
        'export const cmocka = definePackage({',
        "  name: 'cmocka',",
        '  version,',
        `  source: url({ urls: \`mirror://debian/pool/main/c/cmocka/cmocka_\${version}.orig.tar.${ext}\`, sha256: '${'0'.repeat(63)}9' }),`,
        "  buildSystem: gnu, synopsis: 'Unit testing for C', description: 'Cmocka tests C.', homePage: 'https://cmocka.org', license: licenses.asl2,",
        '});',
        '',
      ].join('\n');
    const edit = { version: '2.0.2', sha256: 'a'.repeat(64), urls: () => ['mirror://debian/pool/main/c/cmocka/cmocka_2.0.2.orig.tar.xz'] };
    writeFileSync(file, def('xz'));
    const r = await rewritePackage({ file, line: 4, column: 23 }, 'cmocka', edit);
    expect(r.changed).toBe(true);
    const expected = def('xz').replace("'1.1.4'; // ours", "'2.0.2'; // ours").replace(`'${'0'.repeat(63)}9'`, `'${'a'.repeat(64)}'`);
    expect(readFileSync(file, 'utf8')).toBe(expected);
    expect((await rewritePackage({ file, line: 4, column: 23 }, 'cmocka', edit)).changed).toBe(false);
    // A template that would not give the new URL (Debian's file is now .tar.xz) is left to the user.
    writeFileSync(file, def('gz'));
    await expect(rewritePackage({ file, line: 4, column: 23 }, 'cmocka', edit)).rejects.toThrow(
      /cmocka\.ts:7: this URL would read mirror:\/\/debian\/pool\/main\/c\/cmocka\/cmocka_2\.0\.2\.orig\.tar\.gz once the version is 2\.0\.2, not \S+\.tar\.xz; edit it by hand/,
    );
    expect(readFileSync(file, 'utf8')).toBe(def('gz'));
    // A constant another definition uses too is not set for one of them.
    const shared = `${def('xz')}export const cmocka2 = definePackage({ name: 'cmocka2', version, buildSystem: gnu, synopsis: 'Unit testing for C', description: 'Cmocka tests C.', homePage: 'https://cmocka.org', license: licenses.asl2 });\n`;
    writeFileSync(file, shared);
    await expect(rewritePackage({ file, line: 4, column: 23 }, 'cmocka', edit)).rejects.toThrow(/cmocka\.ts:6: the version of `cmocka` is `version`, not a string literal; the constant at \S+cmocka\.ts:3 is used by other code too \(\S+cmocka\.ts:10\)/);
    expect(readFileSync(file, 'utf8')).toBe(shared);
    // A helper's parameter: each call has its own; not "it inherits it".
    const helper = [
      "import { definePackage, gnu, licenses, url } from 'tsdsl';",
      'const mk = (name: string, version: string) => definePackage({',
      "  name, version, source: url({ urls: 'mirror://debian/pool/main/c/cmocka/cmocka_1.1.4.orig.tar.xz', sha256: '" + '0'.repeat(64) + "' }),",
      "  buildSystem: gnu, synopsis: 'Unit testing for C', description: 'Cmocka tests C.', homePage: 'https://cmocka.org', license: licenses.asl2 });",
      "export const cmocka = mk('cmocka', '1.1.4');",
      '',
    ].join('\n');
    writeFileSync(file, helper);
    await expect(rewritePackage({ file, line: 2, column: 47 }, 'cmocka', edit)).rejects.toThrow(/the version of `cmocka` is `version`, not a string literal but a parameter of the function at \S+cmocka\.ts:2: each call gives its own/);
    expect(readFileSync(file, 'utf8')).toBe(helper);
  });

  it('leaves a fileName written as a template of the version constant to follow it, as its URLs do', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-const-'));
    const file = join(dir, 'scotch.ts');
    const def = (fileName: string) =>
      [
        "import { definePackage, gnu, licenses, url } from 'tsdsl';",
        "const version = '7.0.3';",
        'export const scotch = definePackage({',
        "  name: 'scotch',",
        '  version,',
        `  source: url({ urls: \`https://example.org/scotch-\${version}.tar.gz\`, fileName: ${fileName}, sha256: '${'0'.repeat(63)}9' }),`,
        "  buildSystem: gnu, synopsis: 'S', description: 'S.', homePage: 'https://example.org', license: licenses.asl2,",
        '});',
        '',
      ].join('\n');
    const edit = {
      version: '7.0.6',
      sha256: 'a'.repeat(64),
      urls: (old: readonly string[]) => old.map((u) => u.split('7.0.3').join('7.0.6')),
      fileName: (old: string) => old.split('7.0.3').join('7.0.6'),
    };
    writeFileSync(file, def('`scotch-${version}.tar.gz`'));
    expect((await rewritePackage({ file, line: 3, column: 23 }, 'scotch', edit)).changed).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe(def('`scotch-${version}.tar.gz`').replace("'7.0.3'", "'7.0.6'").replace(`'${'0'.repeat(63)}9'`, `'${'a'.repeat(64)}'`));
    // One that would not give the new name is said, and the file left as it is.
    writeFileSync(file, def('`scotch-${version}-1.tar.gz`'));
    await expect(rewritePackage({ file, line: 3, column: 23 }, 'scotch', { ...edit, fileName: () => 'scotch-7.0.6.tar.gz' })).rejects.toThrow(/scotch\.ts:6: this fileName would read scotch-7\.0\.6-1\.tar\.gz once the version is 7\.0\.6, not scotch-7\.0\.6\.tar\.gz; edit it by hand/);
    expect(readFileSync(file, 'utf8')).toBe(def('`scotch-${version}-1.tar.gz`'));
  });

  it('says so when no definition starts at the given line', async () => {
    const file = copy();
    await expect(rewritePackage({ file, line: 3, column: 1 }, 'hwloc', { version: '2.9.0' })).rejects.toThrow(/hpc\.ts:3: no definePackage/);
    expect(readFileSync(file, 'utf8')).toBe(original);
  });
});

describe('insertDefinition', () => {
  const libxc = [
    'export const libxc = definePackage({',
    "  name: 'libxc',",
    "  version: '5.2.3',",
    '  source: url({',
    "    urls: 'mirror://debian/pool/main/libx/libxc/libxc_5.2.3.orig.tar.gz',",
    "    sha256: '38b60ed552b46367175b370e1ad5409fcf45c49b71ed13706a65b485f06a5417',",
    '  }),',
    '  buildSystem: cmake,',
    '  nativeInputs: [gfortran],',
    "  synopsis: 'TODO',",
    "  description: 'TODO',",
    "  homePage: 'http://www.tddft.org/programs/octopus/wiki/index.php/Libxc',",
    '  license: licenses.mpl2,',
    '});',
    '',
  ].join('\n');

  it('inserts in alphabetical order and merges the imports it needs', async () => {
    const file = copy();
    await insertDefinition(file, 'libxc', libxc, [
      { module: 'tsdsl', names: ['definePackage', 'licenses', 'url', 'cmake'] },
      { module: 'tsdsl/packages', names: ['gfortran'] },
    ]);
    const expected = original
      .replace("import { definePackage, gnu, licenses, url } from 'tsdsl';", "import { cmake, definePackage, gnu, licenses, url } from 'tsdsl';\nimport { gfortran } from 'tsdsl/packages';")
      .replace('export const mpfr = definePackage({', `${libxc}\nexport const mpfr = definePackage({`);
    expect(readFileSync(file, 'utf8')).toBe(expected);
    await expect(insertDefinition(file, 'libxc', libxc, [])).rejects.toThrow(/`libxc` is already defined here; use `tsdsl refresh -u -L \/\S+ libxc`/);
  });

  it('appends after the last definition when the name sorts last', async () => {
    const file = copy();
    const text = libxc.replace("'libxc'", "'zfp'").replace('const libxc', 'const zfp');
    await insertDefinition(file, 'zfp', text, [{ module: 'tsdsl', names: ['cmake'] }, { module: 'tsdsl/packages', names: ['gfortran'] }]);
    expect(readFileSync(file, 'utf8').endsWith(`});\n\n${text}`)).toBe(true);
  });

  it('rolls back an insertion that would not type-check, naming the error', async () => {
    const file = copy();
    const bad = libxc.replace('buildSystem: cmake', 'buildSystem: nosuchSystem');
    await expect(insertDefinition(file, 'libxc', bad, [{ module: 'tsdsl/packages', names: ['gfortran'] }])).rejects.toThrow(
      /inserting `libxc` would break .*hpc\.ts, so it was rolled back \(the file is unchanged; the lines below are the edited text's\):\n {2}.*hpc\.ts:\d+:\d+: Cannot find name 'nosuchSystem'\.? \(at `buildSystem: nosuchSystem,`\)/,
    );
    expect(readFileSync(file, 'utf8')).toBe(original);
  });
});
