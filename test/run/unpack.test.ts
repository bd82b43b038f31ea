/** What `tsdsl run` reads from an unpacked pack: its own store directory and profile. */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packLayout } from '../../src/run/unpack.js';

const dir = mkdtempSync(join(tmpdir(), 'tsdsl-unpacked-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('packLayout', () => {
  it("is the pack's store directory, whatever this machine's setting, found by its profile", () => {
    const root = join(dir, 'a');
    const hash = 'a'.repeat(31) + 'b';
    for (const d of ['proc', 'tmp', `gnu/store/${hash}-profile`, `gnu/store/${'c'.repeat(32)}-hwloc-2.9.0/bin`, 'etc']) mkdirSync(join(root, d), { recursive: true });
    expect(packLayout(root, '/tsdsl/store').storeDir).toBe('/gnu/store');
    expect(packLayout(root, '/tsdsl/store').profile).toBe(`/gnu/store/${hash}-profile`);
    // Without a profile (a pack of store items only): this machine's setting.
    const bare = join(dir, 'b');
    mkdirSync(join(bare, `tsdsl/store/${'c'.repeat(32)}-hwloc-2.9.0`), { recursive: true });
    expect(packLayout(bare, '/opt/other/store').storeDir).toBe('/opt/other/store');
  });
});
