/** The examples run as users would run them. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
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
