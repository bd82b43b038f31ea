/**
 * The rootless build sandbox: runs one builder with nothing but its inputs, without root.
 *
 * The scheduler realises a derivation by calling `runSandboxed` with a root file system (the
 * merged bootstrap tree), the input store items bound read-only at their logical paths, the
 * output bound writable, the build directory at `/build`, and the derivation's environment.
 * Built on util-linux `unshare` (DESIGN §6, machine-facts A1/A4): a new user namespace maps the
 * caller to root, and new mount, PID, IPC, UTS and (unless the derivation may use the network)
 * network namespaces hide the host. Inside, a small POSIX shell script mounts everything with one
 * `mount -a` over an fstab generated here — first a read-only bind of a skeleton directory
 * (nothing but empty mount points and symlinks, made here) as the new root, then the binds, a
 * fresh /proc and the tmpfs mounts on top of it — brings `lo` up, sets the host name,
 * `pivot_root`s into the new root, detaches the host's file system entirely (so even root inside
 * cannot get back to it), and finally execs the builder as PID 1 with exactly the given
 * environment. The same path is taken when tsdsl runs as root, so builds behave identically.
 *
 * Each exec costs a few milliseconds on a VM, so the script runs as few as it can: the read-only
 * skeleton bind stands in for a tmpfs root plus a copy of the skeleton into it (two execs fewer,
 * same result: a root that holds only mount points and cannot be written).
 *
 * `checkSandboxSupport` says whether this machine allows all that, and if not which setting
 * stops it and how to change it.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync, createWriteStream, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync,
  realpathSync, rmdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { DEFAULT_STORE_DIR } from '../derivation/hash.js';
import { TsdslError, causeOf } from '../errors.js';
import { readElf } from '../store/elf.js';
import { SYSTEM_DIRS, findOnPath, setprivWithPdeathsig } from '../child.js';
import { makeOwnedTempDir } from '../store/lock.js';

/** A host path made visible inside the sandbox. */
export interface SandboxBind {
  /** The file or directory on the host (must exist). */
  hostPath: string;
  /** Where it appears inside the sandbox (absolute). */
  path: string;
  /** Writable inside (default read-only). */
  writable?: boolean;
}

/** Where a stream of the builder's output goes: a writable stream or an open file descriptor. */
export type OutputSink = Writable | number;

/** Everything one sandboxed run needs. */
export interface SandboxSpec {
  /** Host directory used, read-only, as `/` (its top-level entries are bound; see `runSandboxed`). */
  rootfs: string;
  /** The logical store directory (default `/tsdsl/store`). */
  storeDir?: string;
  /** Store items: inputs read-only, outputs `writable`. Each `path` is `<storeDir>/<name>`. */
  storeBinds?: readonly SandboxBind[];
  /** Other binds, anywhere (e.g. `/sys` for a test suite that needs it). */
  binds?: readonly SandboxBind[];
  /** Host directory bound writable at `/build`, the working directory. */
  buildDir: string;
  /** The builder's exact environment; nothing is inherited from the host. */
  env: Readonly<Record<string, string>>;
  /** Program and arguments; a program without `/` is looked up in `env.PATH` inside the sandbox. */
  command: readonly string[];
  /** Keep the host's network (fixed-output builds only); default false = only `lo`. */
  network?: boolean;
  /** Receives the builder's standard output (default: discarded). */
  stdout?: OutputSink;
  /** Receives the builder's standard error (default: discarded). */
  stderr?: OutputSink;
  /** Called with each complete line of output, e.g. for a progress display. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Kill the whole build after this many milliseconds. */
  timeoutMs?: number;
  /** Kill the whole build when it prints nothing for this many milliseconds. */
  maxSilentMs?: number;
  /** Kills the whole build when aborted. */
  signal?: AbortSignal;
}

/** How a sandboxed run ended. */
export interface SandboxResult {
  /** Exit status of the builder, or null when a signal ended it. */
  code: number | null;
  /** The signal that ended it (`SIGKILL` when tsdsl killed it), or null. */
  signal: NodeJS.Signals | null;
  /** Why tsdsl killed it, or null when it ended by itself. */
  killed: 'timeout' | 'silence' | 'abort' | null;
  /** Wall-clock duration, sandbox set-up included. */
  durationMs: number;
}

