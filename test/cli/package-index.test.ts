/**
 * The package index: a command naming packages imports only the package files that define them
 * once an index of the directory is written, and gives what a full load gives; anything changed
 * (a file edited, added, a helper it imports) makes the next command load everything again.
 * Package files here leave a mark when they are imported, so the tests see which ones were.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { tsdsl } from './helpers.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

let lab: string;
let marks: string;
let cache: string;

/** A package file defining `names` (each version 1, or `name@version`), importing `imports`, that marks its import. */
function packageFile(file: string, names: string[], imports: string[] = [], extra = ''): void {
  const lines = [
    "import { definePackage, licenses, trivial } from 'tsdsl';",
    "import { writeFileSync } from 'node:fs';",
    ...imports.map((i) => `import * as ${i.replace(/\W/g, '_')} from './${i}';`),
    `writeFileSync(process.env.MARKS + '/${file}', '');`,
    extra,
    ...names.map((n, k) => {
      const [name, version = '1'] = n.split('@') as [string, string?];
      const inputs = k === 0 ? imports.map((i) => `...Object.values(${i.replace(/\W/g, '_')}).filter((x) => typeof x === 'object')`) : [];
      return `export const p${k} = definePackage({ name: '${name}', version: '${version}', buildSystem: trivial, inputs: [${inputs.join(', ')}], synopsis: 's', description: 'A package of the lab.', homePage: 'https://example.org/', license: licenses.expat });`;
    }),
  ];
  writeFileSync(join(lab, file), lines.join('\n') + '\n');
}

/** Every file and directory of the lab dated a minute ago: an index is written only for what has not changed in the last seconds. */
function settle(): void {
  const past = new Date(Date.now() - 60_000);
  for (const f of readdirSync(lab, { recursive: true }) as string[]) utimesSync(join(lab, f), past, past);
  utimesSync(lab, past, past);
}

/** `../helpers/name.ts` (naming `name`) and `h.ts`, whose package (version 3) takes its name from `../helpers/${specifier}`; all dated a minute ago. */
function helperAndUser(name: string, specifier: string): string {
  const helpers = join(lab, '..', 'helpers');
  mkdirSync(helpers);
  writeFileSync(join(helpers, 'name.ts'), `export const name = '${name}';\n`);
  writeFileSync(
    join(lab, 'h.ts'),
    `import { definePackage, licenses, trivial } from 'tsdsl';\nimport { name } from '../helpers/${specifier}';\nexport const h = definePackage({ name, version: '3', buildSystem: trivial, synopsis: 's', description: 'A package of the lab.', homePage: 'https://example.org/', license: licenses.expat });\n`,
  );
  const past = new Date(Date.now() - 60_000);
  utimesSync(join(helpers, 'name.ts'), past, past);
  utimesSync(helpers, past, past);
  settle();
  return helpers;
}

function run(args: string[]) {
  rmSync(marks, { recursive: true, force: true });
  mkdirSync(marks);
  const r = tsdsl(args, { env: { TSDSL_PACKAGE_PATH: lab, MARKS: marks, XDG_CACHE_HOME: cache } });
  return { ...r, imported: readdirSync(marks).sort() };
}

beforeEach(() => {
  const root = mkdtempSync(join(tmpdir(), 'tsdsl-index-'));
  dirs.push(root);
  lab = join(root, 'lab');
  marks = join(root, 'marks');
  cache = join(root, 'cache');
  mkdirSync(lab);
  packageFile('a.ts', ['lab-a']);
  packageFile('b.ts', ['lab-b'], ['a.ts']);
  packageFile('c.ts', ['lab-c', 'lab-c2']);
  packageFile('d.ts', ['lab-d']);
  settle();
});

