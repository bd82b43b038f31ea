/** missingDerivations(): what `build -n` lists and `build` makes, over deep graphs too. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Lowerer } from '../../src/derivation/lower.js';
import { missingDerivations } from '../../src/build/scheduler.js';
import { openStore } from '../../src/store/store.js';
import type { Package } from '../../src/dsl/index.js';
import { dummyPackage } from '../fixtures/dummy.js';

describe('missingDerivations', () => {
  it('walks a chain of 15,000 derivations without overflowing the stack, inputs first', () => {
    let p: Package = dummyPackage({ name: 'link0' });
    for (let i = 1; i < 15000; i++) p = dummyPackage({ name: `link${i}`, inputs: [p] });
    const l = new Lowerer('/tsdsl/store');
    const { drvPath } = l.lower(p);
    const root = mkdtempSync(join(tmpdir(), 'tsdsl-missing-'));
    const store = openStore({ root, storeDir: '/tsdsl/store', env: {}, durable: false });
    try {
      const order = missingDerivations(store, l, [drvPath, drvPath]);
      expect(order).toHaveLength(15000);
      expect(order[0]!.name).toBe('link0-1.0');
      expect(order.at(-1)!.drvPath).toBe(drvPath);
    } finally {
      store.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