/** Whether rootless sandboxes work here; when not, why and what to do. */
export type SandboxSupport = { ok: true } | { ok: false; reason: string; fix: string };

// ---------------------------------------------------------------------------------------
// Host tools

/** Host programs the set-up script runs, by absolute path (the builder's PATH means nothing on the host). */
interface HostTools {
  sh: string;
  unshare: string;
  mount: string;
  umount: string;
  pivotRoot: string;
  hostname: string | undefined;
  ip: string | undefined;
  /** util-linux's setpriv with --pdeathsig, to have the sandbox killed when tsdsl dies (even by SIGKILL). */
  setpriv: string | undefined;
  /** How to run `umount` once the host root only exists under `/tmp`: its ELF interpreter and library directories. */
  umountLoader: { interpreter: string; libraryDirs: string[] } | undefined;
}

function findProgram(name: string): string | undefined {
  const found = findOnPath(name, undefined, SYSTEM_DIRS);
  return found === undefined ? undefined : realpathSync(found);
}

let toolsCache: HostTools | undefined;

function hostTools(): HostTools {
  if (toolsCache) return toolsCache;
  const need = (name: string, pkg: string): string => {
    const p = findProgram(name);
    if (!p) throw new TsdslError(`the build sandbox needs \`${name}\`, which is not installed; install ${pkg} (e.g. \`apt-get install ${pkg}\`)`);
    return p;
  };
  const umount = need('umount', 'mount');
  let umountLoader: HostTools['umountLoader'];
  let interp: string | undefined;
  try {
    const elf = readElf(umount);
    if (!elf) throw new Error(`${umount} is not an ELF file`);
    interp = elf.interpreter;
  } catch (e) {
    throw new TsdslError(`the build sandbox cannot read ${umount} to learn how to run it after pivot_root (${(e as Error).message}); make it readable by this user`);
  }
  if (interp !== undefined) {
    const interpreter = realpathSync(interp);
    // `ld.so --list` is what ldd runs; it prints `libfoo.so => /path/libfoo.so (0x…)`.
    const listing = execFileSync(interpreter, ['--list', umount], { encoding: 'utf8', env: {} });
    const libraryDirs: string[] = [];
    for (const m of listing.matchAll(/=>\s+(\/\S+)/g)) {
      const dir = dirname(realpathSync(m[1]!));
      if (!libraryDirs.includes(dir)) libraryDirs.push(dir);
    }
    umountLoader = { interpreter, libraryDirs };
  }
  toolsCache = {
    sh: need('sh', 'dash'),
    unshare: need('unshare', 'util-linux'),
    mount: need('mount', 'mount'),
    umount,
    pivotRoot: need('pivot_root', 'util-linux'),
    hostname: findProgram('hostname'),
    ip: findProgram('ip'),
    setpriv: setprivWithPdeathsig(),
    umountLoader,
  };
  return toolsCache;
}

// ---------------------------------------------------------------------------------------
// Support check

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

const UNSHARE_FLAGS = ['--user', '--map-root-user', '--mount', '--propagation', 'private', '--pid', '--fork', '--kill-child', '--uts', '--ipc'];

/**
 * Checks that rootless sandboxes can be made here: the kernel settings that allow user
 * namespaces, then a real trial of the namespaces a build uses. Runs synchronously (a few ms).
 */
