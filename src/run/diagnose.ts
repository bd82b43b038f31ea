/**
 * `tsdsl run --explain`: for every run engine, whether it works on this host and, if not, why and
 * how to fix it. The answers come from the engines' own probes — kernel switches read from
 * /proc/sys (user.max_user_namespaces, kernel.unprivileged_userns_clone,
 * kernel.apparmor_restrict_unprivileged_userns), binaries looked up on PATH, daemons asked, and a
 * real trial run (`unshare --user …`, `proot … true`, `podman info`) — never guessed. The host is
 * injectable, so tests can point /proc/sys and PATH elsewhere.
 */
import { type Host, type RunEngine, currentHost, runEngines } from './engines.js';
import { usernsSysctls } from './userns.js';

/** One engine's verdict. */
export interface EngineReport {
  readonly name: string;
  readonly description: string;
  readonly ok: boolean;
  /** When it works: version and mode (e.g. "util-linux 2.38.1; keeps your uid"). */
  readonly detail?: string;
  /** When it does not: one sentence with the fix. */
  readonly reason?: string;
}

/** The whole report: the host facts that matter and every engine in `auto`'s order. */
export interface Explanation {
  readonly host: {
    readonly user: string;
    readonly uid: number;
    readonly path: string;
    readonly procSys: string;
    /** user.max_user_namespaces and friends; undefined where the file does not exist. */
    readonly sysctls: Readonly<Record<string, number | undefined>>;
  };
  readonly engines: readonly EngineReport[];
  /** The engine `auto` would pick, if any. */
  readonly chosen?: string;
}

/** Probes every engine on `host` (each one's `available()`, trials included) and reports. */
export async function explainEngines(host: Host = currentHost(), engines: readonly RunEngine[] = runEngines(host)): Promise<Explanation> {
  const reports: EngineReport[] = [];
  for (const e of engines) {
    let a;
    try {
      a = await e.available();
    } catch (err) {
      a = { ok: false as const, reason: `probing it failed: ${(err as Error).message}` };
    }
    reports.push(
      a.ok
        ? { name: e.name, description: e.description, ok: true, ...(a.detail ? { detail: a.detail } : {}) }
        : { name: e.name, description: e.description, ok: false, reason: a.reason },
    );
  }
  const chosen = reports.find((r) => r.ok)?.name;
  return {
    host: { user: host.user, uid: host.uid, path: host.path, procSys: host.procSys, sysctls: usernsSysctls(host) },
    engines: reports,
    ...(chosen ? { chosen } : {}),
  };
}

/** The report as text for the terminal. */
export function formatExplanation(x: Explanation, options: { descriptions?: boolean; single?: boolean } = {}): string {
  const width = Math.max(...x.engines.map((e) => e.name.length));
  // One engine asked for (`--explain --engine=X`): its line, and no word of what auto would do.
  const one = x.engines.length === 1 && options.single === true;
  const lines = [one ? 'Run engine on this host:' : 'Run engines on this host, in the order `--engine auto` tries them:'];
  for (const e of x.engines) {
    lines.push(`  ${e.name.padEnd(width)}  ${e.ok ? 'works' : 'no   '}  ${e.ok ? (e.detail ?? '') : e.reason}`.trimEnd());
    if (options.descriptions) lines.push(`  ${''.padEnd(width)}         ${e.description}`);
  }
  if (!one) lines.push(x.chosen ? `auto would use: ${x.chosen}` : 'auto would fail: no engine works here (see the reasons above)');
  const sys = Object.entries(x.host.sysctls)
    .map(([k, v]) => `${k}=${v === undefined ? '(absent)' : v}`)
    .join(', ');
  lines.push(`Kernel (${x.host.procSys}): ${sys}`);
  lines.push(`User: ${x.host.user} (uid ${x.host.uid}); PATH=${x.host.path}`);
  return lines.join('\n') + '\n';
}
