/**
 * The `userns` run engine: Linux user + mount namespaces through util-linux `unshare`, the
 * cheapest faithful way to run a closure without root (what Guix's `pack -R` wrappers and
 * nix-user-chroot do). Node builds a skeleton root in a private scratch directory (on a tmpfs
 * when there is one) — mount points, device placeholders, the root's symlinks, generated /etc
 * files — and writes one fstab; inside the namespace a single `mount -a` binds the closure
 * (read-only), /proc, /sys, the devices, /tmp, $HOME and the working directory into it, `env -i`
 * sets the exact environment, and `unshare --root` chroots and execs the command: unshare, sh,
 * mount, env, unshare — about 12 ms here, no daemon, no image, no steady-state overhead.
 *
 * The caller's uid stays visible: after mounting as the namespace's root, a nested user
 * namespace maps the real uid back (machine-facts A3). util-linux before 2.38 has no
 * `--map-user`; there the command runs as the root-mapped uid 0 (and before 2.36, which has no
 * `unshare --root`, chroots with `nsenter --root`).
 *
 * Not isolated: the command is the process tsdsl started (after the execs), so signals, exit
 * codes and the terminal behave natively; /proc, /dev/shm, /tmp and the network are the host's.
 * Isolated: PID, IPC, UTS and network namespaces too, a fresh /proc, tmpfs /tmp and /dev/shm; a
 * small shell init (PID 1) forwards signals to the command, which is not PID 1 and so keeps the
 * default signal dispositions.
 */
import { lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync, accessSync, constants as fsConstants } from 'node:fs';
import { join, posix } from 'node:path';
import { TsdslError } from '../errors.js';
import {
  type Availability,
  type Bind,
  type Host,
  type RunEngine,
  type RunOptions,
  type RunSpec,
  checkCommand,
  checkRoot,
  childrenOf,
  currentHost,
  lastLine,
  launch,
  missingBinary,
  carriesEtcFile,
  passwdFiles,
  planShares,
  privateHome,
  probe,
  resolveInView,
  runScratch,
  SCRATCH_PREFIXES,
  safeReaddir,
  sharesNetwork,
  which,
} from './engines.js';

/** Options of the userns engine. */
export interface UsernsOptions {
  /** Keep the caller's uid inside (nested user namespace); default true where util-linux can. */
  readonly keepUid?: boolean;
  /** Pretend the host's `unshare` lacks features (tests of the fallbacks for old util-linux). */
  readonly unshare?: Partial<Pick<UnshareFeatures, 'mapUser' | 'root'>>;
}

// ---------------------------------------------------------------------------------------------
// Kernel switches and trials (shared with charliecloud, podman and apptainer, which also need
// unprivileged user namespaces)

