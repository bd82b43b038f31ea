// Build benchmarks (issue targets): sandbox set-up and tear-down per derivation (median over
// trivial builds), a no-op `tsdsl build hwloc` when everything is built, and CPU use while two
// independent builds run with -j2. Uses the store of the slow tests (TSDSL_TEST_ROOT).
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { median, nodeOptions, tsdslArgv } from './common.mjs';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const dist = (p) => pathToFileURL(join(root, 'dist', p)).href;

export async function benchBuilds(report) {
  const storeRoot = process.env.TSDSL_TEST_ROOT ?? join(tmpdir(), 'tsdsl-test-store');
  const env = { ...process.env, TSDSL_ROOT: storeRoot };
  const { checkSandboxSupport } = await import(dist('src/build/sandbox.js'));
  if (!checkSandboxSupport().ok) {
    console.log('builds: skipped, user namespaces are not available');
    return;
  }
  // Make sure hwloc is built, then time a no-op build.
  spawnSync(process.execPath, tsdslArgv('build', '-q', 'hwloc'), { env, stdio: 'ignore' });
  const noop = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    spawnSync(process.execPath, tsdslArgv('build', '-q', 'hwloc'), { env, stdio: 'ignore' });
    noop.push(performance.now() - t0);
  }
  const noopMs = median(noop);
  report('no-op `tsdsl build hwloc` (median of 5)', noopMs.toFixed(0), 'ms', '≤ 300 ms', noopMs <= 300);

  // Sandbox set-up and tear-down: 100 trivial builds that only write a file into $out, each a new
  // derivation (a fresh nonce per run), built one at a time through the API; the scheduler's
  // own per-build time (set-up, run, tear-down, scan, registration) gives the median.
  {
    const { definePackage, licenses, trivial } = await import(dist('src/index.js'));
    const { bash, coreutils } = await import(dist('packages/index.js'));
    const { Lowerer } = await import(dist('src/derivation/lower.js'));
    const { instantiate } = await import(dist('src/derivation/instantiate.js'));
    const { realise } = await import(dist('src/build/scheduler.js'));
    const { openStore } = await import(dist('src/store/store.js'));
    const nonce = String(Date.now());
    const pkgs = Array.from({ length: 100 }, (_, i) =>
      definePackage({ name: `noop${i}`, version: nonce, buildSystem: trivial, nativeInputs: [bash, coreutils], arguments: { phases: { build: 'echo done > "$out/done"' } }, synopsis: 'S', description: 'D.', homePage: 'https://example.org/', license: licenses.expat }),
    );
    const store = openStore({ root: storeRoot });
    try {
      const lowerer = new Lowerer(store.storeDir);
      await lowerer.prepare(pkgs);
      const drvs = pkgs.map((p) => lowerer.lower(p).drvPath);
      await instantiate(store, lowerer, drvs);
      // The toolchain first, so that only the trivial builds are timed.
      await realise(store, lowerer, [lowerer.lower(bash).drvPath, lowerer.lower(coreutils).drvPath], { maxJobs: 1, cores: 1 });
      const ms = [];
      await realise(store, lowerer, drvs, { maxJobs: 1, cores: 1, onEvent: (e) => e.kind === 'done' && ms.push(e.ms) });
      report(`sandboxed trivial build, set-up to registration (median of ${ms.length})`, median(ms).toFixed(0), 'ms');
    } finally {
      store.close();
    }
  }

  // CPU use with -j2: two independent builds of the same length (two copies of xz that differ
  // only in their name, new each run), one core each. xz itself is built first, so that the
  // toolchain and the source are in the store and only the two builds are timed.
  spawnSync(process.execPath, tsdslArgv('build', '-q', 'xz'), { env, stdio: 'ignore' });
  const pair = spawnSync('/usr/bin/time', ['-f', '%P %e', process.execPath, ...nodeOptions, join(root, 'bench', 'build-pair-child.mjs'), String(Date.now())], { env, encoding: 'utf8' });
  const m = /(\d+)% ([\d.]+)\s*$/.exec(pair.stderr.trim());
  if (pair.status !== 0 || !m) console.log(`builds: the -j2 pair failed:\n${pair.stderr.slice(-3000)}`);
  else report(`CPU use while two independent xz builds run with -j2 --cores=1 (${m[2]} s)`, `${m[1]}%`, '', '≥ 180% (90% of 2 cores)', Number(m[1]) >= 180);
}
