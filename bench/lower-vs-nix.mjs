// Lowering 20,000 packages to derivations, side by side with Nix 2.8 on the equivalent
// 20,000 `derivation {}` expressions: read-only (hashing only) and cold (writing the .drv
// files and registering them). Reports wall time and peak RSS of each, and the ratios.
//
// Two comparisons are reported. "Lowering alone" is what the targets are about: tsdsl's time
// from a loaded collection to the lowered derivations (and written store, cold), timed in the
// process (started with the Node options the `tsdsl` command starts with, bin/tsdsl.js); Nix's
// is its run minus a run that only starts, parses the expression and counts the list without
// evaluating a derivation. "Whole process" compares the wall time of the
// two commands as run (tsdsl's includes starting Node and loading the 20,000-package module
// through the DSL); it is reported beside, but the speed targets are checked on the first
// (the issue sets them "for lowering alone"). The two tools run in turns, RUNS rounds, each
// starting once the disks are quiet; each figure is the median over the rounds, and each
// speed-up the median of the rounds' ratios. Peak RSS is of the whole process.
//
// After many files were deleted, ext4 creates files slowly for minutes: its inode allocator
// skips inodes freed recently (`recently_deleted()` takes most of the time in perf), and
// creating 20,000 files then takes 5-12 s instead of under one. Nix deletes a lock file for
// each path it writes, 20,000 a run. So, as root, each cold run (tsdsl's and Nix's) writes into
// a new ext4 file system of its own, a loop-mounted image; otherwise, into a directory on the
// temporary directory's file system, and then run the bench at least five minutes after many
// files were deleted there (by a test run, say), and expect Nix's deletions to slow the runs
// that follow them.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { toNixExpression } from './nix-expr.mjs';
import { median, nodeOptions } from './common.mjs';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const RUNS = Number(process.env['TSDSL_BENCH_RUNS'] ?? 5);

/** Writes, discards and requests in flight of every block device (/proc/diskstats). */
function diskActivity() {
  try {
    let sum = 0;
    for (const line of readFileSync('/proc/diskstats', 'utf8').split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length < 14) continue;
      // writes completed, I/Os in progress, and (newer kernels) discards completed
      sum += Number(f[7]) + Number(f[11]) + (f.length >= 18 ? Number(f[14]) : 0);
    }
    return sum;
  } catch {
    return 0;
  }
}

/**
 * Waits until the disks are quiet: everything written is synced, and no write or discard
 * has completed for half a second (at most a minute). Every measured run starts so, ours and
 * Nix's alike, and none pays for what an earlier run left to write back or discard (Nix does
 * not sync its files; a removed image's blocks are discarded on a file system mounted with
 * `discard`).
 */
function settle() {
  spawnSync('sync');
  const until = performance.now() + 60_000;
  let last = diskActivity();
  while (performance.now() < until) {
    spawnSync('sleep', ['0.5']);
    const now = diskActivity();
    if (now === last) return;
    last = now;
  }
}

