/**
 * Nix as an oracle for the whole default collection: every derivation mumps, hwloc and
 * cmake-minimal need (fixed-output fetches, .deb unpacks, unions, gnu and cmake builds, text
 * items) is re-expressed as a Nix `derivation { … }` and nix-instantiate must compute the same
 * .drv paths. CI installs nix-bin; without it the test says why it skips.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inherit } from '../../src/dsl/index.js';
import { Lowerer } from '../../src/derivation/lower.js';
import { getDefaultCollection } from '../../src/transform/api.js';
// @ts-expect-error — a plain ES module shared with the benchmarks
import { toNixExpression } from '../../bench/nix-expr.mjs';

const hasNix = spawnSync('nix-instantiate', ['--version']).status === 0;
if (!hasNix) console.warn('skipping the Nix oracle for the collection: nix-instantiate is not installed (apt-get install nix-bin)');

describe.skipIf(!hasNix)('Nix computes the same derivations as tsdsl', () => {
  for (const storeDir of ['/nix/store', '/tsdsl/store']) {
    it(`for mumps, mumps~metis, pt-scotch, hwloc and cmake-minimal under ${storeDir}`, async () => {
      const c = getDefaultCollection();
      const l = new Lowerer(storeDir);
      // With a package of several outputs, declared out of name order (the env keeps that order).
      const split = inherit(c.resolve('zlib'), { name: 'zlib-split', outputs: ['out', 'lib', 'doc'] });
      const pkgs = [...['mumps', 'mumps~metis', 'pt-scotch', 'hwloc', 'cmake-minimal', 'mumps-openmpi'].map((s) => c.resolve(s)), split];
      await l.prepare(pkgs);
      for (const p of pkgs) l.lowerGrafted(p);
      const { expr, order } = toNixExpression([...l.derivations.values()], l.items) as { expr: string; order: string[] };
      const file = join(mkdtempSync(join(tmpdir(), 'tsdsl-nix-')), 'all.nix');
      writeFileSync(file, expr);
      const out = execFileSync('nix-instantiate', ['--readonly-mode', '--store', `dummy://?store=${storeDir}`, file], {
        encoding: 'utf8',
        env: { ...process.env, NIX_REMOTE: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
        maxBuffer: 64 << 20,
      });
      const got = out.trim().split('\n');
      expect(got.length).toBe(order.length);
      expect(order.length).toBeGreaterThan(100);
      expect(got).toEqual(order);
    });
  }
});
