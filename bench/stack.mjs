// Issue 9's figures for the MUMPS stack (`node bench/stack.mjs [--build]`, after
// `node scripts/build.mjs`; the numbers are written up in docs/tutorial.md):
//  - pack time and size of `mumps --with-input=scotch=pt-scotch` in every format;
//  - the MUMPS example (`dsimpletest` on its shipped input) run natively (the pack's own loader,
//    no engine), under userns and under PRoot: median wall time of RUNS runs, and the ratios;
//  - with --build only (hours on 2 cores): the whole stack's build wall time with -j2 from an
//    empty store (the bootstrap .debs and sources come from the download cache) and from a
//    store that holds only the toolchain, and whether those outputs are identical to the ones
//    in the shared test store (--keep keeps the new store).
// Packs and runs use the shared store of the slow tests and the e2e suite (TSDSL_TEST_ROOT),
// building what is missing. Run as root, the runs are made as the unprivileged user tsdsltest.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median, tsdslArgv } from './common.mjs';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const STORE_DIR = '/tsdsl/store';
const STACK = ['metis', 'scotch', 'pt-scotch', 'openblas', 'openmpi', 'mumps', 'mumps-openmpi'];
const SUBJECT = ['mumps', '--with-input=scotch=pt-scotch'];
const RUNS = Number(process.env['TSDSL_BENCH_RUNS'] ?? 20);
const args = process.argv.slice(2);

function report(name, value, unit, note = '') {
  console.log(`${name.padEnd(60)} ${String(value).padStart(10)} ${unit.padEnd(4)} ${note}`);
}

/** `tsdsl ARGS` on STORE_ROOT; throws with the end of stderr when it fails. */
function tsdsl(storeRoot, argv, options = {}) {
  const r = spawnSync(process.execPath, tsdslArgv(...argv), {
    env: { ...process.env, TSDSL_ROOT: storeRoot, TSDSL_STORE_DIR: STORE_DIR, TSDSL_PACKAGE_PATH: '' },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    ...options,
  });
  if (r.status !== 0) throw new Error(`tsdsl ${argv.join(' ')} failed (exit ${r.status}):\n${(r.stderr ?? '').slice(-4000)}`);
  return r.stdout;
}

/** Remove a directory holding a store (read-only items: made writable as they are deleted). */
async function removeStore(dir) {
  const { deleteTree } = await import(pathToFileURL(join(root, 'dist', 'src', 'store', 'tree.js')).href);
  deleteTree(dir);
}

function timed(fn) {
  const t0 = performance.now();
  const v = fn();
  return [(performance.now() - t0) / 1000, v];
}

// --- the runs, as the unprivileged user (this file re-executed with --runs ROOT) -----------------
if (args[0] === '--runs') {
  const dir = args[1];
  const dist = (p) => pathToFileURL(join(root, 'dist', p)).href;
  const { currentHost, findEngine, launch } = await import(dist('src/run/engines.js'));
  const input = readFileSync(join(dir, 'input'), 'utf8');
  const packRoot = join(dir, 'root');
  const host = currentHost();
  // Natively: the pack's own loader with every library directory of the closure, no engine.
  const storeItems = readdirSync(join(packRoot, STORE_DIR.slice(1))).map((n) => join(packRoot, STORE_DIR.slice(1), n));
  const libc = storeItems.find((p) => existsSync(join(p, 'lib/x86_64-linux-gnu/ld-linux-x86-64.so.2')));
  const libDirs = storeItems.flatMap((p) => ['lib', 'lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu'].map((d) => join(p, d))).filter((d) => existsSync(d));
  const program = readFileSync(join(dir, 'program'), 'utf8').trim();
  const sink = () => {
    const chunks = [];
    return { stream: new Writable({ write: (c, _e, cb) => (chunks.push(Buffer.from(c)), cb()) }), text: () => Buffer.concat(chunks).toString() };
  };
  const subjects = {
    native: (o) => launch({ argv: [join(libc, 'lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'), '--library-path', libDirs.join(':'), join(packRoot, program.slice(1))], env: { PATH: '/bin' }, cwd: dir, stdio: 'pipe' }, o).then((r) => r.code),
    userns: (o) => findEngine('userns', host).run({ root: packRoot, storeDir: STORE_DIR, command: ['dsimpletest'], env: { PATH: '/bin' }, cwd: dir, stdio: 'pipe' }, o),
    proot: (o) => findEngine('proot', host).run({ root: packRoot, storeDir: STORE_DIR, command: ['dsimpletest'], env: { PATH: '/bin' }, cwd: dir, stdio: 'pipe' }, o),
  };
  const times = Object.fromEntries(Object.keys(subjects).map((k) => [k, []]));
  const outputs = {};
  // Interleaved, so that drift in the machine's load hits every subject alike; one warm-up each.
  for (let i = -1; i < RUNS; i++) {
    for (const [name, run] of Object.entries(subjects)) {
      const out = sink();
      const err = sink();
      const t0 = performance.now();
      const code = await run({ stdin: input, stdout: out.stream, stderr: err.stream });
      const ms = performance.now() - t0;
      if (code !== 0) throw new Error(`${name}: dsimpletest exited ${code}: ${err.text().slice(-2000)}`);
      outputs[name] = /Solution is[^\n]*/.exec(out.text())?.[0];
      if (i >= 0) times[name].push(ms);
    }
  }
  console.log(JSON.stringify({ medians: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])), outputs }));
  process.exit(0);
}

