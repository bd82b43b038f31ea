/**
 * The `proot` run engine: PRoot fakes chroot and bind mounts by intercepting every system call
 * with ptrace, so it needs neither root nor user namespaces — the fallback of last resort, as in
 * Guix's `pack -RR`. The price: each system call costs a round trip through the tracer (100× and
 * more here, machine-facts D2), and Debian bookworm's PRoot 5.1.0 does not translate `statx`, so
 * coreutils' `ls` and `stat` fail inside (D1). A pack may carry a newer static PRoot
 * (`<root>/bin/proot`), or the user may point `TSDSL_PROOT` at one.
 *
 * Faithfulness: PRoot ignores SIGINT/SIGTERM itself, so signals go to the traced command; PRoot
 * reports a command killed by a signal as exit status 255, which is mapped back to 128+n for the
 * signal tsdsl forwarded. PRoot sets PWD to the working directory and cannot make binds
 * read-only nor take the network away.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TsdslError } from '../errors.js';
import { readElf } from '../store/elf.js';
import {
  type Availability,
  type Bind,
  type Host,
  type RunEngine,
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
  sharedNetworkWritableBinds,
  sharesNetwork,
  which,
} from './engines.js';
import { scratchParent } from './userns.js';
import { signalExitCode } from '../signals.js';

/** The ELF interpreter a binary asks for, '' for a static binary, undefined when not ELF (or unreadable). */
export function elfInterpreter(path: string): string | undefined {
  try {
    const elf = readElf(path);
    return elf ? (elf.interpreter ?? '') : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a binary can run on this host as it is: static, or its interpreter exists here. */
function runsOnHost(path: string): boolean {
  try {
    if ((statSync(path).mode & 0o111) === 0) return false;
  } catch {
    return false;
  }
  const interp = elfInterpreter(path);
  return interp === '' || (interp !== undefined && existsSync(interp));
}

/**
 * The PRoot to use: `TSDSL_PROOT`, else one the pack carries (`<root>/bin/proot`, if it can run on
 * the host), else `proot` on PATH.
 */
export function findProot(host: Host, root?: string): string | undefined {
  const forced = host.env['TSDSL_PROOT'];
  if (forced) return forced;
  if (root) {
    const packed = resolveInView(root, [], '/bin/proot');
    if (packed && runsOnHost(packed)) return packed;
  }
  return which(host, 'proot');
}

/** Whether PRoot can honour a spec: it cannot cut the network nor make binds read-only. */
function accepts(spec: RunSpec): Availability {
  const refused = sharedNetworkWritableBinds(spec, 'PRoot', 'PRoot cannot take the network away');
  if (refused) return refused;
  try {
    checkRoot(spec);
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  return { ok: true };
}

/** The `proot` engine on `host`. */
export function prootEngine(host: Host = currentHost()): RunEngine {
  return {
    name: 'proot',
    description:
      'PRoot (ptrace): needs no namespaces, but traps every system call (100× and more per syscall) and Debian\'s PRoot 5.1.0 does not translate statx, so coreutils `ls`/`stat` fail inside; binds cannot be read-only, the network cannot be cut, PWD is set',

    async available(): Promise<Availability> {
      const forced = host.env['TSDSL_PROOT'];
      const proot = findProot(host);
      if (!proot) return { ok: false, reason: `${missingBinary(host, 'proot', 'install PRoot (apt install proot) or set TSDSL_PROOT to a static PRoot binary')}` };
      if (forced && !runsOnHost(forced)) return { ok: false, reason: `TSDSL_PROOT=${forced} is not an executable this host can run; fix: point it at a static PRoot binary` };
      let scope: string | undefined;
      try {
        scope = readFileSync(join(host.procSys, 'kernel/yama/ptrace_scope'), 'utf8').trim();
      } catch {
        // no Yama
      }
      if (scope === '3') return { ok: false, reason: 'ptrace is disabled: sysctl kernel.yama.ptrace_scope=3 (only a reboot lowers it); PRoot needs ptrace — use another engine' };
      const tru = which(host, 'true') ?? '/bin/true';
      const t = probe([proot, '-r', '/', tru], { env: { PATH: host.path } });
      if (!t.ok) return { ok: false, reason: `a trial \`${proot} -r / true\` fails: ${lastLine(t.stderr)}; fix: allow ptrace (seccomp, Yama) or use another engine` };
      const version = /v?(\d+\.\d+\.\d+)/.exec(probe([proot, '--version'], { env: {} }).stdout)?.[1];
      return { ok: true, detail: `${proot}${version ? ` ${version}` : ''}; slow system calls, no statx translation in 5.1.0` };
    },

    accepts,

    async run(spec, opts = {}) {
      const refused = accepts(spec);
      if (!refused.ok) throw new TsdslError(`engine proot: ${refused.reason}`);
      const proot = findProot(host, spec.root);
      if (!proot) throw new TsdslError(`engine proot: ${missingBinary(host, 'proot', 'install PRoot or set TSDSL_PROOT to a static PRoot binary')}`);
      const isolate = spec.isolate === true;
      const shares = planShares(spec, host);
      const { dir: scratch, opts: runOpts } = runScratch(scratchParent(host), SCRATCH_PREFIXES.proot, opts);
      try {
        const sys: Bind[] = [];
        const add = (source: string, target = source): void => {
          if (existsSync(source)) sys.push({ source, target, writable: true });
        };
        add('/proc');
        add('/sys');
        add('/dev');
        if (isolate) {
          const tmp = join(scratch, 'tmp');
          mkdirSync(tmp);
          chmodSync(tmp, 0o1777);
          add(tmp, '/tmp');
          // $HOME: private, empty and writable (the userns engine's, made here in the scratch directory).
          const home = privateHome(spec, shares.binds);
          if (home) {
            const dir = join(scratch, 'home');
            mkdirSync(dir, { mode: 0o700 });
            add(dir, home);
          }
        } else add('/tmp');
        // PRoot binds need no mount point in the root, so generated /etc files go straight in.
        const pw = passwdFiles(host);
        for (const [name, text] of [['passwd', pw.passwd], ['group', pw.group]] as const) {
          if (carriesEtcFile(spec.root, `/etc/${name}`)) continue;
          const f = join(scratch, name);
          writeFileSync(f, text, { mode: 0o644 });
          add(f, `/etc/${name}`);
        }
        if (sharesNetwork(spec)) {
          for (const f of ['/etc/resolv.conf', '/etc/hosts']) if (!carriesEtcFile(spec.root, f)) add(f);
        }
        checkCommand(spec, shares, sys);
        const argv = [proot, '-r', spec.root];
        for (const b of [...sys, ...shares.binds]) argv.push('-b', b.source === b.target ? b.source : `${b.source}:${b.target}`);
        argv.push('-w', shares.cwd, ...spec.command);
        const { code, forwarded } = await launch(
          { argv, env: { ...spec.env }, stdio: spec.stdio ?? 'inherit', signalTargets: childrenOf },
          runOpts,
        );
        // PRoot exits 255 when the traced command was killed by a signal.
        if (code === 255 && forwarded) return signalExitCode(forwarded);
        return code;
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
    },
  };
}

