/**
 * Run engines: the last stage of the pipeline, where an unpacked closure (a pack, or a profile
 * and its store items) runs on a machine that may have neither tsdsl's store nor root. Every
 * engine is a plain value with one signature — `run(spec) → exit code` — kept in a table and
 * looked up by name (`--engine NAME`, `--explain`); `auto` walks the table in order and
 * takes the first engine the host supports, or says for each one why not.
 *
 * This module also holds what the engines share: the host they probe (injectable, so tests can
 * hide binaries or fake `/proc/sys`), the process plumbing that makes a run faithful (exit code,
 * 128+n for signal n, SIGINT/SIGTERM/… forwarded, stdio passed through, the environment exactly
 * `spec.env`), and the "view" of a container — which host directories appear where — used to
 * check a command exists before starting anything.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, lstatSync, openSync, readFileSync, readSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { homedir, tmpdir, userInfo } from 'node:os';
import { delimiter, join, posix } from 'node:path';
import { TsdslError, didYouMean, isTsdslError } from '../errors.js';
import { readElf } from '../store/elf.js';
import { addDirectoryUser, makeOwnedTempDir, removeOwnedTempLeftovers } from '../store/lock.js';
import { scratchParent, usernsEngine } from './userns.js';
import { charliecloudEngine } from './charliecloud.js';
import { apptainerEngine } from './apptainer.js';
import { dockerEngine, podmanEngine } from './oci.js';
import { prootEngine } from './proot.js';
import { holdSignals, signalExitCode } from '../signals.js';

// ---------------------------------------------------------------------------------------------
// The signature

/** A host directory shown inside the container: `--expose` (read-only) or `--share` (writable). */
export interface Bind {
  readonly source: string;
  readonly target: string;
  readonly writable: boolean;
  /**
   * A store item shown at its store path: read-only by its files' modes already, so an engine
   * that cannot make binds read-only (PRoot, ch-run) may still show it.
   */
  readonly storeItem?: boolean;
}

/** What to run and how: the one argument every engine takes. */
export interface RunSpec {
  /** A directory holding an unpacked closure: `<root>/tsdsl/store/…`, maybe `<root>/bin -> …`, `<root>/etc`. */
  readonly root: string;
  /** The logical store directory the closure's paths point to, e.g. `/tsdsl/store`. */
  readonly storeDir: string;
  /** argv; argv[0] is absolute inside the root, or a name looked up in `env.PATH` inside the root. */
  readonly command: readonly string[];
  /** The exact environment of the command. */
  readonly env: Readonly<Record<string, string>>;
  /** Working directory (default: the caller's); a host directory is bound at the same path. */
  readonly cwd?: string;
  /** Extra host directories to show inside. */
  readonly binds?: readonly Bind[];
  /** Container mode: only the root, /proc, /dev, /sys and the working directory — no host dirs; $HOME empty and private (privateHome). */
  readonly isolate?: boolean;
  /** true: share the host network; false: none. Default: shared, except when isolated; podman/docker: none unless true. */
  readonly network?: boolean;
  /** 'inherit' (default) passes the terminal through; 'pipe' goes through `RunOptions.stdin/stdout/stderr`. */
  readonly stdio?: 'inherit' | 'pipe';
  /** For image engines: a docker-archive tarball (podman, docker, charliecloud) or a squashfs/SIF (apptainer). */
  readonly image?: string;
}

/** Whether an engine can work here (or can take a given spec), and if not, why — one sentence with the fix. */
export type Availability = { readonly ok: true; readonly detail?: string } | { readonly ok: false; readonly reason: string };

/** Per-run options that are not part of the spec. */
export interface RunOptions {
  /** Aborting sends SIGTERM to the command (SIGKILL 10 s later). */
  readonly signal?: AbortSignal;
  /** With `stdio: 'pipe'`: the command's standard input (default: empty). */
  readonly stdin?: string | Uint8Array | NodeJS.ReadableStream;
  /** With `stdio: 'pipe'`: where its output goes (default: this process's stdout/stderr). */
  readonly stdout?: NodeJS.WritableStream;
  readonly stderr?: NodeJS.WritableStream;
  /** Called with the process id of what is started (the pack cache registers it as a user). */
  readonly onStart?: (pid: number) => void;
}

