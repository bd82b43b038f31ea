/**
 * tsdsl's own rootless Podman storage, and reclaiming it. `tsdsl run --engine=podman` keeps its
 * images (docker-archives loaded, unpacked roots imported) in a storage of its own under the
 * user's cache (`~/.cache/tsdsl/podman/<driver>-<hash of the runtime directory>`), so that the
 * user's podman configuration cannot clash with it. With the vfs driver each image is a full copy
 * of its closure, so they add up: each run records which image it used, and when
 * (`used/<storage>/<sha256 of the reference>`, the file's mtime), and holds the record while it
 * runs; `tsdsl gc --packs` removes the images no run used for that long, with podman itself
 * (their layers are owned by the user's subordinate ids, which only podman can delete).
 *
 * A storage also records the runtime directory (runroot) it was made with: podman refuses to open
 * it with another, so gc, which may run from another session, opens each with its own.
 */
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants as fsConstants, lstatSync, mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TsdslError } from '../errors.js';
import { makeOwnedTempDir, ownerAlive, ownerToken, removeOwnedTempLeftovers } from '../store/lock.js';
import { lastLine, probe, safeReaddir, which, type Host } from './engines.js';

/** How tsdsl runs podman: its binary, the global flags that select tsdsl's storage, its environment. */
export interface PodmanCli {
  readonly bin: string;
  readonly global: readonly string[];
  readonly env: Record<string, string>;
  /** The storage directory (`--root`). */
  readonly root: string;
}

/**
 * A private 0700 directory for podman's runtime state when the session has no XDG_RUNTIME_DIR:
 * always /tmp/tsdsl-runtime-UID, not under TMPDIR, whose path podman would record (a later run
 * with another TMPDIR then failed with "database configuration mismatch", and a long one with
 * "runroot is longer than 50 characters"). One another user made first is refused.
 */
export function runtimeDir(host: Host): string {
  const rt = host.env['XDG_RUNTIME_DIR'];
  if (rt) {
    try {
      accessSync(rt, fsConstants.W_OK);
      return rt;
    } catch {
      // fall through
    }
  }
  const dir = `/tmp/tsdsl-runtime-${host.uid}`;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== host.uid || (st.mode & 0o077) !== 0) {
    throw new TsdslError(`${dir}, podman's runtime directory, is not a private directory of yours; remove it, or set XDG_RUNTIME_DIR to one`);
  }
  return dir;
}

/** The directory holding tsdsl's podman storages. */
export function podmanStoragesDir(host: Host): string {
  return join(host.cacheDir, 'podman');
}

/** A storage's name: its driver, and a hash of the runtime directory it was made with. */
function storageName(driver: string, rt: string): string {
  return `${driver}-${createHash('sha256').update(rt).digest('hex').slice(0, 8)}`;
}

/** podman (`bin`) with tsdsl's storage for the runtime directory `rt`. */
function podmanFor(host: Host, bin: string, rt: string, driver: string): PodmanCli {
  const runc = which(host, 'runc');
  const root = join(podmanStoragesDir(host), storageName(driver, rt));
  return {
    bin,
    root,
    global: [
      '--log-level=error',
      // Podman's storage records the runroot it was made with: one store per runroot (a session
      // with XDG_RUNTIME_DIR and a batch job without), so neither finds the other's.
      `--root=${root}`,
      `--runroot=${join(rt, 'tsdsl-podman')}`,
      `--storage-driver=${driver}`,
      '--cgroup-manager=cgroupfs',
      '--events-backend=file',
      ...(runc ? [`--runtime=${runc}`] : []),
    ],
    env: { PATH: host.path, HOME: host.home, USER: host.env['USER'] ?? host.user, XDG_RUNTIME_DIR: rt },
  };
}

/** podman with tsdsl's storage for this session; undefined when podman is not installed. */
export function podmanCli(host: Host): PodmanCli | undefined {
  const bin = which(host, 'podman');
  return bin === undefined ? undefined : podmanFor(host, bin, runtimeDir(host), host.env['TSDSL_PODMAN_STORAGE_DRIVER'] ?? 'vfs');
}

/** Where podman's temporary copies of what it loads or imports go (see podmanTempDir). */
function tempParent(host: Host): string {
  return join(podmanStoragesDir(host), 'tmp');
}

const TEMP_PREFIX = 'load';