export function checkSandboxSupport(): SandboxSupport {
  const root = process.getuid?.() === 0;
  const asRoot = root ? '' : ', or run the build as root';
  const max = readProc('/proc/sys/user/max_user_namespaces');
  if (max === '0') {
    return {
      ok: false,
      reason: 'user namespaces are disabled on this machine (/proc/sys/user/max_user_namespaces is 0)',
      fix: 'enable them with `sudo sysctl -w user.max_user_namespaces=15000` (add it to /etc/sysctl.d/ to keep it)',
    };
  }
  if (!root && readProc('/proc/sys/kernel/unprivileged_userns_clone') === '0') {
    return {
      ok: false,
      reason: 'unprivileged user namespaces are disabled (/proc/sys/kernel/unprivileged_userns_clone is 0)',
      fix: `enable them with \`sudo sysctl -w kernel.unprivileged_userns_clone=1\` (add it to /etc/sysctl.d/ to keep it)${asRoot}`,
    };
  }
  if (!root && readProc('/proc/sys/kernel/apparmor_restrict_unprivileged_userns') === '1') {
    return {
      ok: false,
      reason: 'AppArmor forbids unprivileged user namespaces (/proc/sys/kernel/apparmor_restrict_unprivileged_userns is 1)',
      fix: `lift the restriction with \`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0\`, or give node an AppArmor profile that allows userns${asRoot}`,
    };
  }
  let tools: HostTools;
  try {
    tools = hostTools();
  } catch (e) {
    return { ok: false, reason: (e as Error).message, fix: 'install the missing program' };
  }
  const trial = spawnSync(tools.unshare, [...UNSHARE_FLAGS, '--net', '--', tools.sh, '-c', 'exit 0'], { encoding: 'utf8', env: {}, timeout: 10_000 });
  if (trial.error || trial.status !== 0) {
    const why = causeOf(trial.error?.message ?? trial.stderr, `exit status ${trial.status}`);
    return {
      ok: false,
      reason: `\`unshare --user --map-root-user --mount --pid --net --uts --ipc\` fails here: ${why}`,
      fix:
        'the kernel or a container runtime forbids the namespaces a build needs; check `sysctl user.max_user_namespaces` and, inside a container, ' +
        `run it with user namespaces allowed (e.g. docker --security-opt seccomp=unconfined)${asRoot}`,
    };
  }
  return { ok: true };
}

// ---------------------------------------------------------------------------------------
// Mount flags

interface MountEntry {
  mountPoint: string;
  options: string[];
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

function readMountinfo(): MountEntry[] {
  const text = readProc('/proc/self/mountinfo') ?? '';
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length < 6) continue;
    out.push({ mountPoint: unescapeMountinfo(f[4]!), options: f[5]!.split(',') });
  }
  return out;
}

/**
 * The per-mount flags a read-only remount of a bind must repeat: in a user namespace the kernel
 * refuses to clear flags inherited from the host's mount (`noexec`, the atime mode, …), and
 * util-linux does not keep them by itself.
 */
function lockedFlags(hostPath: string, mounts: readonly MountEntry[]): string[] {
  let real: string;
  try {
    real = realpathSync(hostPath);
  } catch {
    real = hostPath;
  }
  let best: MountEntry | undefined;
  for (const m of mounts) {
    const mp = m.mountPoint;
    const inside = mp === '/' || real === mp || real.startsWith(`${mp}/`);
    // Later lines are mounted on top of earlier ones at the same place.
    if (inside && (!best || mp.length >= best.mountPoint.length)) best = m;
  }
  const opts = best?.options ?? [];
  const flags: string[] = opts.filter((o) => o === 'noexec' || o === 'nodiratime');
  if (opts.includes('noatime')) flags.push('noatime');
  else if (opts.includes('relatime')) flags.push('relatime');
  else flags.push('strictatime');
  return flags;
}

// ---------------------------------------------------------------------------------------
// Set-up

/** Single-quotes a string for the POSIX shell. */
function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Escapes a path for an fstab field (libmount reads `\ooo` octal escapes). */
function fstabPath(s: string): string {
  return s.replace(/\\/g, '\\134').replace(/ /g, '\\040').replace(/\t/g, '\\011').replace(/\n/g, '\\012');
}

// Variables that change how the host's own tools (mount, umount, …) load or behave; the set-up
// script runs without them and hands them to the builder at the very end.
const HOST_SENSITIVE = /^(LD_\w*|GCONV_PATH|LOCPATH|GLIBC_TUNABLES|MALLOC_\w*|NLSPATH|HOSTALIASES|IFS|PWD|OLDPWD)$/;
const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];
const DEV_LINKS: Array<[string, string]> = [
  ['fd', '/proc/self/fd'],
  ['stdin', '/proc/self/fd/0'],
  ['stdout', '/proc/self/fd/1'],
  ['stderr', '/proc/self/fd/2'],
];

function checkAbsolute(path: string, what: string): string {
  if (!isAbsolute(path) || normalize(path) !== path.replace(/\/+$/, '') || path.includes('\0')) {
    throw new TsdslError(`${what} \`${path}\` must be an absolute, normalised path`);
  }
  return path.replace(/\/+$/, '') || '/';
}