function readSysctl(host: Host, rel: string): number | undefined {
  try {
    const v = Number(readFileSync(join(host.procSys, rel), 'utf8').trim());
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The sysctl values that decide whether unprivileged user namespaces work (undefined: file absent). */
export function usernsSysctls(host: Host): Record<string, number | undefined> {
  return {
    'user.max_user_namespaces': readSysctl(host, 'user/max_user_namespaces'),
    'user.max_mnt_namespaces': readSysctl(host, 'user/max_mnt_namespaces'),
    'kernel.unprivileged_userns_clone': readSysctl(host, 'kernel/unprivileged_userns_clone'),
    'kernel.apparmor_restrict_unprivileged_userns': readSysctl(host, 'kernel/apparmor_restrict_unprivileged_userns'),
  };
}

/**
 * What in `/proc/sys` forbids unprivileged user namespaces, one sentence each with the fix;
 * empty when nothing does.
 */
export function usernsBlockers(host: Host): string[] {
  const s = usernsSysctls(host);
  const out: string[] = [];
  if (s['user.max_user_namespaces'] === 0) {
    out.push('user namespaces disabled: sysctl user.max_user_namespaces=0; fix: sysctl -w user.max_user_namespaces=15000');
  }
  if (s['user.max_mnt_namespaces'] === 0) {
    out.push('mount namespaces disabled: sysctl user.max_mnt_namespaces=0; fix: sysctl -w user.max_mnt_namespaces=15000');
  }
  if (host.uid !== 0 && s['kernel.unprivileged_userns_clone'] === 0) {
    out.push('unprivileged user namespaces disabled: sysctl kernel.unprivileged_userns_clone=0; fix: sysctl -w kernel.unprivileged_userns_clone=1');
  }
  if (host.uid !== 0 && s['kernel.apparmor_restrict_unprivileged_userns'] === 1) {
    out.push(
      'AppArmor restricts unprivileged user namespaces: sysctl kernel.apparmor_restrict_unprivileged_userns=1; fix: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (or an AppArmor profile that allows userns for unshare)',
    );
  }
  return out;
}

/** What this host's util-linux `unshare` can do (parsed from `--help`, cached per binary). */
export interface UnshareFeatures {
  readonly version: string;
  /** `--map-user`/`--map-group` (util-linux ≥ 2.38): needed to keep the caller's uid. */
  readonly mapUser: boolean;
  /** `--root`/`--wd` (util-linux ≥ 2.36). */
  readonly root: boolean;
  readonly killChild: boolean;
}

const featureCache = new Map<string, UnshareFeatures>();

/** Parses `unshare --help` and `--version` once per binary. */
export function unshareFeatures(unshare: string): UnshareFeatures {
  const cached = featureCache.get(unshare);
  if (cached) return cached;
  const help = probe([unshare, '--help'], { timeoutMs: 5000 }).stdout;
  const version = /(\d+\.\d+(?:\.\d+)?)/.exec(probe([unshare, '--version'], { timeoutMs: 5000 }).stdout)?.[1] ?? 'unknown';
  const f = { version, mapUser: help.includes('--map-user'), root: help.includes('--root'), killChild: help.includes('--kill-child') };
  featureCache.set(unshare, f);
  return f;
}

const defaultSignalCache = new Map<string, boolean>();

/**
 * True when this `env` has `--default-signal` (coreutils ≥ 8.31). An isolated run starts the
 * command from its init shell as a background job, which a shell starts with SIGINT and SIGQUIT
 * ignored (and which the command could then not even trap): env puts them back to default.
 */
export function envResetsSignals(env: string): boolean {
  let ok = defaultSignalCache.get(env);
  if (ok === undefined) defaultSignalCache.set(env, (ok = probe([env, '--default-signal=INT,QUIT', 'true'], { timeoutMs: 5000 }).status === 0));
  return ok;
}

/**
 * An actual trial: create a user + mount namespace and mount a tmpfs in it (what AppArmor's
 * restriction forbids even when the namespace itself is created), then, where util-linux can,
 * a nested namespace mapping the caller's uid back. Never throws.
 */
export function usernsTrial(host: Host): { ok: boolean; reason?: string; keepUid: boolean } {
  const unshare = which(host, 'unshare');
  const mount = which(host, 'mount');
  if (!unshare) return { ok: false, reason: missingBinary(host, 'unshare', 'install util-linux'), keepUid: false };
  if (!mount) return { ok: false, reason: missingBinary(host, 'mount', 'install util-linux (mount)'), keepUid: false };
  const env = { PATH: host.path };
  const t = probe([unshare, '--user', '--map-root-user', '--mount', '--', mount, '-n', '-t', 'tmpfs', 'tsdsl-trial', host.tmpdir], { env });
  if (!t.ok) return { ok: false, reason: `\`unshare --user --map-root-user --mount\` + mount fails here: ${lastLine(t.stderr)}`, keepUid: false };
  const features = unshareFeatures(unshare);
  if (!features.mapUser || host.uid === 0) return { ok: true, keepUid: false };
  const tru = which(host, 'true') ?? '/bin/true';
  const n = probe([unshare, '--user', '--map-root-user', '--mount', '--', unshare, '--user', `--map-user=${host.uid}`, `--map-group=${host.gid}`, '--', tru], { env });
  return { ok: true, keepUid: n.ok, ...(n.ok ? {} : { reason: `nested user namespace fails: ${lastLine(n.stderr)}` }) };
}

/**
 * Availability of unprivileged user namespaces from both sources: the sysctls (which say why and
 * how to fix it) and a trial (which says whether it really works). Used by every engine that
 * relies on them.
 */
export function usernsAvailability(host: Host): Availability & { keepUid?: boolean } {
  const blockers = usernsBlockers(host);
  const trial = usernsTrial(host);
  if (blockers.length > 0) {
    const confirm = trial.ok
      ? ' (yet a trial `unshare --user` succeeded: the sysctls read may belong to another namespace)'
      : trial.reason
        ? ` (confirmed by a trial: ${trial.reason})`
        : '';
    return { ok: false, reason: blockers.join('; ') + confirm };
  }
  if (!trial.ok) {
    return {
      ok: false,
      reason: `${trial.reason}; /proc/sys allows user namespaces, so a seccomp filter, an LSM or the container this runs in forbids them — fix: run outside that container or allow unshare(CLONE_NEWUSER)`,
    };
  }
  return { ok: true, keepUid: trial.keepUid };
}

// ---------------------------------------------------------------------------------------------
// The skeleton root and its fstab

interface MountLine {
  readonly source: string;
  readonly target: string;
  readonly type: string;
  readonly options: string;
}

/** fstab fields escape blanks and backslashes as octal, like /proc/mounts. */
function fstabEscape(s: string): string {
  return s.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

function fstabUnescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount flags a read-only remount must repeat: the kernel locks them in a user namespace. */
class MountTable {
  private entries: Array<{ point: string; flags: string[] }> | undefined;

  lockedFlags(path: string): string[] {
    this.entries ??= this.read();
    let best: { point: string; flags: string[] } | undefined;
    for (const e of this.entries) {
      if ((path === e.point || path.startsWith(e.point === '/' ? '/' : e.point + '/')) && (!best || e.point.length >= best.point.length)) best = e;
    }
    return best ? best.flags.filter((f) => ['noexec', 'noatime', 'nodiratime', 'strictatime'].includes(f)) : [];
  }

  private read(): Array<{ point: string; flags: string[] }> {
    try {
      return readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const f = line.split(' ');
          return { point: fstabUnescape(f[4] ?? '/'), flags: (f[5] ?? '').split(',') };
        });
    } catch {
      return [];
    }
  }
}

/** Device nodes every container gets (bound from the host: no mknod in a user namespace). */
const BASIC_DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'ptmx'];
/** Host devices HPC codes need (interconnects, GPUs, huge pages), shown when not isolated. */
const HPC_DEVICES = /^(infiniband|dri|hugepages|nvidia.*|kfd|hfi1_\d+|cxi\d+|ipath.*|knem|xpmem)$/;

