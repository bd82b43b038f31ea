// Build benchmarks (issue targets): sandbox set-up and tear-down per derivation (median over
// trivial builds), a no-op `tsdsl build hwloc` when everything is built, and CPU use while two
// independent builds run with -j2. Uses the store of the slow tests (TSDSL_TEST_ROOT).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL, fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const dist = (p) => pathToFileURL(join(root, 'dist', p)).href;

export async function benchBuilds(report) {
  const storeRoot = process.env.TSDSL_TEST_ROOT ?? join(tmpdir(), 'tsdsl-test-store');
  const env = { ...process.env, TSDSL_ROOT: storeRoot };
  const bin = join(root, 'bin', 'tsdsl.js');
  const { checkSandboxSupport } = await import(dist('src/build/sandbox.js'));
  if (!checkSandboxSupport().ok) {
    console.log('builds: skipped, user namespaces are not available');
    return;
  }
  // Make sure hwloc is built, then time a no-op build.
  spawnSync(process.execPath, [bin, 'build', '-q', 'hwloc'], { env, stdio: 'ignore' });
  const noop = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    spawnSync(process.execPath, [bin, 'build', '-q', 'hwloc'], { env, stdio: 'ignore' });
    noop.push(performance.now() - t0);
  }
  noop.sort((a, b) => a - b);
  report('no-op `tsdsl build hwloc` (median of 5)', noop[2].toFixed(0), 'ms', '≤ 300 ms', noop[2] <= 300);

  // Sandbox set-up and tear-down: trivial builds that do nothing, each a new derivation.
  const dir = mkdtempSync(join(tmpdir(), 'tsdsl-bench-build-'));
  const nonce = Date.now();
  writeFileSync(
    join(dir, 'trivial.ts'),
    `import { definePackage, licenses, trivial } from 'tsdsl';\nimport { bash } from 'tsdsl/packages';\n` +
      Array.from({ length: 40 }, (_, i) => `export const t${i} = definePackage({ name: 'noop${i}', version: '${nonce}', buildSystem: trivial, nativeInputs: [bash], arguments: { phases: { build: 'mkdir "$out"' } }, synopsis: 's', description: 'd', homePage: 'https://example.org/', license: licenses.expat });`).join('\n'),
  );
  const names = Array.from({ length: 40 }, (_, i) => `noop${i}`);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [bin, 'build', '-q', '-L', dir, ...names], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  report('sandboxed trivial build, set-up to registration (mean of 40)', ((performance.now() - t0) / 40).toFixed(0), 'ms');

  // CPU use with -j2: two independent builds (zlib and xz from source, rebuilt with --check).
  const time = spawnSync('/usr/bin/time', ['-f', '%P %e', process.execPath, bin, 'build', '-q', '--check', '-j2', '--cores=1', 'zlib', 'xz'], { env, encoding: 'utf8' });
  const m = /(\d+)% ([\d.]+)\s*$/.exec(time.stderr.trim());
  if (m) report(`CPU use while building zlib and xz with -j2 (${m[2]} s)`, `${m[1]}%`, '', '≥ 180% (90% of 2 cores)', Number(m[1]) >= 180);
}
