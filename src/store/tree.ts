/**
 * Deleting read-only trees (store items, unpacked packs): a small module of its own, so that
 * `tsdsl run` can use it without loading the store.
 */
import { chmodSync, lstatSync, readdirSync, rmSync } from 'node:fs';

const SLASH = Buffer.from('/');

/**
 * Deletes a tree the store made read-only (directories are made writable first) and returns
 * the bytes freed: the sizes of its regular files that had no other hard link. A tree that
 * vanishes meanwhile (another process cleaning up) is not an error.
 */
export function deleteTree(path: string): number {
  let bytes = 0;
  const walk = (p: Buffer): void => {
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return;
    }
    if (st.isDirectory()) {
      try {
        chmodSync(p, 0o755);
        for (const name of readdirSync(p, { encoding: 'buffer' })) walk(Buffer.concat([p, SLASH, name]));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    } else if (st.isFile() && st.nlink === 1) {
      bytes += st.size;
    }
  };
  walk(Buffer.from(path));
  rmSync(path, { recursive: true, force: true });
  return bytes;
}
