import { chmodSync, copyFileSync, lstatSync, mkdtempSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { styleText } from '../../src/edit/style.js';
import { ROOT, tsdsl } from '../cli/helpers.js';

const INPUT = `// My group's packages.
import { definePackage, inherit, licenses, gnu } from 'tsdsl';
import { bison, flex, hwloc, zlib } from 'tsdsl/packages';

export const solver = definePackage({
  synopsis: 'Sparse solver', // short
  name: 'solver',
  version: '1.0',

  // Needed at run time.
  inputs: [zlib, hwloc],
  nativeInputs: (v) => (v.fast ? [flex, bison] : [flex]),
  buildSystem: gnu,
  description: 'Solves things.',
  variants: { fast: false },
  homePage: 'https://example.org/',
  /* The usual. */
  license: licenses.expat
});

export const kept = definePackage({
  name: 'kept', version: '1.0', buildSystem: gnu,
  inputs: [
    zlib, // the order matters here: a comment keeps it
    hwloc,
  ],
  synopsis: 'Kept', description: 'Kept.', homePage: 'https://example.org/', license: licenses.expat,
});

export const variant = inherit(solver, { version: '2.0', name: 'solver2' });
export const inline = solver.with({ inputs: [zlib, bison, hwloc] });
`;

const EXPECTED = `// My group's packages.
import { definePackage, inherit, licenses, gnu } from 'tsdsl';
import { bison, flex, hwloc, zlib } from 'tsdsl/packages';

export const solver = definePackage({
  name: 'solver',
  version: '1.0',
  buildSystem: gnu,

  variants: { fast: false },
  // Needed at run time.
  inputs: [hwloc, zlib],
  nativeInputs: (v) => (v.fast ? [bison, flex] : [flex]),
  synopsis: 'Sparse solver', // short
  description: 'Solves things.',
  homePage: 'https://example.org/',
  /* The usual. */
  license: licenses.expat
});

export const kept = definePackage({
  name: 'kept', version: '1.0', buildSystem: gnu,
  inputs: [
    zlib, // the order matters here: a comment keeps it
    hwloc,
  ],
  synopsis: 'Kept', description: 'Kept.', homePage: 'https://example.org/', license: licenses.expat,
});

export const variant = inherit(solver, { name: 'solver2', version: '2.0' });
export const inline = solver.with({ inputs: [bison, hwloc, zlib] });
`;

describe('tsdsl style', () => {
  it('orders fields, sorts inputs, keeps comments and layout (byte-exact)', () => {
    const { text, edits } = styleText('fixture.ts', INPUT);
    expect(text).toBe(EXPECTED);
    expect(edits.map((e) => e.line)).toEqual([7, 30, 31]);
  });

  it('a comment after the last field (no comma) moves with it; a dangling comment stays last', () => {
    const input = "x = definePackage({\n  license: licenses.expat, // lic\n  name: 'a' // last\n  // dangling\n});\n";
    expect(styleText('a.ts', input).text).toBe("x = definePackage({\n  name: 'a', // last\n  license: licenses.expat // lic\n  // dangling\n});\n");
  });

  it('fields sharing a line with a comment get lines of their own: the comment never swallows a moved field', () => {
    // Reordered in place, \`version\` landed after the line's \`// …\` comment: commented out.
    const input = "x = definePackage({\n  version: '1', name: 'a', // both\n  synopsis: 's', /* s */ buildSystem: gnu,\n});\n";
    const { text, edits } = styleText('a.ts', input);
    expect(text).toBe("x = definePackage({\n  name: 'a', // both\n  version: '1',\n  /* s */ buildSystem: gnu,\n  synopsis: 's',\n});\n");
    expect(edits.map((e) => [e.line, e.column])).toEqual([[2, 17]]);
    // On the opening line too; the closing brace gets a line of its own.
    expect(styleText('b.ts', "x = definePackage({ version: '1', name: 'b' /* b */ });\n").text).toBe("x = definePackage({\n  name: 'b', /* b */\n  version: '1',\n});\n");
    // A definition on one line is reordered in place.
    expect(styleText('c.ts', "x = definePackage({ version: '1', name: 'c' });\n").text).toBe("x = definePackage({ name: 'c', version: '1' });\n");
    // Over several lines, every field gets a line of its own: lines of several fields, reordered
    // in place, would hold other fields than they did.
    const mixed = "x = definePackage({\n  version: '1', name: 'd', // both\n  buildSystem: gnu, source: null,\n  synopsis: 's', description: 'd.',\n});\n";
    expect(styleText('d.ts', mixed).text).toBe("x = definePackage({\n  name: 'd', // both\n  version: '1',\n  source: null,\n  buildSystem: gnu,\n  synopsis: 's',\n  description: 'd.',\n});\n");
    // A commented field on a line of its own, moved among lines of several fields (it was put
    // on one of them, and its comment swallowed the fields after it).
    const own = "x = definePackage({\n  synopsis: 'P', description: 'P.',\n  buildSystem: trivial, nativeInputs: [bash],\n  name: 'p', // the name\n  version: '1.0',\n});\n";
    expect(styleText('e.ts', own).text).toBe("x = definePackage({\n  name: 'p', // the name\n  version: '1.0',\n  buildSystem: trivial,\n  nativeInputs: [bash],\n  synopsis: 'P',\n  description: 'P.',\n});\n");
    // ... and moved to the last field, before a `}` on its line: the brace goes to the next line.
    expect(styleText('f.ts', "x = definePackage({\n  version: '1', // v\n  name: 'f' });\n").text).toBe("x = definePackage({\n  name: 'f',\n  version: '1' // v\n});\n");
  });

  it('a file with CRLF line ends keeps CRLF throughout', () => {
    const crlf = (t: string) => t.replace(/\n/g, '\r\n');
    const { text, edits } = styleText('fixture.ts', crlf(INPUT));
    expect(text).toBe(crlf(EXPECTED));
    expect(edits.map((e) => e.line)).toEqual([7, 30, 31]);
    expect(styleText('fixture.ts', text)).toEqual({ text, edits: [] });
  });

  it('a file that starts with a byte-order mark is styled, keeping the mark', () => {
    const { text, edits } = styleText('fixture.ts', `\uFEFF${INPUT}`);
    expect(text).toBe(`\uFEFF${EXPECTED}`);
    expect(edits.map((e) => e.line)).toEqual([7, 30, 31]);
  });

  it('is idempotent', () => {
    const once = styleText('fixture.ts', INPUT).text;
    const twice = styleText('fixture.ts', once);
    expect(twice.text).toBe(once);
    expect(twice.edits).toEqual([]);
  });

  it('rewrites files in place; --dry-run reports and writes nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-style-'));
    const file = join(dir, 'solver.ts');
    writeFileSync(file, INPUT);
    // A group-writable file stays so, whatever the umask.
    chmodSync(file, 0o664);
    const dry = tsdsl(['style', '--dry-run', 'solver.ts'], { cwd: dir });
    expect(dry.code).toBe(1);
    expect(dry.stdout).toMatch(/^solver\.ts:7:3: fields are not in canonical order: `name` should come before `synopsis`/m);
    expect(dry.stdout).toMatch(/^solver\.ts:31:\d+: inputs are not sorted: `bison` should come before `zlib`/m);
    expect(readFileSync(file, 'utf8')).toBe(INPUT);
    const r = tsdsl(['style', 'solver.ts'], { cwd: dir });
    // Sorting inputs changes the packages' store paths: said, even off a terminal.
    const sorted = (at: string) => `tsdsl: warning: solver.ts:${at}: sorted an input list, which changes the package's derivation (its inputs are searched in order), so it is built again; put a comment in the list to keep an order that matters\n`;
    expect(r.stderr).toBe(sorted('7:3') + sorted('31:46'));
    expect(r.code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(EXPECTED);
    expect(statSync(file).mode & 0o777).toBe(0o664);
    // Through a link: the target is rewritten, the link stays a link.
    writeFileSync(file, INPUT);
    symlinkSync('solver.ts', join(dir, 'link.ts'));
    expect(tsdsl(['style', 'link.ts'], { cwd: dir }).code).toBe(0);
    expect(lstatSync(join(dir, 'link.ts')).isSymbolicLink()).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe(EXPECTED);
    const again = tsdsl(['style', '--dry-run', 'solver.ts'], { cwd: dir });
    expect(again.stdout).toBe('');
    expect(again.code).toBe(0);
    // One file named twice (and through the link) is styled once: not 'changed while it was being edited'.
    writeFileSync(file, INPUT);
    const twice = tsdsl(['style', 'solver.ts', './solver.ts', 'link.ts'], { cwd: dir });
    expect(twice.stderr).toBe(sorted('7:3') + sorted('31:46'));
    expect(twice.code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(EXPECTED);
  });

  it('a file that does not parse is an error with file:line, and no file is touched', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-style-'));
    writeFileSync(join(dir, 'good.ts'), INPUT);
    const broken = 'export const x = definePackage({\n  name: "x",\n  version: ,\n});\n';
    writeFileSync(join(dir, 'broken.ts'), broken);
    const r = tsdsl(['style', 'good.ts', 'broken.ts'], { cwd: dir });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/broken\.ts:3:\d+: syntax error: .*the file was not changed/);
    expect(r.stderr).not.toMatch(/\.;/);
    expect(readFileSync(join(dir, 'good.ts'), 'utf8')).toBe(INPUT);
    expect(readFileSync(join(dir, 'broken.ts'), 'utf8')).toBe(broken);
    expect(tsdsl(['style'], { cwd: dir }).stderr).toMatch(/no file given; try `tsdsl style packages\/maths\.ts`/);
    expect(tsdsl(['style', 'missing.ts'], { cwd: dir }).stderr).toMatch(/cannot read `missing\.ts`: no such file/);
    expect(tsdsl(['style', '.'], { cwd: dir }).stderr).toMatch(/cannot read `\.`: it is a directory; give the package files in it/);
  });

  it('works on the default collection: its files keep every definition and reach a fixed point', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-style-'));
    const files = readdirSync(join(ROOT, 'packages')).filter((f) => f.endsWith('.ts'));
    for (const f of files) copyFileSync(join(ROOT, 'packages', f), join(dir, f));
    const r = tsdsl(['style', ...files], { cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const f of files) {
      const before = readFileSync(join(ROOT, 'packages', f), 'utf8');
      const after = readFileSync(join(dir, f), 'utf8');
      // Only order changes: the same characters, rearranged.
      expect([...after].sort().join('')).toBe([...before].sort().join(''));
      expect(styleText(f, after).edits).toEqual([]);
    }
    expect(tsdsl(['style', '--dry-run', ...files], { cwd: dir }).code).toBe(0);
  });
});

describe('tsdsl style PACKAGE', () => {
  it('says which file defines a package named where a file was meant', () => {
    const r = tsdsl(['style', 'hwloc'], { env: { TSDSL_PACKAGE_PATH: '' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('tsdsl: error: tsdsl style takes package files, and `hwloc` is a package, not a file: it is defined in packages/mpi.ts; run `tsdsl style packages/mpi.ts`\n');
    expect(tsdsl(['style', 'no-such-thing.ts']).stderr).toBe('tsdsl: error: cannot read `no-such-thing.ts`: no such file\n');
  });
});