interface Skeleton {
  readonly work: string;
  /** The run's options, which record the command as a user of `work`. */
  readonly opts: RunOptions;
  readonly rootfs: string;
  readonly fstab: string;
  /**
   * Files bound inside a tmpfs of the run (the isolated /tmp, $HOME): their mount points, one per line,
   * made once the first fstab is mounted, then `fstabAfter` (the binds) is; empty when none.
   */
  readonly mountPoints: string;
  readonly fstabAfter: string;
}

/**
 * Where per-run scratch directories go: a tmpfs when one is at hand — $XDG_RUNTIME_DIR (per user),
 * else /dev/shm — because the skeleton is a few dozen inodes made and removed on every run, and on
 * a disk file system (ext4 on a virtual disk here) each costs ~0.3–0.6 ms; else TMPDIR.
 */
export function scratchParent(host: Host): string {
  for (const dir of [host.env['XDG_RUNTIME_DIR'], '/dev/shm']) {
    if (!dir) continue;
    try {
      accessSync(dir, fsConstants.W_OK | fsConstants.X_OK);
      if (statSync(dir).isDirectory()) return dir;
    } catch {
      // next
    }
  }
  return host.tmpdir;
}

/**
 * Builds the skeleton root for one run and the fstab that fills it. Everything that can be done
 * without privilege happens here, in Node (cheap syscalls, no execs): directories, placeholder
 * files for bound files, the root's symlinks, generated /etc files.
 */
function buildSkeleton(spec: RunSpec, host: Host, binds: readonly Bind[], network: boolean, runOpts: RunOptions): Skeleton {
  const { dir: work, opts } = runScratch(scratchParent(host), SCRATCH_PREFIXES.userns, runOpts);
  try {
    return { ...fillSkeleton(spec, host, binds, network, work), opts };
  } catch (e) {
    // Nothing is mounted yet (that happens in the run's namespace): the scratch directory goes
    // now rather than waiting for the next run or `gc --packs` to take it for a killed run's.
    rmSync(work, { recursive: true, force: true });
    throw e;
  }
}

