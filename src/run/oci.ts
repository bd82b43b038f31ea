/**
 * The `podman` and `docker` run engines: one module, two table entries, for OCI image runtimes.
 * The image is the docker-archive `tsdsl pack -f docker` writes (`spec.image`), loaded into the
 * engine's storage; without one, the unpacked root is imported as a single-layer image (cached
 * under a tag derived from the closure). Then `run --rm` with the command as entrypoint, the
 * environment, the binds, `--network none` unless the spec asks for the network, and an init
 * process (catatonit/tini) so the command is not PID 1 and signals keep their default meaning.
 *
 * Podman runs rootless with the flags measured to work here (machine-facts D3): its own vfs
 * storage under tsdsl's cache (so the user's podman configuration cannot clash), cgroupfs, file
 * events, and runc where installed (crun fails on hybrid cgroups); `--userns keep-id` keeps the
 * caller's uid when subordinate ids exist. Docker needs a reachable daemon; it runs the command
 * as the caller's uid:gid so shared files stay the caller's.
 *
 * Faithfulness: exit codes and signals pass through (the CLIs proxy signals); both runtimes add
 * HOSTNAME, and HOME when the spec's environment has none; docker also keeps the image's Env.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, readlinkSync, realpathSync, lstatSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { TsdslError } from '../errors.js';
import {
  type Availability,
  type Host,
  type RunEngine,
  type RunSpec,
  checkCommand,
  FORWARDED_SIGNALS,
  currentHost,
  imageMagic,
  isGzipFile,
  lastLine,
  launch,
  missingBinary,
  planShares,
  privateHome,
  probe,
  which,
} from './engines.js';
import { usernsAvailability } from './userns.js';
import { checkCommandInImage } from './archive-files.js';
import { holdImage, podmanCli, podmanStoragesDir, podmanTempDir, type PodmanCli } from './podman-storage.js';
import { addDirectoryUser, ownerToken } from '../store/lock.js';
import { holdSignals, signalExitCode } from '../signals.js';

/** Which OCI front end. */
export type OciKind = 'podman' | 'docker';

/** How a front end is run: podman's with tsdsl's storage (`root`), docker's as it is. */
type Cli = Omit<PodmanCli, 'root'> & { readonly root?: string };

function cli(host: Host, kind: OciKind): Cli | undefined {
  if (kind === 'podman') return podmanCli(host);
  const bin = which(host, kind);
  if (!bin) return undefined;
  const env: Record<string, string> = { PATH: host.path, HOME: host.home };
  for (const [k, v] of Object.entries(host.env)) if (v !== undefined && k.startsWith('DOCKER_')) env[k] = v;
  return { bin, global: [], env };
}

const CAP_SYS_RESOURCE = 24;

/** Whether this process has capability `bit` in its effective set (/proc/self/status). */
function hasCapability(bit: number): boolean {
  try {
    const eff = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    return eff === undefined || ((BigInt(`0x${eff}`) >> BigInt(bit)) & 1n) === 1n;
  } catch {
    return true;
  }
}

/** Whether /etc/subuid gives the user subordinate ids (needed by `--userns keep-id`). */
function hasSubuids(host: Host): boolean {
  try {
    return readFileSync('/etc/subuid', 'utf8')
      .split('\n')
      .some((l) => l.startsWith(`${host.user}:`) || l.startsWith(`${host.uid}:`));
  } catch {
    return false;
  }
}

/** A tag that names a root's closure: its real path, top-level entries and store item names. */
function rootTag(spec: RunSpec): string {
  const h = createHash('sha256');
  const real = realpathSync(spec.root);
  // The import's form: 2 leaves /tmp out (a tmpfs of the run's own is mounted there), where the
  // first imports carried the cache's read-only one.
  h.update(`2\0${real}`);
  const list = (dir: string): void => {
    try {
      for (const name of readdirSync(dir).sort()) {
        const p = join(dir, name);
        const st = lstatSync(p);
        h.update(`\0${name}${st.isSymbolicLink() ? `->${readlinkSync(p)}` : ''}`);
      }
    } catch {
      // absent
    }
  };
  list(real);
  list(join(real, spec.storeDir));
  return `localhost/tsdsl-root:${h.digest('hex').slice(0, 16)}`;
}

