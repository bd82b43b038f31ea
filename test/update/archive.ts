/**
 * A Debian archive on disk for the updater tests: the recorded Sources excerpts of
 * test/fixtures/update (real stanzas of Debian's unstable and bookworm indexes) compressed
 * with xz under dists/<suite>/main/source/, and an unsigned InRelease listing their sha256.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = fileURLToPath(new URL('../fixtures/update/', import.meta.url));
export const SUITES = ['unstable', 'bookworm'] as const;

/** Write the archive under `dir`; returns its file:// URL. */
export function makeArchive(dir: string): string {
  for (const suite of SUITES) {
    const text = readFileSync(join(FIXTURES, `Sources-${suite}`));
    const r = spawnSync('xz', ['-c', '-T1', '-6'], { input: text, maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`xz failed: ${r.stderr}`);
    const xz = r.stdout;
    const base = join(dir, 'dists', suite);
    mkdirSync(join(base, 'main/source'), { recursive: true });
    writeFileSync(join(base, 'main/source/Sources.xz'), xz);
    const sha = createHash('sha256').update(xz).digest('hex');
    writeFileSync(join(base, 'InRelease'), `Origin: Debian\nSuite: ${suite}\nSHA256:\n ${sha} ${xz.length} main/source/Sources.xz\n`);
  }
  return `file://${dir}`;
}

/** Environment pointing the Debian updater at the fixture archive, with its own caches. */
export function archiveEnv(archiveUrl: string, cache: string): Record<string, string> {
  return {
    TSDSL_MIRROR_DEBIAN: archiveUrl,
    TSDSL_DEBIAN_SUITES: SUITES.join(' '),
    TSDSL_DEBIAN_KEYRING: 'none',
    TSDSL_UPDATER_CACHE: cache,
  };
}
