/**
 * Realising derivations: the scheduler behind `tsdsl build`. Given the derivations lowering
 * computed, it works out which outputs are missing from the store, builds them in dependency
 * order with up to `maxJobs` at once — builtins (fetches, .deb unpacking, unions, grafts) in
 * tsdsl itself, everything else in the rootless sandbox on a merged bootstrap root — and
 * registers each output atomically with the references found in it. Per-path locks make two
 * `tsdsl build` processes wait for each other instead of building a path twice; a build that
 * fails, is interrupted or killed leaves nothing valid-looking behind (outputs only become store
 * items at registration).
 */
import { appendFileSync, createReadStream, createWriteStream, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, statSync, statfsSync, unlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createGzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { TsdslError, checkRequestKeys, checkRequestTypes, fieldChecks, interruptedError, type FieldCheck } from '../errors.js';
import { escapeRegExp } from '../regexp.js';
import type { FinalizedDerivation } from '../derivation/aterm.js';
import { isFixedOutput } from '../derivation/aterm.js';
import { parseHash, storePathName } from '../derivation/hash.js';
import { checkLoweredPaths, derivationsInOrder, type Lowerer } from '../derivation/lower.js';
import { checkStoreArgument, type LocalStore, type PathLock, type RegisterOptions } from '../store/store.js';
import { deleteTree } from '../store/tree.js';
import { narHash } from '../store/nar.js';
import { ownerElsewhere } from '../store/lock.js';
import { builtins } from './builtins.js';
import { defaultDownloadCache, isHashMismatch } from './fetch.js';
import { instantiate, missingFromDisk, missingFromDiskText } from '../derivation/instantiate.js';
import { bootstrapRootfs } from './rootfs.js';
import { checkSandboxSupport, runSandboxed } from './sandbox.js';
import { compareStrings } from '../compare.js';
import { signalsHandled } from '../signals.js';

/** What the scheduler tells the user interface. */
export type BuildEvent =
  /** `cached`: the downloads whose file the download cache holds already (copied, not fetched). */
  | { kind: 'plan'; build: string[]; fetch: string[]; cached: string[] }
  | { kind: 'start'; drvPath: string; name: string }
  /**
   * Another process holds the outputs' lock (it is building them); `pid` is its process, of
   * another PID namespace or host when `elsewhere` (whether it still runs cannot be told).
   */
  | { kind: 'wait'; drvPath: string; name: string; pid: string; elsewhere?: true }
  | { kind: 'phase'; drvPath: string; phase: string }
  | { kind: 'line'; drvPath: string; line: string }
  | { kind: 'progress'; drvPath: string; bytes: number; total: number | undefined }
  /** Built (or, with `elsewhere`, found built by another process meanwhile). */
  | { kind: 'done'; drvPath: string; name: string; ms: number; elsewhere?: true }
  | { kind: 'fail'; drvPath: string; name: string; message: string };

/**
 * How `realise` builds. A build that fails rejects it with a `BuildError` (with `keepGoing`, once
 * every build that does not depend on it has been tried; its message then lists every failure);
 * `signal` aborted rejects it with the "interrupted" error, what was built so far staying valid.
 */
export interface BuildOptions {
  /** Builds at once (default 1). */
  maxJobs?: number;
  /** Cores each build may use (NIX_BUILD_CORES, make's -j; default: every core of this machine, as `tsdsl build`, pack() and run() do). */
  cores?: number;
  /** Keep a failed build's tree (its path is in the error). */
  keepFailed?: boolean;
  /** Go on with the builds that do not depend on a failed one. */
  keepGoing?: boolean;
  /** Rebuild derivations whose outputs are valid and compare (`--check`, `--rounds`). */
  check?: boolean;
  /** Build each derivation this many times and compare (≥ 2 implies check). */
  rounds?: number;
  /** Stop a build that runs longer than this. */
  timeoutMs?: number;
  /** Stop a build that prints nothing for this long. */
  maxSilentMs?: number;
  onEvent?: (e: BuildEvent) => void;
  signal?: AbortSignal;
}

const BUILD_OPTION_KEYS = Object.keys({
  maxJobs: 1, cores: 1, keepFailed: 1, keepGoing: 1, check: 1, rounds: 1, timeoutMs: 1, maxSilentMs: 1, onEvent: 1, signal: 1,
} satisfies Record<keyof BuildOptions, 1>);
const MILLISECONDS: FieldCheck = [(v) => typeof v === 'number' && v > 0, 'a number of milliseconds, more than 0'];
const BUILD_OPTION_CHECKS: Readonly<Record<string, FieldCheck>> = {
  maxJobs: fieldChecks.count,
  cores: fieldChecks.count,
  rounds: fieldChecks.count,
  keepFailed: fieldChecks.boolean,
  keepGoing: fieldChecks.boolean,
  check: fieldChecks.boolean,
  timeoutMs: MILLISECONDS,
  maxSilentMs: MILLISECONDS,
  onEvent: fieldChecks.function,
  signal: fieldChecks.signal,
};

/** A failed build: the message holds the last lines of its log and the log's path. */
export class BuildError extends TsdslError {}

/**
 * The error a build that kept going ends with: the first failure's, then which other builds
 * failed, which were not tried because they depend on a failed one, and how many were built.
 */
function keptGoing(first: Error, failed: ReadonlyArray<{ name: string; error: Error }>, skipped: readonly string[], built: readonly FinalizedDerivation[]): Error {
  if (!(first instanceof TsdslError) || (failed.length < 2 && skipped.length === 0)) return first;
  // Each failure in a line: why (where the builder says it failed, else the error's first line), and its log.
  const said = failed.map(({ name, error }) => {
    const where = /^tsdsl: the build (?:failed in|stopped here:) (.*)$/m.exec(error.message)?.[0]?.replace(/^tsdsl: /, '');
    const log = /^The whole log: (.*)$/m.exec(error.message)?.[1];
    const why = where ?? error.message.split('\n')[0]!.replace(/^building \S+ failed: /, '').replace(/\.$/, '');
    return `  ${name}: ${why}${log ? `; log: ${log}` : ''}`;
  });
  const lines = [first.message, `${failed.length} build${failed.length === 1 ? '' : 's'} failed:`, ...said];
  if (skipped.length) lines.push(`${skipped.length} not built, as ${skipped.length === 1 ? 'it depends' : 'they depend'} on a failed build: ${skipped.join(', ')}`);
  // Fixed-output derivations are downloads, said apart from builds.
  const downloads = built.filter((d) => Object.values(d.drv.outputs).some((o) => o.hash !== '')).length;
  lines.push(`${built.length - downloads} built${downloads ? `, ${downloads} downloaded` : ''}`);
  return new BuildError(lines.join('\n'));
}

/** Whether a download's file is in the download cache already (`builtin:fetchurl` then copies it). */
export function inDownloadCache(d: FinalizedDerivation): boolean {
  const out = d.drv.outputs['out'];
  if (d.drv.builder !== 'builtin:fetchurl' || !out || out.hashAlgo !== 'sha256' || !/^[0-9a-f]{64}$/.test(out.hash)) return false;
  try {
    return existsSync(join(defaultDownloadCache(), out.hash));
  } catch {
    return false; // a setting that is wrong: said when the download runs
  }
}

/** The derivations among `roots`' closure whose outputs are not all valid, in build order. */
export function missingDerivations(store: LocalStore, lowerer: Lowerer, roots: readonly string[]): FinalizedDerivation[] {
  return derivationsInOrder(lowerer, roots, (d) => Object.values(d.drv.outputs).every((o) => store.isValid(o.path)));
}

/** The log file of a derivation (plain while building, gzipped after). */
export function logPath(store: LocalStore, drvPath: string): string {
  return join(store.root, 'var', 'log', `${storePathName(drvPath).replace(/\.drv$/, '')}-${drvPath.slice(store.storeDir.length + 1, store.storeDir.length + 33)}.log`);
}

/**
 * Read a derivation's log, or undefined. A log is gzipped when its build succeeded; a plain one
 * beside it is of a later attempt that failed or was interrupted (a `--check`), so while the
 * outputs are valid the gzipped log, which tells how they were made, is the one read.
 */
export async function readLog(store: LocalStore, drvPath: string): Promise<string | undefined> {
  const plain = logPath(store, drvPath);
  const hasGz = existsSync(`${plain}.gz`);
  if (existsSync(plain) && !(hasGz && outputsValid(store, drvPath))) return readFileSync(plain, 'utf8');
  if (hasGz) {
    const { gunzipSync } = await import('node:zlib');
    return gunzipSync(readFileSync(`${plain}.gz`)).toString('utf8');
  }
  return undefined;
}

/** Whether every output of a stored derivation is valid (false when the .drv cannot be read). */
function outputsValid(store: LocalStore, drvPath: string): boolean {
  try {
    return Object.values(store.readDerivation(drvPath).outputs).every((o) => store.isValid(o.path));
  } catch {
    return false;
  }
}

async function compressLog(path: string): Promise<void> {
  await pipeline(createReadStream(path), createGzip({ level: 6 }), createWriteStream(`${path}.gz.tmp`));
  renameSync(`${path}.gz.tmp`, `${path}.gz`);
  unlinkSync(path);
}

function tail(path: string, n: number): string {
  try {
    const lines = readFileSync(path, 'utf8').split('\n');
    return lines.slice(-n - 1).join('\n');
  } catch {
    return '';
  }
}

/**
 * A build's environment, as Nix's builder makes it: defaults the derivation's env may replace
 * (PATH, HOME, …), then the derivation's env, then what it may not (the build directory and its
 * aliases, the terminal), so a `.drv` builds with the same environment here and under Nix.
 */
export function buildEnvironment(drvEnv: Readonly<Record<string, string>>, storeDir: string, cores: number): Record<string, string> {
  return {
    PATH: '/path-not-set',
    HOME: '/homeless-shelter',
    NIX_STORE: storeDir,
    NIX_BUILD_CORES: String(cores),
    SOURCE_DATE_EPOCH: '1',
    TZ: 'UTC',
    LC_ALL: 'C',
    ...drvEnv,
    NIX_BUILD_TOP: '/build',
    TMPDIR: '/build',
    TEMPDIR: '/build',
    TMP: '/build',
    TEMP: '/build',
    TERM: 'xterm-256color',
  };
}

/** Build one derivation; returns the temp paths of its outputs (not yet registered). */
async function runOne(store: LocalStore, lowerer: Lowerer, d: FinalizedDerivation, opts: BuildOptions, tmp: string): Promise<Record<string, string>> {
  const drv = d.drv;
  const outputs: Record<string, string> = {};
  for (const o of Object.keys(drv.outputs)) outputs[o] = join(tmp, `out-${o}`);
  const log = logPath(store, d.drvPath);
  mkdirSync(join(store.root, 'var', 'log'), { recursive: true });
  const emit = opts.onEvent ?? (() => {});

  if (drv.builder.startsWith('builtin:')) {
    const name = drv.builder.slice('builtin:'.length);
    const builtin = builtins[name];
    if (!builtin) throw new BuildError(`${d.drvPath}: unknown builtin builder \`${drv.builder}\``);
    const lines: string[] = [];
    try {
      await builtin({
        drv,
        outputs,
        physical: (p) => store.physicalPath(p),
        log: (line) => {
          lines.push(line);
          emit({ kind: 'line', drvPath: d.drvPath, line });
        },
        onProgress: (bytes, total) => emit({ kind: 'progress', drvPath: d.drvPath, bytes, total }),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (e) {
      // A source whose file is not the one pinned: where the sha256 is written, to change it.
      const place = lowerer.originPlace(d.drvPath);
      if (place && e instanceof TsdslError && isHashMismatch(e)) {
        const placeholder = /^0+$/.test(drv.outputs['out']?.hash ?? '') ? ' (all zeros: a placeholder, so the sha256 got above is the one to write)' : '';
        throw new TsdslError(`${e.message}\nThe sha256 of ${place.package}'s source is written at ${place.where}${placeholder}.`, { cause: e });
      }
      throw e;
    } finally {
      writeFileSync(log, lines.join('\n') + (lines.length ? '\n' : ''));
    }
    return outputs;
  }

  // A sandboxed build: the closure of its inputs, bound read-only; its outputs, writable.
  const inputPaths = [...Object.entries(drv.inputDrvs).flatMap(([p, outs]) => outs.map((o) => lowerer.derivations.get(p)!.drv.outputs[o]!.path)), ...drv.inputSrcs];
  const closure = store.queryRequisites(inputPaths);
  // An item valid in the database whose files were deleted by hand: said as that, with the way out.
  const gone = missingFromDisk(store, closure);
  if (gone.length) {
    throw new BuildError(`cannot build ${d.drvPath}: ${missingFromDiskText(gone, 'it needs', 'build again')}`);
  }
  const debs: Array<[string, string]> = [];
  for (const p of closure) {
    const deriver = store.queryDerivers(p)[0];
    const dd = deriver ? lowerer.derivations.get(deriver) : undefined;
    if (dd?.drv.builder === 'builtin:unpack-deb') debs.push([p, store.physicalPath(p)]);
  }
  // In store-path order, by code point and never by the user's locale: the same set of items
  // always merges the same way (where two ship a file, the first wins), into the same cached root.
  const rootfs = bootstrapRootfs(join(store.root, 'var', 'roots'), debs.sort((a, b) => compareStrings(a[0], b[0])));
  const buildDir = join(tmp, 'build');
  mkdirSync(buildDir, { mode: 0o755 });
  for (const o of Object.values(outputs)) mkdirSync(o, { mode: 0o755 });
  const env = buildEnvironment(drv.env, store.storeDir, opts.cores ?? availableParallelism());
  const fd = createWriteStream(log);
  await new Promise<void>((resolve, reject) => fd.once('open', () => resolve()).once('error', reject));
  let result;
  try {
    result = await runSandboxed({
      rootfs,
      storeDir: store.storeDir,
      storeBinds: [
        ...closure.map((p) => ({ hostPath: store.physicalPath(p), path: p })),
        ...Object.entries(outputs).map(([o, host]) => ({ hostPath: host, path: drv.outputs[o]!.path, writable: true })),
      ],
      buildDir,
      env,
      command: [drv.builder, ...drv.args],
      network: isFixedOutput(drv),
      stdout: fd,
      stderr: fd,
      onLine: (line) => {
        const m = /^phase `(\w+)'$/.exec(line);
        if (m) emit({ kind: 'phase', drvPath: d.drvPath, phase: m[1]! });
        else emit({ kind: 'line', drvPath: d.drvPath, line });
      },
      ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
      ...(opts.maxSilentMs ? { maxSilentMs: opts.maxSilentMs } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  } finally {
    await new Promise<void>((resolve) => fd.end(() => resolve()));
  }
  if (result.code !== 0) {
    const seconds = (ms: number | undefined): string => (ms === undefined ? '' : ` (${ms / 1000} s)`);
    const why =
      result.killed === 'timeout'
        ? `it ran longer than --timeout${seconds(opts.timeoutMs)}`
        : result.killed === 'silence'
          ? `it printed nothing for longer than --max-silent-time${seconds(opts.maxSilentMs)}`
          : result.killed === 'abort'
            ? 'it was interrupted'
            : result.signal
              ? `it was killed by ${result.signal}`
              : `its builder exited with status ${result.code}`;
    // The builder says where it failed as it exits; a build stopped from outside cannot, so its
    // log would just end, like one still running: it is said here.
    if (result.killed || result.signal) {
      try {
        appendFileSync(log, `tsdsl: the build stopped here: ${why}\n`);
      } catch {
        // the log's file system is full: the error below says so
      }
    }
    // A builder the sandbox cannot run (a trivial package with no bash among its native inputs).
    const hint =
      result.code === 127 && d.drv.builder === '/bin/sh'
        ? '\nIts builder is /bin/sh, and the sandbox holds only the declared inputs: add bash (and coreutils, and what the script runs) to the nativeInputs of a trivial package.'
        : fullDisk(store.root);
    const last = tail(log, 40);
    // What to do next: a failed test suite can be left out; a failed build can be looked into.
    const next = [
      /^tsdsl: the build failed in (the check phase|arguments\.phases\.(check|preCheck|postCheck)) /m.test(last) ? 'Its test suite failed: --without-tests=PACKAGE builds it without running the tests.' : '',
      !opts.keepFailed && !result.killed ? 'To look into the build tree (config.log, …), build it again with `tsdsl build -K` (--keep-failed; realise()\'s `keepFailed` in code): it is then kept.' : '',
    ].filter(Boolean);
    throw new BuildError(`building ${d.drvPath} failed: ${why}.${hint}\nLast lines of the log:\n${last}\nThe whole log: ${log}${next.map((n) => `\n${n}`).join('')}`);
  }
  return outputs;
}

/**
 * A note when the file system of the store (where builds write) is full or nearly so: a build
 * that failed there may have failed for want of space, and its log may not even say so (the
 * log could not be written either).
 */
function fullDisk(root: string): string {
  try {
    const fs = statfsSync(root);
    const free = fs.bavail * fs.bsize;
    if (free >= 16 << 20 && fs.bavail / fs.blocks >= 0.01) return '';
    return `\nThe file system of the store (${root}) has ${(free / (1 << 20)).toFixed(1)} MiB free: the build may have run out of space. Free some (\`tsdsl gc\`) and build again.`;
  } catch {
    return '';
  }
}

/**
 * Moves a build's temporary directory (`-K`) where the store's clean-up of dead processes'
 * temporary files does not reach: `<root>/var/kept/NAME-N`. Returns the new place.
 */
function keepTree(store: LocalStore, tmp: string, name: string): string {
  const dir = join(store.root, 'var', 'kept');
  mkdirSync(dir, { recursive: true });
  for (let n = 0; ; n++) {
    const dest = join(dir, `${name}-${n}`);
    if (existsSync(dest)) continue;
    renameSync(tmp, dest);
    return dest;
  }
}

/**
 * The first few paths (relative, `./x`) at which two trees differ: in kind, mode's execute bit,
 * contents or link target, or present in one only. For saying where a build is not reproducible.
 */
export function differences(a: string, b: string, max = 5): string[] {
  const found: string[] = [];
  const walk = (rel: string): void => {
    if (found.length >= max) return;
    const pa = join(a, rel);
    const pb = join(b, rel);
    let sa;
    let sb;
    try {
      sa = lstatSync(pa);
      sb = lstatSync(pb);
    } catch {
      found.push(`./${rel}`);
      return;
    }
    const kind = (st: typeof sa) => (st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f');
    if (kind(sa) !== kind(sb) || (sa.mode & 0o100) !== (sb.mode & 0o100)) {
      found.push(`./${rel}`);
      return;
    }
    if (sa.isDirectory()) {
      const names = [...new Set([...readdirSync(pa), ...readdirSync(pb)])].sort();
      for (const n of names) walk(rel ? `${rel}/${n}` : n);
    } else if (sa.isSymbolicLink() ? readlinkSync(pa) !== readlinkSync(pb) : sa.size !== sb.size || !readFileSync(pa).equals(readFileSync(pb))) {
      found.push(`./${rel}`);
    }
  };
  walk('');
  return found.map((f) => (f === './' ? '.' : f));
}

/**
 * Store paths that an output mentions but that are neither its inputs' closure nor its own
 * outputs: a build can only see its inputs, so such a path was written in by hand (or leaked
 * from the host) and would dangle wherever the closure is copied. Found by pattern over every
 * file and link target.
 */
export function foreignReferences(dir: string, storeDir: string, allowed: ReadonlySet<string>): string[] {
  const re = new RegExp(`${escapeRegExp(storeDir)}/([0-9a-df-np-sv-z]{32})-[A-Za-z0-9+\\-._?=]*`, 'g');
  const found = new Set<string>();
  const scan = (text: string) => {
    for (const m of text.matchAll(re)) if (!allowed.has(m[1]!)) found.add(m[0]);
  };
  const walk = (p: string) => {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) scan(readlinkSync(p));
    else if (st.isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
    else if (st.isFile()) scan(readFileSync(p).toString('latin1'));
  };
  if (existsSync(dir)) walk(dir);
  return [...found].sort();
}

/** Register the outputs of a finished build with the references found in them. */
async function register(store: LocalStore, lowerer: Lowerer, d: FinalizedDerivation, outputs: Record<string, string>, lock: PathLock): Promise<void> {
  const inputPaths = [...Object.entries(d.drv.inputDrvs).flatMap(([p, outs]) => outs.map((o) => lowerer.derivations.get(p)!.drv.outputs[o]!.path)), ...d.drv.inputSrcs];
  const candidates = [...store.queryRequisites(inputPaths), ...Object.values(d.drv.outputs).map((o) => o.path)];
  const allowed = new Set(candidates.map((p) => p.slice(store.storeDir.length + 1, store.storeDir.length + 33)));
  const items: Array<{ path: string; tempPath: string; options: RegisterOptions }> = [];
  for (const [o, tmp] of Object.entries(outputs)) {
    const out = d.drv.outputs[o]!;
    if (!existsSync(tmp)) throw new BuildError(`building ${d.drvPath} produced no output \`${o}\` (${out.path}); the builder must create it`);
    if (!out.hashAlgo && d.drv.builder !== 'builtin:unpack-deb') {
      const foreign = foreignReferences(tmp, store.storeDir, allowed);
      if (foreign.length) {
        throw new BuildError(
          `building ${d.drvPath} failed: output \`${o}\` refers to ${foreign.length === 1 ? 'a store path' : `${foreign.length} store paths`} outside its inputs' closure (${foreign.slice(0, 3).join(', ')}); add the package that provides ${foreign.length === 1 ? 'it' : 'them'} as an input, or stop the build from writing ${foreign.length === 1 ? 'it' : 'them'}`,
        );
      }
    }
    const fixed = out.hashAlgo
      ? { method: out.hashAlgo.startsWith('r:') ? ('recursive' as const) : ('flat' as const), algo: 'sha256' as const, digest: parseHash(out.hash, 'sha256').digest }
      : undefined;
    // An unpacked .deb refers to its Debian dependencies by FHS paths that no scan can see:
    // its references are declared (its input derivations' outputs), so closures include them.
    const declared = d.drv.builder === 'builtin:unpack-deb' ? inputPaths.filter((p) => p !== d.drv.env['src']) : undefined;
    items.push({
      path: out.path,
      tempPath: tmp,
      options: { ...(declared ? { references: declared } : { referenceCandidates: fixed ? [] : candidates }), deriver: d.drvPath, lock, ...(fixed ? { fixed } : {}) },
    });
  }
  // All outputs at once: one may refer to another (doc to out), and none is valid without the rest.
  try {
    await store.registerPaths(items);
  } catch (e) {
    if (e instanceof TsdslError) throw new BuildError(`building ${d.drvPath} failed: ${e.message}`);
    throw e;
  }
}

/** Build `roots` (drv paths): everything missing, in dependency order, `maxJobs` at a time. */
export async function realise(
  store: LocalStore,
  lowerer: Lowerer,
  roots: readonly string[],
  opts: BuildOptions = {},
): Promise<{ built: string[]; checked: string[] }> {
  checkStoreArgument(store, 'realise()');
  checkLoweredPaths(lowerer, roots, 'realise()');
  // The CLI checks its flags; this is for the API's callers (pack(), run(), realise()): a
  // misspelt option (`dryrun`, `chek`) would build for real, or build everything again.
  checkRequestKeys(opts, BUILD_OPTION_KEYS, 'realise()');
  checkRequestTypes(opts, BUILD_OPTION_CHECKS, 'realise()');
  const emit = opts.onEvent ?? (() => {});
  let todo = missingDerivations(store, lowerer, roots);
  // What the builds need in the store: their .drv files, builder scripts and local sources
  // (`tsdsl build` wrote them already, and then this finds them all valid).
  if (todo.length) await instantiate(store, lowerer, roots);
  if (opts.check || (opts.rounds ?? 1) > 1) {
    // Also rebuild the roots themselves even though they are valid.
    for (const r of roots) if (!todo.some((d) => d.drvPath === r)) todo.push(lowerer.derivations.get(r)!);
  }
  const fetch = todo.filter((d) => isFixedOutput(d.drv));
  emit({
    kind: 'plan',
    build: todo.filter((d) => !isFixedOutput(d.drv)).map((d) => d.drvPath),
    fetch: fetch.map((d) => d.drvPath),
    cached: fetch.filter(inDownloadCache).map((d) => d.drvPath),
  });
  if (todo.some((d) => !d.drv.builder.startsWith('builtin:'))) {
    const support = checkSandboxSupport();
    if (!support.ok) throw new TsdslError(`cannot build in a sandbox here: ${support.reason}. ${support.fix}`);
  }
  const built: string[] = [];
  // Of those, the ones compared with outputs already in the store (--check, --rounds on valid ones).
  const checked: string[] = [];
  const failed: string[] = [];
  const done = new Set<string>();
  const pending = new Map(todo.map((d) => [d.drvPath, d]));
  const running = new Map<string, Promise<void>>();
  const maxJobs = Math.max(1, opts.maxJobs ?? 1);
  let firstError: Error | undefined;
  // With keepGoing: the names of the builds that failed, and of those not built because of them.
  const failures: Array<{ name: string; error: Error }> = [];
  const skippedNames: string[] = [];

  const ready = (d: FinalizedDerivation) =>
    Object.keys(d.drv.inputDrvs).every((i) => done.has(i) || (!pending.has(i) && Object.values(lowerer.derivations.get(i)!.drv.outputs).every((o) => store.isValid(o.path))));
  const blocked = (d: FinalizedDerivation) => Object.keys(d.drv.inputDrvs).some((i) => failed.includes(i));

  const buildOne = async (d: FinalizedDerivation): Promise<void> => {
    const started = Date.now();
    const outPaths = Object.values(d.drv.outputs).map((o) => o.path);
    const lock = await store.lockPaths(outPaths, {
      onWait: (owner) => emit({ kind: 'wait', drvPath: d.drvPath, name: d.name, pid: owner.split(' ')[0]!, ...(ownerElsewhere(owner) ? { elsewhere: true as const } : {}) }),
      // Ctrl-C stops the wait for another process's build at once, not when that build ends.
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    try {
      const checking = (opts.check || (opts.rounds ?? 1) > 1) && outPaths.every((p) => store.isValid(p));
      if (!checking && outPaths.every((p) => store.isValid(p))) {
        emit({ kind: 'done', drvPath: d.drvPath, name: d.name, ms: Date.now() - started, elsewhere: true });
        return; // another process built it
      }
      emit({ kind: 'start', drvPath: d.drvPath, name: d.name });
      const rounds = checking ? Math.max(1, (opts.rounds ?? 2) - 1) : Math.max(1, opts.rounds ?? 1);
      let reference: Record<string, string> | undefined;
      if (checking) reference = Object.fromEntries(Object.entries(d.drv.outputs).map(([o, v]) => [o, store.physicalPath(v.path)]));
      // With --rounds on a new package, the first round's outputs wait in their temporary
      // directory, unregistered, until every round has matched them.
      let first: { tmp: string; outputs: Record<string, string> } | undefined;
      try {
        for (let round = 0; round < rounds; round++) {
          const tmp = store.makeTempDir(`build-${d.name}`);
          let keep = false;
          try {
            const outputs = await runOne(store, lowerer, d, opts, tmp);
            if (reference) {
              // Compare bit for bit with the registered (or first-round) outputs.
              for (const [o, path] of Object.entries(outputs)) {
                // NAR hashes ignore times and ownership, so no normalisation is needed first.
                const a = (await narHash(reference[o]!)).hash.toString('hex');
                const b = (await narHash(path)).hash.toString('hex');
                if (a !== b) {
                  // --check: the build may match what was registered while the store copy was
                  // damaged since; that is the store's fault, not the build's.
                  const recorded = checking ? store.queryPathInfo(d.drv.outputs[o]!.path)?.narHash : undefined;
                  if (recorded && parseHash(recorded, 'sha256').digest.toString('hex') === b) {
                    throw new BuildError(
                      `the store copy of ${d.drv.outputs[o]!.path} is damaged: its contents (NAR sha256 ${a}) no longer match those recorded when it was built, which this build reproduced (${b}); ` +
                        '`tsdsl verify --check-contents` lists damaged items. To replace it, collect it (drop its roots and those of the items that refer to it, then `tsdsl gc`) and build again',
                    );
                  }
                  // Which files differ, before the trees move.
                  const differing = differences(reference[o]!, path);
                  // --rounds: the first round's tree is kept too, for comparing the two (diffoscope
                  // A B); kept first, so that its number is the lower one.
                  const firstTmp = first?.tmp;
                  const firstKept = opts.keepFailed && firstTmp ? keepTree(store, firstTmp, d.name) : undefined;
                  if (firstKept) first = undefined;
                  const kept = opts.keepFailed ? keepTree(store, tmp, d.name) : undefined;
                  keep = kept !== undefined;
                  const where = (dir: string, from: string, p: string) => `${dir}${p.slice(from.length)}`;
                  const files = differing.length ? ` in ${differing.join(', ')}` : '';
                  throw new BuildError(
                    `${d.drvPath} is not reproducible: output \`${o}\` differs between two builds${files} (NAR sha256 ${a} vs ${b}); ` +
                      (firstKept
                        ? `the first build is kept in ${where(firstKept, firstTmp!, reference[o]!)} and the second in ${where(kept!, tmp, path)}`
                        : kept
                          ? `the second build is kept in ${where(kept, tmp, path)}`
                          : `run again with -K to keep ${checking ? 'the second build' : 'both builds'}`),
                  );
                }
              }
            } else if (rounds > 1) {
              first = { tmp, outputs };
              reference = outputs;
              keep = true;
            } else await register(store, lowerer, d, outputs, lock);
          } catch (e) {
            // -K keeps failed builds; one stopped by an interrupt did not fail (the signal may
            // still be on its way: the build's processes got it first), and is not kept.
            if (opts.keepFailed && opts.signal && !opts.signal.aborted) await signalsHandled();
            if (opts.keepFailed && e instanceof TsdslError && !keep && !opts.signal?.aborted) {
              keep = true;
              throw new BuildError(`${e.message}\nThe failed build tree is kept in ${keepTree(store, tmp, d.name)}/build`);
            }
            throw e;
          } finally {
            // A build may leave read-only directories (chmod 555): deleteTree makes them writable first.
            if (!keep) deleteTree(tmp);
          }
        }
        if (first) await register(store, lowerer, d, first.outputs, lock);
      } finally {
        if (first) deleteTree(first.tmp);
      }
      const log = logPath(store, d.drvPath);
      if (existsSync(log) && statSync(log).size > 0) await compressLog(log);
      built.push(d.drvPath);
      if (checking) checked.push(d.drvPath);
      emit({ kind: 'done', drvPath: d.drvPath, name: d.name, ms: Date.now() - started });
    } finally {
      lock.release();
    }
  };

  while (pending.size || running.size) {
    if (opts.signal?.aborted) break;
    for (const [p, d] of pending) {
      if (running.size >= maxJobs) break;
      if (firstError && !opts.keepGoing) break;
      if (blocked(d)) {
        pending.delete(p);
        failed.push(p);
        skippedNames.push(d.name);
        continue;
      }
      if (!ready(d)) continue;
      pending.delete(p);
      const job = buildOne(d)
        .then(() => {
          done.add(p);
        })
        .catch(async (e: Error) => {
          failed.push(p);
          failures.push({ name: d.name, error: e });
          firstError ??= e;
          // A build stopped by an interrupt did not fail: the caller says "interrupted". A child
          // blocking the event loop (tar unpacking a .deb) got the terminal's Ctrl-C first and
          // failed before tsdsl's own handler ran: let the signal be handled, then look.
          if (opts.signal && !opts.signal.aborted) await signalsHandled();
          if (!opts.signal?.aborted) emit({ kind: 'fail', drvPath: p, name: d.name, message: e.message });
        })
        .finally(() => running.delete(p));
      running.set(p, job);
    }
    if (running.size === 0) {
      if (pending.size && (!firstError || opts.keepGoing)) {
        // Nothing can start: every pending derivation waits on a failed one.
        for (const [p, d] of pending) (failed.push(p), skippedNames.push(d.name));
        pending.clear();
      }
      break;
    }
    await Promise.race(running.values());
    if (firstError && !opts.keepGoing && running.size === 0) break;
  }
  await Promise.allSettled(running.values());
  // Stopped by `signal`: not built, whatever the builds it stopped said.
  if (opts.signal?.aborted) throw interruptedError();
  if (firstError) throw keptGoing(firstError, failures, skippedNames, built.map((p) => lowerer.derivations.get(p)!));
  return { built, checked };
}