/** The names of the scratch directories of runs (see runScratch), by what makes them. */
export const SCRATCH_PREFIXES = { userns: 'tsdsl-run', proot: 'tsdsl-proot', charliecloud: 'tsdsl-ch', apptainer: 'tsdsl-apptainer', shell: 'tsdsl-shell' } as const;
export type ScratchPrefix = (typeof SCRATCH_PREFIXES)[keyof typeof SCRATCH_PREFIXES];

/** Where `tsdsl shell` makes its scratch directories (the engines': scratchParent). */
export function shellScratchParent(host: Host): string {
  return host.tmpdir || tmpdir();
}

/**
 * Removes (with `dryRun`, counts) the scratch directories of runs killed with -9 whose commands
 * are gone too, where the engines and `tsdsl shell` make them; a later run of the same kind
 * removes them too. Returns how many.
 */
export function removeRunScratchLeftovers(host: Host, dryRun = false): number {
  let n = 0;
  for (const prefix of Object.values(SCRATCH_PREFIXES)) {
    n += removeOwnedTempLeftovers(prefix === SCRATCH_PREFIXES.shell ? shellScratchParent(host) : scratchParent(host), prefix, dryRun).length;
  }
  return n;
}

/**
 * A scratch directory for one run, `PREFIX-PID-nsNS.BOOT.HOST-XXXXXX` in `parent` (see makeOwnedTempDir),
 * and `opts` that record the command, once started, as a user of it. A run killed with -9
 * cleans nothing up while its command goes on using the directory; a later run removes it
 * once both are gone.
 */
export function runScratch(parent: string, prefix: ScratchPrefix, opts: RunOptions): { dir: string; opts: RunOptions } {
  const dir = makeOwnedTempDir(parent, prefix);
  const onStart = (pid: number): void => {
    try {
      addDirectoryUser(dir, pid);
    } catch {
      // A full /dev/shm: the command runs anyway; a later run may then take the directory for
      // a leftover once this tsdsl is gone, which only kill -9 makes happen.
    }
    opts.onStart?.(pid);
  };
  return { dir, opts: { ...opts, onStart } };
}

/** One way of running a closure. */
export interface RunEngine {
  readonly name: string;
  /** One line for `--explain`, including what the engine cannot do faithfully. */
  readonly description: string;
  /** Whether the engine works on this host, probed for real (binaries, kernel switches, a trial run). */
  available(): Promise<Availability>;
  /** Whether the engine can honour this spec (network isolation, an image it can read, …); cheap, no trial. */
  accepts?(spec: RunSpec): Availability;
  /** Runs the command; resolves to its exit code, 128+n when it was killed by signal n. */
  run(spec: RunSpec, opts?: RunOptions): Promise<number>;
}

// ---------------------------------------------------------------------------------------------
// The host

/** What engines learn about the machine, in one injectable record (tests fake `procSys` and `path`). */
export interface Host {
  /** Directory standing for `/proc/sys`. */
  readonly procSys: string;
  /** Search path for the engines' own tools (unshare, ch-run, podman, …). */
  readonly path: string;
  /** The caller's environment (USER, XDG_RUNTIME_DIR, TSDSL_PROOT, …) — never the command's. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly uid: number;
  readonly gid: number;
  readonly user: string;
  readonly home: string;
  /** Where per-run scratch directories go. */
  readonly tmpdir: string;
  /** Long-lived per-user cache (podman storage): TSDSL_PACK_CACHE when set, as the packs' cache is. */
  readonly cacheDir: string;
}

/** The host this process runs on, with any field overridden. */
export function currentHost(overrides: Partial<Host> = {}): Host {
  const env = overrides.env ?? process.env;
  const info = safeUserInfo();
  const home = overrides.home ?? env['HOME'] ?? info?.homedir ?? homedir();
  return {
    procSys: '/proc/sys',
    path: env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin',
    env,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    user: env['USER'] ?? info?.username ?? `uid${process.getuid?.() ?? 0}`,
    home,
    tmpdir: env['TMPDIR'] ?? tmpdir(),
    // The images podman keeps of packs go where the unpacked packs go when TSDSL_PACK_CACHE says
    // where (so `gc --packs` stays in it). A relative XDG_CACHE_HOME is ignored, as the XDG
    // specification says (and packCacheDir does).
    cacheDir: env['TSDSL_PACK_CACHE']?.startsWith('/')
      ? env['TSDSL_PACK_CACHE']
      : join(env['XDG_CACHE_HOME']?.startsWith('/') ? env['XDG_CACHE_HOME'] : join(home, '.cache'), 'tsdsl'),
    ...overrides,
  };
}