type Kind = 'dir' | 'file' | 'symlink';

function kindOf(hostPath: string, what: string): Kind {
  let st;
  try {
    st = lstatSync(hostPath);
  } catch {
    throw new TsdslError(`${what} \`${hostPath}\` does not exist; create it before starting the build`);
  }
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isDirectory()) return 'dir';
  return 'file';
}

interface Plan {
  /** Skeleton entries relative to the new root, in creation order. */
  skeleton: Array<{ path: string; kind: Kind; target?: string }>;
  /** fstab lines, parents before children; the first makes the new root. */
  fstab: string[];
}

/** Works out the skeleton and the fstab of one run. */
function plan(spec: SandboxSpec, root: string, storeDir: string): Plan {
  const mounts = readMountinfo();
  const skeleton: Plan['skeleton'] = [];
  // The new root: the skeleton itself, bound onto itself read-only (a mount point, as
  // pivot_root wants). Mounting on its directories does not write to it.
  const fstab: string[] = [`${fstabPath(root)} ${fstabPath(root)} none ${['bind', 'ro', 'nosuid', ...lockedFlags(root, mounts)].join(',')} 0 0`];
  const at = (p: string): string => fstabPath(join(root, p));
  const bind = (host: string, inside: string, writable: boolean): void => {
    // A plain bind keeps the host's flags; a read-only one is a remount that must repeat them.
    const opts = writable ? 'bind' : ['bind', 'ro', 'nosuid', 'nodev', ...lockedFlags(host, mounts)].join(',');
    fstab.push(`${fstabPath(host)} ${at(inside)} none ${opts} 0 0`);
  };

  const storeTop = storeDir.split('/')[1]!;
  const reserved = new Set(['proc', 'dev', 'tmp', 'build', storeTop]);
  const rootfs = spec.rootfs;
  if (kindOf(rootfs, 'root file system') !== 'dir') throw new TsdslError(`root file system \`${rootfs}\` is not a directory`);
  for (const e of readdirSync(rootfs, { withFileTypes: true })) {
    if (reserved.has(e.name)) continue;
    const host = join(rootfs, e.name);
    if (e.isSymbolicLink()) skeleton.push({ path: e.name, kind: 'symlink', target: readlinkSync(host) });
    else if (e.isDirectory()) {
      skeleton.push({ path: e.name, kind: 'dir' });
      bind(host, e.name, false);
    } else if (e.isFile()) {
      skeleton.push({ path: e.name, kind: 'file' });
      bind(host, e.name, false);
    }
    // Sockets, FIFOs and device nodes at the top of a root file system are of no use to a build.
  }

  skeleton.push({ path: 'proc', kind: 'dir' }, { path: 'tmp', kind: 'dir' }, { path: 'build', kind: 'dir' }, { path: 'dev', kind: 'dir' }, { path: 'dev/shm', kind: 'dir' });
  fstab.push(`proc ${at('proc')} proc nosuid,nodev,noexec 0 0`);
  for (const d of DEVICES) {
    skeleton.push({ path: `dev/${d}`, kind: 'file' });
    fstab.push(`/dev/${d} ${at(`dev/${d}`)} none bind 0 0`);
  }
  for (const [name, target] of DEV_LINKS) skeleton.push({ path: `dev/${name}`, kind: 'symlink', target });
  fstab.push(`tmpfs ${at('dev/shm')} tmpfs nosuid,nodev,mode=1777 0 0`);
  fstab.push(`tmpfs ${at('tmp')} tmpfs nosuid,nodev,mode=1777 0 0`);
  if (kindOf(spec.buildDir, 'build directory') !== 'dir') throw new TsdslError(`build directory \`${spec.buildDir}\` is not a directory`);
  bind(spec.buildDir, 'build', true);

  skeleton.push({ path: storeDir.slice(1), kind: 'dir' });
  const seen = new Set<string>();
  const addBind = (b: SandboxBind, what: string, inStore: boolean): void => {
    const path = checkAbsolute(b.path, `${what} path`);
    if (inStore && dirname(path) !== storeDir) {
      throw new TsdslError(`${what} \`${path}\` is not directly in the store directory ${storeDir}; bind it with \`binds\` instead`);
    }
    // /dev/X is fine (the skeleton makes its mount point); the others are separate mounts whose
    // contents the sandbox owns.
    if (['/', '/dev', '/dev/shm'].includes(path) || ['/proc', '/tmp', '/build'].some((r) => path === r || path.startsWith(`${r}/`))) {
      throw new TsdslError(`${what} \`${path}\` would hide or sit inside a directory the sandbox provides (/, /proc, /dev, /tmp, /build); choose another path`);
    }
    if (seen.has(path)) throw new TsdslError(`${what} \`${path}\` is bound twice; give each path one host file`);
    seen.add(path);
    const kind = kindOf(b.hostPath, `${what} \`${path}\`: host path`);
    const rel = path.slice(1);
    // A symlink item is recreated rather than bound: binding would follow it.
    if (kind === 'symlink') skeleton.push({ path: rel, kind, target: readlinkSync(b.hostPath) });
    else {
      skeleton.push({ path: rel, kind });
      bind(b.hostPath, rel, b.writable ?? false);
    }
  };
  for (const b of spec.storeBinds ?? []) addBind(b, 'store item', true);
  for (const b of spec.binds ?? []) addBind(b, 'bind', false);
  return { skeleton, fstab };
}