/**
 * A directory for podman's temporary files of one `load` or `import`, given to it as TMPDIR: podman
 * first copies the tar it reads there (about the closure's size), and an interrupted one (a Ctrl-C
 * reaches podman too) left its copy in /var/tmp, 30-45 MB each for the test packs. Here, what a
 * killed one leaves is removed by the next load or import, or by `tsdsl gc --packs`, once the
 * tsdsl that made it is gone. The caller removes it when podman is done.
 */
export function podmanTempDir(host: Host): string {
  const parent = tempParent(host);
  mkdirSync(parent, { recursive: true, mode: 0o700 });
  return makeOwnedTempDir(parent, TEMP_PREFIX);
}

/** Where the uses of a storage's images are recorded. */
function usesDir(host: Host, storage: string): string {
  return join(podmanStoragesDir(host), 'used', storage);
}

const RUNROOT = '.runroot';

/** A storage's directory name (see storageName). */
const STORAGE = /^[a-z0-9]+-[0-9a-f]{8}$/;

/** A record's name: a hash of the image reference (an ID, or a name such as localhost/tsdsl-root:…). */
function recordName(ref: string): string {
  return createHash('sha256').update(normalRef(ref)).digest('hex').slice(0, 32);
}

/** An image ID without its `sha256:` prefix; names as they are. */
function normalRef(ref: string): string {
  return ref.replace(/^sha256:/, '');
}

/**
 * Records that this process uses image `ref` of the storage now, and holds it until the returned
 * function is called (`tsdsl gc --packs` leaves an image alone while a run that holds it lives).
 * Also records the storage's runtime directory. Failing to record is not an error: the image is
 * then judged by its other records, or taken for unused.
 */
