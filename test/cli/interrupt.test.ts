/**
 * Ctrl-C during `tsdsl build -d` of a big graph: lowering ends (it cannot stop midway), nothing
 * more is written, the `.drv` files made meanwhile (never registered) are removed, and the
 * command says "interrupted" with the shell's exit status, 130.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a JavaScript module of the benchmarks, without types
import { writeSyntheticCollection } from '../../bench/synthetic.mjs';
import { openStore } from '../../src/store/store.js';
import { BIN } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tsdsl-interrupt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('interrupting build -d', () => {
  it('removes the unregistered .drv files and says so, exit 130', async () => {
    const pkgs = join(dir, 'pkgs');
    writeSyntheticCollection(pkgs, { count: 20000, dslUrl: 'tsdsl' });
    const root = join(dir, 'root');
    const storeDir = join(root, 'store');
    const proc = spawn(process.execPath, [BIN, 'build', '-d', '-L', pkgs, 'root'], { env: { ...process.env, TSDSL_ROOT: root, TSDSL_PACKAGE_PATH: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const done = new Promise<number | null>((res) => proc.on('close', (code) => res(code)));
    // Once the writer thread has created some .drv files: lowering is under way.
    const count = () => {
      try {
        return readdirSync(storeDir).filter((f) => f.endsWith('.drv')).length;
      } catch {
        return 0;
      }
    };
    let exited = false;
    void done.then(() => (exited = true));
    while (!exited && count() < 50) await new Promise((r) => setTimeout(r, 5));
    proc.kill('SIGINT');
    const code = await done;
    expect(stderr).toBe('tsdsl: error: interrupted; what was built so far stays in the store\n');
    expect(code).toBe(130);
    // Every file left in the store is a registered item: nothing half-written stays behind.
    const store = openStore({ root, storeDir: '/tsdsl/store', env: {} });
    const files = readdirSync(storeDir).filter((f) => !f.startsWith('.'));
    const valid = store.validAmong(files.map((f) => `/tsdsl/store/${f}`));
    store.close();
    expect(files.length - valid.size).toBe(0);
  }, 120_000);
});
