/** collectPackCache()'s request is checked before anything is removed. */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { collectPackCache, listPackCache } from '../../src/run/unpack.js';

const cacheDir = mkdtempSync(join(tmpdir(), 'tsdsl-pack-cache-request-'));
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

/** One unpacked pack, last used long ago. */
function entry(): string {
  const root = join(cacheDir, 'a'.repeat(64));
  mkdirSync(join(root, 'rootfs'), { recursive: true });
  writeFileSync(join(root, 'rootfs', 'file'), 'x');
  return root;
}

describe('collectPackCache()', () => {
  it('refuses a misspelt field rather than remove for real what dryRun would only have listed', () => {
    const root = entry();
    expect(listPackCache(cacheDir)).toHaveLength(1);
    expect(() => collectPackCache({ cacheDir, olderThanMs: 0, dryrun: true } as never)).toThrow('collectPackCache(): unknown field `dryrun`; did you mean `dryRun`?');
    expect(existsSync(root)).toBe(true);
  });

  it('refuses a request without an age, or with values of the wrong type', () => {
    const root = entry();
    expect(() => collectPackCache({ cacheDir } as never)).toThrow('`olderThanMs` is required');
    expect(() => collectPackCache({ cacheDir, olderThanMs: '1d' } as never)).toThrow('`olderThanMs` must be a number of milliseconds, 0 or more, not "1d"');
    expect(() => collectPackCache({ cacheDir, olderThanMs: 0, dryRun: 'yes' } as never)).toThrow('`dryRun` must be true or false');
    expect(existsSync(root)).toBe(true);
    // As asked, it goes.
    expect(collectPackCache({ cacheDir, olderThanMs: 0, dryRun: true }).removed).toHaveLength(1);
    expect(existsSync(root)).toBe(true);
    expect(collectPackCache({ cacheDir, olderThanMs: 0 }).removed).toHaveLength(1);
    expect(existsSync(root)).toBe(false);
  });
});