/**
 * Creates the skeleton tree (mount points, symlinks) that becomes the read-only root. Plain
 * synchronous calls: a few dozen of them take a fraction of a millisecond, far less than as
 * many trips through the thread pool.
 */
function writeSkeleton(dir: string, entries: Plan['skeleton']): void {
  for (const e of entries) {
    // Never create through a symlink of the skeleton: an absolute one (a rootfs's `bin ->
    // /usr/bin`) would point at the host.
    const parts = e.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const prefix = join(dir, ...parts.slice(0, i));
      if (lstatSync(prefix, { throwIfNoEntry: false })?.isSymbolicLink()) {
        throw new TsdslError(`cannot bind \`/${e.path}\`: \`/${parts.slice(0, i).join('/')}\` is a symlink in the sandbox; bind at the path it points to instead`);
      }
    }
    const p = join(dir, e.path);
    mkdirSync(dirname(p), { recursive: true, mode: 0o755 });
    const existing = lstatSync(p, { throwIfNoEntry: false });
    if (e.kind === 'dir') {
      if (!existing?.isDirectory()) mkdirSync(p, { mode: 0o755 });
    } else if (existing) {
      throw new TsdslError(`cannot place \`/${e.path}\` in the sandbox twice (the root file system or another bind already has it)`);
    } else if (e.kind === 'file') writeFileSync(p, '', { mode: 0o644 });
    else symlinkSync(e.target!, p);
  }
  // mkdir honours the umask; the tree must be traversable by the mapped root whatever it is.
  chmodSync(dir, 0o755);
}

/** The set-up script run as PID 1 of the new namespaces; `"$@"` is the builder's command. */
function setupScript(t: HostTools, paths: { root: string; fstab: string }, spec: SandboxSpec): string {
  const steps: string[] = [];
  const step = (label: string, cmd: string): void => {
    steps.push(`printf '@%s\\n' ${q(label)} >&3`, cmd);
  };
  step('mount the file systems', `${q(t.mount)} -n -a -T ${q(paths.fstab)}`);
  if (t.hostname) step('set the host name', `${q(t.hostname)} sandbox`);
  // Without `ip` the loopback interface stays down; builds that talk to 127.0.0.1 then fail.
  // TODO(no ip on host): bring lo up with a SIOCSIFFLAGS ioctl once there is a helper that can.
  if (!spec.network && t.ip) step('bring up the loopback interface', `${q(t.ip)} link set lo up`);
  step('enter the new root', `cd ${q(paths.root)}`);
  // The host's root goes on top of the new /tmp, is detached from there, and the new /tmp
  // tmpfs underneath shows again: no trace of the host remains in the mount namespace.
  step('pivot into the new root', `${q(t.pivotRoot)} . tmp`);
  const old = (p: string): string => q(`/tmp${p}`);
  const umount = t.umountLoader
    ? `${old(t.umountLoader.interpreter)} --library-path ${q(t.umountLoader.libraryDirs.map((d) => `/tmp${d}`).join(':'))} ${old(t.umount)} -n -l /tmp`
    : `${old(t.umount)} -n -l /tmp`;
  step('detach the host file system', umount);
  step('enter /build', 'cd /build');

  // A fixed umask, whatever the caller's, so that file modes in outputs do not depend on who built them.
  const restore: string[] = ['umask 022', 'unset PWD OLDPWD'];
  for (const [k, v] of Object.entries(spec.env)) if (HOST_SENSITIVE.test(k)) restore.push(`${k}=${q(v)}; export ${k}`);
  return [
    'set -eu',
    // Set-up messages go to the control pipe (fd 3); the builder's stderr is kept on fd 4.
    'exec 4>&2 2>&3',
    ...steps,
    ...restore,
    "printf 'ready\\n' >&3",
    'exec "$@" 2>&4 3>&- 4>&-',
  ].join('\n');
}

