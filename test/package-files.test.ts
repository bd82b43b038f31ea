/** What a tarball of tsdsl (npm pack) carries besides the code. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './cli/helpers.js';

describe('the package', () => {
  it('ships the text of its license, GPL 3 or later', () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { license: string };
    expect(manifest.license).toBe('GPL-3.0-or-later');
    const text = readFileSync(join(ROOT, 'COPYING'), 'utf8');
    expect(text).toMatch(/^\s*GNU GENERAL PUBLIC LICENSE\n\s*Version 3, 29 June 2007\n/);
    // npm packs COPYING whatever `files` says.
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const [packed] = JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>;
    expect(packed!.files.map((f) => f.path)).toContain('COPYING');
  }, 60_000);
});