const storeRoot = process.env['TSDSL_TEST_ROOT'] ?? join(tmpdir(), 'tsdsl-test-store');
const work = mkdtempSync(join(tmpdir(), 'tsdsl-bench-stack-'));
chmodSync(work, 0o755);
console.log(`load average at start: ${loadavg()[0].toFixed(1)}; store ${storeRoot}`);

// --- whole-stack builds (opt-in) ---------------------------------------------------------------
// One empty store, built in two timed steps: first the toolchain (the bootstrap .debs from the
// download cache, unpacked and checked), then the stack. The second step is exactly "a build from
// a store holding only the toolchain"; the two together are the build from an empty store (the
// stack needs the toolchain before anything else, so -j2 could not overlap the two steps anyway).
// Then every output the new store holds is compared with the same path in the shared test store,
// built independently in earlier runs: two builds of each derivation, at other times, under
// another TSDSL_ROOT and another load, must agree to the byte (the NAR hash).
if (args.includes('--build')) {
  const fresh = join(work, 'empty-store');
  // The toolchain: what the gnu build system puts in every build (gcc, binutils, libc, bash,
  // make, coreutils, sed, …: the bootstrap's Debian packages) and gfortran, built through the
  // API because the toolchain's bash is hidden behind the bash built from source.
  const buildToolchain = async () => {
    const api = await import(pathToFileURL(join(root, 'dist', 'src', 'index.js')).href);
    const { gfortran } = await import(pathToFileURL(join(root, 'dist', 'packages', 'bootstrap.js')).href);
    const { instantiate } = await import(pathToFileURL(join(root, 'dist', 'src', 'derivation', 'instantiate.js')).href);
    const packages = [...api.gnu.toolchain(), ...api.gnu.tools(), gfortran];
    const store = api.openStore({ root: fresh, storeDir: STORE_DIR });
    try {
      const { lowerer, results } = await api.lowerPackages(packages, { storeDir: STORE_DIR });
      const roots = results.map((r) => r.drvPath);
      await instantiate(store, lowerer, roots);
      const { failed } = await api.realise(store, lowerer, roots, { maxJobs: 2, cores: 2 });
      if (failed.length) throw new Error(`the toolchain failed to build: ${failed.join(' ')}`);
    } finally {
      store.close();
    }
  };
  const t0 = performance.now();
  await buildToolchain();
  const toolchainS = (performance.now() - t0) / 1000;
  report('toolchain into an empty store (bootstrap cached)', toolchainS.toFixed(0), 's');
  const [stackS] = timed(() => tsdsl(fresh, ['build', '-q', '-j2', '--cores=2', ...STACK]));
  report('stack with -j2 from a store holding only the toolchain', stackS.toFixed(0), 's');
  report('stack with -j2 from an empty store (bootstrap cached)', (toolchainS + stackS).toFixed(0), 's');
  const { default: Database } = await import('better-sqlite3');
  const narHashes = (storeRoot) => {
    const db = new Database(join(storeRoot, 'var', 'db.sqlite'), { readonly: true, fileMustExist: true });
    try {
      const rows = db.prepare("SELECT path, narHash FROM ValidPaths WHERE deriver IS NOT NULL AND path NOT LIKE '%.drv'").all();
      return new Map(rows.map((r) => [r.path, r.narHash]));
    } finally {
      db.close();
    }
  };
  const built = narHashes(fresh);
  const before = existsSync(join(storeRoot, 'var', 'db.sqlite')) ? narHashes(storeRoot) : new Map();
  const both = [...built.keys()].filter((p) => before.has(p));
  const differ = both.filter((p) => built.get(p) !== before.get(p));
  report('outputs built in both stores, identical', `${both.length - differ.length}/${both.length}`, '');
  for (const p of differ) console.log(`  differs: ${p}`);
  for (const p of [...built.keys()].filter((p) => !before.has(p)).sort()) console.log(`  only in the new store: ${p}`);
  if (args.includes('--keep')) console.log(`kept ${fresh}`);
  else await removeStore(fresh);
}

