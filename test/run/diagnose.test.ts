// `--explain`: every engine's verdict comes from real probes — /proc/sys, PATH, daemons, trials —
// and is reported truthfully when user namespaces are turned off or a binary is hidden.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentHost, which } from '../../src/run/engines.js';
import { type Explanation, explainEngines, formatExplanation } from '../../src/run/diagnose.js';
import { usernsAvailability, usernsBlockers } from '../../src/run/userns.js';
import { buildFixture, cannotSwitchUser, driverArgv, runDriver, writeRequest, type Fixture } from './fixtures/closure.js';

const MAX_USERNS = 'user namespaces disabled: sysctl user.max_user_namespaces=0; fix: sysctl -w user.max_user_namespaces=15000';

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'tsdsl-diagnose-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('kernel switches read from /proc/sys', () => {
  it('usernsBlockers, one sentence with the fix for each switch that is off', () => {
    const sys = join(scratch, 'sys');
    mkdirSync(join(sys, 'user'), { recursive: true });
    mkdirSync(join(sys, 'kernel'), { recursive: true });
    writeFileSync(join(sys, 'user/max_user_namespaces'), '0\n');
    writeFileSync(join(sys, 'kernel/unprivileged_userns_clone'), '0\n');
    writeFileSync(join(sys, 'kernel/apparmor_restrict_unprivileged_userns'), '1\n');
    const host = currentHost({ procSys: sys, uid: 1001 });
    expect(usernsBlockers(host)).toEqual([
      MAX_USERNS,
      'unprivileged user namespaces disabled: sysctl kernel.unprivileged_userns_clone=0; fix: sysctl -w kernel.unprivileged_userns_clone=1',
      'AppArmor restricts unprivileged user namespaces: sysctl kernel.apparmor_restrict_unprivileged_userns=1; fix: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (or an AppArmor profile that allows userns for unshare)',
    ]);
    // The real root is exempt from the two "unprivileged" switches.
    expect(usernsBlockers(currentHost({ procSys: sys, uid: 0 }))).toEqual([MAX_USERNS]);
  });

  it('a simulated /proc/sys that disagrees with the trial is reported as such', () => {
    // Simulation through the injectable /proc/sys: the trial still runs on the real kernel.
    const sys = join(scratch, 'sys2');
    mkdirSync(join(sys, 'user'), { recursive: true });
    writeFileSync(join(sys, 'user/max_user_namespaces'), '0\n');
    const a = usernsAvailability(currentHost({ procSys: sys }));
    expect(a.ok).toBe(false);
    expect(!a.ok && a.reason).toMatch(new RegExp(`^${MAX_USERNS.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\((yet a trial|confirmed by a trial)`));
  });
});

describe('a binary hidden from PATH', () => {
  it('is named, with the PATH searched and the fix', async () => {
    const bin = join(scratch, 'bin');
    mkdirSync(bin);
    for (const tool of ['mount', 'env', 'sh', 'true', 'tar', 'nsenter']) {
      const p = which(currentHost(), tool);
      if (p) symlinkSync(p, join(bin, tool));
    }
    const host = currentHost({ path: bin, env: { PATH: bin, HOME: '/nonexistent', USER: 'someone' } });
    const x = await explainEngines(host);
    const reason = (name: string): string | undefined => x.engines.find((e) => e.name === name)?.reason;
    expect(reason('userns')).toBe(`\`unshare\` is not on PATH (PATH=${bin}); fix: install util-linux`);
    expect(reason('proot')).toMatch(new RegExp(`^\`proot\` is not on PATH \\(PATH=${bin}\\); fix: install PRoot`));
    expect(reason('charliecloud')).toMatch(/^`ch-run` is not on PATH .*fix: install Charliecloud/);
    expect(reason('podman')).toMatch(/^`podman` is not on PATH/);
    expect(reason('docker')).toMatch(/^`docker` is not on PATH/);
    expect(reason('apptainer')).toMatch(/^`apptainer` is not on PATH/);
    expect(x.chosen).toBeUndefined();
    expect(formatExplanation(x)).toContain('auto would fail: no engine works here');
  });
});

