/**
 * Making many new files durable at once: one syncfs(2) of the store's file system (`sync -f`)
 * instead of an fsync per file (20,000 fsyncs take ~10 s here; one syncfs well under a second).
 * The same function runs in the calling thread and in the store's worker threads, which are
 * evaluated scripts: `syncWorkerScript` puts its source into theirs.
 */
import { execFileSync } from 'node:child_process';

type Exec = typeof execFileSync;

// Self-contained (it is also evaluated in workers): everything it uses is a parameter.
function syncWith(exec: Exec, dir: string): void {
  try {
    exec('sync', ['-f', dir], { stdio: 'ignore' });
  } catch {
    // No `sync -f` (non-GNU userland): a global sync is slower but as safe.
    exec('sync', [], { stdio: 'ignore' });
  }
}

/** Syncs the file system that holds `dir`; throws when no sync could run. */
export function syncFileSystem(dir: string): void {
  syncWith(execFileSync, dir);
}

/**
 * A worker-thread script (CommonJS, for `new Worker(script, { eval: true })`): `body`, with
 * `syncFileSystem(dir)` defined as above.
 */
export function syncWorkerScript(body: string): string {
  return `const syncFileSystem = (dir) => (${syncWith.toString()})(require('node:child_process').execFileSync, dir);\n${body}`;
}
