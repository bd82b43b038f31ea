/**
 * `run()`: the programmatic form of `tsdsl run` and `tsdsl shell`, and the one code path both
 * commands take. Give it a pack (a tarball, docker-archive or squashfs image made by `tsdsl pack`,
 * or a directory holding an unpacked one) or packages (built on demand, then made into a profile),
 * a command and an engine; it resolves to the command's exit status (128+n for signal n).
 *
 *   await run({ pack: 'hwloc-tarball-pack.tar.gz', command: ['lstopo-no-graphics'] })
 *   await run({ packages: ['hwloc'], command: ['lstopo-no-graphics'], container: true })
 *
 * Packs: a tarball is unpacked once into the per-user cache (unpack.ts) and held there while the
 * command runs, so `tsdsl gc --packs` cannot pull it away. The image engines take the images they
 * know as they are (podman/docker a docker-archive, apptainer/singularity a squashfs or SIF); every
 * other combination unpacks the image into the cache first, so Charliecloud, userns and PRoot run
 * docker-archives and squashfs images too. The environment is the pack's profile (or the image's
 * configured Env) plus TERM, HOME, USER, LOGNAME, DISPLAY and LANG, `preserve`d variables and `env`.
 *
 * Packages: the profile's closure is bound read-only at its store paths in an empty root; unless
 * `container`, the host's top-level directories are bound too, so the command sees the host with
 * the profile first on its search paths. The environment is the caller's (none of it with `pure`
 * or `container`, but TERM, HOME, USER, LOGNAME) with the profile prepended. `auto` here means
 * userns, else PRoot: the image runtimes cannot bind items into the store directory.
 */
import { lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { join, normalize, posix, resolve } from 'node:path';
import { TsdslError, checkRequestKeys, checkRequestTypes, currentDirectory, fieldChecks, interruptedError, warnOnStderr, withRequestFields, type FieldCheck } from '../errors.js';
import { statelessRegExp } from '../regexp.js';
import { isAncestor } from '../store/tree.js';
import type { TransformSpec } from '../transform/api.js';
import { itemPackage, packageListCheck, type ProfileItem } from '../dsl/package.js';
import type { BuildEvent } from '../build/scheduler.js';
import type { Collection } from '../registry/collection.js';
import type { LocalStore } from '../store/store.js';
import {
  type Bind,
  type Host,
  type RunEngine,
  type RunOptions,
  type RunSpec,
  autoEngine,
  currentHost,
  findEngine,
  isDirectoryPath,
  probe,
  resolveInView,
  runEngines,
  runScratch,
  SCRATCH_PREFIXES,
  shellScratchParent,
  which,
} from './engines.js';
import { NATIVE_IMAGES, acquireUnpacked, packKind, packLayout } from './unpack.js';
import { imageFiles, resolvedPath } from './archive-files.js';

/** A host directory to show inside: `SRC` or `SRC=DST` (as on the command line), or a pair. */
export type BindRequest = string | { readonly source: string; readonly target?: string };

/** What to run, where, and how. */
/** The run engines (`--engine`); `auto` picks the first that works here. */
export type EngineName = 'auto' | 'userns' | 'proot' | 'charliecloud' | 'podman' | 'docker' | 'apptainer' | 'singularity';

export interface RunRequest {
  /** A pack file (tarball, docker-archive, squashfs/SIF image) or a directory holding an unpacked pack. */
  readonly pack?: string;
  /** Packages, outputs of packages (`[hwloc, 'lib']`), or spec strings (`'hwloc:lib'` too) resolved in `collection` (default: the default collection); built on demand. */
  readonly packages?: ReadonlyArray<ProfileItem | string>;
  /** With `packages`: transformations, as options in order (`['--with-input=scotch=pt-scotch']`) or the object form of `transform()`. */
  readonly transformations?: TransformSpec | readonly string[];
  readonly collection?: Collection;
  /** With `packages`: the store to build into (default: the user's store). */
  readonly store?: LocalStore;
  /** argv (default: a shell — `$SHELL` for packages on the host, else `sh`; for a docker pack, the command its image runs, `--entry-point`, if it has one). */
  readonly command?: readonly string[];
  /** An engine name (`auto`, the default, or userns, proot, charliecloud, podman, docker, apptainer, singularity) or an engine. */
  readonly engine?: EngineName | RunEngine;
  /** Isolate: only the closure, /proc, /dev, /sys and the working directory. */
  readonly container?: boolean;
  /** Keep the host network (default: kept unless `container`; the OCI runtimes cut it unless true). */
  readonly network?: boolean;
  /** With `packages`: start from an empty environment (but TERM, HOME, USER, LOGNAME). */
  readonly pure?: boolean;
  /** Variables of the caller's environment to pass: names matching these regular expressions. */
  readonly preserve?: ReadonlyArray<string | RegExp>;
  /** Variables to set, last (they win). */
  readonly env?: Readonly<Record<string, string>>;
  /** Host directories shown read-only (`--expose`); relative ones are of the caller's current directory. */
  readonly expose?: readonly BindRequest[];
  /** Host directories shown writable (`--share`). */
  readonly share?: readonly BindRequest[];
  /** The command's working directory, which must exist (default: the current one; `pack` and the binds are the caller's paths, not relative to it). */
  readonly cwd?: string;
  /** 'inherit' (default) passes the terminal through; 'pipe' uses stdin/stdout/stderr below. */
  readonly stdio?: 'inherit' | 'pipe';
  readonly stdin?: RunOptions['stdin'];
  readonly stdout?: RunOptions['stdout'];
  readonly stderr?: RunOptions['stderr'];
  /**
   * Aborting sends SIGTERM to the command (SIGKILL 10 s later). With `packages`, aborting while
   * they are built stops the builds (what was built stays in the store), starts no command, and
   * rejects with an `interrupted` error.
   */
  readonly signal?: AbortSignal;
  /** The unpacked-pack cache, which also holds podman's images of packs (default: TSDSL_PACK_CACHE, else ~/.cache/tsdsl/packs and ~/.cache/tsdsl/podman). */
  readonly cacheDir?: string;
  /** The host to probe (tests hide binaries or fake /proc/sys). */
  readonly host?: Host;
  /** With `packages`: build events (progress). */
  readonly onEvent?: (e: BuildEvent) => void;
  /** With `packages`: called once they are built, just before the command starts. */
  readonly onBuilt?: () => void;
  /** With `packages`: warnings (a transformation that matched nothing, a host-bound binary); default: printed on stderr. */
  readonly onWarning?: (message: string) => void;
  /** With `packages`: cores each build may use (default: every core of this machine, as `tsdsl shell` does). */
  readonly cores?: number;
  /** With `packages`: builds at once (default 1). */
  readonly maxJobs?: number;
}

/** Variables of the caller passed even into a pure or packed environment. */
const KEPT = ['TERM', 'HOME', 'USER', 'LOGNAME'] as const;

/** `SRC` or `SRC=DST` (or a pair) as a bind; the source must exist. */
export function parseBind(b: BindRequest, writable: boolean, cwd = process.cwd()): Bind {
  const flag = writable ? '--share' : '--expose';
  const [src, dst] = typeof b === 'string' ? splitBind(b) : [b.source, b.target];
  if (!src) throw new TsdslError(`${flag}=${String(typeof b === 'string' ? b : b.source)}: no source directory; write ${flag}=SRC or ${flag}=SRC=DST`);
  const source = resolve(cwd, src);
  const target = dst === undefined || dst === '' ? source : dst;
  if (!target.startsWith('/')) throw new TsdslError(`${flag}=${src}=${target}: the target must be an absolute path inside the container, e.g. ${flag}=${src}=/data`);
  try {
    readdirSync(source);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new TsdslError(`${flag}=${typeof b === 'string' ? b : src}: \`${source}\` does not exist; create it or fix the path`);
    // ENOTDIR: a file is fine; other errors show up when binding
  }
  return { source, target, writable };
}

/**
 * Refuses binds whose target would hide what the run needs: the store (or a directory holding
 * it, such as `/`), a path inside it, or the kernel's `/proc`, `/dev` and `/sys`; and targets
 * inside `/proc` or `/sys`, which no rootless mount can reach.
 */
export function checkBindTargets(binds: readonly Bind[], storeDir: string, view: { root?: string; image?: string } = {}): void {
  // The links of the pack: in its unpacked root, or in a docker-archive an engine runs as it is.
  const files = view.root === undefined && view.image !== undefined && binds.length ? imageFiles(view.image) : undefined;
  for (const b of binds) {
    const target = normalize(b.target).replace(/(.)\/+$/, '$1');
    const flag = `${b.writable ? '--share' : '--expose'}=${b.source === b.target ? b.source : `${b.source}=${b.target}`}`;
    const linked =
      view.root !== undefined
        ? storeLinkAt(storeDir, target, (at) => {
            const host = resolveInView(view.root!, [], at);
            return host === undefined ? undefined : host.slice(view.root!.length) || '/';
          })
        : files
          ? storeLinkAt(storeDir, target, (at) => resolvedPath(files, at))
          : undefined;
    const hides =
      target === storeDir || isAncestor(target, storeDir)
        ? `the store (${storeDir}), which the programs run from`
        : isAncestor(storeDir, target)
          ? `a path in the store (${storeDir}), whose items are read-only and part of the run`
          : ['/proc', '/dev', '/sys'].includes(target)
            ? `the container's ${target}, which programs need`
            : ['/proc', '/sys'].some((k) => isAncestor(k, target))
              ? `a path of the kernel's ${target.split('/')[1] === 'proc' ? '/proc' : '/sys'}, where nothing can be mounted without root`
              : linked !== undefined
                ? `${linked.at === target ? linked.store : `a path inside ${linked.store}`}, in the store: in the pack, \`${linked.at}\` is a link there (-S)`
                : undefined;
    if (hides) throw new TsdslError(`${flag}: binding onto \`${target}\` would hide ${hides}; choose another target, e.g. ${b.writable ? '--share' : '--expose'}=${b.source}=/data`);
  }
}

/**
 * Where in the store `target` (or the directory it would be made in, `at`) leads in a pack,
 * through its links (`-S /bin=bin` makes /bin lead to the profile's bin), as `resolve` (the
 * pack's path a path lands on) says: an engine that follows the link would mount over that store
 * path. Undefined when it does not lead there.
 */
function storeLinkAt(storeDir: string, target: string, resolve: (at: string) => string | undefined): { at: string; store: string } | undefined {
  for (const at of [target, posix.dirname(target)]) {
    if (at === '/') continue;
    const real = resolve(at);
    if (real !== undefined && isAncestor(storeDir, real)) return { at, store: real };
  }
  return undefined;
}

function splitBind(s: string): [string, string | undefined] {
  const i = s.indexOf('=');
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

/** `preserve`'s patterns as regular expressions; run() compiles them first, so a bad one stops it before anything is built. */
function preservePatterns(preserve: ReadonlyArray<string | RegExp>): RegExp[] {
  return preserve.map((p) => {
    if (p instanceof RegExp) return statelessRegExp(p);
    try {
      return new RegExp(p);
    } catch (e) {
      throw new TsdslError(`--preserve=${p} is not a valid regular expression (${(e as Error).message}); e.g. --preserve='^SLURM_'`);
    }
  });
}

/** Adds the caller's variables whose names match `preserve` to `env`. */
function preserveInto(env: Record<string, string>, preserve: ReadonlyArray<string | RegExp>, from: NodeJS.ProcessEnv): void {
  for (const re of preservePatterns(preserve)) {
    for (const [k, v] of Object.entries(from)) if (v !== undefined && re.test(k)) env[k] = v;
  }
}

/**
 * A docker-archive's image configuration: its `Env` as a record, and the command it runs by
 * default (`Entrypoint` then `Cmd`, as `docker run IMAGE` does); empty if unreadable.
 */
function imageConfig(host: Host, image: string): { env: Record<string, string>; command: string[] } {
  const none = { env: {}, command: [] };
  const tar = which(host, 'tar');
  if (!tar) return none;
  const env = { PATH: host.path };
  const m = probe([tar, '-xOf', image, 'manifest.json'], { env });
  try {
    const config = (JSON.parse(m.stdout) as Array<{ Config?: string }>)[0]?.Config;
    if (!config) return none;
    const c = probe([tar, '-xOf', image, config], { env });
    const parsed = (JSON.parse(c.stdout) as { config?: { Env?: string[]; Entrypoint?: string[] | null; Cmd?: string[] | null } }).config ?? {};
    const vars: Record<string, string> = {};
    for (const v of parsed.Env ?? []) {
      const i = v.indexOf('=');
      if (i > 0) vars[v.slice(0, i)] = v.slice(i + 1);
    }
    const command = [...(parsed.Entrypoint ?? []), ...(parsed.Cmd ?? [])].filter((a) => typeof a === 'string');
    return { env: vars, command };
  } catch {
    return none;
  }
}

function engineOf(request: RunRequest, host: Host, candidates?: readonly RunEngine[]): RunEngine {
  const e = request.engine ?? 'auto';
  if (typeof e !== 'string') return e;
  if (e === 'auto' && candidates) return autoEngine(host, candidates);
  return findEngine(e, host);
}

/** Fails with the engine's reason and the whole diagnosis when it cannot run here. */
async function checkAvailable(engine: RunEngine, host: Host): Promise<void> {
  const ok = await engine.available();
  if (ok.ok) return;
  // One paragraph: why, and which engines do work here (--explain says why the others do not).
  const { explainEngines } = await import('./diagnose.js');
  const working = engine.name === 'auto' ? [] : (await explainEngines(host)).engines.filter((e) => e.ok).map((e) => e.name);
  const others =
    engine.name === 'auto'
      ? ''
      : working.length
        ? `; engines that work here: ${working.join(', ')} (\`tsdsl run --explain\` says why the others do not)`
        : '; no engine works here (`tsdsl run --explain` says why for each)';
  throw new TsdslError(`the ${engine.name} engine cannot run here: ${ok.reason.replace(/\.$/, '')}${others}`);
}

// Every field of a RunRequest, so that a misspelt one is an error (checked by the type).
const RUN_REQUEST_KEYS = Object.keys({
  pack: 1, packages: 1, transformations: 1, collection: 1, store: 1, command: 1, engine: 1, container: 1, network: 1, pure: 1,
  preserve: 1, env: 1, expose: 1, share: 1, cwd: 1, stdio: 1, stdin: 1, stdout: 1, stderr: 1, signal: 1, cacheDir: 1, host: 1,
  onEvent: 1, onBuilt: 1, onWarning: 1, cores: 1, maxJobs: 1,
} satisfies Record<keyof RunRequest, 1>);

// The types of the fields, checked before anything is built or unpacked.
const RUN_FIELD_CHECKS: Readonly<Record<string, FieldCheck>> = {
  pack: fieldChecks.text,
  packages: packageListCheck,
  command: fieldChecks.command,
  container: fieldChecks.boolean,
  network: fieldChecks.boolean,
  pure: fieldChecks.boolean,
  preserve: [(v) => Array.isArray(v) && v.every((x) => typeof x === 'string' || x instanceof RegExp), 'an array of strings or regular expressions'],
  env: fieldChecks.textRecord,
  expose: [isBindList, "an array of host directories ('/data', '/data=/mnt', or { source, target })"],
  share: [isBindList, "an array of host directories ('/data', '/data=/mnt', or { source, target })"],
  cwd: fieldChecks.text,
  stdio: [(v) => v === 'inherit' || v === 'pipe', "'inherit' or 'pipe'"],
  engine: [
    (v) => typeof v === 'string' || (typeof v === 'object' && v !== null && typeof (v as RunEngine).name === 'string' && typeof (v as RunEngine).available === 'function' && typeof (v as RunEngine).run === 'function'),
    "an engine name ('auto', 'userns', 'proot', …) or an engine object with a name, available() and run()",
  ],
  cacheDir: fieldChecks.text,
  signal: fieldChecks.signal,
  cores: fieldChecks.count,
  maxJobs: fieldChecks.count,
};

function isBindList(v: unknown): boolean {
  return Array.isArray(v) && v.every((b) => typeof b === 'string' || (typeof b === 'object' && b !== null && typeof b.source === 'string' && (b.target === undefined || typeof b.target === 'string')));
}

// The flags run()'s checks name (the command line's), and the request fields they stand for.
const FIELDS_OF_FLAGS: ReadonlyArray<[RegExp, string]> = [
  [/--expose\b/, '--expose is `expose`'],
  [/--share\b/, '--share is `share`'],
  [/--preserve\b/, '--preserve is `preserve`'],
];
const ABOUT_OPTIONS = /^(--expose|--share|--preserve)\b|the --expose\/--share argument$/;

/**
 * Runs a command from a pack or with packages, through an engine; resolves to its exit status
 * (128+n when killed by signal n). Throws a TsdslError for bad input (no such pack, a corrupt
 * one, an unknown engine, a command not in the pack) and when no engine can run here.
 */
export async function run(request: RunRequest): Promise<number> {
  try {
    return await checkedRun(request);
  } catch (e) {
    throw withRequestFields(e, request, 'run()', ABOUT_OPTIONS, FIELDS_OF_FLAGS);
  }
}

async function checkedRun(request: RunRequest): Promise<number> {
  checkRequestKeys(request, RUN_REQUEST_KEYS, 'run()');
  checkRequestTypes(request, RUN_FIELD_CHECKS, 'run()');
  preservePatterns(request.preserve ?? []);
  for (const k of ['stdin', 'stdout', 'stderr'] as const) {
    if (request[k] !== undefined && request.stdio !== 'pipe') throw new TsdslError(`run(): \`${k}\` is used with \`stdio: 'pipe'\` only (the command has the terminal otherwise); add it`);
  }
  for (const [name, value] of Object.entries(request.env ?? {})) {
    if (!/^[^=\0]+$/.test(name)) throw new TsdslError(`run(): \`env\` names a variable ${JSON.stringify(name)}, which no environment can hold (a name is not empty and has no \`=\` or NUL)`);
    if (value.includes('\0')) throw new TsdslError(`run(): \`env.${name}\` holds a NUL character, which no environment variable can`);
  }
  if ((request.pack === undefined) === (request.packages === undefined)) {
    throw new TsdslError('run(): give either `pack` (a file made by `tsdsl pack`) or `packages` (to build and run with), not both or neither');
  }
  // A field about building or the host's environment means nothing for a pack (false is no ask).
  for (const k of ['transformations', 'collection', 'store', 'pure', 'onBuilt', 'onEvent', 'onWarning', 'cores', 'maxJobs'] as const) {
    const v = request[k];
    if (request.pack !== undefined && v !== undefined && v !== false) throw new TsdslError(`run(): \`${k}\` applies with \`packages\`; a pack is run as it was made (drop it, or give packages)`);
  }
  if (request.store !== undefined) (await import('../store/store.js')).checkRequestStore(request.store, 'run()');
  // The pack cache named (`cacheDir`) holds podman's images of packs too, as TSDSL_PACK_CACHE does.
  const host = request.cacheDir ? { ...(request.host ?? currentHost()), cacheDir: request.cacheDir } : (request.host ?? currentHost());
  // The pack and the binds' sources are the caller's paths, relative to its directory; `cwd` is
  // where the command runs.
  const here = currentDirectory();
  const cwd = resolve(here, request.cwd ?? '.');
  if (request.cwd !== undefined && !isDirectoryPath(cwd)) throw new TsdslError(`run(): \`cwd\` ${cwd} is not a directory here; the command runs in it, so it must exist`);
  const binds = [...(request.expose ?? []).map((b) => parseBind(b, false, here)), ...(request.share ?? []).map((b) => parseBind(b, true, here))];
  const options: RunOptions = {
    ...(request.signal ? { signal: request.signal } : {}),
    ...(request.stdin !== undefined ? { stdin: request.stdin } : {}),
    ...(request.stdout ? { stdout: request.stdout } : {}),
    ...(request.stderr ? { stderr: request.stderr } : {}),
  };
  // A signal aborted already: nothing built, unpacked or run (the request was checked above).
  if (request.signal?.aborted) throw interruptedError();
  return request.pack !== undefined ? runPack(request, request.pack, resolve(here, request.pack), host, cwd, binds, options) : runPackages(request, host, cwd, binds, options);
}

async function runPack(request: RunRequest, packFile: string, file: string, host: Host, cwd: string, binds: Bind[], options: RunOptions): Promise<number> {
  const engine = engineOf(request, host); // an unknown name fails before any unpacking
  const kind = packKind(file, host);
  const { storeDirFromEnv } = await import('../derivation/hash.js');
  await checkAvailable(engine, host);
  const native = NATIVE_IMAGES[engine.name]?.includes(kind) ?? false;
  if (native) checkBindTargets(binds, storeDirFromEnv(), kind === 'docker' ? { image: file } : {});
  const unpacked = native ? undefined : await acquireUnpacked(file, { kind, ...(request.cacheDir ? { cacheDir: request.cacheDir } : {}), host });
  try {
    const root = unpacked?.root ?? '';
    // The pack's own store directory (a colleague's /gnu/store, say), not this machine's setting.
    const { storeDir, profile } = root ? packLayout(root, storeDirFromEnv()) : { storeDir: storeDirFromEnv(), profile: undefined };
    // A directory is taken for an unpacked pack, as a tarball is checked for one: a store inside.
    if (kind === 'directory' && !profile && !isDirectoryPath(join(root, storeDir))) {
      throw new TsdslError(
        `\`${packFile}\` is a directory but not an unpacked pack: it holds no store (no \`*-profile\` item, no .${storeDir}); give a pack made by \`tsdsl pack\`, or the directory one was unpacked into`,
      );
    }
    if (root) checkBindTargets(binds, storeDir, { root });
    const env: Record<string, string> = {};
    // A docker image's configuration: its Env when there is no profile to read, and with no
    // command given, the command it runs (`--entry-point`), as `docker run IMAGE` runs it.
    const config = kind === 'docker' && (!profile || !request.command?.length) ? imageConfig(host, file) : undefined;
    if (profile) {
      const { profileSearchPaths } = await import('../build/builtins.js');
      Object.assign(env, profileSearchPaths(resolve(root, `.${profile}`), profile));
    } else if (config) Object.assign(env, config.env);
    env['PATH'] = [env['PATH'], '/bin', '/usr/bin'].filter(Boolean).join(':');
    for (const v of [...KEPT, 'DISPLAY', 'LANG']) if (process.env[v] !== undefined) env[v] ??= process.env[v]!;
    preserveInto(env, request.preserve ?? [], process.env);
    Object.assign(env, request.env ?? {});
    const spec: RunSpec = {
      root,
      storeDir,
      command: request.command?.length ? request.command : config?.command.length ? config.command : runscriptOf(kind, root) ?? ['sh'],
      env,
      cwd,
      binds,
      isolate: request.container === true,
      ...(request.network !== undefined ? { network: request.network } : {}),
      ...(request.stdio ? { stdio: request.stdio } : {}),
      // The image engines prefer the image itself; the directory engines use the unpacked root.
      ...(kind === 'docker' || kind === 'squashfs' || kind === 'sif' ? { image: file } : {}),
    };
    // The command is a user of the unpacked pack too: should this process be killed (-9), gc
    // --packs still sees the pack in use while the command runs.
    const withUser: RunOptions = unpacked
      ? {
          ...options,
          onStart: (pid) => {
            unpacked.addProcess(pid);
            options.onStart?.(pid);
          },
        }
      : options;
    return await engine.run(spec, withUser);
  } finally {
    unpacked?.release();
  }
}

async function runPackages(request: RunRequest, host: Host, cwd: string, binds: Bind[], options: RunOptions): Promise<number> {
  // Only userns and PRoot can bind store items at their store paths in an empty root.
  const candidates = runEngines(host).filter((e) => e.name === 'userns' || e.name === 'proot');
  const engine = engineOf(request, host, candidates);
  const { storeDirFromEnv } = await import('../derivation/hash.js');
  checkBindTargets(binds, request.store?.storeDir ?? storeDirFromEnv());
  if (engine.name !== 'auto' && !candidates.some((c) => c.name === engine.name) && typeof request.engine === 'string') {
    throw new TsdslError(
      `the ${engine.name} engine cannot run packages from the store (it cannot bind store items at their store paths); use --engine=userns or proot, or pack them (\`tsdsl pack -f docker PACKAGE...\`) and \`tsdsl run --engine=${engine.name}\` the pack`,
    );
  }
  await checkAvailable(engine, host);
  const { requestedPackages, buildProfile } = await import('../build/profile.js');
  const warn = request.onWarning ?? warnOnStderr;
  const items = await requestedPackages(request.packages!, request.transformations, request.collection, warn, 'run()');
  const packages = items.map(itemPackage);
  if (packages.length === 0) throw new TsdslError('run(): `packages` is empty; give at least one package, e.g. packages: [\'hwloc\']');
  // The toolchain's Debian binaries name the FHS loader: they start only where the host has it.
  // (A pack says the same of each program, after checking its ELF files.)
  const hostBound = packages.filter((p) => p.properties['bootstrap'] === true && p.buildSystem.name === 'debian-binary' && p.properties['runtime'] === undefined);
  if (hostBound.length) {
    const one = hostBound.length === 1;
    warn(
      `${hostBound.map((p) => `${p.name}@${p.version}`).join(', ')} ${one ? 'is one of' : 'are'} the bootstrap toolchain's Debian binaries: ${one ? 'its' : 'their'} programs ask for the ` +
        `loader /lib64/ld-linux-x86-64.so.2 and the libraries of the system they run on, so they start on a host like Debian 12${request.container ? ', not in this container' : ''}, ` +
        'and not from a pack or on another system; packages built here from source (bash, hwloc, …) have no such limit',
    );
  }

  const { openStore } = await import('../store/store.js');
  // A store given was checked first (checkRequestStore); the default one is opened (and closed) here.
  const store = request.store ?? openStore();
  let profile: string;
  let closure: Array<{ path: string; physical: string }>;
  let storeDir: string;
  let profileEnv: Record<string, string>;
  try {
    const built = await buildProfile(store, items, {
      ...(request.maxJobs !== undefined ? { maxJobs: request.maxJobs } : {}),
      ...(request.cores !== undefined ? { cores: request.cores } : {}),
      ...(request.onEvent ? { onEvent: request.onEvent } : {}),
      ...(request.signal ? { signal: request.signal } : {}),
    });
    profile = built.profile;
    closure = built.closure.map((path) => ({ path, physical: store.physicalPath(path) }));
    storeDir = store.storeDir;
    profileEnv = built.env;
  } finally {
    if (!request.store) store.close();
  }
  request.onBuilt?.();

  const isolate = request.container === true;
  const env: Record<string, string> = {};
  if (!request.pure && !isolate) for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  for (const v of KEPT) if (process.env[v] !== undefined) env[v] = process.env[v]!;
  for (const [variable, value] of Object.entries(profileEnv)) env[variable] = env[variable] ? `${value}:${env[variable]}` : value;
  if (isolate) env['PATH'] = `${env['PATH'] ?? `${profile}/bin`}:/bin`;
  env['TSDSL_PROFILE'] = profile;
  preserveInto(env, request.preserve ?? [], process.env);
  Object.assign(env, request.env ?? {});

  // The view: an empty root with the store items bound at their logical paths, and either the
  // host's top-level directories bound at their own (its /bin included: $SHELL is often
  // /bin/bash), or, isolated, /bin pointing at the profile's bin.
  // The root is a directory of the scratch one, which also lists the command as its user.
  const scratch = runScratch(shellScratchParent(host), SCRATCH_PREFIXES.shell, options);
  const root = join(scratch.dir, 'root');
  try {
    mkdirSync(root);
    mkdirSync(join(root, storeDir.replace(/^\//, '')), { recursive: true });
    if (isolate) symlinkSync(`${profile.replace(/^\//, '')}/bin`, join(root, 'bin'));
    const view: Bind[] = closure.map((c) => ({ source: c.physical, target: c.path, writable: false, storeItem: true }));
    if (!isolate) {
      for (const name of readdirSync('/')) {
        if (['proc', 'dev', 'sys', 'tmp'].includes(name) || storeDir.startsWith(`/${name}/`)) continue;
        view.push({ source: `/${name}`, target: `/${name}`, writable: true });
      }
    }
    const command = request.command?.length ? request.command : [isolate ? 'sh' : (process.env['SHELL'] ?? 'sh')];
    return await engine.run(
      {
        root,
        storeDir,
        command,
        env,
        cwd,
        binds: [...view, ...binds],
        isolate,
        ...(request.network !== undefined ? { network: request.network } : {}),
        ...(request.stdio ? { stdio: request.stdio } : {}),
      },
      scratch.opts,
    );
  } finally {
    rmSync(scratch.dir, { recursive: true, force: true });
  }
}

/**
 * With no command, a squashfs pack runs its runscript, as `apptainer run` does: its entry point
 * (`--entry-point`), or a shell. One the image engines run natively is taken to have it (tsdsl's
 * squashfs packs all do); an unpacked one, when it is there.
 */
function runscriptOf(kind: string, root: string): string[] | undefined {
  if (kind !== 'squashfs' && kind !== 'sif') return undefined;
  const runscript = '/.singularity.d/runscript';
  if (!root) return [runscript];
  try {
    lstatSync(join(root, runscript));
    return [runscript];
  } catch {
    return undefined;
  }
}