function sinkFor(out: OutputSink | undefined): Writable | undefined {
  if (out === undefined) return undefined;
  if (typeof out === 'number') return createWriteStream('', { fd: out, autoClose: false });
  return out;
}

/** Splits a byte stream into lines for `onLine`; very long lines are cut into pieces. */
function lineSplitter(stream: 'stdout' | 'stderr', onLine: NonNullable<SandboxSpec['onLine']>) {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  const MAX = 64 * 1024;
  return {
    push(chunk: Buffer): void {
      pending += decoder.write(chunk);
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        onLine(pending.slice(0, nl), stream);
        pending = pending.slice(nl + 1);
      }
      while (pending.length > MAX) {
        onLine(pending.slice(0, MAX), stream);
        pending = pending.slice(MAX);
      }
    },
    end(): void {
      pending += decoder.end();
      if (pending) onLine(pending, stream);
      pending = '';
    },
  };
}

/**
 * Runs `spec.command` in a fresh rootless sandbox and resolves when it and everything it
 * started have ended.
 *
 * Inside: `/` is a read-only directory holding the top-level entries of `spec.rootfs` bound
 * read-only (except `proc`, `dev`, `tmp`, `build` and the store directory's top, which the
 * sandbox provides), a fresh `/proc`, a `/dev` with null, zero, full, random, urandom and tty
 * bound from the host plus a tmpfs `/dev/shm`, a tmpfs `/tmp`, `spec.buildDir` at `/build` (the
 * working directory), each store bind at its logical path (read-only unless `writable`; an
 * output must exist on the host beforehand, as an empty directory or file), uid 0, PID 1, host
 * name `sandbox`, umask 022, and no network but `lo` unless `spec.network`. The environment is
 * exactly `spec.env` (whose names must be shell identifiers: a POSIX shell execs the builder).
 * The builder's output streams to `spec.stdout`/`spec.stderr`.
 *
 * `timeoutMs`, `maxSilentMs` and `signal` kill the whole process tree (SIGKILL) and say which in
 * `killed`. A sandbox that cannot be set up throws a `TsdslError` naming the failed step and,
 * when the cause is the machine's configuration, how to fix it.
 */
