/**
 * The installed command: bin/tsdsl.js run as a program (through its `#!` line, and through a
 * symlink, as npm links it into node_modules/.bin), which starts Node with the options its
 * second line names; and the bench, which starts the command with the same ones.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, ROOT } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tsdsl-bin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A module Node loads first (NODE_OPTIONS has no spaces in it): prints the options Node got.
const SHOW_OPTIONS = '--import=data:text/javascript,process.stderr.write(`execArgv=${JSON.stringify(process.execArgv)}\\n`)';

function runAsProgram(file: string, args: readonly string[]) {
  return spawnSync(file, args, { cwd: dir, encoding: 'utf8', env: { ...process.env, TSDSL_PACKAGE_PATH: '', NODE_OPTIONS: SHOW_OPTIONS } });
}

describe('bin/tsdsl.js', () => {
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

  it('runs as a program, through a symlink as npm links it, with the Node options its exec line names', () => {
    const link = join(dir, 'tsdsl');
    symlinkSync(BIN, link);
    for (const file of [BIN, link]) {
      const r = runAsProgram(file, ['--version']);
      expect(r.stdout).toBe(`tsdsl ${version}\n`);
      expect(r.status).toBe(0);
      expect(r.stderr).toContain('execArgv=["--max-semi-space-size=4","--v8-pool-size=1"]');
    }
    // A failing command's status comes through the exec.
    const bad = runAsProgram(link, ['no-such-command']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/tsdsl: error: .*no-such-command/);
  });

  it('is what the bench starts, with the same options', async () => {
    const common = (await import(pathToFileURL(join(ROOT, 'bench', 'common.mjs')).href)) as { nodeOptions: string[]; tsdslArgv: (...a: string[]) => string[] };
    expect(common.nodeOptions).toEqual(['--max-semi-space-size=4', '--v8-pool-size=1']);
    const r = spawnSync(process.execPath, common.tsdslArgv('--version'), { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: SHOW_OPTIONS } });
    expect(r.stdout).toBe(`tsdsl ${version}\n`);
    expect(r.stderr).toContain('execArgv=["--max-semi-space-size=4","--v8-pool-size=1"]');
  });
});
