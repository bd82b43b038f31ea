/**
 * Per-path lock files for the local store, and the process identity they record.
 *
 * Two processes that add or build the same store path must not both move a tree into
 * place. The store takes `<root>/var/locks/<hash>.lock` around such work. A lock file is
 * created atomically with its owner's identity inside (write a private file, then
 * `link(2)` it to the lock name), so it is never seen empty. A lock whose owner has died
 * (kill -9, power loss) is stale and is broken by the next process that wants it;
 * breaking happens inside a caller-supplied exclusive section (the store uses an SQLite
 * write transaction, whose kernel lock dies with its holder), so two breakers cannot
 * delete each other's fresh locks.
 *
 * An owner is `<pid> <start time> <where>`: the start time (from /proc) tells a live owner from
 * an unrelated process that later got the same pid; where (PID namespace, boot, host) tells
 * whether /proc can answer for it at all (ownerToken, ownerAlive).
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname, tmpdir } from 'node:os';
import { appendFileSync, linkSync, mkdtempSync, readFileSync, readdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deleteTree } from './tree.js';
import { TsdslError } from '../errors.js';
import { escapeRegExp } from '../regexp.js';

/** Start time of a process in clock ticks since boot, or undefined when it does not exist. */
function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may contain spaces; fields after it are plain.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Field 22 (starttime) is the 20th after the command name; state (field 3) is the first. A
  // zombie (Z) or dead (X) process is not running: one whose parent does not reap it (an orphan
  // under a PID 1 that does not wait) would otherwise hold its locks and pack entries forever.
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
  return fields[19];
}

const HAVE_PROC = processStartTime(process.pid) !== undefined;

/**
 * The owner token of process `pid` (default this one), `<pid> <start time> <where>`: where is
 * `ns<PID namespace>.<boot>.<host>` (the boot id and a hash of the host name, 8 hex digits each),
 * for a process id means something only in its PID namespace, on its host, in its boot.
 */
export function ownerToken(pid = process.pid): string {
  return `${pid} ${HAVE_PROC ? (processStartTime(pid) ?? '0') : '0'} ${WHERE}`;
}

/** Whether the owner token names a process of another PID namespace or host (which ownerAlive cannot judge). */
export function ownerElsewhere(token: string): boolean {
  return placeOf(token.trim().split(' ')[2]) === 'elsewhere';
}

/**
 * Where a token's `where` part says its process ran, as seen from here: `here` (this PID
 * namespace, host and boot, or a token without one, judged by /proc), `elsewhere` (another PID
 * namespace or host: cannot be judged), or `gone` (an earlier boot of this host).
 */
function placeOf(where: string | undefined): 'here' | 'elsewhere' | 'gone' {
  if (where === undefined || where === WHERE || !WHERE_RE.test(where)) return 'here';
  const [ns, boot, host] = where.split('.');
  if (host !== WHERE_HOST) return 'elsewhere';
  if (boot !== WHERE_BOOT) return 'gone';
  return ns !== `ns${PID_NAMESPACE}` ? 'elsewhere' : 'here';
}

/** A token's (or a name's) `where` part; see ownerToken. */
export const WHERE_PATTERN = 'ns\\d+\\.[0-9a-f]{8}\\.[0-9a-f]{8}';
const WHERE_RE = new RegExp(`^${WHERE_PATTERN}$`);

/**
 * True when the process named by an owner token is still running, or may be: a process of
 * another PID namespace or host (a container with its own PID namespace, a node sharing the store
 * over NFS) cannot be judged from here, so it is taken for alive, and what it holds is left
 * alone. One of an earlier boot of this host is not running. Older tokens have no `where`.
 */
export function ownerAlive(token: string): boolean {
  const [pidText, start, where] = token.trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const place = placeOf(where);
  if (place !== 'here') return place === 'elsewhere';
  if (pid === process.pid) return start === ownerToken().split(' ')[1];
  if (HAVE_PROC) {
    const actual = processStartTime(pid);
    return actual !== undefined && (start === '0' || actual === start);
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * This process's PID namespace (the inode of /proc/self/ns/pid), or '0' without /proc. A process
 * id means something only in its own namespace: one of another namespace (a container sharing
 * /tmp, `unshare --pid`) cannot be judged alive or dead from here.
 */
export const PID_NAMESPACE: string = (() => {
  try {
    return String(statSync('/proc/self/ns/pid').ino);
  } catch {
    return '0';
  }
})();

/** This boot of this machine (the kernel's boot id), 8 hex digits; '00000000' without /proc. */
const WHERE_BOOT: string = (() => {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').replace(/[^0-9a-f]/g, '').slice(0, 8).padEnd(8, '0');
  } catch {
    return '00000000';
  }
})();

/** This host, as a hash of its name, 8 hex digits. */
const WHERE_HOST: string = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);