export async function runSandboxed(spec: SandboxSpec): Promise<SandboxResult> {
  const started = Date.now();
  if (spec.command.length === 0) throw new TsdslError('the sandbox was given an empty command; give it a program to run');
  const storeDir = checkAbsolute(spec.storeDir ?? DEFAULT_STORE_DIR, 'store directory');
  if (storeDir === '/') throw new TsdslError('the store directory cannot be `/`; use e.g. /tsdsl/store');
  for (const [k, v] of Object.entries(spec.env)) {
    if (k === '' || k.includes('=') || k.includes('\0') || v.includes('\0')) {
      throw new TsdslError(`environment variable \`${k}\` cannot be passed to a build: names may not be empty or hold \`=\`, and neither names nor values may hold NUL bytes`);
    }
    if (!SHELL_NAME.test(k)) {
      throw new TsdslError(`environment variable \`${k}\` cannot be passed to a build: its name must be letters, digits and underscores (not starting with a digit)`);
    }
  }
  if (spec.signal?.aborted) return { code: null, signal: null, killed: 'abort', durationMs: 0 };
  const tools = hostTools();

  // The sandbox directories of tsdsl processes that died (kill -9) go first: those of this PID
  // namespace (named with it), whose processes can be seen to be gone.
  const work = makeOwnedTempDir(tmpdir(), 'tsdsl-sandbox');
  chmodSync(work, 0o755);
  const paths = { root: join(work, 'root'), fstab: join(work, 'fstab') };
  try {
    mkdirSync(paths.root, { mode: 0o755 });
    const { skeleton, fstab } = plan(spec, paths.root, storeDir);
    writeSkeleton(paths.root, skeleton);
    writeFileSync(paths.fstab, `${fstab.join('\n')}\n`, { mode: 0o644 });

    const launchEnv: Record<string, string> = {};
    for (const [k, v] of Object.entries(spec.env)) if (!HOST_SENSITIVE.test(k)) launchEnv[k] = v;
    const args = [...UNSHARE_FLAGS, ...(spec.network ? [] : ['--net']), '--', tools.sh, '-c', setupScript(tools, paths, spec), 'tsdsl-sandbox', ...spec.command];
    // With setpriv, unshare gets SIGKILL when tsdsl dies (kill -9 included), and --kill-child
    // then takes the whole sandbox with it: a killed tsdsl leaves no build running on a login node.
    const child = tools.setpriv ? spawnChild(tools.setpriv, ['--pdeathsig', 'KILL', '--', tools.unshare, ...args], launchEnv) : spawnChild(tools.unshare, args, launchEnv);
    return await supervise(child, spec, started);
  } finally {
    cleanup(work, paths.root);
  }
}

