/**
 * The `charliecloud` run engine: Charliecloud's `ch-run`, the unprivileged container runtime
 * many HPC centres install, on the unpacked closure as a directory image. ch-run wants a few
 * things in the image that a bare store closure lacks — /dev, /proc, /sys, /tmp and
 * /etc/{passwd,group,hosts,resolv.conf}, plus a mount point for every bind — so they are created,
 * empty, in the unpacked directory (the pack's cache, never a store item and never through a
 * symlink). A docker-archive image (`tsdsl pack -f docker`) is unpacked there first, with
 * `ch-convert` when it is installed; a squashfs one with `unsquashfs`.
 *
 * Faithfulness: ch-run execs the command in place, so signals, exit codes and the terminal are
 * native. The environment is `--unset-env='*'` plus one `--set-env` per variable, but ch-run adds
 * `CH_RUNNING`. ch-run shares the host network, binds the host /tmp unless isolated (`-t`), and
 * (0.31) cannot make binds read-only.
 */
import { chmodSync, closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { TsdslError, causeOf } from '../errors.js';
import { makeOwnedTempDir } from '../store/lock.js';
import {
  type Availability,
  type Bind,
  type Host,
  type RunEngine,
  type RunSpec,
  checkCommand,
  currentHost,
  isDirectoryPath,
  isDockerArchive,
  lastLine,
  launch,
  missingBinary,
  planShares,
  privateHome,
  probe,
  resolveInView,
  runScratch,
  SCRATCH_PREFIXES,
  sharedNetworkWritableBinds,
  which,
} from './engines.js';
import { scratchParent, usernsAvailability } from './userns.js';

/** The environment ch-run itself needs ($USER above all), never the command's. */
function chEnv(host: Host, extra: Record<string, string> = {}): Record<string, string> {
  return { USER: host.env['USER'] ?? host.user, PATH: host.path, HOME: host.home, ...extra };
}

function isNonEmptyDir(p: string): boolean {
  try {
    return readdirSync(p).length > 0;
  } catch {
    return false;
  }
}

/**
 * Unpacks a docker-archive into `dest` (which must not exist): layers in order, whiteouts
 * applied. A single-layer archive — what `tsdsl pack -f docker` writes by default — goes through
 * `ch-convert -i tar` when it is installed, so Charliecloud's own checks apply.
 */
export function unpackDockerArchive(host: Host, image: string, dest: string): void {
  const tar = which(host, 'tar');
  if (!tar) throw new TsdslError(`engine charliecloud: ${missingBinary(host, 'tar', 'install GNU tar')}`);
  const env = { PATH: host.path };
  const m = probe([tar, '-xOf', image, 'manifest.json'], { env });
  if (!m.ok) throw new TsdslError(`${image} is not a docker-archive (no manifest.json: ${lastLine(m.stderr)}); pass an image made by \`tsdsl pack -f docker\``);
  let layers: string[];
  try {
    const manifest = JSON.parse(m.stdout) as Array<{ Layers?: string[] }>;
    layers = manifest[0]?.Layers ?? [];
  } catch (e) {
    throw new TsdslError(`${image}: manifest.json is not valid JSON (${(e as Error).message}); remake the image`);
  }
  if (layers.length === 0) throw new TsdslError(`${image}: manifest.json lists no layers; remake the image`);
  mkdirSync(dirname(dest), { recursive: true });
  // Named by this process: what a tsdsl killed with -9 left here is removed by the next unpack.
  const work = makeOwnedTempDir(dirname(dest), '.tsdsl-unpack');
  try {
    const x = probe([tar, '-xf', image, '-C', work, ...layers], { env, timeoutMs: 600_000 });
    if (!x.ok) throw new TsdslError(`cannot extract the layers of ${image}: ${causeOf(x.stderr, 'tar failed')}`);
    const out = join(work, 'rootfs');
    const convert = which(host, 'ch-convert');
    if (convert && layers.length === 1) {
      const c = probe([convert, '-i', 'tar', '-o', 'dir', '--tmp', work, join(work, layers[0]!), out], { env: chEnv(host), timeoutMs: 600_000 });
      if (!c.ok) throw new TsdslError(`\`ch-convert -i tar -o dir\` failed on ${image}: ${causeOf(c.stderr, 'ch-convert failed')}`);
    } else {
      mkdirSync(out);
      for (const layer of layers) applyLayer(tar, join(work, layer), out, env);
    }
    try {
      renameSync(out, dest);
    } catch (e) {
      // Another run unpacked the same image meanwhile: keep theirs.
      if (!isNonEmptyDir(dest)) throw e;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Extracts one layer over `root`, honouring OCI whiteouts (`.wh.NAME`, `.wh..wh..opq`). */
function applyLayer(tar: string, layer: string, root: string, env: Record<string, string>): void {
  const list = probe([tar, '-tf', layer], { env, timeoutMs: 600_000 });
  if (!list.ok) throw new TsdslError(`cannot read layer ${layer}: ${lastLine(list.stderr)}`);
  for (const raw of list.stdout.split('\n')) {
    const name = posix.normalize(raw.replace(/^\.\//, ''));
    const base = posix.basename(name);
    if (!base.startsWith('.wh.')) continue;
    const dir = join(root, posix.dirname(name));
    if (base === '.wh..wh..opq') {
      for (const e of safeList(dir)) rmSync(join(dir, e), { recursive: true, force: true });
    } else rmSync(join(dir, base.slice(4)), { recursive: true, force: true });
  }
  const x = probe([tar, '-xf', layer, '-C', root, '--no-same-owner', '--exclude=.wh.*'], { env, timeoutMs: 600_000 });
  if (!x.ok) throw new TsdslError(`cannot extract layer ${layer}: ${causeOf(x.stderr, 'tar failed')}`);
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Makes sure the directory image exists: the unpacked root, or the spec's image unpacked into it. */
function ensureImageDir(host: Host, spec: RunSpec): string {
  if (isNonEmptyDir(spec.root)) return spec.root;
  if (!spec.image) throw new TsdslError(`engine charliecloud: ${spec.root} holds no unpacked image and no image was given; unpack the pack or pass a docker-archive`);
  if (!existsSync(spec.image)) throw new TsdslError(`image ${spec.image} does not exist; build it with \`tsdsl pack -f docker\``);
  if (existsSync(spec.root)) rmSync(spec.root, { recursive: true, force: true }); // empty
  if (isDockerArchive(host, spec.image)) unpackDockerArchive(host, spec.image, spec.root);
  else {
    const unsquashfs = which(host, 'unsquashfs');
    if (!unsquashfs) throw new TsdslError(`engine charliecloud: ${spec.image} is not a docker-archive and ${missingBinary(host, 'unsquashfs', 'install squashfs-tools')}`);
    mkdirSync(dirname(spec.root), { recursive: true });
    const u = probe([unsquashfs, '-no-xattrs', '-d', spec.root, spec.image], { env: { PATH: host.path }, timeoutMs: 600_000 });
    if (!u.ok) throw new TsdslError(`cannot unpack ${spec.image} with unsquashfs: ${lastLine(u.stderr)}`);
  }
  return spec.root;
}

/**
 * Creates `path` (a directory, or an empty file) inside the unpacked image unless the image
 * already has it. Writes only inside `root`: never through a symbolic link, never under the store
 * directory (store items are immutable).
 */
export function ensureInImage(root: string, storeDir: string, path: string, kind: 'dir' | 'file'): void {
  if (resolveInView(root, [], path)) return;
  const norm = posix.normalize(path);
  if (norm === storeDir || norm.startsWith(storeDir + '/')) {
    throw new TsdslError(`ch-run needs a mount point at ${norm}, inside the store directory ${storeDir}, and store items are never modified; bind elsewhere`);
  }
  const parts = norm.split('/').filter(Boolean);
  let cur = root;
  for (let i = 0; i < parts.length; i++) {
    cur = join(cur, parts[i]!);
    const last = i === parts.length - 1;
    let st;
    try {
      st = lstatSync(cur);
    } catch {
      st = undefined;
    }
    if (st?.isSymbolicLink()) {
      throw new TsdslError(`ch-run needs ${norm} in the image, but ${cur} is a symbolic link and tsdsl writes only inside the unpacked directory; use --engine userns`);
    }
    if (st) continue;
    try {
      createMountPoint(cur, last && kind === 'file');
    } catch (e) {
      throw new TsdslError(`cannot create ${norm} in the unpacked image ${root} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); ch-run needs it — make the directory writable or use --engine userns`, { cause: e });
    }
  }
}

/**
 * Creates an empty file or directory at `path`. In a writable directory (a pack the user
 * unpacked) it is writable too; when the directory above is read-only and ours (an entry of the
 * pack cache, see `makeReadOnly` in unpack.ts), it is made writable for the moment and what is
 * made there is read-only, as the rest of the entry: another run doing the same may make it
 * read-only again in between, so that is tried a few times. Something there already (made by
 * such a run) is fine.
 */
function createMountPoint(path: string, file: boolean): void {
  const parent = dirname(path);
  for (let attempt = 0; ; attempt++) {
    let mode: number | undefined;
    try {
      if (attempt > 0) {
        mode = statSync(parent).mode & 0o7777;
        if (mode & 0o200) mode = undefined; // made writable by another run meanwhile
        else chmodSync(parent, mode | 0o200);
      }
      const readOnly = attempt > 0;
      if (file) closeSync(openSync(path, 'wx', readOnly ? 0o444 : 0o644));
      else mkdirSync(path, { mode: readOnly ? 0o555 : 0o755 });
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return;
      if (code !== 'EACCES' || attempt === 5) throw e;
    } finally {
      if (mode !== undefined) chmodSync(parent, mode);
    }
  }
}

/** Whether ch-run can honour a spec: it cannot cut the network nor make binds read-only. */
function accepts(spec: RunSpec): Availability {
  const refused = sharedNetworkWritableBinds(spec, 'ch-run', 'ch-run shares the host network and cannot take it away');
  if (refused) return refused;
  if (!isNonEmptyDir(spec.root) && !spec.image) return { ok: false, reason: `no unpacked image at ${spec.root} and no image given` };
  // ch-run's private /tmp (-t) takes mount points for directories only.
  const file = spec.isolate === true ? (spec.binds ?? []).find((b) => (b.target === '/tmp' || b.target.startsWith('/tmp/')) && !isDirectoryPath(b.source)) : undefined;
  if (file) return { ok: false, reason: `ch-run cannot bind the file ${file.source} into its private /tmp (it makes mount points there for directories only); bind its directory, or use --engine userns` };
  return { ok: true };
}

/** The `charliecloud` engine on `host`. */
export function charliecloudEngine(host: Host = currentHost()): RunEngine {
  return {
    name: 'charliecloud',
    description:
      'Charliecloud ch-run on the unpacked directory (or a docker-archive unpacked with ch-convert); adds CH_RUNNING to the environment, creates /etc/{passwd,group,hosts,resolv.conf} and mount points in the unpacked cache dir, shares the host network, binds are writable',

    async available(): Promise<Availability> {
      const chrun = which(host, 'ch-run');
      if (!chrun) return { ok: false, reason: missingBinary(host, 'ch-run', 'install Charliecloud (apt install charliecloud-runtime)') };
      const v = probe([chrun, '--version'], { env: chEnv(host) });
      if (!v.ok) return { ok: false, reason: `\`ch-run --version\` fails: ${lastLine(v.stderr)}` };
      const u = usernsAvailability(host);
      if (!u.ok) return { ok: false, reason: `ch-run needs unprivileged user namespaces: ${u.reason}` };
      return { ok: true, detail: `ch-run ${(v.stdout.trim() || v.stderr.trim()).split('\n')[0]}` };
    },

    accepts,

    async run(spec, opts = {}) {
      const fit = accepts(spec);
      if (!fit.ok) throw new TsdslError(`engine charliecloud: ${fit.reason}`);
      const chrun = which(host, 'ch-run');
      if (!chrun) throw new TsdslError(`engine charliecloud: ${missingBinary(host, 'ch-run', 'install Charliecloud')}`);
      const isolate = spec.isolate === true;
      const root = ensureImageDir(host, spec);
      const shares = planShares({ ...spec, root }, host);
      // ch-run binds /dev, /proc, /sys, and the host /tmp unless -t; a bind cannot enter those
      // (it can enter the private /tmp of -t: ch-run makes the mount point in that tmpfs).
      const implicit: Bind[] = ['/dev', '/proc', '/sys', ...(isolate ? [] : ['/tmp'])].map((p) => ({ source: p, target: p, writable: true }));
      const under = (path: string, dir: string): boolean => path === dir || path.startsWith(dir + '/');
      const binds = shares.binds.filter((b) => {
        for (const m of implicit) {
          if (!under(b.target, m.target)) continue;
          if (posix.join(m.source, posix.relative(m.target, b.target)) === b.source) return false; // already visible there
          throw new TsdslError(`engine charliecloud cannot bind ${b.source} at ${b.target}: ch-run mounts ${m.target} itself and a bind cannot enter it; work from another directory or use --engine userns`);
        }
        return true;
      });
      const inPrivateTmp = (p: string): boolean => isolate && under(p, '/tmp');
      checkCommand({ ...spec, root }, { binds, cwd: shares.cwd }, implicit);
      // Isolated, $HOME is private, empty and writable (as the userns engine's): a scratch
      // directory bound there, before the working directory (which may be inside it).
      const home = isolate ? privateHome(spec, binds) : undefined;
      // Checked before the scratch directory is made (it was left behind), and said of $HOME, not
      // of that directory's name.
      const colon = (b: Bind): boolean => b.source.includes(':') || b.target.includes(':');
      const refused = binds.find(colon);
      if (refused) throw new TsdslError(`engine charliecloud cannot bind ${refused.source}: ch-run's -b SRC:DST syntax does not allow ':' in paths; rename it or use --engine userns`);
      if (home?.includes(':')) throw new TsdslError(`engine charliecloud cannot give the container a private $HOME at ${home}: ch-run's -b SRC:DST syntax does not allow ':' in paths; set HOME to another directory or use --engine userns`);
      const scratch = home ? runScratch(scratchParent(host), SCRATCH_PREFIXES.charliecloud, opts) : undefined;
      try {
        if (home && scratch) {
          const dir = join(scratch.dir, 'home');
          mkdirSync(dir, { mode: 0o700 });
          // ch-run makes no mount point: those of the binds inside $HOME are made in it.
          for (const b of binds) {
            if (!under(b.target, home) || b.target === home) continue;
            const at = join(dir, posix.relative(home, b.target));
            if (isDirectoryPath(b.source)) mkdirSync(at, { recursive: true, mode: 0o755 });
            else (mkdirSync(dirname(at), { recursive: true, mode: 0o755 }), closeSync(openSync(at, 'a', 0o644)));
          }
          binds.unshift({ source: dir, target: home, writable: true });
        }

        for (const d of ['/dev', '/proc', '/sys', '/tmp', '/etc']) ensureInImage(root, spec.storeDir, d, 'dir');
        for (const f of ['passwd', 'group', 'hosts', 'resolv.conf']) ensureInImage(root, spec.storeDir, `/etc/${f}`, 'file');
        for (const b of binds) if (!inPrivateTmp(b.target)) ensureInImage(root, spec.storeDir, b.target, isDirectoryPath(b.source) ? 'dir' : 'file');
        if (shares.cwd !== '/' && !inPrivateTmp(shares.cwd) && !implicit.some((m) => under(shares.cwd, m.target))) ensureInImage(root, spec.storeDir, shares.cwd, 'dir');

        const argv = [chrun, '--unset-env=*', '--env-no-expand'];
        for (const [k, v] of Object.entries(spec.env)) argv.push(`--set-env=${k}=${v}`);
        if (isolate) argv.push('--private-tmp');
        for (const b of binds) argv.push(`--bind=${b.source}:${b.target}`);
        argv.push(`--cd=${shares.cwd}`, root, '--', ...spec.command);
        const { code } = await launch({ argv, env: chEnv(host), stdio: spec.stdio ?? 'inherit' }, scratch?.opts ?? opts);
        return code;
      } finally {
        // Whatever stopped the run (a mount point the image cannot take, ch-run failing), the scratch $HOME goes.
        if (scratch) rmSync(scratch.dir, { recursive: true, force: true });
      }
    },
  };
}