function safeUserInfo(): { username: string; homedir: string } | undefined {
  try {
    return userInfo();
  } catch {
    return undefined;
  }
}

/** Absolute path of `name` on the host's search path, or undefined. */
export function which(host: Host, name: string): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  for (const dir of host.path.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    if (isExecutable(p)) return p;
  }
  return undefined;
}

function isExecutable(p: string): boolean {
  try {
    const st = statSync(p);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** 'squashfs' or 'sif' when a file starts like one of those images (magic bytes), else undefined. */
export function imageMagic(file: string): 'squashfs' | 'sif' | undefined {
  const head = fileHead(file, 64);
  if (head === undefined) return undefined;
  if (head.subarray(0, 4).toString('latin1') === 'hsqs') return 'squashfs';
  if (head.toString('latin1').includes('SIF_MAGIC')) return 'sif';
  return undefined;
}

/** Whether a file is gzip-compressed (a gzip docker-archive, say). */
export function isGzipFile(file: string): boolean {
  const head = fileHead(file, 2);
  return head !== undefined && head[0] === 0x1f && head[1] === 0x8b;
}

/** The first `n` bytes of a file (zeros past its end); undefined when it cannot be read. */
function fileHead(file: string, n: number): Buffer | undefined {
  const head = Buffer.alloc(n);
  try {
    const fd = openSync(file, 'r');
    try {
      readSync(fd, head, 0, n, 0);
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  return head;
}

/** Whether a file is a tar archive with a docker-archive `manifest.json` at its top. */
export function isDockerArchive(host: Host, file: string): boolean {
  if (imageMagic(file)) return false;
  const tar = which(host, 'tar');
  return tar !== undefined && probe([tar, '-tf', file, 'manifest.json'], { env: { PATH: host.path }, timeoutMs: 120_000 }).ok;
}

/** "`name` is not on PATH (PATH=…); fix: …" */
export function missingBinary(host: Host, name: string, fix: string): string {
  return `\`${name}\` is not on PATH (PATH=${host.path}); fix: ${fix}`;
}

/** Runs a probe synchronously with a bounded time; never throws. */
export function probe(
  argv: readonly string[],
  options: { env?: Record<string, string>; timeoutMs?: number; input?: string } = {},
): { ok: boolean; status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), {
    env: options.env ?? {},
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 15_000,
    input: options.input ?? '',
  });
  const stderr = r.error ? `${r.error.message}\n${r.stderr ?? ''}` : (r.stderr ?? '');
  return { ok: r.status === 0, status: r.status, stdout: r.stdout ?? '', stderr };
}

/** The most telling line of a tool's error output (the last non-empty one, trimmed). */
export function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? '(no message)';
}

// ---------------------------------------------------------------------------------------------
// Faithful execution

/** One process to start for a run. */
export interface Launch {
  readonly argv: readonly string[];
  /** Environment of the started process (engines pass `spec.env` through their own means). */
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
  readonly stdio: 'inherit' | 'pipe';
  /**
   * Which processes a forwarded signal goes to, given the started process's pid. Default: that
   * process. Engines whose front process does not pass signals on (util-linux `unshare --fork`
   * blocks SIGINT/SIGTERM, PRoot ignores them) name the process behind it.
   */
  readonly signalTargets?: (pid: number) => number[];
}

/** Signals sent to tsdsl that are passed on to the command. */
export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/** Exit code of a process, shell style: its status, or 128+n when signal n killed it. */
export function exitCode(code: number | null, signal: NodeJS.Signals | null): number {
  return code ?? signalExitCode(signal);
}

/**
 * Starts a process and waits for it, forwarding tsdsl's signals while it runs. Resolves to the
 * exit code and the last signal forwarded (PRoot reports a signalled command as 255, so the
 * engine needs to know which signal it sent).
 */
export function launch(l: Launch, opts: RunOptions = {}): Promise<{ code: number; forwarded: NodeJS.Signals | undefined }> {
  const [cmd, ...args] = l.argv;
  if (!cmd) throw new TsdslError('internal: launch with an empty command line');
  const piped = l.stdio === 'pipe';
  let forwarded: NodeJS.Signals | undefined;
  const timers: NodeJS.Timeout[] = [];
  // Set just below; a signal's handler runs at the loop's next turn, by when it is.
  let child: ChildProcess | undefined;
  const send = (sig: NodeJS.Signals, attempt = 0): void => {
    forwarded = sig;
    if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const pid = child.pid;
    const targets = l.signalTargets ? l.signalTargets(pid) : [pid];
    // The process behind the front one may not exist yet (signal right at start-up): retry.
    if (targets.length === 0) {
      if (attempt < 50) timers.push(setTimeout(() => send(sig, attempt + 1), 10));
      else kill(pid, sig);
      return;
    }
    for (const t of targets) kill(t, sig);
  };
  // Taken before the command starts: a signal that came between its start and the handlers
  // (onStart writes files: long on a busy disk) killed tsdsl and left the command running.
  const interrupts = holdSignals((sig) => send(sig), FORWARDED_SIGNALS);
  try {
    child = spawn(cmd, args, {
      env: { ...l.env },
      ...(l.cwd === undefined ? {} : { cwd: l.cwd }),
      stdio: piped ? ['pipe', 'pipe', 'pipe'] : 'inherit',
    });
  } catch (e) {
    interrupts.end();
    throw e;
  }
  const started = child;
  if (started.pid !== undefined) opts.onStart?.(started.pid);
  const onAbort = (): void => {
    send('SIGTERM');
    const t = setTimeout(() => {
      if (started.pid !== undefined) {
        for (const p of l.signalTargets?.(started.pid) ?? []) kill(p, 'SIGKILL');
        kill(started.pid, 'SIGKILL');
      }
    }, 10_000);
    t.unref();
    timers.push(t);
  };
  if (opts.signal) {
    if (opts.signal.aborted) onAbort();
    else opts.signal.addEventListener('abort', onAbort, { once: true });
  }
  if (piped) {
    const input = opts.stdin;
    started.stdin?.on('error', () => {}); // the command may exit without reading its input
    if (input === undefined) started.stdin?.end();
    else if (typeof input === 'string' || input instanceof Uint8Array) started.stdin?.end(input);
    else input.pipe(started.stdin!);
    started.stdout?.pipe(opts.stdout ?? process.stdout, { end: false });
    started.stderr?.pipe(opts.stderr ?? process.stderr, { end: false });
  }
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      interrupts.end();
      for (const t of timers) clearTimeout(t);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    started.once('error', (e: NodeJS.ErrnoException) => {
      cleanup();
      reject(new TsdslError(`cannot start \`${cmd}\`: ${e.code === 'ENOENT' ? 'no such file' : e.message}; check that it is installed`, { cause: e }));
    });
    started.once('close', (code, signal) => {
      // A signal that came with the command's end (a Ctrl-C reaches the whole process group)
      // may wait in libuv's signal pipe until the next poll: two turns of the loop take it in,
      // so that `forwarded` says it (PRoot reports a signalled command as 255).
      setImmediate(() =>
        setImmediate(() => {
          cleanup();
          resolve({ code: exitCode(code, signal), forwarded });
        }),
      );
    });
  });
}