/** Run a command under GNU time, once the disks are quiet; returns wall ms, peak RSS MB and stdout. */
function measure(cmd, args, env = {}) {
  settle();
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 256 << 20 });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr.slice(-2000)}`);
  const rssKb = Number(r.stderr.trim().split('\n').pop());
  return { ms, rssMb: rssKb / 1024, stdout: r.stdout };
}

/**
 * A new, empty ext4 file system (a loop-mounted image in `dir`) for one cold run, as root with
 * mkfs.ext4; otherwise a new directory in `dir` (see above for why). Returns the directory,
 * whether it is a file system of its own, and a function that removes it (unmounting first).
 */
function freshFileSystem(dir, name) {
  const at = join(dir, name);
  mkdirSync(at);
  if (process.getuid?.() !== 0 || spawnSync('mkfs.ext4', ['-V']).status !== 0) return { at, fresh: false, done: () => {} };
  const image = `${at}.img`;
  const ok = (cmd, args) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
  // Inode tables and journal written now, not by a kernel thread during the run.
  const mkfs = ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', image];
  if (!(ok('truncate', ['-s', '2G', image]) && ok('mkfs.ext4', mkfs) && ok('mount', ['-o', 'loop', image, at]))) {
    rmSync(image, { force: true });
    return { at, fresh: false, done: () => {} };
  }
  return {
    at,
    fresh: true,
    done: () => {
      spawnSync('umount', [at]);
      rmSync(image, { force: true });
    },
  };
}

/** Our child process: whole-process wall and RSS, plus the in-process times it prints. */
function ours(syntheticFile, storeDir, storeRoot) {
  const m = measure(process.execPath, [...nodeOptions, join(root, 'bench/lower-child.mjs'), syntheticFile, storeDir, ...(storeRoot ? [storeRoot] : [])]);
  const inner = JSON.parse(m.stdout);
  return { ms: m.ms, rssMb: m.rssMb, inner: inner.ms, lowerMs: inner.lowerMs, writeMs: inner.writeMs };
}

export async function benchLowering(syntheticFile, report) {
  if (spawnSync('nix-instantiate', ['--version']).status !== 0) {
    console.log('lowering vs Nix: skipped, nix-instantiate is not installed (apt-get install nix-bin)');
    return;
  }
  const storeDir = '/nix/store';
  const dir = mkdtempSync(join(tmpdir(), 'tsdsl-bench-nix-'));
  // The equivalent Nix expression, made from our own lowering (and checked path by path below).
  const { Lowerer } = await import(pathToFileURL(join(root, 'dist/src/derivation/lower.js')).href);
  const mod = await import(pathToFileURL(syntheticFile).href);
  const l = new Lowerer(storeDir);
  await l.prepare([mod.root]);
  l.lowerGrafted(mod.root);
  const { expr, order } = toNixExpression([...l.derivations.values()], l.items);
  const nixFile = join(dir, 'all.nix');
  writeFileSync(nixFile, expr);
  const nixEnv = { NIX_REMOTE: '' };
  const dummy = ['--store', `dummy://?store=${storeDir}`];

  const got = measure('nix-instantiate', ['--readonly-mode', ...dummy, nixFile], nixEnv).stdout.trim().split('\n');
  const same = got.length === order.length && got.every((p, i) => p === order[i]);
  report(`Nix computes the same ${order.length} .drv paths`, same ? 'yes' : 'NO', '', 'yes', same);

  // Nix's fixed cost: start, parse the expression, count the list (no derivation is forced).
  const nixStart = () => measure('nix-instantiate', ['--readonly-mode', ...dummy, '--eval', '-E', `builtins.length (import ${nixFile})`], nixEnv);
  // Rounds, each running tsdsl, Nix's fixed cost and Nix one after the other: this machine's
  // speed (and its disk's above all) changes by several times over minutes, and both tools
  // should meet the same conditions. A round's Nix time "less start and parse" is its Nix run
  // minus its own fixed-cost run; each speed-up is the median of the rounds' ratios, and the
  // times shown are medians over the rounds.
  const rounds = (oursRun, nixRun) =>
    Array.from({ length: RUNS }, (_, i) => {
      const o = oursRun(i);
      const b = nixStart();
      const n = nixRun(i);
      return { ours: o, nix: n, nixAlone: n.ms - b.ms, baseMs: b.ms };
    });
  const med = (rs, f) => median(rs.map(f));

  const ro = rounds(
    () => ours(syntheticFile, storeDir),
    () => measure('nix-instantiate', ['--readonly-mode', ...dummy, nixFile], nixEnv),
  );
  /** The rounds' figures: `oursMs` picks tsdsl's time that is judged; `extra` lines come after it. */
  const compare = (rs, what, oursLabel, oursMs, nixLabel, target, extra = () => {}) => {
    const speedup = med(rs, (r) => r.nixAlone / oursMs(r));
    report(oursLabel, med(rs, oursMs).toFixed(0), 'ms');
    extra();
    report(nixLabel, med(rs, (r) => r.nixAlone).toFixed(0), 'ms');
    report(`  speed-up over Nix (${what})`, speedup.toFixed(1), '×', `≥ ${target}×`, speedup >= target);
    report("    the rounds' speed-ups", rs.map((r) => (r.nixAlone / oursMs(r)).toFixed(1)).join(' '), '×');
    report("    the rounds' times, tsdsl/Nix", rs.map((r) => `${(oursMs(r) / 1000).toFixed(1)}/${(r.nixAlone / 1000).toFixed(1)}`).join(' '), 's');
    report('  whole process: tsdsl / nix-instantiate', `${med(rs, (r) => r.ours.ms).toFixed(0)}/${med(rs, (r) => r.nix.ms).toFixed(0)}`, 'ms');
    report(`  whole process: speed-up over Nix (${what.split(',')[0]}; not judged)`, med(rs, (r) => r.nix.ms / r.ours.ms).toFixed(1), '×');
  };
  compare(ro, 'read-only, lowering alone', 'lower 20,000 packages (hashing only): tsdsl, lowering alone', (r) => r.ours.lowerMs,
    '  nix-instantiate --readonly-mode, less start and parse', 3);
  report('  Nix start + parse only', med(ro, (r) => r.baseMs).toFixed(0), 'ms');

  // Each cold run writes into a file system of its own, made before and removed after it.
  let fresh = true;
  const onFresh = (name, run) => {
    const fs = freshFileSystem(dir, name);
    fresh &&= fs.fresh;
    try {
      return run(fs.at);
    } finally {
      fs.done();
    }
  };
  const cold = rounds(
    (i) => onFresh(`ours-${i}`, (at) => ours(syntheticFile, storeDir, join(at, 'root'))),
    (i) => onFresh(`nix-${i}`, (at) => measure('nix-instantiate', ['--store', `local?root=${join(at, 'root')}`, nixFile], nixEnv)),
  );
  if (!fresh) console.log('  (cold runs shared one file system: making a new ext4 file system for each needs root and mkfs.ext4)');
  compare(cold, 'cold', 'lower + write 20,000 .drv files (cold): tsdsl, lowering + writing', (r) => r.ours.inner,
    '  nix-instantiate (cold, local store), less start and parse', 5,
    () => report('  of which writing the .drv files and DB rows', med(cold, (r) => r.ours.writeMs).toFixed(0), 'ms'));
  const rss = (rs, who) => med(rs, (r) => r[who].rssMb);
  report('peak RSS: tsdsl read-only / cold', `${rss(ro, 'ours').toFixed(0)}/${rss(cold, 'ours').toFixed(0)}`, 'MB');
  report('peak RSS: Nix read-only / cold', `${rss(ro, 'nix').toFixed(0)}/${rss(cold, 'nix').toFixed(0)}`, 'MB', 'tsdsl ≤ Nix',
    rss(ro, 'ours') <= rss(ro, 'nix') && rss(cold, 'ours') <= rss(cold, 'nix'));
  // Both kinds of store are read-only trees; deleteTree makes them writable as it goes.
  const { deleteTree } = await import(pathToFileURL(join(root, 'dist/src/store/tree.js')).href);
  deleteTree(dir);
}