describe('the package index', () => {
  it('imports only the files defining the packages named, once written, and shows the same', () => {
    const full = run(['show', 'lab-b']);
    expect(full.code).toBe(0);
    expect(full.imported).toEqual(['a.ts', 'b.ts', 'c.ts', 'd.ts']);
    expect(readdirSync(join(cache, 'tsdsl', 'package-index')).filter((n) => n.endsWith('.json'))).toHaveLength(1);
    const indexed = run(['show', 'lab-b']);
    expect(indexed.code).toBe(0);
    expect(indexed.imported).toEqual(['a.ts', 'b.ts']);
    expect(indexed.stdout).toBe(full.stdout);
    expect(indexed.stderr).toBe('');
    // tsdsl edit too.
    const edit = run(['edit', '--print', 'lab-b']);
    expect(edit.stdout).toBe(`${join(lab, 'b.ts')}:6\n`);
    expect(edit.imported).toEqual(['a.ts', 'b.ts']);
    // A name of the default collection alone: no file of the lab at all.
    expect(run(['show', 'zlib']).imported).toEqual([]);
    // Names in a transformation's value count: lab-c's file is loaded for --with-input.
    const transformed = run(['graph', 'lab-b', '--with-input=lab-a=lab-c2']);
    expect(transformed.code).toBe(0);
    expect(transformed.stdout).toContain('lab-c2');
    expect(transformed.imported).toEqual(['a.ts', 'b.ts', 'c.ts']);
  });

  it('loads everything again for a misspelt name, a reverse graph or a search, and their answers know every file', () => {
    expect(run(['show', 'lab-a']).code).toBe(0);
    const misspelt = run(['show', 'lab-dd']);
    expect(misspelt.code).toBe(1);
    expect(misspelt.stderr).toMatch(/unknown package `lab-dd`; did you mean `lab-d`/);
    expect(misspelt.imported).toEqual(['a.ts', 'b.ts', 'c.ts', 'd.ts']);
    const reverse = run(['graph', '--type=reverse-package', 'lab-a']);
    expect(reverse.code).toBe(0);
    expect(reverse.stdout).toContain('lab-b');
    expect(run(['search', 'lab-c2']).stdout).toMatch(/lab-c2/);
  });

  it('sees a file changed, added or removed, and a helper a package file imports, importing only what changed', () => {
    expect(run(['show', 'lab-a']).imported).toHaveLength(4);
    expect(run(['show', 'lab-a']).imported).toEqual(['a.ts']);
    // A second version of lab-a in a new file: the directory changed, so the files are found
    // again, and the new one is imported (with lab-a's own), not the others.
    packageFile('e.ts', ['lab-a@2']);
    const added = run(['show', 'lab-a']);
    expect(added.imported).toEqual(['a.ts', 'e.ts']);
    expect(added.stdout).toMatch(/^version: 2$/m);
    expect(added.stdout).toMatch(/other-versions: 1/);
    // settle() changes every file's ctime: all are imported once more, then only lab-a's.
    settle();
    expect(run(['show', 'lab-a']).imported).toHaveLength(5);
    const both = run(['show', 'lab-a']);
    expect(both.imported).toEqual(['a.ts', 'e.ts']);
    expect(both.stdout).toBe(added.stdout);
    // A file edited: imported again, alone (it defines lab-x now, not lab-d).
    packageFile('d.ts', ['lab-x']);
    const edited = run(['show', 'lab-x']);
    expect(edited.imported).toEqual(['d.ts']);
    expect(edited.stdout).toMatch(/^name: lab-x$/m);
    expect(run(['show', 'lab-d']).stderr).toMatch(/unknown package `lab-d`/);
    settle();
    run(['show', 'lab-x']);
    expect(run(['show', 'lab-x']).imported).toEqual(['d.ts']);
    rmSync(join(lab, 'd.ts'));
    const gone = run(['show', 'lab-x']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/unknown package `lab-x`/);
    // A helper outside the directory, imported by a package file, names its package: when it
    // names lab-a instead, a stale index would show lab-a@2 from the files it knew of.
    const helpers = helperAndUser('lab-h1', 'name.ts');
    expect(run(['show', 'lab-h1']).code).toBe(0);
    expect(run(['show', 'lab-h1']).imported).toEqual([]); // h.ts leaves no mark; none of the others
    // h.ts is imported again (it imports what changed), with lab-a's files; b, c and d are not.
    writeFileSync(join(helpers, 'name.ts'), "export const name = 'lab-a';\n");
    const renamed = run(['show', 'lab-a']);
    expect(renamed.stdout).toMatch(/^version: 3$/m);
    expect(renamed.imported).toEqual(['a.ts', 'e.ts']);
  });

  it('sees a module added beside a helper outside the directory, which the loader now takes instead', () => {
    // h.ts imports '../helpers/name.js', which is name.ts until a name.js is there.
    const helpers = helperAndUser('lab-h1', 'name.js');
    run(['show', 'lab-a']);
    expect(run(['show', 'lab-a']).imported).toEqual(['a.ts']);
    writeFileSync(join(helpers, 'name.js'), "export const name = 'lab-a';\n");
    const shadowed = run(['show', 'lab-a']);
    expect(shadowed.stdout).toMatch(/^version: 3$/m);
    expect(shadowed.imported).toEqual(['a.ts']);
  });

  it('sees a file whose modification time was put back (cp -p, touch -r, a chmod making it readable): its ctime changed', () => {
    run(['show', 'lab-a']);
    expect(run(['show', 'lab-a']).imported).toEqual(['a.ts']);
    // d.ts now defines lab-a@9 (the same size), its modification time as it was.
    const before = statSync(join(lab, 'd.ts'));
    packageFile('d.ts', ['lab-a@9']);
    utimesSync(join(lab, 'd.ts'), before.atime, before.mtime);
    expect(statSync(join(lab, 'd.ts')).size).toBe(before.size);
    expect(statSync(join(lab, 'd.ts')).mtimeMs).toBe(before.mtimeMs);
    const r = run(['show', 'lab-a']);
    expect(r.stdout).toMatch(/^version: 9$/m);
    expect(r.imported).toEqual(['a.ts', 'd.ts']);
  });

  it('is not used when a file imported alone exports other packages than in the full load: an array other files push into', () => {
    writeFileSync(
      join(lab, 'registry.ts'),
      "import type { Package } from 'tsdsl';\nexport const all: Package[] = [];\nimport { definePackage, licenses, trivial } from 'tsdsl';\nexport const r = definePackage({ name: 'lab-r', version: '1', buildSystem: trivial, synopsis: 's', description: 'A package of the lab.', homePage: 'https://example.org/', license: licenses.expat });\n",
    );
    // Sorted before registry.ts: its zlib is in the array when the full load takes registry.ts's packages.
    writeFileSync(
      join(lab, 'push.ts'),
      "import { definePackage, licenses, trivial } from 'tsdsl';\nimport { all } from './registry.ts';\nall.push(definePackage({ name: 'zlib', version: '77', buildSystem: trivial, synopsis: 's', description: 'A package of the lab.', homePage: 'https://example.org/', license: licenses.expat }));\n",
    );
    settle();
    const full = run(['show', 'zlib']);
    expect(full.stdout).toMatch(/^version: 77$/m);
    const again = run(['show', 'zlib']);
    expect(again.stdout).toBe(full.stdout);
    expect(again.stderr).toBe(full.stderr);
  });

  it('loads every file while a package file exports an array: another may push into it without either importing the other', () => {
    const past = new Date(Date.now() - 60_000);
    const pkg = (name: string, version: string) =>
      `definePackage({ name: '${name}', version: '${version}', buildSystem: trivial, synopsis: 's', description: 'A package of the lab.', homePage: 'https://example.org/', license: licenses.expat })`;
    const head = "import { definePackage, licenses, trivial } from 'tsdsl';\n";
    // push.ts (sorted first) pushes into the array registry.ts exports; neither imports the other.
    mkdirSync(join(lab, 'lib'));
    writeFileSync(join(lab, 'lib', 'all.ts'), 'export const all: unknown[] = [];\n');
    const push = (name: string) => writeFileSync(join(lab, '0-push.ts'), `${head}import { all } from './lib/all.ts';\nall.push(${pkg(name, '9')});\n`);
    const registry = (comment: string) => writeFileSync(join(lab, 'registry.ts'), `import type { Package } from 'tsdsl';\nimport { all } from './lib/all.ts';\nexport const all2 = all as Package[]; // ${comment}\n`);
    push('lab-y');
    registry('first');
    settle();
    run(['show', 'lab-d']);
    expect(run(['show', 'lab-d']).imported).toHaveLength(4);
    // The pusher edited: registry.ts exports lab-a@9 now (not lab-y), as a full load says.
    push('lab-a');
    utimesSync(join(lab, '0-push.ts'), past, past);
    run(['show', 'lab-d']);
    const a = run(['show', 'lab-a']);
    expect(a.stdout).toMatch(/^version: 9$/m);
    // registry.ts edited: imported with the pusher, its array has lab-a@9 as in a full load.
    registry('second');
    utimesSync(join(lab, 'registry.ts'), past, past);
    run(['show', 'lab-d']);
    expect(run(['show', 'lab-a']).stdout).toBe(a.stdout);
  });

  it('records as unknown a file rewritten during the load with its modification time put back (cp -p): its ctime is after the start', () => {
    // m.ts, imported after a.ts, rewrites a.ts once (lab-a becomes lab-d@5), dating it a minute ago.
    writeFileSync(
      join(lab, 'm.ts'),
      [
        "import type { Package } from 'tsdsl';",
        "import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';",
        `const file = ${JSON.stringify(join(lab, 'a.ts'))};`,
        `const flag = ${JSON.stringify(join(lab, '..', 'rewritten'))};`,
        'if (!existsSync(flag)) {',
        "  writeFileSync(flag, '');",
        "  writeFileSync(file, readFileSync(file, 'utf8').replace(\"name: 'lab-a', version: '1'\", \"name: 'lab-d', version: '5'\"));",
        '  utimesSync(file, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));',
        '}',
        'export const none: Package[] = [];',
        '',
      ].join('\n'),
    );
    settle();
    run(['show', 'lab-c']);
    // a.ts defines lab-d@5 now, newer than d.ts's: a full load shows it.
    const d = run(['show', 'lab-d']);
    expect(d.stdout).toMatch(/^version: 5$/m);
    expect(d.imported).toContain('a.ts');
  });

  it('gives, when everything is loaded after a load through it failed, the packages a full load takes: not what files imported then pushed since', () => {
    const past = new Date(Date.now() - 60_000);
    // 0-all.ts (sorted first) exports an array; p.ts, after it, pushes lab-a@9 into it: a full
    // load takes 0-all.ts's packages before, so lab-a is 1.
    writeFileSync(join(lab, '0-all.ts'), "import type { Package } from 'tsdsl';\nexport const all: Package[] = [];\n");
    const push = (comment: string) =>
      writeFileSync(
        join(lab, 'p.ts'),
        `import { definePackage, licenses, trivial } from 'tsdsl';\nimport { all } from './0-all.ts';\nall.push(definePackage({ name: 'lab-a', version: '9', buildSystem: trivial, synopsis: 's', description: 'A package of the lab.', homePage: 'https://example.org/', license: licenses.expat })); // ${comment}\n`,
      );
    push('first');
    settle();
    expect(run(['show', 'lab-a']).stdout).toMatch(/^version: 1$/m);
    // p.ts edited and a failing file added: the load through the index imports p.ts, then fails,
    // and the full load after it, in the same process, must still take 0-all.ts's packages empty.
    push('second');
    utimesSync(join(lab, 'p.ts'), past, past);
    writeFileSync(join(lab, 'z.ts'), "import { definePackage } from 'tsdsl';\nthrow new Error('boom');\n");
    utimesSync(join(lab, 'z.ts'), past, past);
    utimesSync(lab, past, past);
    const r = run(['show', 'lab-a']);
    expect(r.stderr).toMatch(/z\.ts:2 failed: boom/);
    expect(r.stdout).toMatch(/^version: 1$/m);
  });

  it('says of an unknown name what a full load says, every indexed file being loaded: the files skipped', () => {
    rmSync(join(lab, 'b.ts'));
    rmSync(join(lab, 'c.ts'));
    rmSync(join(lab, 'd.ts'));
    // Defines a package, but without tsdsl: skipped, and named by an unknown name's error.
    writeFileSync(join(lab, 's.ts'), "const definePackage = (x: unknown) => x;\nexport const s = definePackage({ name: 'lab-s' });\n");
    settle();
    const full = run(['show', 'lab-a', 'lab-s']);
    expect(full.stderr).toMatch(/not loaded, as it does not import from 'tsdsl'.*s\.ts/);
    const again = run(['show', 'lab-a', 'lab-s']);
    expect(again.stderr).toBe(full.stderr);
    expect(again.code).toBe(full.code);
  });

  it('is no error when damaged: a full load, as without it', () => {
    run(['show', 'lab-a']);
    const dir = join(cache, 'tsdsl', 'package-index');
    const [name] = readdirSync(dir);
    const data = JSON.parse(readFileSync(join(dir, name!), 'utf8')) as { files: unknown[] };
    for (const damaged of [
      { ...data, files: [{ file: join(lab, 'a.ts'), names: null }] },
      { ...data, files: [...data.files, 5] },
      { ...data, stats: null },
    ]) {
      writeFileSync(join(dir, name!), JSON.stringify(damaged));
      const r = run(['show', 'lab-a']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.imported).toHaveLength(4);
    }
  });

  it('records a file changed in the last two seconds as unknown (imported again, with what imports it), and writes nothing when a file fails', () => {
    // Dated in the future: within two seconds of any load, however slow the machine.
    const future = new Date(Date.now() + 600_000);
    utimesSync(join(lab, 'a.ts'), future, future);
    expect(run(['show', 'lab-c']).imported).toHaveLength(4);
    // a.ts, and b.ts which imports it, are imported again; d.ts is not.
    expect(run(['show', 'lab-c']).imported).toEqual(['a.ts', 'b.ts', 'c.ts']);
    settle();
    run(['show', 'lab-c']);
    expect(run(['show', 'lab-c']).imported).toEqual(['c.ts']);
    const dir = join(cache, 'tsdsl', 'package-index');
    const [name] = readdirSync(dir).filter((n) => n.endsWith('.json'));
    const written = readFileSync(join(dir, name!), 'utf8');
    writeFileSync(join(lab, 'broken.ts'), "import { definePackage } from 'tsdsl';\nthrow new Error('boom');\n");
    settle();
    const r = run(['show', 'lab-c']);
    expect(r.stderr).toMatch(/broken\.ts:2 failed: boom/);
    expect(r.imported).toHaveLength(4);
    expect(readFileSync(join(dir, name!), 'utf8')).toBe(written);
    // Said again each time, as without an index.
    expect(run(['show', 'lab-c']).stderr).toMatch(/broken\.ts:2 failed: boom/);
  });
});