function kill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Pids whose parent is `pid` (via /proc/PID/task/PID/children, else a scan of /proc). */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);
  } catch {
    const out: number[] = [];
    for (const name of safeReaddir('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === pid) out.push(Number(name));
      } catch {
        // raced with exit
      }
    }
    return out;
  }
}

/** Whether `p` is a directory, or a link to one. */
export function isDirectoryPath(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The names in `dir`, or none when it cannot be read. */
export function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------------------------------------
// The view: which host directories appear where inside the container

/** Host directories shown in the container, in mount order, and the working directory inside. */
export interface Shares {
  readonly binds: readonly Bind[];
  readonly cwd: string;
}

/** Resolved network choice: whether the command keeps the host network. */
export function sharesNetwork(spec: RunSpec): boolean {
  return spec.network ?? !spec.isolate;
}

/**
 * Why an engine that shares the host network and cannot make binds read-only (PRoot,
 * Charliecloud) must refuse `spec`, or undefined when it can run it. `who` and `cannotCut`
 * word the reason for that engine.
 */
export function sharedNetworkWritableBinds(spec: RunSpec, who: string, cannotCut: string): Availability | undefined {
  // --container without --network asks for no network.
  if (!sharesNetwork(spec)) return { ok: false, reason: `${cannotCut} (--container without --network); use userns or podman, or add --network` };
  const ro = (spec.binds ?? []).find((b) => !b.writable && !b.storeItem);
  if (ro) return { ok: false, reason: `${who} cannot make the bind of ${ro.source} read-only; use --share, or userns` };
  return undefined;
}

/**
 * Where an isolated run (`--container`) gets a private, empty, writable directory: its `$HOME`,
 * when that is an absolute path outside the directories the engine mounts itself and the
 * store. Undefined otherwise (no HOME, `/`, a relative one, one holding the store), and where
 * `shown` (the working directory's and the --expose/--share binds) shows a host directory at
 * `$HOME` or above it: the user asked to see that directory, `$HOME` included, and every engine
 * then shows it so (run from `/home` or from `$HOME` itself).
 */
export function privateHome(spec: RunSpec, shown: readonly Bind[]): string | undefined {
  const home = spec.env['HOME'];
  if (!home || !posix.isAbsolute(home)) return undefined;
  const h = posix.normalize(home).replace(/\/+$/, '');
  const inside = (dir: string): boolean => h === dir || h.startsWith(dir + '/');
  if (h === '' || h === '/' || h === '/tmp' || ['/proc', '/sys', '/dev', '/etc', spec.storeDir].some(inside)) return undefined;
  // A store inside $HOME (TSDSL_STORE_DIR=~/tsdsl/store on a machine without /tsdsl): an empty
  // $HOME would hide it, and with it every program of the closure.
  if (spec.storeDir.startsWith(h + '/')) return undefined;
  if (shown.some((b) => b.target === h || h.startsWith(b.target.replace(/\/+$/, '') + '/'))) return undefined;
  return h;
}

/**
 * The host directories a spec shows inside the container: `$HOME` (unless isolated), the working
 * directory, then `spec.binds`. Drops a directory already visible at the same path through an
 * earlier one; checks every source exists. The working directory is bound when it exists on the
 * host; a path that exists only inside the root is used as is.
 */
export function planShares(spec: RunSpec, host: Host, options: { home?: boolean } = {}): Shares {
  const binds: Bind[] = [];
  const add = (b: Bind): void => {
    if (!posix.isAbsolute(b.target)) throw new TsdslError(`bind target \`${b.target}\` is not an absolute path; write it as /path inside the container`);
    if (!existsSync(b.source)) throw new TsdslError(`bind source \`${b.source}\` does not exist on this host; create it or fix the --expose/--share argument`);
    const target = posix.normalize(b.target);
    const source = realpathSafe(b.source);
    if (target === '/') throw new TsdslError(`cannot bind \`${b.source}\` over the container's root; choose a target below /`);
    const same = binds.findIndex((x) => x.target === target);
    if (same >= 0) binds.splice(same, 1); // a later bind at the same place wins (--expose $PWD makes it read-only)
    else if (visibleThrough(binds, source, target, b.writable)) return;
    binds.push({ source, target, writable: b.writable });
  };
  if (!spec.isolate && options.home !== false && host.home && host.home !== '/' && existsSync(host.home)) {
    add({ source: host.home, target: host.home, writable: true });
  }
  const cwd = posix.normalize(spec.cwd ?? process.cwd());
  if (!posix.isAbsolute(cwd)) throw new TsdslError(`working directory \`${cwd}\` is not absolute; pass an absolute path`);
  if (cwd !== '/' && existsSync(cwd)) add({ source: cwd, target: cwd, writable: true });
  else if (cwd !== '/' && !resolveInView(spec.root, binds, cwd)) {
    throw new TsdslError(`working directory \`${cwd}\` exists neither on this host nor inside the root ${spec.root}; cd to an existing directory or pass another cwd`);
  }
  for (const b of spec.binds ?? []) {
    add(b);
    // A bind over a directory holding the working directory would hide it (the command then
    // starts nowhere: unshare's "cannot chdir"), unless it shows the same host directory there.
    const target = posix.normalize(b.target);
    if (cwd.startsWith(`${target}/`) && existsSync(cwd) && posix.join(realpathSafe(b.source), posix.relative(target, cwd)) !== realpathSafe(cwd)) {
      const flag = b.writable ? '--share' : '--expose';
      throw new TsdslError(`${flag}=${b.source}=${target} would hide the working directory ${cwd}, which is inside ${target}; run from another directory, or bind at another target (${flag}=${b.source}=/data)`);
    }
  }
  return { binds, cwd };
}

function realpathSafe(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/** Whether `target` (showing host `source`) is already visible at that path, with that mode, through an earlier bind. */
function visibleThrough(binds: readonly Bind[], source: string, target: string, writable: boolean): boolean {
  for (const b of binds) {
    if (b.writable !== writable) continue;
    const rel = posix.relative(b.target, target);
    if (rel.startsWith('..') || posix.isAbsolute(rel)) continue;
    if (posix.join(b.source, rel) === source) return true;
  }
  return false;
}

/** The host path behind a container path: the longest bind target that contains it wins, else the root. */
export function hostPathOf(root: string, binds: readonly Bind[], path: string): string {
  let best: Bind | undefined;
  for (const b of binds) {
    if ((path === b.target || path.startsWith(b.target + '/')) && (!best || b.target.length > best.target.length)) best = b;
  }
  return best ? join(best.source, path.slice(best.target.length)) : join(root, path);
}

/**
 * Resolves a container path to the host file behind it, following symlinks the way the kernel
 * would after chroot (absolute links restart at the container's root). Undefined if it does not
 * exist.
 */
export function resolveInView(root: string, binds: readonly Bind[], path: string, hops = 0): string | undefined {
  const parts = posix.normalize(path).split('/').filter(Boolean);
  let cur = '/';
  for (let i = 0; i < parts.length; i++) {
    const next = posix.join(cur, parts[i]!);
    const hp = hostPathOf(root, binds, next);
    let st;
    try {
      st = lstatSync(hp);
    } catch {
      // A directory on the way to a bind the root lacks (a working directory under /tmp): the
      // engine makes it as the bind's mount point.
      if (binds.some((b) => b.target.startsWith(`${next}/`))) {
        cur = next;
        continue;
      }
      return undefined;
    }
    if (st.isSymbolicLink()) {
      if (hops > 40) return undefined;
      const target = readlinkSync(hp);
      const rest = parts.slice(i + 1).join('/');
      return resolveInView(root, binds, posix.resolve(target.startsWith('/') ? '/' : cur, target, rest), hops + 1);
    }
    cur = next;
  }
  return hostPathOf(root, binds, cur);
}

/**
 * Whether the root carries its own `/etc` file at `path` (passwd, group, hosts, resolv.conf), so
 * an engine leaves it be rather than showing a generated or the host's one. An empty file is not
 * one: Charliecloud's runs leave such files in an unpacked pack as mount points, and a later run
 * with another engine would otherwise find no user and no host names.
 */
export function carriesEtcFile(root: string, path: string): boolean {
  const hp = resolveInView(root, [], path);
  if (hp === undefined) return false;
  try {
    const st = statSync(hp);
    return !st.isFile() || st.size > 0;
  } catch {
    return false;
  }
}

/**
 * Checks the command can be found inside the container before any engine starts, so a typo is
 * one clear sentence rather than an exec failure deep in a namespace. `extra` names what the
 * engine itself shows besides the shares (the host's /tmp, say).
 */
export function checkCommand(spec: RunSpec, shares: Shares, extra: readonly Bind[] = []): void {
  const view = [...extra, ...shares.binds];
  const argv0 = spec.command[0];
  if (argv0 === undefined || argv0 === '') throw new TsdslError('no command to run; give one after `--`');
  const isFile = (p: string | undefined): boolean => {
    if (!p) return false;
    try {
      return statSync(p).isFile();
    } catch {
      return false;
    }
  };
  const where = spec.isolate ? 'inside the container' : 'where the command runs';
  // A program found must also find its loader there: a prebuilt binary names the FHS one.
  // So must a script its `#!` interpreter.
  const loaderFound = (hostPath: string, logical: string): void => {
    let interpreter: string | undefined;
    try {
      interpreter = readElf(hostPath)?.interpreter;
      if (interpreter === undefined) {
        const head = Buffer.alloc(256);
        const fd = openSync(hostPath, 'r');
        let n: number;
        try {
          n = readSync(fd, head, 0, head.length, 0);
        } finally {
          closeSync(fd);
        }
        const line = head.subarray(0, n).toString('latin1');
        const script = /^#!\s*(\/\S+)/.exec(line)?.[1];
        if (script !== undefined && !isFile(resolveInView(spec.root, view, script))) {
          throw new TsdslError(
            `command \`${argv0}\` (${logical}) is a script for ${script}, which is not ${where} (root ${spec.root}); ` +
              (spec.isolate
                ? 'add the package that provides it (bash provides /bin/sh: in a pack made with -S /bin=bin, or added to `tsdsl shell -C`), or run it without -C'
                : 'add the package that provides it to the pack (bash provides /bin/sh, in a pack made with -S /bin=bin)'),
            { exitCode: 126 },
          );
        }
        return;
      }
    } catch (e) {
      if (isTsdslError(e)) throw e;
      return; // unreadable here: the engine will say
    }
    if (isFile(resolveInView(spec.root, view, interpreter))) return;
    throw new TsdslError(
      `command \`${argv0}\` (${logical}) asks for the loader ${interpreter}, which is not ${where} (root ${spec.root}): it is a prebuilt binary made for ` +
        "another system's layout (the toolchain's Debian packages are); run a package built here from source, or run it where that loader is (without -C on a host like Debian 12)",
      { exitCode: 126 },
    );
  };
  // A file without an execute bit, as a shell says it (exit 126), not as the engine's exec error.
  const executable = (p: string): boolean => (statSync(p).mode & 0o111) !== 0;
  const notExecutable = (shown: string): TsdslError =>
    new TsdslError(`command \`${argv0}\` (${shown}) is not executable (no x permission); chmod +x it, or run it through its interpreter (\`-- sh ${argv0}\`)`, { exitCode: 126 });
  if (argv0.includes('/')) {
    const abs = posix.resolve(shares.cwd, argv0);
    const host = resolveInView(spec.root, view, abs);
    if (!isFile(host)) {
      throw new TsdslError(`command \`${argv0}\` does not exist ${where} (root ${spec.root}); check the path or the pack's contents`, { exitCode: 127 });
    }
    if (!executable(host!)) throw notExecutable(abs);
    loaderFound(host!, abs);
    return;
  }
  const path = spec.env['PATH'] ?? '/bin:/usr/bin';
  // As a shell searches: a file that cannot be run is passed over, and said if nothing else is found.
  let unrunnable: string | undefined;
  for (const dir of path.split(':')) {
    const d = dir === '' ? shares.cwd : posix.resolve(shares.cwd, dir);
    const host = resolveInView(spec.root, view, posix.join(d, argv0));
    if (!isFile(host)) continue;
    if (executable(host!)) return loaderFound(host!, posix.join(d, argv0));
    unrunnable ??= posix.join(d, argv0);
  }
  if (unrunnable !== undefined) throw notExecutable(unrunnable);
  const names = new Set<string>();
  for (const dir of path.split(':')) {
    const hp = resolveInView(spec.root, view, posix.resolve(shares.cwd, dir || '.'));
    if (hp) for (const n of safeReaddir(hp)) names.add(n);
  }
  // `sh` alone is what runs when no command is given: the pack has no shell.
  const fix =
    argv0 === 'sh' && spec.command.length === 1
      ? 'there is no shell to start: give the command to run after `--` (`-- lstopo-no-graphics`), or add bash to what you pack'
      : 'add the package that provides it or give an absolute path';
  throw new TsdslError(
    `command \`${argv0}\` not found in PATH=${path} ${where} (root ${spec.root})${didYouMean(argv0, names)}; ${fix}`,
    // 127, as a shell's "command not found".
    { exitCode: 127 },
  );
}

/** Fails with one sentence if the root directory is missing. */
export function checkRoot(spec: RunSpec): void {
  let st;
  try {
    st = statSync(spec.root);
  } catch {
    throw new TsdslError(`root directory ${spec.root} does not exist; unpack the pack there first`);
  }
  if (!st.isDirectory()) throw new TsdslError(`root ${spec.root} is not a directory; pass the directory the pack was unpacked into`);
  if (!posix.isAbsolute(spec.storeDir)) throw new TsdslError(`store directory \`${spec.storeDir}\` is not absolute; it should look like /tsdsl/store`);
}

/** /etc/passwd and /etc/group lines for the caller (and root, nobody), for roots that carry none. */
export function passwdFiles(host: Host, uid = host.uid, gid = host.gid): { passwd: string; group: string } {
  const name = host.user.replace(/[:\n]/g, '_');
  const passwd = [`root:x:0:0:root:/root:/bin/sh`];
  const group = [`root:x:0:`];
  if (uid !== 0) passwd.push(`${name}:x:${uid}:${gid}::${host.home}:/bin/sh`);
  if (gid !== 0) group.push(`${name}:x:${gid}:`);
  passwd.push('nobody:x:65534:65534:nobody:/nonexistent:/bin/false');
  group.push('nogroup:x:65534:');
  return { passwd: passwd.join('\n') + '\n', group: group.join('\n') + '\n' };
}

// ---------------------------------------------------------------------------------------------
// The table

/** Engine names in the order `auto` tries them; see `runEngines`. */
export const ENGINE_ORDER = ['userns', 'charliecloud', 'apptainer', 'singularity', 'podman', 'docker', 'proot'] as const;

/**
 * Every engine, in the order `auto` tries them:
 *
 * 1. `userns` — needs only util-linux and unprivileged user namespaces; no daemon, no image, no
 *    steady-state overhead, a few milliseconds to start, keeps your uid.
 * 2. `charliecloud` — the HPC centres' unprivileged runtime, same namespaces; runs the unpacked
 *    directory but adds CH_RUNNING to the environment and needs mount points in the image.
 * 3. `apptainer`, 4. `singularity` — ubiquitous on clusters, often installed setuid, so they work
 *    where user namespaces are off; want a squashfs/SIF image.
 * 5. `podman`, 6. `docker` — image load plus container set-up cost ~0.5 s per run, add HOSTNAME;
 *    docker needs a daemon and root-owned infrastructure.
 * 7. `proot` — last: works with no namespaces at all, but traps every system call (100× and more
 *    per syscall) and Debian's 5.1.0 breaks statx (coreutils `ls`/`stat`).
 */
export function runEngines(host: Host = currentHost()): readonly RunEngine[] {
  return [
    usernsEngine(host),
    charliecloudEngine(host),
    apptainerEngine(host, 'apptainer'),
    apptainerEngine(host, 'singularity'),
    podmanEngine(host),
    dockerEngine(host),
    prootEngine(host),
  ];
}

/** An engine's verdict during `auto`'s walk. */
export interface EngineVerdict {
  readonly name: string;
  readonly ok: boolean;
  readonly reason?: string;
}

/**
 * The first engine that is available and accepts the spec, with the verdicts of those tried
 * before it; throws a TsdslError listing every engine and why it cannot run when none can.
 */
export async function chooseEngine(
  spec: RunSpec | undefined,
  engines: readonly RunEngine[] = runEngines(),
): Promise<{ engine: RunEngine; tried: EngineVerdict[] }> {
  const tried: EngineVerdict[] = [];
  for (const engine of engines) {
    // A probe that fails outright rules that engine out, as --explain reports it; the next is tried.
    let a: Availability;
    try {
      a = await engine.available();
    } catch (err) {
      a = { ok: false, reason: `probing it failed: ${(err as Error).message}` };
    }
    if (!a.ok) {
      tried.push({ name: engine.name, ok: false, reason: a.reason });
      continue;
    }
    const fit = spec && engine.accepts ? engine.accepts(spec) : { ok: true as const };
    if (!fit.ok) {
      tried.push({ name: engine.name, ok: false, reason: fit.reason });
      continue;
    }
    return { engine, tried };
  }
  const width = Math.max(...tried.map((t) => t.name.length));
  throw new TsdslError(
    `no run engine can run this on this host; here is why for each (run \`tsdsl run --explain\` for details):\n` +
      tried.map((t) => `  ${t.name.padEnd(width)}  ${t.reason}`).join('\n'),
  );
}

/** The `auto` engine: the first of `engines` (default: all, in ENGINE_ORDER) that can run the spec. */
export function autoEngine(host: Host = currentHost(), engines: readonly RunEngine[] = runEngines(host)): RunEngine {
  return {
    name: 'auto',
    description: `the first engine that works here, trying ${engines.map((e) => e.name).join(', ')} in that order`,
    async available() {
      try {
        const { engine } = await chooseEngine(undefined, engines);
        return { ok: true, detail: `would use ${engine.name}` };
      } catch (e) {
        return { ok: false, reason: (e as Error).message };
      }
    },
    async run(spec, opts) {
      const { engine } = await chooseEngine(spec, engines);
      return engine.run(spec, opts);
    },
  };
}

/** Every engine name `findEngine` knows, `auto` first. */
export function engineNames(): string[] {
  return ['auto', ...ENGINE_ORDER];
}

/** The engine called `name` (`auto` included); a TsdslError with close names otherwise. */
export function findEngine(name: string, host: Host = currentHost()): RunEngine {
  if (name === 'auto') return autoEngine(host);
  const alias = name === 'unshare' ? 'userns' : name === 'ch-run' ? 'charliecloud' : name;
  const engine = runEngines(host).find((e) => e.name === alias);
  if (!engine) {
    throw new TsdslError(`unknown run engine \`${name}\`${didYouMean(name, engineNames())} (engines: ${engineNames().join(', ')}; \`tsdsl run --explain\` says which work here)`);
  }
  return engine;
}