function spawnChild(program: string, args: string[], env: Record<string, string>) {
  return spawn(program, args, { env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
}

/**
 * Removes the run's scratch directory. The mounts died with the namespace, but the skeleton is
 * still taken apart entry by entry (empty files, symlinks, empty directories only) rather than
 * with `rm -r`: should a mount ever outlive the sandbox, real files under it are never deleted.
 */
function cleanup(work: string, root: string): void {
  const take = (p: string): void => {
    const st = lstatSync(p);
    if (st.isDirectory()) {
      for (const name of readdirSync(p)) take(join(p, name));
      rmdirSync(p);
    } else if (st.isSymbolicLink() || (st.isFile() && st.size === 0)) {
      unlinkSync(p);
    } else {
      throw new Error(`unexpected file ${p}`);
    }
  };
  try {
    try {
      take(root);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    rmSync(join(work, 'fstab'), { force: true });
    rmdirSync(work);
  } catch (e) {
    process.emitWarning(`tsdsl: leaving the sandbox scratch directory ${work} in place (${(e as Error).message})`);
  }
}

/**
 * Writes a child's output stream to a sink, pausing the stream while the sink is behind. A sink
 * that fails (its file system is full) is written no more, and the stream goes on being read:
 * a paused pipe would block the builder, or keep its end from being seen, and the run would
 * never end. The failure is left to the caller, who knows the sink (a build says when its store's
 * file system is full).
 */
function forwarder(from: Readable, to: Writable | undefined): { write: (chunk: Buffer) => void; done: () => void } {
  if (!to) return { write: () => {}, done: () => {} };
  let failed = false;
  // The sink's error is expected while the run writes to it (without a listener it would be
  // thrown); the listener is this run's own, removed when it ends (a sink may serve others).
  const onError = (): void => {};
  to.on('error', onError);
  const resume = (): void => {
    to.off('drain', resume);
    to.off('close', resume);
    to.off('error', resume);
    from.resume();
  };
  return {
    write: (chunk) => {
      if (failed || to.destroyed || to.errored) {
        failed = true;
        return;
      }
      if (!to.write(chunk) && !to.destroyed && !to.errored) {
        from.pause();
        to.once('drain', resume).once('close', resume).once('error', resume);
      }
    },
    done: () => {
      resume();
      // A failed sink keeps the listener: its error may not have been emitted yet, and it
      // fails only once.
      if (!to.errored) to.off('error', onError);
    },
  };
}

function supervise(child: ReturnType<typeof spawnChild>, spec: SandboxSpec, started: number): Promise<SandboxResult> {
  return new Promise((resolve, reject) => {
    const out = sinkFor(spec.stdout);
    const err = sinkFor(spec.stderr);
    let killed: SandboxResult['killed'] = null;
    let ready = false;
    let control = '';
    // stderr before the script says "ready" may be unshare's own complaint or the builder's
    // first words (two pipes, no ordering): hold it until we know which.
    const early: Buffer[] = [];
    const splitters = spec.onLine ? { stdout: lineSplitter('stdout', spec.onLine), stderr: lineSplitter('stderr', spec.onLine) } : undefined;

    const kill = (why: NonNullable<SandboxResult['killed']>): void => {
      if (killed || child.exitCode !== null || child.signalCode !== null) return;
      killed = why;
      // unshare dies, --kill-child SIGKILLs PID 1, and the kernel kills everything else in the PID namespace.
      child.kill('SIGKILL');
    };
    let silence: NodeJS.Timeout | undefined;
    const armSilence = (): void => {
      if (spec.maxSilentMs === undefined) return;
      clearTimeout(silence);
      silence = setTimeout(() => kill('silence'), spec.maxSilentMs);
    };
    armSilence();
    const timeout = spec.timeoutMs === undefined ? undefined : setTimeout(() => kill('timeout'), spec.timeoutMs);
    const onAbort = (): void => kill('abort');
    spec.signal?.addEventListener('abort', onAbort, { once: true });

    const stdout = child.stdout!;
    const stderr = child.stderr!;
    const ctl = child.stdio[3] as Readable;
    const toOut = forwarder(stdout, out);
    const toErr = forwarder(stderr, err);
    stdout.on('data', (c: Buffer) => {
      armSilence();
      toOut.write(c);
      splitters?.stdout.push(c);
    });
    const deliverErr = (c: Buffer): void => {
      toErr.write(c);
      splitters?.stderr.push(c);
    };
    stderr.on('data', (c: Buffer) => {
      armSilence();
      if (ready) deliverErr(c);
      else early.push(c);
    });
    ctl.setEncoding('utf8');
    ctl.on('data', (s: string) => {
      control += s;
      if (!ready && /(^|\n)ready\n/.test(control)) {
        ready = true;
        for (const c of early.splice(0)) deliverErr(c);
      }
    });

    child.on('error', (e) => {
      finish();
      toOut.done();
      toErr.done();
      reject(new TsdslError(`cannot start the build sandbox: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      finish();
      splitters?.stdout.end();
      splitters?.stderr.end();
      if (!ready && killed === null) {
        toOut.done();
        toErr.done();
        reject(setupError(control, Buffer.concat(early).toString('utf8')));
        return;
      }
      if (!ready) for (const c of early.splice(0)) deliverErr(c);
      // Resolve only once what was written to the sinks has reached them: an empty write's
      // callback runs after every earlier write (the caller may close an fd right away).
      // A failed sink is not waited for: a write to one that is not destroyed (autoDestroy off)
      // would wait in its buffer for ever.
      const flushed = (w: Writable | undefined) => new Promise<void>((ok) => (w && !w.destroyed && !w.errored ? w.write('', () => ok()) : ok()));
      void Promise.all([flushed(out), flushed(err)]).then(() => {
        toOut.done();
        toErr.done();
        resolve({ code, signal, killed, durationMs: Date.now() - started });
      });
    });

    function finish(): void {
      clearTimeout(silence);
      clearTimeout(timeout);
      spec.signal?.removeEventListener('abort', onAbort);
    }
  });
}

/** Turns the control pipe's record of a failed set-up into one clear error. */
function setupError(control: string, stderr: string): TsdslError {
  const lines = control.split('\n');
  let stepName = 'start the namespaces';
  const messages: string[] = [];
  for (const l of lines) {
    if (l.startsWith('@')) {
      stepName = l.slice(1);
      messages.length = 0;
    } else if (l.trim()) messages.push(l.trim());
  }
  const detail = [...messages, ...stderr.split('\n').map((s) => s.trim()).filter(Boolean)].slice(-4).join('; ');
  let hint = '';
  if (stepName === 'start the namespaces' || /Operation not permitted|Permission denied/.test(detail)) {
    const support = checkSandboxSupport();
    if (!support.ok) hint = ` ${support.reason}; ${support.fix}.`;
    else if (/Permission denied/.test(detail)) hint = ' The user running tsdsl must be able to read every bound path (and write the writable ones).';
  }
  return new TsdslError(`the build sandbox could not be set up: "${stepName}" failed${detail ? `: ${detail}` : ''}.${hint}`);
}
