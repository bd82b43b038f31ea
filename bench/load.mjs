// `npm run bench` (loading part): a lab's directory of 3,000 TypeScript package files (one
// package each, importing up to three others of its project of ten), and `tsdsl show` of one of them: with every file
// loaded (no package index yet), then through the package index, against `tsdsl show` with no
// directory at all. Prints one line per measurement and a JSON summary, like run.mjs.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { median, reporter, tsdslArgv } from './common.mjs';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const results = [];
const report = reporter(results);
const FILES = Number(process.env['TSDSL_BENCH_LAB_FILES'] ?? 3000);

const dir = mkdtempSync(join(tmpdir(), 'tsdsl-bench-load-'));
const lab = join(dir, 'lab');
const cache = join(dir, 'cache');
mkdirSync(lab);
// Projects of ten files, each file importing up to three earlier ones of its project: a
// package's closure is a few files, as a lab's are (the rest of what they need is tsdsl's).
let seed = 42;
const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
for (let i = 0; i < FILES; i++) {
  const first = i - (i % 10);
  const deps = [...new Set(Array.from({ length: i > first ? 1 + Math.floor(rand() * 3) : 0 }, () => first + Math.floor(rand() * (i - first))))];
  writeFileSync(
    join(lab, `lab${i}.ts`),
    [
      "import { definePackage, gnu, licenses, url } from 'tsdsl';",
      ...deps.map((d) => `import { lab${d} } from './lab${d}.ts';`),
      `export const lab${i} = definePackage({`,
      `  name: 'lab${i}',`,
      `  version: '1.${i}',`,
      `  source: url({ urls: 'https://example.org/lab${i}-1.${i}.tar.gz', sha256: '${'0'.repeat(64)}' }),`,
      '  buildSystem: gnu,',
      `  inputs: [${deps.map((d) => `lab${d}`).join(', ')}],`,
      `  synopsis: 'Lab package ${i}',`,
      "  description: 'A package of the lab.',",
      "  homePage: 'https://example.org/',",
      '  license: licenses.expat,',
      '});',
      '',
    ].join('\n'),
  );
}
// Dated a minute ago: an index is not written for files changed in the last two seconds.
const past = new Date(Date.now() - 60_000);
for (const f of readdirSync(lab)) utimesSync(join(lab, f), past, past);
utimesSync(lab, past, past);

function wall(args, env) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, tsdslArgv(...args), { cwd: root, encoding: 'utf8', env: { ...process.env, TSDSL_PACKAGE_PATH: '', XDG_CACHE_HOME: cache, ...env } });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`tsdsl ${args.join(' ')} failed: ${r.stderr}`);
  return { ms, stdout: r.stdout };
}

const target = `lab${FILES - 1}`;
const alone = median([0, 1, 2].map(() => wall(['show', 'hwloc']).ms));
report('tsdsl show hwloc, no package directory (median of 3)', alone.toFixed(0), 'ms');
const full = wall(['show', target], { TSDSL_PACKAGE_PATH: lab });
report(`tsdsl show ${target}, ${FILES} package files, every file loaded`, full.ms.toFixed(0), 'ms');
const indexedRuns = [0, 1, 2].map(() => wall(['show', target], { TSDSL_PACKAGE_PATH: lab }));
const indexed = median(indexedRuns.map((r) => r.ms));
const same = indexedRuns.every((r) => r.stdout === full.stdout);
report(`  the same through the package index (median of 3)`, indexed.toFixed(0), 'ms', '≤ a fifth of that, same output', same && indexed <= full.ms / 5);
const other = median([0, 1, 2].map(() => wall(['show', 'hwloc'], { TSDSL_PACKAGE_PATH: lab }).ms));
report(`tsdsl show hwloc beside them, through the index (median of 3)`, other.toFixed(0), 'ms', '≤ 2× no directory', other <= 2 * alone);
// An edit, as a scientist makes one between two builds: one file of the first project changes
// (dated a minute ago, as a save a while before the command), and the next command imports it
// and the files importing it, not the whole directory.
const edited = join(lab, 'lab3.ts');
writeFileSync(edited, readFileSync(edited, 'utf8').replace("description: 'A package of the lab.'", "description: 'A package of the lab, edited.'"));
utimesSync(edited, past, past);
const afterEdit = wall(['show', target], { TSDSL_PACKAGE_PATH: lab });
report(`tsdsl show ${target} after an edit of another project's file`, afterEdit.ms.toFixed(0), 'ms', '≤ a fifth of every file loaded', afterEdit.ms <= full.ms / 5);
rmSync(dir, { recursive: true, force: true });

console.log(JSON.stringify({ results }, null, 0));
if (results.some((r) => r.ok === false)) process.exitCode = 1;
