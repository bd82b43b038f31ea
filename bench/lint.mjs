// `npm run bench` (lint part): `tsdsl lint` over the default collection and over the
// 20,000-package synthetic one, and a check that commands which do not rewrite package files
// never load ts-morph (their start-up must not change: `tsdsl graph mumps` is timed too).
// Prints one line per measurement and a JSON summary, like run.mjs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeSyntheticCollection } from './synthetic.mjs';
import { median, reporter, tsdslArgv } from './common.mjs';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const results = [];

const report = reporter(results);

/** Median wall time of `runs` runs; lint exits 1 on findings, which is not a failure here. */
function wall(args, runs, cwd = root) {
  const times = [];
  let last;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    last = spawnSync(process.execPath, tsdslArgv(...args), { cwd, encoding: 'utf8', maxBuffer: 1 << 28 });
    times.push(performance.now() - t0);
    if (last.status !== 0 && last.status !== 1) throw new Error(`tsdsl ${args.join(' ')} failed: ${last.stderr}`);
  }
  return { ms: median(times), run: last };
}

const count = (out) => out.split('\n').filter(Boolean).length;

// --- the default collection -----------------------------------------------------------------------
{
  const { ms, run } = wall(['lint'], 3);
  report(`tsdsl lint, default collection (${count(run.stdout)} findings, median of 3)`, ms.toFixed(0), 'ms', '≤ 10 s', ms <= 10_000);
  const fast = wall(['lint', '-x', 'derivation,formatting'], 3);
  report('tsdsl lint -x derivation,formatting, default collection', fast.ms.toFixed(0), 'ms');
}

// --- 20,000 synthetic packages ------------------------------------------------------------------
{
  const dir = mkdtempSync(join(tmpdir(), 'tsdsl-bench-lint-'));
  const { count: n } = writeSyntheticCollection(join(dir, 'synthetic'), { count: 20000, dslUrl: pathToFileURL(join(root, 'dist', 'src', 'dsl', 'index.js')).href });
  const all = wall(['lint', '-L', join(dir, 'synthetic')], 1);
  const extra = count(all.run.stdout) - count(wall(['lint'], 1).run.stdout);
  report(`tsdsl lint -L synthetic (${n} packages + default; ${extra} extra findings)`, all.ms.toFixed(0), 'ms', '≤ 60 s', all.ms <= 60_000 && extra === 0);
  const meta = wall(['lint', '-L', join(dir, 'synthetic'), '-x', 'derivation'], 1);
  report(`  the same without the derivation checker`, meta.ms.toFixed(0), 'ms');
  rmSync(dir, { recursive: true, force: true });
}

// --- start-up of commands that do not use ts-morph --------------------------------------------------
{
  const probe = `
    import { createRequire } from 'node:module';
    const require = createRequire(import.meta.url);
    const { main } = await import(${JSON.stringify(pathToFileURL(join(root, 'dist', 'src', 'cli', 'main.js')).href)});
    process.stdout.write = () => true;
    await main(['graph', 'mumps']);
    const loaded = Object.keys(require.cache).filter((k) => /[\\\\/](ts-morph|@ts-morph|typescript)[\\\\/]/.test(k));
    process.stderr.write(String(loaded.length));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: root, encoding: 'utf8' });
  const loaded = Number(r.stderr.trim());
  report('ts-morph/typescript modules loaded by `tsdsl graph mumps`', loaded, '', '0', loaded === 0);
  const { ms } = wall(['graph', 'mumps'], 7);
  report('tsdsl graph mumps (cold start, median of 7)', ms.toFixed(0), 'ms');
  const mod = wall(['graph', '--type=module', 'mumps'], 3);
  report('tsdsl graph --type=module mumps (loads ts-morph, median of 3)', mod.ms.toFixed(0), 'ms');
}

console.log(JSON.stringify({ results }, null, 0));
if (results.some((r) => r.ok === false)) process.exitCode = 1;
