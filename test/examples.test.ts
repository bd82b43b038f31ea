/** The examples run as users would run them. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSandboxSupport } from '../src/build/sandbox.js';
import { ROOT, tsdsl } from './cli/helpers.js';

const support = checkSandboxSupport();
if (!support.ok) console.warn(`skipping the custom-bundle example: building needs user namespaces (${support.reason})`);

describe('examples', () => {
  it('my-packages/solver.ts loads with -L and its graph reaches mumps', () => {
    const r = tsdsl(['graph', '-L', 'examples/my-packages', 'my-solver', '--max-depth=1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('"my-solver@0.1" -> "mumps@5.5.1"');
  });

  it('the examples type-check as a project that installed tsdsl would, against its declaration files, under strict settings', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-consumer-'));
    mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true });
    symlinkSync(ROOT, join(dir, 'node_modules', 'tsdsl'));
    symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(dir, 'node_modules', '@types', 'node'));
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    // Settings common in users' projects that tsdsl's own sources do not follow: its sources must not be compiled.
    const compilerOptions = { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: true, noEmit: true, noPropertyAccessFromIndexSignature: true, erasableSyntaxOnly: true };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['*.ts'] }));
    for (const f of ['custom-bundle.ts', 'run-pack.ts', 'check-packages.ts']) writeFileSync(join(dir, f), readFileSync(join(ROOT, 'examples', f)));
    writeFileSync(join(dir, 'typed.ts'), "import { pack } from 'tsdsl';\nconst r = await pack({ packages: ['hwloc'] });\n// @ts-expect-error: a size is a number\nexport const size: string = r.size;\n");
    // Outputs of packages, as the docs write them: inline pairs, and a list typed ProfileItem[].
    writeFileSync(
      join(dir, 'outputs.ts'),
      "import { isPackageOutput, pack, type ProfileItem } from 'tsdsl';\nimport { hwloc } from 'tsdsl/packages';\n" +
        "const items: ProfileItem[] = [[hwloc, 'out'], hwloc];\nexport const packed = pack({ packages: [...items, 'hwloc:out', [hwloc, 'out']] });\n" +
        "export const first: boolean = isPackageOutput(items[0]);\n// @ts-expect-error: an output is named by a string\nexport const bad = pack({ packages: [[hwloc, 1]] });\n",
    );
    const r = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', dir, '--listFiles'], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(join(ROOT, 'dist', 'types', 'src', 'index.d.ts'));
    expect(r.stdout).not.toContain(join(ROOT, 'src', 'index.ts'));
  });

  it('check-packages.ts lints a directory of package files and names the files to restyle', () => {
    const runCheck = (dir: string) => spawnSync(process.execPath, ['scripts/run-ts.mjs', 'examples/check-packages.ts', dir], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, TSDSL_PACKAGE_PATH: '' } });
    const clean = runCheck('examples/my-packages');
    expect(clean.status, clean.stderr).toBe(0);
    expect(clean.stdout).toMatch(/^1 packages: 0 findings, 0 files to restyle$/m);
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-check-example-'));
    writeFileSync(
      join(dir, 'bad.ts'),
      "import { definePackage, licenses, trivial } from 'tsdsl';\n\nexport const bad = definePackage({\n  version: '1.0',\n  name: 'Bad_Name',\n  buildSystem: trivial,\n  synopsis: 'S',\n  description: 'D.',\n  homePage: 'https://example.org/',\n  license: licenses.expat,\n});\n",
    );
    const bad = runCheck(dir);
    expect(bad.status, bad.stderr).toBe(1);
    expect(bad.stdout).toMatch(/bad\.ts:5:\d+: name: Bad_Name@1\.0: /);
    expect(bad.stdout).toMatch(/^would restyle .*bad\.ts$/m);
    expect(readFileSync(join(dir, 'bad.ts'), 'utf8')).toMatch(/^  version: '1\.0',\n  name:/m);
    // A directory that cannot be loaded: one line, exit 2, no stack trace.
    writeFileSync(join(dir, 'bad.ts'), "import { definePackage } from 'tsdsl';\nexport const x = definePackage({ name: 'x', version: '1',, });\n");
    const broken = runCheck(dir);
    expect(broken.status).toBe(2);
    expect(broken.stderr).toBe(`check-packages: syntax error in package file ${dir}/bad.ts:2: Unexpected token ','\n`);
  });

  it.skipIf(!support.ok)('custom-bundle.ts builds and packs hwloc through the API', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'tsdsl-example-')), 'bundle.tar.gz');
    const r = spawnSync(process.execPath, ['scripts/run-ts.mjs', 'examples/custom-bundle.ts', out], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, TSDSL_ROOT: process.env['TSDSL_TEST_ROOT'] ?? join(tmpdir(), 'tsdsl-test-store') },
      timeout: 1_100_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/bundle\.tar\.gz \([\d.]+ MiB, \d+ store items\)/);
    expect(r.stdout).toMatch(/-hwloc-2\.9\.0$/m);
  }, 1_200_000);
});
