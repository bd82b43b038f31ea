/**
 * `instantiate` (what `tsdsl build -d` runs) beside a garbage collector: the derivations it
 * finds valid and does not write again are what the new ones refer to, so it must protect them
 * (temporary roots) before relying on them, as Nix's addTempRoot-then-isValidPath does.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { instantiate } from '../../src/derivation/instantiate.js';
import { Lowerer } from '../../src/derivation/lower.js';
import { collectGarbage, verifyStore } from '../../src/store/gc.js';
import { openStore, type LocalStore } from '../../src/store/store.js';
import { dummyPackage } from '../fixtures/dummy.js';

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) {
    spawnSync('chmod', ['-R', 'u+w', r]);
    rmSync(r, { recursive: true, force: true });
  }
});

function freshStore(): { root: string; store: LocalStore } {
  const root = mkdtempSync(join(tmpdir(), 'tsdsl-instantiate-'));
  roots.push(root);
  return { root, store: openStore({ root, storeDir: '/tsdsl/store', env: {}, durable: false }) };
}

/**
 * lib ← mid ← first, and second (not written) also on mid: `first` and what it needs are valid
 * and unrooted in a fresh store (a `build -d` whose process ended).
 */
async function firstWritten() {
  const { root, store } = freshStore();
  const lib = dummyPackage({ name: 'lib', version: '1' });
  const mid = dummyPackage({ name: 'mid', version: '1', inputs: [lib] });
  const first = dummyPackage({ name: 'first', version: '1', inputs: [mid] });
  const second = dummyPackage({ name: 'second', version: '1', inputs: [mid] });
  const l1 = new Lowerer(store.storeDir);
  const r1 = l1.lower(first);
  await instantiate(store, l1, [r1.drvPath]);
  store.close();
  return { root, lib, mid, second, r1 };
}

describe('instantiate beside a garbage collector', () => {
  it('keeps the valid derivations it builds on: a collection between its check and its write deletes none of them', async () => {
    const { root, mid, second, r1 } = await firstWritten();
    const writer = openStore({ root, storeDir: '/tsdsl/store', env: {}, durable: false });
    const l2 = new Lowerer(writer.storeDir);
    const r2 = l2.lower(second);
    const midDrv = l2.lower(mid).drvPath;
    // A collector runs (another process: its own handle) once the writer has decided what to write.
    const collector = openStore({ root, storeDir: '/tsdsl/store', env: {}, durable: false });
    const write = writer.writeDerivations.bind(writer);
    let collected: string[] = [];
    writer.writeDerivations = (items, files) => {
      collected = collectGarbage(collector).deleted;
      return write(items, files);
    };
    await instantiate(writer, l2, [r2.drvPath]);
    // Only what nothing new needs went: first's .drv (and the builder text, if only it used it).
    expect(collected).toContain(r1.drvPath);
    expect(collected).not.toContain(midDrv);
    expect(writer.isValid(r2.drvPath) && writer.isValid(midDrv)).toBe(true);
    expect((await verifyStore(writer)).problems).toEqual([]);
    writer.close();
    collector.close();
  });

  it('writes again what a collection took between its check and its temporary root', async () => {
    const { root, lib, mid, second } = await firstWritten();
    const writer = openStore({ root, storeDir: '/tsdsl/store', env: {}, durable: false });
    const collector = openStore({ root, storeDir: '/tsdsl/store', env: {}, durable: false });
    const l2 = new Lowerer(writer.storeDir);
    const r2 = l2.lower(second);
    const midDrv = l2.lower(mid).drvPath;
    // The collection runs just before the roots of what the new derivation relies on are added.
    const addTempRoots = writer.addTempRoots.bind(writer);
    let collected: string[] = [];
    writer.addTempRoots = (paths) => {
      if ([...paths].includes(midDrv) && collected.length === 0) collected = collectGarbage(collector).deleted;
      addTempRoots(paths);
    };
    await instantiate(writer, l2, [r2.drvPath]);
    expect(collected).toContain(midDrv);
    // mid's .drv, and lib's below it, were written again: the store is whole.
    expect(writer.isValid(r2.drvPath) && writer.isValid(midDrv) && writer.isValid(l2.lower(lib).drvPath)).toBe(true);
    expect((await verifyStore(writer)).problems).toEqual([]);
    writer.close();
    collector.close();
  });
});

describe('instantiate over a store whose files were deleted by hand', () => {
  it('refuses to build on a registered .drv whose file is gone, with the way out; readDerivation says the same', async () => {
    const { root, mid, second } = await firstWritten();
    const store = openStore({ root, storeDir: '/tsdsl/store', env: {}, durable: false });
    try {
      const l = new Lowerer(store.storeDir);
      const r = l.lower(second);
      const midDrv = l.lower(mid).drvPath;
      rmSync(store.physicalPath(midDrv));
      await expect(instantiate(store, l, [r.drvPath])).rejects.toThrow(/the store item needed here is registered but missing from disk \(.*-mid-1\.drv\); run `tsdsl verify --repair`/);
      expect(store.isValid(r.drvPath)).toBe(false);
      expect(() => store.readDerivation(midDrv)).toThrow(/registered but missing from disk .* `tsdsl verify --repair`/);
    } finally {
      store.close();
    }
  });
});
