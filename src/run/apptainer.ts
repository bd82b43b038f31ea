/**
 * The `apptainer` and `singularity` run engines: `exec` on the squashfs image `tsdsl pack -f
 * squashfs` writes (Singularity layout), or on the unpacked root as a sandbox directory. These are
 * the runtimes most clusters already have, often installed setuid-root, so they work even where
 * unprivileged user namespaces are off.
 *
 * Isolated runs use `--containall` (an empty $HOME, private /tmp, PID and IPC namespaces) with the
 * working directory bound back; otherwise Apptainer's defaults share $HOME, the working directory
 * and /tmp, as the other engines do. The environment goes through `--cleanenv` plus an env file,
 * but Apptainer adds its own variables (APPTAINER_*, SINGULARITY_*, and a LD_LIBRARY_PATH entry
 * for /.singularity.d/libs). Signals are forwarded by Apptainer's starter.
 */
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TsdslError } from '../errors.js';
import {
  type Availability,
  type Host,
  type RunEngine,
  type RunSpec,
  currentHost,
  isDockerArchive,
  lastLine,
  launch,
  missingBinary,
  planShares,
  probe,
  runScratch,
  SCRATCH_PREFIXES,
  which,
} from './engines.js';
import { scratchParent, usernsBlockers } from './userns.js';
import { shellQuote } from '../shell-quote.js';

/** Which of the two command names. */
export type ApptainerFlavour = 'apptainer' | 'singularity';

/** The env file for `--env-file`: one `export NAME='value'` per variable. */
export function envFile(env: Readonly<Record<string, string>>): string {
  return Object.entries(env)
    .map(([k, v]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new TsdslError(`engine apptainer cannot pass the variable \`${k}\`: its env file accepts only shell names; rename it or use --engine userns`);
      return `export ${k}=${shellQuote(v)}\n`;
    })
    .join('');
}

/** The `exec` argv after the binary (exported for tests). */
export function apptainerExecArgs(host: Host, spec: RunSpec, image: string, envPath: string): string[] {
  const shares = planShares(spec, host, { home: false });
  const args = ['exec', '--cleanenv', `--env-file=${envPath}`];
  if (spec.isolate) args.push('--containall');
  if (spec.network === false || (spec.isolate && spec.network !== true)) args.push('--net', '--network=none');
  // Apptainer binds the working directory itself unless --containall; binding it twice fails.
  const own = new Set((spec.binds ?? []).map((b) => b.target));
  const binds = spec.isolate ? shares.binds : shares.binds.filter((b) => !(b.target === shares.cwd && b.source === shares.cwd && !own.has(b.target)));
  for (const b of binds) {
    if (b.source.includes(':') || b.target.includes(':') || b.source.includes(',')) {
      throw new TsdslError(`engine apptainer cannot bind ${b.source}: --bind SRC:DST does not allow ':' or ',' in paths; rename it or use --engine userns`);
    }
    args.push(`--bind=${b.source}:${b.target}:${b.writable ? 'rw' : 'ro'}`);
  }
  args.push(`--pwd=${shares.cwd}`, image, ...spec.command);
  return args;
}

/** Whether the installation has a setuid starter (works with user namespaces off). */
function hasSetuidStarter(bin: string, flavour: ApptainerFlavour): boolean {
  const prefix = join(bin, '..', '..');
  for (const p of [join(prefix, 'libexec', flavour, 'bin', 'starter-suid'), `/usr/libexec/${flavour}/bin/starter-suid`]) {
    try {
      if ((statSync(p).mode & 0o4000) !== 0) return true;
    } catch {
      // absent
    }
  }
  return false;
}

/** The `apptainer` (or `singularity`) engine on `host`. */
export function apptainerEngine(host: Host = currentHost(), flavour: ApptainerFlavour = 'apptainer'): RunEngine {
  return {
    name: flavour,
    description: `${flavour === 'apptainer' ? 'Apptainer' : 'SingularityCE/Singularity'} exec on the squashfs image (or the unpacked directory as a sandbox); --containall when isolated; adds ${flavour.toUpperCase()}_* variables to the environment`,

    async available(): Promise<Availability> {
      const bin = which(host, flavour);
      if (!bin) {
        return {
          ok: false,
          reason: missingBinary(host, flavour, `install ${flavour === 'apptainer' ? 'Apptainer' : 'SingularityCE'} (Debian bookworm does not package it; use the project's release packages or your cluster's module)`),
        };
      }
      // Debian's package called `singularity` is a game (in /usr/games): insist on the runtime.
      if (bin.startsWith('/usr/games/')) return { ok: false, reason: `${bin} is the game Endgame: Singularity, not the container runtime; fix: install SingularityCE or Apptainer` };
      const v = probe([bin, '--version'], { env: { PATH: host.path, HOME: host.home }, timeoutMs: 10_000 });
      if (!v.ok) return { ok: false, reason: `\`${flavour} --version\` fails: ${lastLine(v.stderr)}` };
      if (!/(apptainer|singularity)(-ce)? version \d/i.test(v.stdout)) return { ok: false, reason: `${bin} is not a container runtime (\`--version\` says: ${lastLine(v.stdout)})` };
      const blockers = usernsBlockers(host);
      if (blockers.length > 0 && host.uid !== 0 && !hasSetuidStarter(bin, flavour)) {
        return { ok: false, reason: `${flavour} is installed without its setuid starter and ${blockers.join('; ')}` };
      }
      return { ok: true, detail: v.stdout.trim() };
    },

    accepts(spec: RunSpec): Availability {
      if (spec.image && !(spec.root && isDockerArchive(host, spec.image))) return existsSync(spec.image) ? { ok: true } : { ok: false, reason: `image ${spec.image} does not exist` };
      return existsSync(spec.root) ? { ok: true } : { ok: false, reason: `no image given and no root at ${spec.root}` };
    },

    async run(spec, opts = {}) {
      const bin = which(host, flavour);
      if (!bin) throw new TsdslError(`engine ${flavour}: ${missingBinary(host, flavour, `install ${flavour}`)}`);
      // The image as it is, but a docker-archive through its unpacked root.
      const image = spec.image && !(spec.root && isDockerArchive(host, spec.image)) ? spec.image : spec.root;
      if (!existsSync(image)) throw new TsdslError(`engine ${flavour}: ${image} does not exist; build a squashfs image with \`tsdsl pack -f squashfs\``);
      const { dir: scratch, opts: runOpts } = runScratch(scratchParent(host), SCRATCH_PREFIXES.apptainer, opts);
      try {
        const envPath = join(scratch, 'env');
        writeFileSync(envPath, envFile(spec.env), { mode: 0o600 });
        const argv = [bin, ...apptainerExecArgs(host, spec, image, envPath)];
        const { code } = await launch({ argv, env: { PATH: host.path, HOME: host.home, USER: host.env['USER'] ?? host.user }, stdio: spec.stdio ?? 'inherit' }, runOpts);
        return code;
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
    },
  };
}