it('formatExplanation, one line per engine, the choice and the kernel facts', () => {
  const x: Explanation = {
    host: { user: 'u', uid: 1001, path: '/bin', procSys: '/proc/sys', sysctls: { 'user.max_user_namespaces': 96365, 'kernel.unprivileged_userns_clone': undefined } },
    engines: [
      { name: 'userns', description: 'd', ok: true, detail: 'util-linux 2.38.1; keeps your uid' },
      { name: 'docker', description: 'd', ok: false, reason: 'Docker daemon unreachable' },
    ],
    chosen: 'userns',
  };
  expect(formatExplanation(x)).toBe(
    'Run engines on this host, in the order `--engine auto` tries them:\n' +
      '  userns  works  util-linux 2.38.1; keeps your uid\n' +
      '  docker  no     Docker daemon unreachable\n' +
      'auto would use: userns\n' +
      'Kernel (/proc/sys): user.max_user_namespaces=96365, kernel.unprivileged_userns_clone=(absent)\n' +
      'User: u (uid 1001); PATH=/bin\n',
  );
});

const skipUser = cannotSwitchUser();
if (skipUser) console.log(`explain tests as the unprivileged user skipped: ${skipUser}`);

describe.skipIf(skipUser !== undefined)('as the unprivileged user', () => {
  let f: Fixture;
  beforeAll(() => {
    f = buildFixture();
  });
  afterAll(() => rmSync(f.dir, { recursive: true, force: true }));

  it('reports what works here and why the others do not', () => {
    const r = runDriver(f, { mode: 'explain' });
    expect(r.code, r.stderr).toBe(0);
    const { report, text } = JSON.parse(r.stdout) as { report: Explanation; text: string };
    const e = (name: string) => report.engines.find((x) => x.name === name)!;
    expect(report.engines.map((x) => x.name)).toEqual(['userns', 'charliecloud', 'apptainer', 'singularity', 'podman', 'docker', 'proot']);
    // Truth on this host: user namespaces work, so userns works and keeps the uid.
    expect(e('userns')).toMatchObject({ ok: true });
    expect(e('userns').detail).toMatch(/^util-linux \d+\.\d+.*; keeps your uid/);
    for (const name of ['charliecloud', 'podman', 'docker', 'proot', 'apptainer', 'singularity']) {
      const x = e(name);
      if (!x.ok) expect(x.reason, name).toMatch(/is not on PATH|Docker daemon unreachable|fails|needs|disabled/);
    }
    if (which(currentHost(), 'docker') && !e('docker').ok) expect(e('docker').reason).toMatch(/^Docker daemon unreachable: `docker info` failed: .*; fix: /);
    if (!which(currentHost(), 'apptainer')) expect(e('apptainer').reason).toMatch(/^`apptainer` is not on PATH/);
    expect(report.chosen).toBe('userns');
    expect(text).toContain('auto would use: userns');
    expect(text).toMatch(/^ {2}userns +works {2}util-linux/m);
  });

  it('user namespaces turned off (sysctl 0 in a child user namespace): reported from /proc/sys and confirmed by a trial', () => {
    // user.max_user_namespaces is per user namespace: inside one we own, we may lower it.
    const trial = spawnSync('unshare', ['--user', '--map-root-user', 'true']);
    if (trial.status !== 0) {
      console.log(`skipped: cannot create a user namespace to turn the sysctl off in (${trial.stderr.toString().trim()})`);
      return;
    }
    const argv = driverArgv(writeRequest(f, { mode: 'explain', engines: ['userns', 'charliecloud', 'proot'] }));
    const r = spawnSync('unshare', ['--user', '--map-root-user', 'sh', '-c', 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"', 'sh', ...argv], {
      cwd: f.work,
      encoding: 'utf8',
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: '/nonexistent', USER: 'root' },
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const { report } = JSON.parse(r.stdout) as { report: Explanation };
    const e = (name: string) => report.engines.find((x) => x.name === name)!;
    expect(report.host.sysctls['user.max_user_namespaces']).toBe(0);
    expect(e('userns').ok).toBe(false);
    expect(e('userns').reason).toContain(MAX_USERNS);
    expect(e('userns').reason).toMatch(/confirmed by a trial: .*(No space left on device|not permitted)/);
    expect(e('charliecloud').ok).toBe(false);
    expect(e('charliecloud').reason).toContain(MAX_USERNS);
    if (e('proot').ok) expect(report.chosen).toBe('proot'); // ptrace needs no namespace
  });

  it('an actual unprivileged run gives the same answer as the report', () => {
    const spec = { root: f.root, storeDir: f.storeDir, command: ['fixture', 'exit', '0'], env: { PATH: '/bin' }, cwd: f.work };
    expect(runDriver(f, { mode: 'run', job: { engine: 'userns', spec } }).code).toBe(0);
  });
});