/** buildSkeleton's work in its scratch directory `work`. */
function fillSkeleton(spec: RunSpec, host: Host, binds: readonly Bind[], network: boolean, work: string): Omit<Skeleton, 'opts'> {
  const isolate = spec.isolate === true;
  const rootfs = join(work, 'root');
  mkdirSync(rootfs, { mode: 0o755 });
  const lines: MountLine[] = [];
  const table = new MountTable();
  const at = (p: string): string => join(rootfs, p);
  const mountedTargets: string[] = [];
  const bind = (source: string, target: string, o: { rec?: boolean; ro?: boolean; mkdir?: boolean } = {}): void => {
    const opts = [o.rec === false ? 'bind' : 'rbind'];
    if (o.ro) opts.push('ro', 'nosuid', 'nodev', ...table.lockedFlags(source));
    if (o.mkdir) opts.push('X-mount.mkdir');
    lines.push({ source, target: at(target), type: 'none', options: opts.join(',') });
    mountedTargets.push(target);
  };
  const placeholder = (target: string, isDir: boolean): void => {
    const p = at(target);
    mkdirSync(posix.dirname(p), { recursive: true, mode: 0o755 });
    if (isDir) mkdirSync(p, { recursive: true, mode: 0o755 });
    else writeFileSync(p, '', { mode: 0o644, flag: 'a' });
  };
  const isDir = (p: string): boolean => {
    try {
      return statSync(p).isDirectory();
    } catch {
      return false;
    }
  };

  // Generated /etc files, for roots that carry none: the user's name, and host name resolution
  // when the network is shared.
  const etc: Array<{ target: string; content?: string; source?: string }> = [];
  const inRoot = (p: string): boolean => carriesEtcFile(spec.root, '/' + p);
  const pw = passwdFiles(host, host.uid, host.gid);
  if (!inRoot('etc/passwd')) etc.push({ target: '/etc/passwd', content: pw.passwd });
  if (!inRoot('etc/group')) etc.push({ target: '/etc/group', content: pw.group });
  if (network) {
    for (const f of ['/etc/resolv.conf', '/etc/hosts']) if (!inRoot(f.slice(1)) && existsFile(f)) etc.push({ target: f, source: f });
  }

  // What the skeleton reserves: the root's own entries at these paths are replaced, and the
  // root's directories above them are rebuilt entry by entry.
  // Isolated, $HOME is a private, empty and writable directory (as Apptainer's --containall and
  // `guix shell -C` give): programs that keep caches or settings there run.
  const home = isolate ? privateHome(spec, binds) : undefined;
  const reserved = ['/tmp', '/proc', '/sys', '/dev', ...(home && !home.startsWith('/tmp/') ? [home] : []), ...etc.map((e) => e.target), ...binds.map((b) => b.target)];

  const tmpfs = (target: string, mode = '1777', mkdir = false): void => {
    lines.push({ source: 'tmpfs', target: at(target), type: 'tmpfs', options: `mode=${mode},nosuid,nodev${mkdir ? ',X-mount.mkdir' : ''}` });
    mountedTargets.push(target);
  };

  // 1. /tmp first, so the host /tmp bound here does not carry the mounts made below; isolated, a
  //    fresh tmpfs (a scratch directory on /dev/shm might be noexec).
  placeholder('/tmp', true);
  if (isolate) tmpfs('/tmp');
  else bind('/tmp', '/tmp');

  // 2. The root, read-only, entry by entry (its symlinks copied). A directory (or a link to one)
  //    above a reserved path is rebuilt from its entries instead of bound whole.
  const rootReal = realpathSync(spec.root);
  const merge = (hostDir: string, dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(hostDir).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const cpath = posix.join(dir, name);
      if (reserved.includes(cpath)) continue;
      const hp = join(hostDir, name);
      const st = lstatSync(hp);
      if (reserved.some((r) => r.startsWith(cpath + '/'))) {
        const real = st.isSymbolicLink() ? resolveInView(rootReal, [], cpath) : hp;
        if (real && isDir(real)) {
          mkdirSync(at(cpath), { mode: 0o755 });
          merge(real, cpath);
        }
        continue;
      }
      if (st.isSymbolicLink()) symlinkSync(readlinkSync(hp), at(cpath));
      else if (st.isDirectory()) {
        mkdirSync(at(cpath), { mode: 0o755 });
        bind(hp, cpath, { ro: true });
      } else if (st.isFile()) {
        writeFileSync(at(cpath), '', { mode: 0o644 });
        bind(hp, cpath, { rec: false, ro: true });
      }
    }
  };
  merge(rootReal, '/');

  // 3. /proc: the host's; a fresh one is mounted by the init script when isolated.
  placeholder('/proc', true);
  if (!isolate) bind('/proc', '/proc');

  // 4. /sys.
  placeholder('/sys', true);
  bind('/sys', '/sys', { ro: isolate });

  // 5. /dev: a plain directory (mode 0755: a sticky tmpfs would trip may_create_in_sticky on
  //    the bound nodes, machine-facts A1) with the host's nodes bound onto placeholders.
  placeholder('/dev', true);
  for (const d of BASIC_DEVICES) {
    if (!existsFile(`/dev/${d}`)) continue;
    placeholder(`/dev/${d}`, false);
    bind(`/dev/${d}`, `/dev/${d}`, { rec: false });
  }
  placeholder('/dev/pts', true);
  if (isDir('/dev/pts')) bind('/dev/pts', '/dev/pts', { rec: false });
  placeholder('/dev/shm', true);
  if (isolate) tmpfs('/dev/shm');
  else {
    if (isDir('/dev/shm')) bind('/dev/shm', '/dev/shm');
    for (const name of safeReaddir('/dev')) {
      if (!HPC_DEVICES.test(name)) continue;
      const dir = isDir(`/dev/${name}`);
      placeholder(`/dev/${name}`, dir);
      bind(`/dev/${name}`, `/dev/${name}`, { rec: dir });
    }
  }
  symlinkSync('/proc/self/fd', at('/dev/fd'));
  symlinkSync('/proc/self/fd/0', at('/dev/stdin'));
  symlinkSync('/proc/self/fd/1', at('/dev/stdout'));
  symlinkSync('/proc/self/fd/2', at('/dev/stderr'));

  // 6. Generated /etc files.
  for (const e of etc) {
    placeholder(posix.dirname(e.target), true);
    if (e.content !== undefined) writeFileSync(at(e.target), e.content, { mode: 0o644 });
    else {
      placeholder(e.target, false);
      bind(e.source!, e.target, { rec: false, ro: true });
    }
  }

  // 7. $HOME, the working directory and --expose/--share binds. A target inside another mount
  //    gets its mount point made at mount time (X-mount.mkdir), in whatever is mounted there.
  //    Isolated, $HOME is a tmpfs of its own, mounted before the binds (the working directory may
  //    be inside it).
  const underMount = (target: string): boolean => mountedTargets.some((m) => target.startsWith(m === '/' ? '/' : m + '/'));
  if (home) {
    const under = underMount(home);
    if (!under) placeholder(home, true);
    // A file bound inside it (`--expose ~/.netrc=…`) gets its mount point made between the two
    // rounds of mounts below, as one in the isolated /tmp does.
    tmpfs(home, '0700', under);
  }
  const bindsFrom = lines.length;
  // A file bound inside a tmpfs mounted above (the isolated /tmp, $HOME) has no mount point
  // there, and X-mount.mkdir makes only directories: its mount point is made between two rounds
  // of mounts (`--expose ~/.netrc=…` failed with "mount point does not exist").
  const filePoints: string[] = [];
  for (const b of binds) {
    // Already visible through the host /tmp bound above (the working directory often is).
    if (!isolate && b.writable && b.target.startsWith('/tmp/') && b.source === b.target) continue;
    const under = underMount(b.target);
    const dir = isDir(b.source);
    if (!under) placeholder(b.target, dir);
    else if (!dir) {
      if (/[\n\r]/.test(b.target)) throw new TsdslError(`cannot bind ${b.source} at ${JSON.stringify(b.target)}: a line break in a path inside the container's /tmp or $HOME is not supported; choose another target`);
      filePoints.push(at(b.target));
    }
    bind(b.source, b.target, { rec: dir, ro: !b.writable, mkdir: under && dir });
  }

  const fstabText = (ls: readonly MountLine[]): string => ls.map((l) => `${fstabEscape(l.source)} ${fstabEscape(l.target)} ${l.type} ${l.options} 0 0\n`).join('');
  const fstab = join(work, 'fstab');
  if (filePoints.length === 0) {
    writeFileSync(fstab, fstabText(lines), { mode: 0o600 });
    return { work, rootfs, fstab, mountPoints: '', fstabAfter: '' };
  }
  writeFileSync(fstab, fstabText(lines.slice(0, bindsFrom)), { mode: 0o600 });
  const fstabAfter = join(work, 'fstab-binds');
  writeFileSync(fstabAfter, fstabText(lines.slice(bindsFrom)), { mode: 0o600 });
  const mountPoints = join(work, 'mount-points');
  writeFileSync(mountPoints, filePoints.map((p) => `${p}\n`).join(''), { mode: 0o600 });
  return { work, rootfs, fstab, mountPoints, fstabAfter };
}

