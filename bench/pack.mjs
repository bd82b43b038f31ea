// `tsdsl pack` throughput: a closure of ≥ 300 MB packed as tar+gzip and tar+zstd by the
// tarball format, side by side in the same run with GNU tar piped into gzip -n / zstd over the
// same files (`tar --format=gnu --sort=name --mtime=@1 --owner=0 --group=0 … | gzip -n`).
// Target: ≤ 1.1× their time. The closure is the unpacked items of the shared test store
// (TSDSL_TEST_ROOT: the bootstrap toolchain, ≈ 280 MB of real binaries, headers and text) plus
// a synthetic item of text to pass 300 MB (or synthetic items only when the store is empty).
// Each side runs RUNS times, alternating; the medians are compared.
//   node bench/pack.mjs            (after node scripts/build.mjs)
//   TSDSL_BENCH_COMPRESSORS=zstd TSDSL_BENCH_RUNS=5 node bench/pack.mjs
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median, reporter } from './common.mjs';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const { findPackFormat } = await import(pathToFileURL(join(root, 'dist', 'src', 'pack', 'formats.js')).href);
const RUNS = Number(process.env['TSDSL_BENCH_RUNS'] ?? 3);
const TARGET_BYTES = 300 * 1000 * 1000;
const STORE_DIR = '/tsdsl/store';
const figures = [];
const report = reporter(figures);

function treeSize(p) {
  const st = lstatSync(p);
  if (!st.isDirectory()) return st.isFile() ? st.size : 0;
  let n = 0;
  for (const e of readdirSync(p)) n += treeSize(join(p, e));
  return n;
}

// --- the closure -------------------------------------------------------------------------------
const work = mkdtempSync(join(tmpdir(), 'tsdsl-bench-pack-'));
const store = join(work, 'store');
mkdirSync(store);
const testStore = join(process.env['TSDSL_TEST_ROOT'] ?? join(tmpdir(), 'tsdsl-test-store'), 'store');
const items = [];
let bytes = 0;
if (existsSync(testStore)) {
  for (const name of readdirSync(testStore).sort()) {
    if (!/^[0-9a-z]{32}-/.test(name) || /\.(drv|deb|lock)$|\.tar\.|\.patch$|\.tgz$|\.zip$/.test(name)) continue;
    const physical = join(testStore, name);
    if (!statSync(physical).isDirectory()) continue;
    items.push({ path: `${STORE_DIR}/${name}`, physical });
    bytes += treeSize(physical);
  }
}
// Text that compresses like source and documentation, deterministic.
let n = 0;
while (bytes < TARGET_BYTES) {
  const name = `${createHash('sha256').update(`synthetic-${n}`).digest('hex').slice(0, 32).replace(/[eotu]/g, 'x')}-synthetic-text-${n}`;
  const dir = join(store, name, 'share', 'doc');
  mkdirSync(dir, { recursive: true });
  for (let f = 0; f < 400 && bytes < TARGET_BYTES; f++) {
    const lines = [];
    for (let l = 0; l < 1500; l++) lines.push(`${n}:${f}:${l} the quick brown fox ${createHash('md5').update(`${n}/${f}/${l}`).digest('hex')} jumps over the lazy dog`);
    const text = `${lines.join('\n')}\n`;
    writeFileSync(join(dir, `file-${String(f).padStart(4, '0')}.txt`), text);
    bytes += text.length;
  }
  items.push({ path: `${STORE_DIR}/${name}`, physical: join(store, name) });
  n++;
}
const input = { storeDir: STORE_DIR, items, profile: items[0].path, symlinks: [], env: {}, name: 'bench' };
report(`closure: ${items.length} store items`, (bytes / 1e6).toFixed(0), 'MB');

// GNU tar over the same files, named as in the pack with --transform.
const storeRoots = [...new Set(items.map((i) => join(i.physical, '..')))];

function gnuTar(compressor, out) {
  // Each physical store directory is added with --transform to the logical name.
  const parts = storeRoots.map((dir) => {
    const names = items.filter((i) => join(i.physical, '..') === dir).map((i) => JSON.stringify(i.physical.slice(dir.length + 1)));
    return `-C ${JSON.stringify(dir)} ${names.join(' ')}`;
  });
  const cmd = `tar --format=gnu --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner --hard-dereference --transform='s,^,tsdsl/store/,' -c ${parts.join(' ')} | ${compressor} > ${JSON.stringify(out)}`;
  const t0 = performance.now();
  const r = spawnSync('sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return performance.now() - t0;
}

async function ours(compression, out) {
  const t0 = performance.now();
  await findPackFormat('tarball').write(input, { compression }, out);
  return performance.now() - t0;
}

const results = [];
const only = process.env['TSDSL_BENCH_COMPRESSORS']?.split(',');
for (const [compression, command] of [
  ['gzip', 'gzip -n -6'],
  ['zstd', 'zstd -q -T1 -3'],
].filter(([c]) => !only || only.includes(c))) {
  const a = [];
  const b = [];
  for (let i = 0; i < RUNS; i++) {
    const file = join(work, `p.${compression}`);
    a.push(await ours(compression, file));
    const size = statSync(file).size;
    rmSync(file);
    b.push(gnuTar(command, file));
    const gnuSize = statSync(file).size;
    rmSync(file);
    if (i === 0) report(`tar+${compression} size: tsdsl / GNU tar`, (size / gnuSize).toFixed(3), '×');
  }
  const ratio = median(a) / median(b);
  report(`tar+${compression}: tsdsl pack (median of ${RUNS})`, (median(a) / 1000).toFixed(2), 's');
  report(`tar+${compression}: GNU tar | ${command.split(' ')[0]} (median of ${RUNS})`, (median(b) / 1000).toFixed(2), 's');
  report(`tar+${compression}: tsdsl / GNU tar`, ratio.toFixed(2), '×', '≤ 1.1×', ratio <= 1.1);
  results.push({ compression, ours: a, gnu: b, ratio });
}
rmSync(work, { recursive: true, force: true });
console.log(JSON.stringify({ bench: 'pack', bytes, results, figures }));
