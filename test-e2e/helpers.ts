/**
 * Helpers of the end-to-end suite: the real `tsdsl` binary on a shared store, and running a
 * store program in a chroot that holds nothing but its closure (what a pack carries).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, ROOT } from '../test/cli/helpers.js';

/** The store the suite builds into: shared with the slow unit tests, so nothing is built twice. */
export const E2E_ROOT = process.env['TSDSL_TEST_ROOT'] ?? join(tmpdir(), 'tsdsl-test-store');
export const STORE_DIR = '/tsdsl/store';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `tsdsl ARGS` on the e2e store; builds print their progress to this process's stderr. */
export function tsdsl(args: readonly string[], options: { cwd?: string; timeoutMs?: number; input?: string; env?: Record<string, string>; expectCode?: number } = {}): Run {
  mkdirSync(E2E_ROOT, { recursive: true });
  chmodSync(E2E_ROOT, 0o755);
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env, TSDSL_ROOT: E2E_ROOT, TSDSL_STORE_DIR: STORE_DIR, TSDSL_PACKAGE_PATH: '' },
    encoding: 'utf8',
    input: options.input ?? '',
    timeout: options.timeoutMs ?? 4 * 3600_000,
    maxBuffer: 64 << 20,
  });
  if (r.status !== (options.expectCode ?? 0)) process.stderr.write(`tsdsl ${args.join(' ')} failed (exit ${r.status}):\n${r.stderr.slice(-6000)}\n`);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Builds PACKAGES (-j2 --cores=2 plus EXTRA) and returns their output paths, in order. */
export function build(packages: readonly string[], extra: readonly string[] = []): string[] {
  const r = tsdsl(['build', '-q', '-j2', '--cores=2', ...extra, ...packages]);
  if (r.code !== 0) throw new Error(`tsdsl build ${packages.join(' ')} failed (exit ${r.code}):\n${r.stderr.slice(-4000)}`);
  return r.stdout.trim().split('\n');
}

/** The physical location of a logical store path. */
export function physical(path: string): string {
  return join(E2E_ROOT, 'store', path.slice(STORE_DIR.length + 1));
}

/**
 * Runs COMMAND (store paths) in a chroot holding only the closure of ROOTS (+ /proc), in a user
 * namespace — as user tsdsltest when this process is root and that user exists.
 */
export function runInClosure(roots: readonly string[], command: readonly string[], options: { input?: string; env?: Record<string, string> } = {}): Run {
  const req = tsdsl(['gc', '--requisites', ...roots]);
  if (req.code !== 0) throw new Error(`tsdsl gc --requisites failed: ${req.stderr}`);
  const closure = req.stdout.trim().split('\n');
  const chroot = mkdtempSync(join(tmpdir(), 'tsdsl-e2e-chroot-'));
  chmodSync(chroot, 0o755);
  for (const p of closure) mkdirSync(join(chroot, p), { recursive: true });
  mkdirSync(join(chroot, 'proc'));
  mkdirSync(join(chroot, 'tmp'), { mode: 0o1777 });
  chmodSync(join(chroot, 'tmp'), 0o1777);
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const binds = closure.map((p) => `mount --bind ${q(physical(p))} ${q(chroot + p)}`).join('; ');
  const env = Object.entries(options.env ?? {}).map(([k, v]) => `export ${k}=${q(v)}; `).join('');
  const script = `${binds}; mount -t proc proc ${q(chroot)}/proc; ${env}exec chroot ${q(chroot)} ${command.map(q).join(' ')}`;
  const asUser = process.getuid?.() === 0 && spawnSync('id', ['tsdsltest']).status === 0;
  const cmd = [...(asUser ? ['runuser', '-u', 'tsdsltest', '--'] : []), 'unshare', '-mrf', '--pid', 'sh', '-c', script];
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', input: options.input ?? '', maxBuffer: 64 << 20 });
  // The mounts were in the command's own namespace: only the empty mount points are left.
  rmSync(chroot, { recursive: true, force: true });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The solution MUMPS's `dsimpletest` prints for its shipped input, as one line of text, after
 * checking that it is (1, 2, 3, 4, 5) to within 1e-9 (OpenBLAS prints 0.99999999999999989 and
 * the like). Throws with the output's end when there is none, or a wrong one.
 */
export function simpletestSolution(stdout: string): string {
  const m = /Solution is([^\n]*(?:\n[ \t]+[-+0-9][-+0-9.E ]*)*)/.exec(stdout);
  if (!m) throw new Error(`no solution in the output:\n${stdout.slice(-3000)}`);
  const values = m[1]!.trim().split(/\s+/).map(Number);
  if (values.length !== 5 || values.some((v, i) => !(Math.abs(v - (i + 1)) < 1e-9))) throw new Error(`a wrong solution: ${m[0]}`);
  return m[0].replace(/\s+/g, ' ').trim();
}