describe('the package index directory', () => {
  it("keeps a writer's temporary file for an hour, then removes it as an index is written", () => {
    const dir = join(cache, 'tsdsl', 'package-index');
    mkdirSync(dir, { recursive: true });
    const old = join(dir, '.tmp-1-000000000000');
    const fresh = join(dir, '.tmp-2-000000000000');
    writeFileSync(old, '{');
    writeFileSync(fresh, '{');
    const hours = new Date(Date.now() - 2 * 3_600_000);
    utimesSync(old, hours, hours);
    expect(run(['show', 'lab-a']).code).toBe(0);
    expect(existsSync(old)).toBe(false);
    expect(existsSync(fresh)).toBe(true);
    expect(readdirSync(dir).filter((n) => n.endsWith('.json'))).toHaveLength(1);
  });
});

describe('the package index over a deep graph of imports', () => {
  it('finds what is out of date once per module, not once per path (each of 40 files imports the two before it)', () => {
    // 2^40 paths through the imports: a walk that does not remember what it found never ends.
    for (let i = 0; i < 40; i++) packageFile(`chain${String(i).padStart(2, '0')}.ts`, [`chain-${i}`], i === 0 ? [] : i === 1 ? ['chain00.ts'] : [`chain${String(i - 1).padStart(2, '0')}.ts`, `chain${String(i - 2).padStart(2, '0')}.ts`]);
    settle();
    expect(run(['show', 'chain-39']).code).toBe(0);
    const again = run(['show', 'chain-1']);
    expect(again.code).toBe(0);
    expect(again.imported).toEqual(['chain00.ts', 'chain01.ts']);
    // chain05 changes: it and the 34 files importing it, however indirectly, are imported again
    // (and, through their imports, every file below them).
    packageFile('chain05.ts', ['chain-5@2'], ['chain04.ts', 'chain03.ts']);
    const edited = run(['show', 'chain-5']);
    expect(edited.code).toBe(0);
    expect(edited.stdout).toMatch(/^version: 2$/m);
    expect(edited.imported).toHaveLength(40);
  });
});

describe('the package index beside arrays that hold no packages', () => {
  it('is used when a package file exports an array of configure flags', () => {
    writeFileSync(join(lab, 'flags.ts'), "import { licenses } from 'tsdsl';\nexport const flags = ['--enable-shared', '--disable-static'];\nexport const lic = licenses.expat;\n");
    settle();
    run(['show', 'lab-a']);
    expect(run(['show', 'lab-a']).imported).toEqual(['a.ts']);
  });
});
