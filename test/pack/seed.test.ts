/**
 * The seed's own commands, verbatim, as the unprivileged user `tsdsltest` with HOME set to a
 * fresh directory: `tar xf pack.tar.gz -C ~/.local`, then
 * `unshare -mrf chroot ~/.local /bin/lstopo-no-graphics` — bare (hwloc then sees a degraded
 * topology: no /proc in the chroot), and with /proc and /sys bound first, as the seed says.
 * hwloc comes from the shared test store (TSDSL_TEST_ROOT), built from source if missing.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSandboxSupport } from '../../src/build/sandbox.js';
import { removeTree } from '../../src/pack/compress.js';
import { tsdsl } from '../cli/helpers.js';

const support = checkSandboxSupport();
const hasUser = spawnSync('id', ['tsdsltest']).status === 0 && process.getuid?.() === 0;
const root = process.env['TSDSL_TEST_ROOT'] ?? join(tmpdir(), 'tsdsl-test-store');
const home = mkdtempSync(join(tmpdir(), 'tsdsl-seed-home-'));
chmodSync(home, 0o777);
afterAll(() => removeTree(home));

function asUser(script: string): { code: number | null; stdout: string; stderr: string } {
  const argv = hasUser ? ['runuser', '-u', 'tsdsltest', '--', 'env', `HOME=${home}`, 'sh', '-c', script] : ['env', `HOME=${home}`, 'sh', '-c', script];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(!support.ok)('the seed\'s commands', () => {
  it('tar xf pack.tar.gz -C ~/.local; unshare -mrf chroot ~/.local /bin/lstopo-no-graphics', () => {
    const made = tsdsl(['pack', 'hwloc', '-S', '/bin=bin', '-o', join(home, 'pack.tar.gz'), '-j2'], { env: { TSDSL_ROOT: root }, timeoutMs: 1_100_000 });
    expect(made.code, made.stderr).toBe(0);
    chmodSync(join(home, 'pack.tar.gz'), 0o644);
    const unpack = asUser('cd ~ && mkdir -p ~/.local && tar xf pack.tar.gz -C ~/.local');
    expect(unpack.stderr).toBe('');
    expect(unpack.code).toBe(0);
    const bare = asUser('cd ~ && unshare -mrf chroot ~/.local /bin/lstopo-no-graphics');
    expect(bare.code, bare.stderr).toBe(0);
    expect(bare.stdout).toMatch(/^Machine/);
    const bound = asUser(
      'cd ~ && mkdir -p ~/.local/proc ~/.local/sys && unshare -mrf sh -c \'mount --rbind /proc ~/.local/proc && mount --rbind /sys ~/.local/sys && exec chroot ~/.local /bin/lstopo-no-graphics\'',
    );
    expect(bound.stderr).toBe('');
    expect(bound.code).toBe(0);
    expect(bound.stdout).toMatch(/^Machine \(\d+[KMGT]?B total\)\n\s+Package/);
  }, 1_200_000);
});