function existsFile(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Removes a run's scratch directory — but only after checking that nothing is mounted below it
 * in this mount namespace (the mounts live in the run's own namespace; if one ever leaked here,
 * a recursive delete would walk into the bound directories).
 */
function removeSkeleton(work: string): void {
  let real = work;
  try {
    real = realpathSync(work);
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
    for (const line of mounts.split('\n')) {
      const point = fstabUnescape(line.split(' ')[4] ?? '');
      if (point === real || point.startsWith(real + '/')) return;
    }
  } catch {
    // nothing to remove, or mountinfo unreadable: delete only if it surely is ours
  }
  rmSync(real, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// The engine

/** Mount, then hand over to the chroot step — exec'd directly, or under a signal-forwarding init. */
const SETUP = [
  'fail() { echo "tsdsl: userns: $1" >&2; exit 125; }',
  'mounted="mounting the container\'s file systems failed (mount said why above)"',
  '"$1" -a -n -T "$2" || fail "$mounted"',
  // Files bound inside a tmpfs of the run: their mount points, then the binds.
  'if [ -n "$5" ]; then',
  '  while IFS= read -r f; do "$7" -p -- "${f%/*}" && : > "$f" || fail "cannot make the mount point $f"; done < "$5"',
  '  "$1" -a -n -T "$6" || fail "$mounted"',
  'fi',
  'if [ -n "$4" ]; then "$1" -n -t proc proc "$4" 2>/dev/null || "$1" -n --rbind /proc "$4" || exit 125; fi',
  'if [ -n "$3" ]; then "$3" link set lo up 2>/dev/null; fi',
  'shift 7',
].join('\n');

const EXEC = `${SETUP}\nexec "$@"`;

/** PID 1 of an isolated run: forwards signals to the command, exits with its status (128+n if signalled). */
const INIT = [
  SETUP,
  'for s in HUP INT QUIT TERM USR1 USR2; do trap "kill -$s \\$c 2>/dev/null" $s; done',
  'exec 3<&0',
  '"$@" 0<&3 3<&- &',
  'c=$!',
  // The shell's own word on the command's end ("Terminated" when a signal killed it) is not the
  // command's output: tsdsl's exit status (128+n) says it.
  'exec 3<&- 2>/dev/null',
  'while :; do wait "$c"; s=$?; kill -0 "$c" 2>/dev/null || exit "$s"; done',
].join('\n');

/** The `userns` engine on `host`. */
export function usernsEngine(host: Host = currentHost(), options: UsernsOptions = {}): RunEngine {
  const tools = (): { unshare: string; mount: string; sh: string; env: string; mkdir: () => string } => {
    const need = (name: string, fix: string): string => {
      const p = which(host, name);
      if (!p) throw new TsdslError(`engine userns: ${missingBinary(host, name, fix)}`);
      return p;
    };
    return {
      unshare: need('unshare', 'install util-linux'),
      mount: need('mount', 'install util-linux (mount)'),
      sh: which(host, 'sh') ?? need('dash', 'install a POSIX shell'),
      env: need('env', 'install coreutils'),
      // Only for files bound inside the isolated /tmp.
      mkdir: () => need('mkdir', 'install coreutils'),
    };
  };

  return {
    name: 'userns',
    description:
      'Linux user namespaces via util-linux unshare: binds the closure (read-only), /proc, /dev, /sys, /tmp, $HOME and the working directory into a private root and chroots; no overhead, keeps your uid (util-linux ≥ 2.38; root-mapped uid 0 before); PID/network namespaces when isolated',

    async available() {
      for (const [name, fix] of [
        ['unshare', 'install util-linux'],
        ['mount', 'install util-linux (mount)'],
        ['env', 'install coreutils'],
      ] as const) {
        if (!which(host, name)) return { ok: false, reason: missingBinary(host, name, fix) };
      }
      const a = usernsAvailability(host);
      if (!a.ok) return a;
      const f = unshareFeatures(which(host, 'unshare')!);
      const uid = host.uid === 0 ? 'running as real root' : a.keepUid ? 'keeps your uid (nested user namespace)' : 'runs as root-mapped uid 0';
      return { ok: true, detail: `util-linux ${f.version}; ${uid}` };
    },

    accepts(spec) {
      try {
        checkRoot(spec);
      } catch (e) {
        return { ok: false, reason: (e as Error).message };
      }
      return { ok: true };
    },

    async run(spec, opts = {}) {
      checkRoot(spec);
      const t = tools();
      const features = { ...unshareFeatures(t.unshare), ...options.unshare };
      const keepUid = (options.keepUid ?? true) && features.mapUser && features.root && host.uid !== 0;
      const nsenter = features.root ? undefined : which(host, 'nsenter');
      if (!features.root && !nsenter) {
        throw new TsdslError(`engine userns: util-linux ${features.version} has neither \`unshare --root\` (2.36) nor \`nsenter\`; fix: install a newer util-linux, or use --engine charliecloud or proot`);
      }
      const isolate = spec.isolate === true;
      const shares = planShares(spec, host);
      checkCommand(spec, shares, isolate ? [] : [{ source: '/tmp', target: '/tmp', writable: true }]);
      const network = sharesNetwork(spec);
      const ip = network ? '' : (which(host, 'ip') ?? ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find(existsFile) ?? '');

      const sk = buildSkeleton(spec, host, shares.binds, network, opts);
      try {
        const assignments = Object.entries(spec.env).map(([k, v]) => `${k}=${v}`);
        const chroot = features.root
          ? [
              t.unshare,
              ...(keepUid ? ['--user', `--map-user=${host.uid}`, `--map-group=${host.gid}`] : []),
              `--root=${sk.rootfs}`,
              `--wd=${shares.cwd}`,
              '--',
            ]
          : [nsenter!, `--root=${sk.rootfs}`, `--wd=${join(sk.rootfs, shares.cwd)}`, '--'];
        const argv = [
          t.unshare,
          '--user',
          '--map-root-user',
          '--mount',
          ...(network ? [] : ['--net']),
          ...(isolate ? ['--pid', '--fork', '--uts', '--ipc', ...(features.killChild ? ['--kill-child'] : [])] : []),
          '--',
          t.sh,
          '-c',
          isolate ? INIT : EXEC,
          'tsdsl-userns',
          t.mount,
          sk.fstab,
          ip,
          isolate ? join(sk.rootfs, 'proc') : '',
          sk.mountPoints,
          sk.fstabAfter,
          sk.mountPoints ? t.mkdir() : '',
          // `env -i` sets the command's environment exactly: a shell would add PWD and drop or
          // rewrite names it does not like (IFS, A-B, …).
          t.env,
          ...(isolate && envResetsSignals(t.env) ? ['--default-signal=INT,QUIT'] : []),
          '-i',
          '--',
          ...assignments,
          ...chroot,
          ...spec.command,
        ];
        const { code } = await launch(
          {
            argv,
            env: { PATH: host.path },
            stdio: spec.stdio ?? 'inherit',
            // `unshare --fork` blocks SIGINT/SIGTERM; its child is the init that forwards them.
            ...(isolate ? { signalTargets: childrenOf } : {}),
          },
          sk.opts,
        );
        return code;
      } finally {
        removeSkeleton(sk.work);
      }
    },
  };
}