/** sha256 of a docker-archive's config (its image ID), read without unpacking it; undefined if unreadable. */
function archiveImageId(host: Host, image: string): string | undefined {
  const tar = which(host, 'tar');
  if (!tar) return undefined;
  const env = { PATH: host.path };
  const m = probe([tar, '-xOf', image, 'manifest.json'], { env });
  if (!m.ok) return undefined;
  try {
    const config = (JSON.parse(m.stdout) as Array<{ Config?: string }>)[0]?.Config;
    if (!config) return undefined;
    const r = spawnSync(tar, ['-xOf', image, config], { env, maxBuffer: 64 << 20 });
    if (r.status !== 0) return undefined;
    return createHash('sha256').update(r.stdout).digest('hex');
  } catch {
    return undefined;
  }
}

/** Loads the docker-archive (or imports the root) and returns the image reference to run. */
async function ensureImage(host: Host, kind: OciKind, c: Cli, spec: RunSpec, hold: (ref: string) => void): Promise<string> {
  // A docker-archive as it is; another image (squashfs) with an unpacked root is imported from the root.
  if (spec.image && (!spec.root || !imageMagic(spec.image))) {
    if (!existsSync(spec.image)) throw new TsdslError(`image ${spec.image} does not exist; build it with \`tsdsl pack -f docker\``);
    // The image ID is the sha256 of its config: when the storage has it, skip the load.
    const id = archiveImageId(host, spec.image);
    if (id) hold(id);
    if (id && probe([c.bin, ...c.global, 'image', 'inspect', '--format', '{{.Id}}', id], { env: c.env }).ok) return id;
    if (kind === 'podman' && isGzipFile(spec.image)) {
      throw new TsdslError(
        `${spec.image} is a gzip-compressed docker-archive, which podman cannot load (its docker-archive reader fails on it); run it with another engine (--engine=userns), or make the pack with -C xz, -C zstd or -C none`,
      );
    }
    const tmp = kind === 'podman' ? podmanTempDir(host) : undefined;
    let r: ReturnType<typeof probe>;
    try {
      r = probe([c.bin, ...c.global, 'load', '-i', spec.image], { env: tmp ? { ...c.env, TMPDIR: tmp } : c.env, timeoutMs: 600_000 });
    } finally {
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    }
    if (!r.ok) throw new TsdslError(`\`${kind} load -i ${spec.image}\` failed: ${lastLine(r.stderr)}; check that it is a docker-archive (\`skopeo inspect docker-archive:${spec.image}\`)`);
    const m = /Loaded image(?:\(s\))?(?: ID)?:\s*(\S+)/.exec(r.stdout + r.stderr);
    if (!m) throw new TsdslError(`\`${kind} load\` did not say which image it loaded (output: ${lastLine(r.stdout)}); load ${spec.image} by hand and report this`);
    const loaded = m[1]!.split(',')[0]!.trim();
    hold(loaded);
    return loaded;
  }
  const ref = rootTag(spec);
  hold(ref);
  const exists = kind === 'podman' ? ['image', 'exists', ref] : ['image', 'inspect', ref];
  if (probe([c.bin, ...c.global, ...exists], { env: c.env }).ok) return ref;
  const tar = which(host, 'tar');
  if (!tar) throw new TsdslError(`engine ${kind}: ${missingBinary(host, 'tar', 'install GNU tar')}`);
  // podman copies what it imports into TMPDIR first (see podmanTempDir).
  const tmp = kind === 'podman' ? podmanTempDir(host) : undefined;
  // A signal meanwhile (Ctrl-C, or `kill` of tsdsl alone) stops the import and ends the run once
  // the importer is gone and its copy removed, rather than killing tsdsl at once.
  const children: ChildProcess[] = [];
  const interrupts = holdSignals((sig) => {
    for (const child of children) child.kill(sig);
  }, FORWARDED_SIGNALS);
  try {
    await new Promise<void>((resolve, reject) => {
      const pack = spawn(tar, ['-C', spec.root, '--numeric-owner', '--exclude=./tmp', '-cf', '-', '.'], { env: { PATH: host.path }, stdio: ['ignore', 'pipe', 'pipe'] });
      const imp = spawn(c.bin, [...c.global, 'import', '-', ref], { env: tmp ? { ...c.env, TMPDIR: tmp } : c.env, stdio: ['pipe', 'ignore', 'pipe'] });
      children.push(pack, imp);
      // Killed with -9, tsdsl leaves podman importing: its directory is kept while podman runs.
      if (tmp && imp.pid !== undefined) addDirectoryUser(tmp, imp.pid);
      let err = '';
      pack.stderr.on('data', (d: Buffer) => (err += d.toString()));
      imp.stderr.on('data', (d: Buffer) => (err += d.toString()));
      pack.stdout.pipe(imp.stdin);
      imp.stdin.on('error', () => {});
      pack.on('error', reject);
      imp.on('error', reject);
      imp.on('close', (code) => {
        if (code === 0) resolve();
        else reject(new TsdslError(`\`${kind} import\` of ${spec.root} failed: ${lastLine(err)}; pass a docker-archive (\`tsdsl pack -f docker\`) instead`));
      });
    });
  } catch (e) {
    if (!interrupts.received) throw e;
  } finally {
    interrupts.end();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
  if (interrupts.received) {
    throw new TsdslError(`interrupted while ${kind} imported ${spec.root}; the command did not run`, { exitCode: signalExitCode(interrupts.received) });
  }
  return ref;
}

/** An init binary for `--init-path` (podman), static so it runs in an image with no libc of the host. */
function podmanInit(host: Host): string[] {
  for (const p of [which(host, 'catatonit'), '/usr/libexec/podman/catatonit', '/usr/bin/catatonit', which(host, 'tini-static'), '/usr/bin/tini-static']) {
    if (p && existsSync(p)) return ['--init', `--init-path=${p}`];
  }
  return [];
}

/** The `run` argv after the CLI and its global flags. */
export function ociRunArgs(host: Host, kind: OciKind, spec: RunSpec, image: string, tty: boolean, init: readonly string[]): string[] {
  const shares = planShares(spec, host);
  const args = ['run', '--rm', '-i', ...(tty ? ['-t'] : []), `--network=${spec.network === true ? 'host' : 'none'}`, '--security-opt=label=disable'];
  args.push(...init);
  if (kind === 'podman') {
    // Its owner: `tsdsl gc --packs` removes what a run killed before podman removed it.
    args.push('--pull=never', '--unsetenv-all', `--label=tsdsl.owner=${ownerToken()}`);
    if (host.uid !== 0 && hasSubuids(host)) args.push('--userns=keep-id');
  } else {
    args.push(`--user=${host.uid}:${host.gid}`);
  }
  for (const [k, v] of Object.entries(spec.env)) args.push(`--env=${k}=${v}`);
  // A writable /tmp of the run's own, as compilers, MPI and Python need: a pack unpacked into the
  // cache is read-only, and its /tmp is left out of the import (podman would give the tmpfs the
  // mode of the image's directory); a docker-archive's is 1777 already. Not where a bind shows a
  // host directory there.
  if (kind === 'podman' && !shares.binds.some((b) => b.target === '/tmp' || b.target === '/')) args.push('--mount=type=tmpfs,destination=/tmp,tmpfs-mode=1777');
  // Isolated, $HOME is private, empty and writable, as the other engines give it: a tmpfs, made
  // the user's by podman (U); docker's tmpfs cannot be chowned, so anyone in the container may write it.
  // Not where a bind shows a host directory at $HOME or above it (run from the home directory,
  // the working directory is bound there: podman refused the two as a "duplicate mount destination").
  const home = spec.isolate === true ? privateHome(spec, shares.binds) : undefined;
  // Left as the image has it, $HOME would name a directory that is not there: said, as a bind's is.
  if (home?.includes(',')) {
    throw new TsdslError(`engine ${kind} cannot give the container an empty, private $HOME (${home}): its --mount syntax does not allow ',' in paths; set HOME to another directory for the run, or use --engine userns`);
  }
  if (home) args.push(`--mount=type=tmpfs,destination=${home},${kind === 'podman' ? 'tmpfs-mode=0700,U=true' : 'tmpfs-mode=1777'}`);
  for (const b of shares.binds) {
    if (b.source.includes(',') || b.target.includes(',')) throw new TsdslError(`engine ${kind} cannot bind ${b.source}: its --mount syntax does not allow ',' in paths; rename it or use --engine userns`);
    args.push(`--mount=type=bind,source=${b.source},target=${b.target}${b.writable ? '' : ',readonly'}`);
  }
  const [argv0, ...rest] = spec.command;
  if (!argv0) throw new TsdslError('no command to run; give one after `--`');
  args.push(`--workdir=${shares.cwd}`, `--entrypoint=${argv0}`, image, ...rest);
  return args;
}

function ociEngine(host: Host, kind: OciKind): RunEngine {
  const description =
    kind === 'podman'
      ? 'rootless Podman on the docker-archive image (or the root imported as one): private vfs storage, runc, --network none unless the network is asked for, keeps your uid (keep-id); adds HOSTNAME (and HOME when unset); ~0.5 s start-up'
      : "Docker on the docker-archive image: needs a reachable daemon, runs as your uid:gid, --network none unless the network is asked for; adds HOSTNAME (and HOME when unset) and keeps the image's Env";
  return {
    name: kind,
    description,

    async available(): Promise<Availability> {
      const c = cli(host, kind);
      if (!c) {
        return { ok: false, reason: missingBinary(host, kind, kind === 'podman' ? 'install Podman (apt install podman runc uidmap)' : 'install Docker, or use --engine podman') };
      }
      if (kind === 'docker') {
        const r = probe([c.bin, 'info', '--format', '{{.ServerVersion}}'], { env: c.env, timeoutMs: 10_000 });
        if (!r.ok || !r.stdout.trim()) {
          const why = lastLine(r.stderr || r.stdout);
          const fix = /permission denied/i.test(why) ? 'add yourself to the docker group, or use --engine podman' : 'start the Docker daemon (systemctl start docker), or use --engine podman';
          return { ok: false, reason: `Docker daemon unreachable: \`docker info\` failed: ${why}; fix: ${fix}` };
        }
        return { ok: true, detail: `Docker daemon ${r.stdout.trim()}` };
      }
      if (host.uid !== 0) {
        const u = usernsAvailability(host);
        if (!u.ok) return { ok: false, reason: `rootless Podman needs user namespaces: ${u.reason}` };
      } else if (!hasCapability(CAP_SYS_RESOURCE)) {
        // Root in a container, say: runc then fails to set the container's rlimits (exit 126).
        return { ok: false, reason: 'podman as root sets the container\'s rlimits, which needs CAP_SYS_RESOURCE, and this root lacks it (a container\'s root, say); run tsdsl as an unprivileged user (rootless podman works there), or use --engine userns' };
      }
      const r = probe([c.bin, ...c.global, 'info', '--format', '{{.Version.Version}} {{.Host.OCIRuntime.Name}}'], { env: c.env, timeoutMs: 30_000 });
      if (!r.ok) return { ok: false, reason: `\`podman info\` fails: ${lastLine(r.stderr)}` };
      const [version, runtime] = r.stdout.trim().split(/\s+/);
      const driver = c.global.find((g) => g.startsWith('--storage-driver='))!.slice('--storage-driver='.length);
      return { ok: true, detail: `Podman ${version}; runtime ${basename(runtime ?? '?')}; ${driver} storage in ${podmanStoragesDir(host)}` };
    },

    accepts(spec: RunSpec): Availability {
      if (spec.image && (!spec.root || !imageMagic(spec.image))) return existsSync(spec.image) ? { ok: true } : { ok: false, reason: `image ${spec.image} does not exist` };
      return existsSync(spec.root) ? { ok: true } : { ok: false, reason: `no image given and no root at ${spec.root}` };
    },

    async run(spec, opts = {}) {
      const c = cli(host, kind);
      if (!c) throw new TsdslError(`engine ${kind}: ${missingBinary(host, kind, `install ${kind}`)}`);
      // A missing command is said as the other engines say it, from the unpacked pack or the
      // image's tar headers (the runtime's own error is an init's "failed to exec pid1", exit 1,
      // after the image load).
      const shares = planShares(spec, host);
      if (spec.root && existsSync(spec.root)) checkCommand(spec, shares);
      else if (spec.image) checkCommandInImage(spec.image, spec.command[0] ?? '', spec.env['PATH'] ?? '/bin:/usr/bin', shares.cwd, shares.binds.map((b) => b.target));
      // Podman's images are tsdsl's (its own storage): each is held while used, for `gc --packs`.
      const held: Array<() => void> = [];
      const hold = (ref: string): void => {
        if (c.root !== undefined) held.push(holdImage(host, { root: c.root, env: c.env }, ref));
      };
      try {
        const image = await ensureImage(host, kind, c, spec, hold);
        const piped = spec.stdio === 'pipe';
        const tty = !piped && process.stdin.isTTY === true && process.stdout.isTTY === true;
        const init = kind === 'podman' ? podmanInit(host) : ['--init'];
        const args = ociRunArgs(host, kind, spec, image, tty, init);
        // Podman's container ID, to tell a run a signal stopped before it started (below).
        const cidfile = kind === 'podman' ? join(tmpdir(), `tsdsl-podman-${process.pid}-${randomBytes(6).toString('hex')}.cid`) : undefined;
        if (cidfile) args.splice(1, 0, `--cidfile=${cidfile}`);
        try {
          const { code, forwarded } = await launch({ argv: [c.bin, ...c.global, ...args], env: c.env, stdio: spec.stdio ?? 'inherit' }, opts);
          return cidfile && forwarded ? stoppedBeforeStart(c, cidfile, forwarded) ?? code : code;
        } finally {
          if (cidfile) rmSync(cidfile, { force: true });
        }
      } finally {
        for (const release of held) release();
      }
    },
  };
}

/**
 * After a signal was passed to `podman run`: whether it stopped podman before the container ran
 * (podman passes signals on only once the container runs; before, it exits 0 or 1 itself and
 * leaves the container created). Then the run ends as a signalled one would, 128+n, and the
 * container goes; a container that ran is gone already (`--rm`), and its exit code stands.
 */
function stoppedBeforeStart(c: Cli, cidfile: string, signal: NodeJS.Signals): number | undefined {
  let cid = '';
  try {
    cid = readFileSync(cidfile, 'utf8').trim();
  } catch {
    // not created: podman stopped before making the container
  }
  const signalled = signalExitCode(signal);
  if (!cid) return signalled;
  if (!probe([c.bin, ...c.global, 'container', 'exists', cid], { env: c.env }).ok) return undefined;
  probe([c.bin, ...c.global, 'rm', '-f', cid], { env: c.env, timeoutMs: 60_000 });
  return signalled;
}

/** The `podman` engine on `host`. */
export function podmanEngine(host: Host = currentHost()): RunEngine {
  return ociEngine(host, 'podman');
}

/** The `docker` engine on `host`. */
export function dockerEngine(host: Host = currentHost()): RunEngine {
  return ociEngine(host, 'docker');
}
