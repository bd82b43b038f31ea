// `npm run bench`: speed targets live here, never in unit tests. Prints one line per
// measurement (name, value, target, ok) and a JSON summary at the end.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { writeSyntheticCollection } from './synthetic.mjs';
import { median, reporter, tsdslArgv } from './common.mjs';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const dist = (p) => pathToFileURL(join(root, 'dist', p)).href;
const results = [];

const report = reporter(results);

async function time(fn) {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}

function wall(cmd, args, runs = 7) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
    times.push(performance.now() - t0);
  }
  return median(times);
}

// --- graph engine on 20,000 packages ----------------------------------------------------------
const dir = mkdtempSync(join(tmpdir(), 'tsdsl-bench-'));
const { file, count } = writeSyntheticCollection(dir, { count: 20000, dslUrl: dist('src/dsl/index.js') });
const dsl = await import(dist('src/dsl/index.js'));
const graphMod = await import(dist('src/graph/build.js'));
const types = await import(dist('src/graph/node-types.js'));
const backends = await import(dist('src/graph/backends/index.js'));
const [loadMs, mod] = await time(() => import(pathToFileURL(file).href));
report(`load a synthetic collection of ${count} packages`, loadMs.toFixed(0), 'ms');
// Median of three runs: the first also pays for compiling the engine's code.
const runs = [];
for (let i = 0; i < 3; i++) {
  const [b, { graph: g }] = await time(() => graphMod.buildGraph(types.packageType, [mod.root]));
  const [s, o] = await time(() => graphMod.topologicalOrder(g));
  runs.push({ b, s, g, o });
}
runs.sort((x, y) => x.b + x.s - (y.b + y.s));
const { b: buildMs, s: sortMs, g: graph, o: order } = runs[1];
report(`build the full graph (${graph.order} nodes, ${graph.size} edges)`, buildMs.toFixed(0), 'ms');
report('topological sort', sortMs.toFixed(0), 'ms');
report('graph built and sorted', (buildMs + sortMs).toFixed(0), 'ms', '≤ 300 ms', buildMs + sortMs <= 300);
if (order.length !== graph.order) throw new Error('topological order misses nodes');
const [dotMs, dot] = await time(() => backends.findBackend('graphviz').render(graph, { typeName: 'package' }));
report(`emit DOT (${(dot.length / 1e6).toFixed(1)} MB)`, dotMs.toFixed(0), 'ms');

// --- transformation on 20,000 packages ----------------------------------------------------------
{
  const { packageMapping } = await import(dist('src/transform/rewrite.js'));
  // Pick the package whose dependents (among packages reachable from the root) are closest to
  // half the graph: reverse edges over the reachable graph, then a reverse BFS per candidate.
  const reverse = new Map();
  const reachable = [];
  const seenR = new Set([mod.root]);
  for (let i = 0, queue = [mod.root]; i < queue.length; i++) {
    const p = queue[i];
    reachable.push(p);
    for (const d of dsl.directInputs(p)) {
      if (!reverse.has(d)) reverse.set(d, []);
      reverse.get(d).push(p);
      if (!seenR.has(d)) (seenR.add(d), queue.push(d));
    }
  }
  const dependentsOf = (c) => {
    const seen = new Set([c]);
    const queue = [c];
    for (let i = 0; i < queue.length; i++) for (const up of reverse.get(queue[i]) ?? []) if (!seen.has(up)) (seen.add(up), queue.push(up));
    return seen.size - 1;
  };
  const half = reachable.length / 2;
  let best;
  for (const c of reachable.filter((p) => /^p3[0-9]-/.test(p.name)).slice(0, 300)) {
    const n = dependentsOf(c);
    if (!best || Math.abs(n - half) < Math.abs(best[1] - half)) best = [c, n];
  }
  const [target, nDependents] = best;
  const replacement = dsl.definePackage({ ...{ name: target.name, version: '2.0', buildSystem: dsl.trivial, synopsis: 's', description: 'd', homePage: 'https://example.org/', license: dsl.licenses.expat } });
  // Median of three runs, each a fresh mapping (its own memo), as for the graph above: one
  // sample of a 100 ms operation is at the mercy of the collector and of this machine's speed.
  const runs = [];
  let mapping;
  for (let i = 0; i < 3; i++) {
    mapping = packageMapping((p) => (p === target ? replacement : p), { cut: (p) => p === target, deep: true });
    runs.push((await time(() => mapping(mod.root)))[0]);
  }
  const ms = median(runs);
  report(`--with-input on the root, ${target.name} (${nDependents} dependents)`, ms.toFixed(0), 'ms', '≤ 100 ms', ms <= 100);
  report('  the three runs', runs.map((r) => r.toFixed(0)).join(' '), 'ms');
  // Every dependent of the target changes (the root among them); nothing else may be copied.
  report('new package objects / packages that really changed', `${mapping.created}/${nDependents}`, '', 'equal', mapping.created === nDependents);
}

// --- lowering 20,000 packages, side by side with Nix ----------------------------------------------
{
  const { benchLowering } = await import('./lower-vs-nix.mjs');
  await benchLowering(file, report);
}

// --- the Debian updater's index ------------------------------------------------------------------
{
  const { benchUpdater } = await import('./update.mjs');
  await benchUpdater(report);
}

// --- builds ------------------------------------------------------------------------------------
if (!process.argv.includes('--no-builds')) {
  const { benchBuilds } = await import('./build.mjs');
  await benchBuilds(report);
}

// --- CLI start-up -------------------------------------------------------------------------------
const nodeMs = wall(process.execPath, ['-e', '0']);
const graphMs = wall(process.execPath, tsdslArgv('graph', 'mumps'));
report('node -e 0 (cold start, median of 7)', nodeMs.toFixed(0), 'ms');
report('tsdsl graph mumps (cold start, median of 7)', graphMs.toFixed(0), 'ms', `≤ 3 × node = ${(3 * nodeMs).toFixed(0)} ms`, graphMs <= 3 * nodeMs);

rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({ results }, null, 0));