/** Where this process runs (see ownerToken). */
const WHERE = `ns${PID_NAMESPACE}.${WHERE_BOOT}.${WHERE_HOST}`;

/** Where this process runs, as ownerToken says it: for names of temporary files that ownerAlive judges. */
export function ownerWhere(): string {
  return WHERE;
}

/**
 * Removes the entries of `dir` that a process left behind when it died (kill -9 leaves them), and returns their names:
 * those whose name `pattern` matches, with the process id as its first group, when that process
 * is not this one and no longer runs, nor does any process it lists as users (`addDirectoryUser`).
 * An entry that cannot be removed (another user's) is left. A second group, when it matched, is
 * where the process that made the entry ran (OWNED_AT: its PID namespace, and in newer names its
 * boot and host): one of another namespace or host is left alone, since its process cannot be
 * seen from here. With `dryRun`, only names them.
 */
export function removeLeftoversOfDead(dir: string, pattern: RegExp, dryRun = false): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = pattern.exec(name);
    const pid = m?.[1];
    if (pid === undefined || !leftoverOwnerDead(pid, m![2]) || usedByLiving(join(dir, name))) continue;
    try {
      if (!dryRun) deleteTree(join(dir, name));
      removed.push(name);
    } catch {
      // not ours to remove
    }
  }
  return removed;
}

/**
 * Where a process that names its temporary files ran, in their names: `ns<inode>` (older names)
 * or `ns<inode>.<boot>.<host>` (ownerWhere). As a regular expression group, capturing what
 * follows `ns`.
 */
export const OWNED_AT = 'ns(\\d+(?:\\.[0-9a-f]{8}\\.[0-9a-f]{8})?)';

/**
 * Whether the process `pid` that named a leftover is gone, where `at` (OWNED_AT's group, if the
 * name has it) says it ran: false while it runs, and for one of another PID namespace or host,
 * which cannot be judged from here.
 */
export function leftoverOwnerDead(pid: string, at: string | undefined): boolean {
  if (Number(pid) === process.pid) return false;
  if (at === undefined) return !ownerAlive(`${pid} 0`);
  if (!at.includes('.')) return at === PID_NAMESPACE && !ownerAlive(`${pid} 0`);
  return !ownerAlive(`${pid} 0 ns${at}`);
}

/** The file of an owned temporary directory that lists the other processes using it. */
const USERS_FILE = '.users';

/**
 * Records process `pid` as a user of `dir`, a directory made by `makeOwnedTempDir`: the
 * directory is then left alone while that process runs, even once its maker is gone (a
 * command started by `tsdsl run` goes on using the run's scratch directory when tsdsl is
 * killed with -9).
 */
export function addDirectoryUser(dir: string, pid: number): void {
  appendFileSync(join(dir, USERS_FILE), `${ownerToken(pid)}\n`);
}

function usedByLiving(dir: string): boolean {
  let text: string;
  try {
    text = readFileSync(join(dir, USERS_FILE), 'utf8');
  } catch {
    return false;
  }
  return text.split('\n').some((token) => token !== '' && ownerAlive(token));
}

/**
 * A new temporary directory `PREFIX-PID-nsNS.BOOT.HOST-XXXXXX` in `parent`, named by this process
 * and where it runs (ownerWhere) so that what a killed one left (kill -9 runs no clean-up) can be
 * told apart: those of processes gone from this namespace of this host are removed first (and
 * older names, with `nsNS` only or nothing), unless a process recorded by `addDirectoryUser`
 * still runs.
 */
export function makeOwnedTempDir(parent: string, prefix: string): string {
  try {
    removeOwnedTempLeftovers(parent, prefix);
    return mkdtempSync(join(parent, `${prefix}-${process.pid}-${WHERE}-`));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'it does not exist' : code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'it is not writable' : code === 'ENOTDIR' ? 'it is not a directory' : undefined;
    if (!why) throw e;
    // The system's temporary directory is TMPDIR's (a cluster job's may be gone already).
    const isTmp = parent === tmpdir();
    const fix = isTmp ? 'create it, or set TMPDIR to a directory you can write, with room to spare' : 'create it, or choose another directory';
    throw new TsdslError(`cannot make a temporary directory in ${parent}${isTmp ? ' (TMPDIR)' : ''}: ${why}; ${fix}`);
  }
}

/** Removes what killed processes left of `makeOwnedTempDir(parent, prefix)`; returns their names. */
export function removeOwnedTempLeftovers(parent: string, prefix: string, dryRun = false): string[] {
  return removeLeftoversOfDead(parent, new RegExp(`^${escapeRegExp(prefix)}-(\\d+)-(?:${OWNED_AT}-)?[A-Za-z0-9]{6}$`), dryRun);
}

