/** What a user's compiler says about transform() calls, against the declaration files she gets. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../cli/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tsdsl-transform-types-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The compiler's output for `code`, in a project that installed tsdsl (strict, as users write). */
function compile(code: string): { status: number | null; out: string } {
  mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true });
  try {
    symlinkSync(ROOT, join(dir, 'node_modules', 'tsdsl'));
    symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(dir, 'node_modules', '@types', 'node'));
  } catch {
    // linked by an earlier call
  }
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  const compilerOptions = { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: true, noEmit: true, types: ['node'] };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['*.ts'] }));
  writeFileSync(join(dir, 'user.ts'), code);
  const r = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', dir], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

describe('transform() as the declaration files type it', () => {
  it('names a misspelt key of the spec or of the options, rather than an overload about arrays', () => {
    const { status, out } = compile(
      "import { transform } from 'tsdsl';\nimport { hwloc } from 'tsdsl/packages';\n" +
        "export const a = transform(hwloc, { withoutTest: ['hwloc'] });\n" +
        "export const b = transform(hwloc, ['--without-tests=hwloc'], { colection: undefined });\n",
    );
    expect(status).not.toBe(0);
    expect(out).toContain("'withoutTest' does not exist in type");
    expect(out).toContain("'colection' does not exist in type 'TransformOptions'. Did you mean to write 'collection'?");
    expect(out).not.toContain('No overload matches this call');
  }, 60_000);

  it('gives a package for a package and a list for a list', () => {
    const { status, out } = compile(
      "import { transform, type Package } from 'tsdsl';\nimport { hwloc, scotch } from 'tsdsl/packages';\n" +
        "export const one: Package = transform(hwloc, { withoutTests: ['hwloc'] });\n" +
        "export const two: Package[] = transform([hwloc, scotch], ['--without-tests=hwloc']);\n" +
        "const list: readonly Package[] = [hwloc];\nexport const three: Package[] = transform(list, {});\n" +
        "// @ts-expect-error: a list gives a list\nexport const four: Package = transform([hwloc], {});\n" +
        "const loose: any = hwloc;\nexport const five: string = transform(loose, {}).name;\n",
    );
    expect(out).toBe('');
    expect(status).toBe(0);
  }, 60_000);
});

describe('the object form as the declaration files type it', () => {
  it('takes one option value as a string for every key, as transform() does at run time', () => {
    const { status, out } = compile(
      "import { transform } from 'tsdsl';\nimport { hwloc, mumps } from 'tsdsl/packages';\n" +
        "export const a = transform(hwloc, { withoutTests: 'hwloc', withDebugInfo: 'hwloc' }, { warn: () => {} });\n" +
        "export const b = transform(mumps, { withInput: 'scotch=pt-scotch', withConfigureFlag: 'hwloc=--disable-cairo' }, { warn: () => {} });\n",
    );
    expect(out).toBe('');
    expect(status).toBe(0);
  }, 60_000);
});
