// Lowering 20,000 packages to derivations, side by side with Nix 2.8 on the equivalent
// 20,000 `derivation {}` expressions: read-only (hashing only) and cold (writing the .drv
// files and registering them). Reports wall time and peak RSS of each, and the ratios.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { toNixExpression } from './nix-expr.mjs';

const root = join(fileURLToPath(import.meta.url), '..', '..');

/** Run a command under GNU time; returns wall ms, peak RSS MB and stdout. */
function measure(cmd, args, env = {}) {
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 256 << 20 });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr.slice(-2000)}`);
  const rssKb = Number(r.stderr.trim().split('\n').pop());
  return { ms, rssMb: rssKb / 1024, stdout: r.stdout };
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

  const oursRo = measure(process.execPath, [join(root, 'bench/lower-child.mjs'), syntheticFile, storeDir]);
  const nixRo = measure('nix-instantiate', ['--readonly-mode', '--store', `dummy://?store=${storeDir}`, nixFile], { NIX_REMOTE: '' });
  const got = nixRo.stdout.trim().split('\n');
  const same = got.length === order.length && got.every((p, i) => p === order[i]);
  report(`Nix computes the same ${order.length} .drv paths`, same ? 'yes' : 'NO', '', 'yes', same);
  report('lower 20,000 packages (hashing only): tsdsl', oursRo.ms.toFixed(0), 'ms');
  report('  nix-instantiate --readonly-mode', nixRo.ms.toFixed(0), 'ms');
  report('  speed-up over Nix (read-only)', (nixRo.ms / oursRo.ms).toFixed(1), '×', '≥ 3×', nixRo.ms / oursRo.ms >= 3);

  const oursCold = measure(process.execPath, [join(root, 'bench/lower-child.mjs'), syntheticFile, storeDir, join(dir, 'ours-root')]);
  const nixCold = measure('nix-instantiate', ['--store', `local?root=${join(dir, 'nix-root')}`, nixFile], { NIX_REMOTE: '' });
  report('lower + write 20,000 .drv files (cold): tsdsl', oursCold.ms.toFixed(0), 'ms');
  report('  nix-instantiate (cold, local store)', nixCold.ms.toFixed(0), 'ms');
  report('  speed-up over Nix (cold)', (nixCold.ms / oursCold.ms).toFixed(1), '×', '≥ 5×', nixCold.ms / oursCold.ms >= 5);
  report('peak RSS: tsdsl read-only / cold', `${oursRo.rssMb.toFixed(0)}/${oursCold.rssMb.toFixed(0)}`, 'MB');
  report('peak RSS: Nix read-only / cold', `${nixRo.rssMb.toFixed(0)}/${nixCold.rssMb.toFixed(0)}`, 'MB', 'tsdsl ≤ Nix', oursRo.rssMb <= nixRo.rssMb && oursCold.rssMb <= nixCold.rssMb);
}