// --- packs -------------------------------------------------------------------------------------
tsdsl(storeRoot, ['build', '-q', '-j2', '--cores=2', ...SUBJECT]);
const formats = [
  ['tarball, gzip', ['-C', 'gzip']],
  ['tarball, zstd', ['-C', 'zstd']],
  ['tarball, xz', ['-C', 'xz']],
  ['tarball, no compression', ['-C', 'none']],
  ['docker image (docker-archive)', ['-f', 'docker']],
  ['docker image, 16 layers', ['-f', 'docker', '--max-layers=16']],
  ['squashfs (Singularity/Apptainer)', ['-f', 'squashfs']],
  ['relocatable (-R)', ['-R']],
  ['relocatable with PRoot (-RR)', ['-RR']],
];
let tarball;
for (const [label, extra] of formats) {
  const out = join(work, `pack-${formats.findIndex((f) => f[0] === label)}`);
  const [s] = timed(() => tsdsl(storeRoot, ['pack', ...SUBJECT, '-S', '/bin=bin', '-S', '/lib=lib', ...extra, '-o', out]));
  report(`pack ${SUBJECT.join(' ')}: ${label}`, s.toFixed(1), 's', `${(statSync(out).size / 1e6).toFixed(1)} MB`);
  if (label === 'tarball, gzip') tarball = out;
}

// --- the example under each engine ---------------------------------------------------------------
const runDir = join(work, 'runs');
mkdirSync(join(runDir, 'root'), { recursive: true });
spawnSync('tar', ['xf', tarball, '-C', join(runDir, 'root')], { stdio: 'inherit' });
const mumps = tsdsl(storeRoot, ['build', '-q', ...SUBJECT]).trim();
const examples = join(storeRoot, 'store', mumps.slice(STORE_DIR.length + 1), 'share/mumps/examples');
spawnSync('cp', [join(examples, 'input_simpletest_real'), join(runDir, 'input')]);
spawnSync('sh', ['-c', `printf '%s\\n' '${mumps}/bin/dsimpletest' > '${join(runDir, 'program')}'`]);
const asUser = process.getuid?.() === 0 && spawnSync('id', ['tsdsltest']).status === 0;
if (asUser) spawnSync('chown', ['-R', 'tsdsltest:tsdsltest', runDir]);
const argv = [process.execPath, fileURLToPath(import.meta.url), '--runs', runDir];
const r = asUser
  ? spawnSync('runuser', ['-u', 'tsdsltest', '--', 'env', 'HOME=/tmp', ...argv], { encoding: 'utf8', cwd: '/' })
  : spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
if (r.status !== 0) throw new Error(`the runs failed:\n${r.stderr.slice(-4000)}`);
const { medians, outputs } = JSON.parse(r.stdout.trim().split('\n').pop());
for (const [name, ms] of Object.entries(medians)) {
  report(`dsimpletest, ${name} (median of ${RUNS})`, ms.toFixed(1), 'ms', name === 'native' ? '' : `${(ms / medians.native).toFixed(2)}× native`);
}
if (new Set(Object.values(outputs)).size !== 1) throw new Error(`the engines disagree: ${JSON.stringify(outputs)}`);
console.log(`every engine printed: ${outputs.native}`);
// With --keep, the new store stays for a look (it is inside WORK).
if (!args.includes('--keep')) await removeStore(work);