/** Blocks the thread for `ms` milliseconds (for waits inside synchronous code). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Why `signal` aborted: its reason, or an AbortError. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}

/** Resolves after `ms` milliseconds; rejects with the abort's reason as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Options for waiting on a lock held by another process. */
export interface AcquireOptions {
  /** Give up after this many milliseconds (default: wait forever). */
  timeoutMs?: number;
  /** Called once when the lock turns out to be held, e.g. to print "waiting for lock on …". */
  onWait?: (owner: string) => void;
  /** Stop waiting when it aborts (Ctrl-C): the wait throws the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Lock files in one directory, keyed by a short name (the store uses hash parts). Locks
 * are exclusive between processes and between concurrent callers in one process.
 */
export class LockDirectory {
  private readonly token = ownerToken();
  private readonly held = new Set<string>();

  /**
   * @param dir where the lock files live
   * @param exclusive runs a function while no other process can run its own (used only to break stale locks)
   */
  constructor(
    readonly dir: string,
    private readonly exclusive: <T>(fn: () => T) => T,
  ) {}

  private lockPath(key: string): string {
    return join(this.dir, `${key}.lock`);
  }

  /** Takes the lock if it is free or stale; returns the live owner's token when it is held. */
  tryAcquire(key: string): true | string {
    const path = this.lockPath(key);
    if (this.held.has(key)) return this.token;
    const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    writeFileSync(tmp, this.token + '\n', { mode: 0o644 });
    try {
      for (;;) {
        try {
          linkSync(tmp, path);
          this.held.add(key);
          return true;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        }
        const owner = readOwner(path);
        if (owner === undefined) continue; // released meanwhile: try again
        if (ownerAlive(owner)) return owner.trim();
        this.breakStale(path, owner);
      }
    } finally {
      unlinkSync(tmp);
    }
  }

  /** Deletes a lock file if it still holds the dead owner it held when we looked. */
  private breakStale(path: string, staleOwner: string): void {
    this.exclusive(() => {
      if (readOwner(path) === staleOwner) {
        try {
          unlinkSync(path);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
      }
    });
  }

  /** Waits (blocking the thread) until the lock is ours. */
  acquireSync(key: string, options: AcquireOptions = {}): void {
    for (const delay of this.waits(key, options)) sleepSync(delay);
  }

  /** Waits (without blocking the event loop) until the lock is ours. */
  async acquire(key: string, options: AcquireOptions = {}): Promise<void> {
    for (const delay of this.waits(key, options)) await sleep(delay, options.signal);
  }

  /**
   * Tries the lock until it is ours, yielding how long to wait before each new try (2 ms,
   * doubling up to 100 ms); tells `onWait` once who holds it, and throws past the timeout.
   */
  private *waits(key: string, options: AcquireOptions): Generator<number, void> {
    const start = Date.now();
    let delay = 2;
    for (let first = true; ; first = false) {
      options.signal?.throwIfAborted();
      const r = this.tryAcquire(key);
      if (r === true) return;
      if (first) options.onWait?.(r);
      this.checkTimeout(key, start, options, r);
      yield delay;
      delay = Math.min(delay * 2, 100);
    }
  }

  private checkTimeout(key: string, start: number, options: AcquireOptions, owner: string): void {
    if (options.timeoutMs !== undefined && Date.now() - start >= options.timeoutMs) {
      throw new TsdslError(`timed out after ${options.timeoutMs} ms waiting for lock ${this.lockPath(key)} held by process ${owner.split(' ')[0]}; if that process is stuck, stop it`);
    }
  }

  /** True when this process holds the lock. */
  holds(key: string): boolean {
    return this.held.has(key);
  }

  /** Releases a lock this process holds. */
  release(key: string): void {
    if (!this.held.delete(key)) return;
    const path = this.lockPath(key);
    // Only delete the file if it is still ours (it always should be).
    if (readOwner(path)?.trim() === this.token) {
      try {
        unlinkSync(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
  }

  /**
   * Removes leftover private files of dead processes (from a crash between write and link), and
   * the locks a killed process left: each is broken as a process wanting it would break it, so
   * `var/locks` does not fill up with the locks of every build ever killed.
   */
  cleanup(): void {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return;
    }
    for (const name of names) {
      const m = /\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name);
      if (m && !ownerAlive(`${m[1]} 0`)) {
        try {
          unlinkSync(join(this.dir, name));
        } catch {
          // Another process cleaned it first.
        }
      } else if (name.endsWith('.lock')) {
        const path = join(this.dir, name);
        let owner: string | undefined;
        try {
          owner = readOwner(path);
        } catch {
          continue; // unreadable: not ours to judge
        }
        if (owner !== undefined && owner.trim() !== this.token && !ownerAlive(owner)) this.breakStale(path, owner);
      }
    }
  }
}

function readOwner(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}
