// `npm run bench`: speed targets live here, never in unit tests. Prints one line per
// measurement (name, value, target, ok) and a JSON summary at the end.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { writeSyntheticCollection } from './synthetic.mjs';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const dist = (p) => pathToFileURL(join(root, 'dist', p)).href;
const results = [];

function report(name, value, unit, target, ok) {
  results.push({ name, value, unit, target, ok });
  const mark = ok === undefined ? '' : ok ? '  ok' : '  MISSED';
  console.log(`${name.padEnd(58)} ${String(value).padStart(10)} ${unit.padEnd(4)} ${target ? `(target ${target})` : ''}${mark}`);
}

async function time(fn) {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
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
const [buildMs, { graph }] = await time(() => graphMod.buildGraph(types.packageType, [mod.root]));
const [sortMs, order] = await time(() => graphMod.topologicalOrder(graph));
report(`build the full graph (${graph.order} nodes, ${graph.size} edges)`, buildMs.toFixed(0), 'ms');
report('topological sort', sortMs.toFixed(0), 'ms');
report('graph built and sorted', (buildMs + sortMs).toFixed(0), 'ms', '≤ 300 ms', buildMs + sortMs <= 300);
if (order.length !== graph.order) throw new Error('topological order misses nodes');
const [dotMs, dot] = await time(() => backends.findBackend('graphviz').render(graph, { typeName: 'package' }));
report(`emit DOT (${(dot.length / 1e6).toFixed(1)} MB)`, dotMs.toFixed(0), 'ms');

// --- transformation on 20,000 packages ----------------------------------------------------------
{
  const { packageMapping } = await import(dist('src/transform/rewrite.js'));
  // Pick the package whose dependents are closest to half the graph.
  const dependents = new Map();
  const all = [...Object.values(mod)].filter(dsl.isPackage);
  const memo = new Map();
  const reach = (p) => {
    // The set of packages each package depends on, as a bitset over indices (closure sizes).
    if (memo.has(p)) return memo.get(p);
    const s = new Set();
    for (const d of dsl.directInputs(p)) {
      s.add(d);
      for (const x of reach(d)) s.add(x);
    }
    memo.set(p, s);
    return s;
  };
  // Counting dependents exactly for 20,000 packages is slow; sample the deepest layers.
  const candidates = all.filter((p) => /^p3[0-9]-/.test(p.name)).slice(0, 400);
  for (const c of candidates) dependents.set(c, 0);
  for (const p of all) for (const d of reach(p)) if (dependents.has(d)) dependents.set(d, dependents.get(d) + 1);
  let best;
  for (const [c, n] of dependents) if (!best || Math.abs(n - all.length / 2) < Math.abs(best[1] - all.length / 2)) best = [c, n];
  const [target, nDependents] = best;
  const replacement = dsl.definePackage({ ...{ name: target.name, version: '2.0', buildSystem: dsl.trivial, synopsis: 's', description: 'd', homePage: 'https://example.org/', license: dsl.licenses.expat } });
  const mapping = packageMapping((p) => (p === target ? replacement : p), { cut: (p) => p === target, deep: true });
  const [ms] = await time(() => mapping(mod.root));
  report(`--with-input on the root, ${target.name} (${nDependents} dependents)`, ms.toFixed(0), 'ms', '≤ 100 ms', ms <= 100);
  // Every dependent of target changes, plus the root itself.
  report('new package objects / packages that really changed', `${mapping.created}/${nDependents + 1}`, '', 'equal', mapping.created === nDependents + 1);
}

// --- CLI start-up -------------------------------------------------------------------------------
const nodeMs = wall(process.execPath, ['-e', '0']);
const graphMs = wall(process.execPath, [join(root, 'bin', 'tsdsl.js'), 'graph', 'mumps']);
report('node -e 0 (cold start, median of 7)', nodeMs.toFixed(0), 'ms');
report('tsdsl graph mumps (cold start, median of 7)', graphMs.toFixed(0), 'ms', `≤ 3 × node = ${(3 * nodeMs).toFixed(0)} ms`, graphMs <= 3 * nodeMs);

console.log(JSON.stringify({ results }, null, 0));
void execFileSync;