export function holdImage(host: Host, c: Pick<PodmanCli, 'root' | 'env'>, ref: string): () => void {
  const storage = c.root.slice(c.root.lastIndexOf('/') + 1);
  const dir = usesDir(host, storage);
  const record = join(dir, recordName(ref));
  const holder = `${record}.${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    mkdirSync(dir, { recursive: true });
    const rt = c.env['XDG_RUNTIME_DIR']!;
    if (safeRead(join(dir, RUNROOT)) !== rt) writeFileSync(join(dir, RUNROOT), rt);
    writeFileSync(record, `${normalRef(ref)}\n`);
    writeFileSync(holder, `${ownerToken()}\n`);
  } catch {
    return () => {};
  }
  return () => {
    try {
      const now = new Date();
      utimesSync(record, now, now);
    } catch {
      // removed by gc meanwhile (after this run's image was taken for another's)
    }
    rmSync(holder, { force: true });
  };
}

function safeRead(p: string): string | undefined {
  try {
    return readFileSync(p, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** One image of tsdsl's podman storage, as gc judged it. */
export interface PodmanImage {
  readonly storage: string;
  readonly id: string;
  readonly names: readonly string[];
  readonly bytes: number;
  readonly lastUsed: Date;
}

/** What `collectPodmanImages` did (or, dry, would do). */
export interface PodmanCollection {
  readonly removed: PodmanImage[];
  readonly kept: Array<{ image: PodmanImage; reason: string }>;
  /** Storages that could not be looked into, and why. */
  readonly skipped: Array<{ storage: string; reason: string }>;
  /** Containers left by runs that were killed before podman removed them. */
  readonly leftoverContainers: number;
  /** Temporary copies left by loads and imports that were killed (see podmanTempDir). */
  readonly leftoverTemporaries: number;
  readonly freedBytes: number;
}

/**
 * Removes the images of tsdsl's podman storages that no run used for `olderThanMs` (0: every
 * image no run holds now), and the containers of runs killed before podman removed them. An image
 * a container uses is kept (podman refuses to remove it). With `dryRun`, removes nothing.
 */
export function collectPodmanImages(host: Host, options: { olderThanMs: number; dryRun?: boolean; now?: Date }): PodmanCollection {
  const removed: PodmanImage[] = [];
  const kept: PodmanCollection['kept'] = [];
  const skipped: PodmanCollection['skipped'] = [];
  let leftoverContainers = 0;
  const now = (options.now ?? new Date()).getTime();
  const leftoverTemporaries = removeOwnedTempLeftovers(tempParent(host), TEMP_PREFIX, options.dryRun).length;
  const storages = safeReaddir(podmanStoragesDir(host)).filter((n) => STORAGE.test(n));
  let freed = 0;
  const bin = which(host, 'podman');
  for (const storage of storages) {
    const dir = usesDir(host, storage);
    const driver = storage.slice(0, storage.lastIndexOf('-'));
    // Its runtime directory as recorded; for a storage made before records were kept, this
    // session's when the storage's name says it is the one.
    let rt = safeRead(join(dir, RUNROOT));
    if (rt === undefined) {
      const mine = runtimeDir(host);
      if (storageName(driver, mine) === storage) rt = mine;
    }
    if (rt === undefined) {
      skipped.push({ storage, reason: 'the runtime directory it was made with is not recorded (an older tsdsl made it); run gc from the session that ran podman, or remove it with `podman unshare rm -rf` on it' });
      continue;
    }
    if (bin === undefined) {
      skipped.push({ storage, reason: '`podman` is not on PATH' });
      continue;
    }
    const c = podmanFor(host, bin, rt, driver);
    const run = (args: string[]) => probe([c.bin, ...c.global, ...args], { env: c.env, timeoutMs: 120_000 });
    // Containers a killed run left (created, or stopped and not removed): their owner is gone.
    const ps = run(['ps', '-a', '--filter', 'label=tsdsl.owner', '--format', '{{.ID}}\t{{.State}}\t{{index .Labels "tsdsl.owner"}}']);
    if (!ps.ok) {
      skipped.push({ storage, reason: `\`podman ps\` fails: ${lastLine(ps.stderr)}` });
      continue;
    }
    for (const line of ps.stdout.split('\n').filter(Boolean)) {
      const [id, state, owner] = line.split('\t');
      if (!id || state === 'running' || state === 'paused' || (owner && ownerAlive(owner))) continue;
      leftoverContainers++;
      if (!options.dryRun) run(['rm', '-f', id]);
    }
    const listed = run(['images', '--format', 'json']);
    if (!listed.ok) {
      skipped.push({ storage, reason: `\`podman images\` fails: ${lastLine(listed.stderr)}` });
      continue;
    }
    let images: Array<{ Id: string; Names?: string[] | null; Size?: number; Containers?: number }>;
    try {
      images = JSON.parse(listed.stdout || '[]') as typeof images;
    } catch {
      skipped.push({ storage, reason: '`podman images --format json` printed something else than JSON' });
      continue;
    }
    // Uses and live holders, by record name.
    const lastUse = new Map<string, number>();
    const held = new Set<string>();
    for (const name of safeReaddir(dir)) {
      const dot = name.indexOf('.');
      if (dot < 0) {
        try {
          lastUse.set(name, statSync(join(dir, name)).mtimeMs);
        } catch {
          // removed meanwhile
        }
      } else if (dot > 0) {
        const token = safeRead(join(dir, name));
        if (token !== undefined && ownerAlive(token)) held.add(name.slice(0, dot));
        else rmSync(join(dir, name), { force: true });
      }
    }
    for (const img of images) {
      const refs = [img.Id, ...(img.Names ?? [])].map(recordName);
      const used = Math.max(0, ...refs.map((r) => lastUse.get(r) ?? 0));
      const image: PodmanImage = { storage, id: img.Id, names: img.Names ?? [], bytes: img.Size ?? 0, lastUsed: new Date(used) };
      if (refs.some((r) => held.has(r))) {
        kept.push({ image, reason: 'in use by a running `tsdsl run`' });
        continue;
      }
      if (now - used < options.olderThanMs) {
        kept.push({ image, reason: 'used recently' });
        continue;
      }
      if (!options.dryRun) {
        const rm = run(['rmi', img.Id]);
        if (!rm.ok) {
          kept.push({ image, reason: /in use|container/i.test(rm.stderr) ? 'in use by a container' : `\`podman rmi\` fails: ${lastLine(rm.stderr)}` });
          continue;
        }
        for (const r of refs) rmSync(join(dir, r), { force: true });
      }
      removed.push(image);
      freed += image.bytes;
    }
  }
  return { removed, kept, skipped, leftoverContainers, leftoverTemporaries, freedBytes: freed };
}

/** Whether tsdsl has podman storages here (gc says nothing about podman otherwise). */
export function hasPodmanStorage(host: Host): boolean {
  return safeReaddir(podmanStoragesDir(host)).some((n) => STORAGE.test(n));
}
