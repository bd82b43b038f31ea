/** loadCollection() called by a script that sits among the package files it loads. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../cli/helpers.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A directory holding one package file, `selfp`, and `files`. */
function fixture(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsdsl-self-load-'));
  dirs.push(dir);
  writeFileSync(
    join(dir, 'p.ts'),
    "import { definePackage, trivial, licenses } from 'tsdsl';\n" +
      "export const p = definePackage({ name: 'selfp', version: '1', buildSystem: trivial, synopsis: 'S', description: 'S.', homePage: 'https://example.org/', license: licenses.expat });\n",
  );
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const runTs = (dir: string, file: string) =>
  spawnSync(process.execPath, [join(ROOT, 'scripts', 'run-ts.mjs'), file], { cwd: dir, encoding: 'utf8', timeout: 60_000, env: { ...process.env, TSDSL_PACKAGE_PATH: '' } });

describe('loadCollection() from a script in the directory it loads', () => {
  it('loads the package files but not the script, which would wait for itself (Node exited 13 without a word)', () => {
    const dir = fixture({
      'main.ts': "import { loadCollection } from 'tsdsl';\nconst c = await loadCollection({ loadPath: '.', useEnv: false, noDefault: true });\nconsole.log(JSON.stringify(c.names()));\n",
    });
    const r = runTs(dir, 'main.ts');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('["selfp"]\n');
  });

  it('nor a helper module of the script that calls it at its top level', () => {
    const dir = fixture({
      'helper.ts': "import { loadCollection } from 'tsdsl';\nexport const c = await loadCollection({ loadPath: '.', useEnv: false, noDefault: true });\n",
      'main.ts': "import { c } from './helper.ts';\nconsole.log(JSON.stringify(c.names()));\n",
    });
    const r = runTs(dir, 'main.ts');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('["selfp"]\n');
  });

  it('nor a module between the main script and the one that calls it, which waits for it too (Node exited 13 without a word)', () => {
    const dir = fixture({
      'helper.ts': "import { loadCollection } from 'tsdsl';\nexport const c = await loadCollection({ loadPath: '.', useEnv: false, noDefault: true });\n",
      'mid.ts': "export { c } from './helper.ts';\n",
      'main.ts': "import { c } from './mid.ts';\nconsole.log(JSON.stringify(c.names()));\n",
    });
    const r = runTs(dir, 'main.ts');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('["selfp"]\n');
  });

  it('says so when the script it leaves out defines packages (they are not in the collection)', () => {
    const dir = fixture({
      'main.ts':
        "import { definePackage, licenses, loadCollection, trivial } from 'tsdsl';\n" +
        "export const mine = definePackage({ name: 'minepkg', version: '1', buildSystem: trivial, synopsis: 'M', description: 'M.', homePage: 'https://example.org/', license: licenses.expat });\n" +
        'const warnings: string[] = [];\n' +
        "const c = await loadCollection({ loadPath: '.', useEnv: false, noDefault: true, onWarning: (t) => warnings.push(t) });\n" +
        'console.log(JSON.stringify({ names: c.names(), warnings }));\n',
    });
    const r = runTs(dir, 'main.ts');
    expect(r.status, r.stderr).toBe(0);
    const { names, warnings } = JSON.parse(r.stdout) as { names: string[]; warnings: string[] };
    expect(names).toEqual(['selfp']);
    expect(warnings).toEqual([
      `${join(dir, 'main.ts')} defines packages, but its packages are left out: it is the script running loadCollection(), and importing it would wait for its own top-level await; keep the packages in a file of their own`,
    ]);
  });
});
