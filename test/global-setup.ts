/**
 * Every test run gets a temporary directory of its own (TMPDIR, so `os.tmpdir()` in the tests
 * and in every `tsdsl` they start), removed when the run ends: the tests' stores, packs,
 * fixtures and sandboxes do not pile up in /tmp. The shared store of slow builds stays where
 * it was (TSDSL_TEST_ROOT, by default /tmp/tsdsl-test-store), so nothing is built again.
 */
import { chmodSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteTree } from '../src/store/tree.js';

export default function setup(): () => void {
  const shared = tmpdir();
  process.env['TSDSL_TEST_ROOT'] ??= join(shared, 'tsdsl-test-store');
  const dir = mkdtempSync(join(shared, 'tsdsl-tests-'));
  // As /tmp: the unprivileged test user writes there too.
  chmodSync(dir, 0o1777);
  process.env['TMPDIR'] = dir;
  return () => {
    // Never delete through a mount point a test left behind (a tmpfs, a bind of something else).
    const mounted = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      // Mount points are written with octal escapes for space, tab, newline and backslash.
      .map((line) => line.split(' ')[1]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) ?? '')
      .filter((at) => at.startsWith(`${dir}/`));
    if (mounted.length) {
      console.warn(`the tests' temporary directory ${dir} was left in place: something is still mounted in it (${mounted.join(', ')})`);
      return;
    }
    try {
      deleteTree(dir);
    } catch (e) {
      console.warn(`the tests' temporary directory ${dir} was not removed: ${(e as Error).message}`);
    }
  };
}
