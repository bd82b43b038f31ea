import { chmodSync, mkdirSync, mkdtempSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { editorArguments, editorWords } from '../../src/cli/commands/edit.js';
import { ROOT, tsdsl } from '../cli/helpers.js';

/** An "editor" that records its arguments, one a line, into `log`. */
function recordingEditor(): { script: string; log: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tsdsl-edit-'));
  const script = join(dir, 'vi');
  const log = join(dir, 'args');
  writeFileSync(script, `#!/bin/sh\nprintf '%s\\n' "$@" > '${log}'\n`);
  chmodSync(script, 0o755);
  return { script, log };
}

/** hwloc's definition line, read from the source itself. */
function hwlocLine(): number {
  const lines = readFileSync(join(ROOT, 'packages', 'mpi.ts'), 'utf8').split('\n');
  return lines.findIndex((l) => /^export const hwloc = definePackage\(/.test(l)) + 1;
}

describe('tsdsl edit', () => {
  it('starts $EDITOR as `EDITOR +LINE FILE` on the TypeScript source (not dist/)', () => {
    const { script, log } = recordingEditor();
    const r = tsdsl(['edit', 'hwloc'], { env: { EDITOR: script, VISUAL: '' } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readFileSync(log, 'utf8')).toBe(`+${hwlocLine()}\n${join(ROOT, 'packages', 'mpi.ts')}\n`);
  });

  it('prefers $VISUAL, passes its own arguments, and opens several packages at once', () => {
    const { script, log } = recordingEditor();
    const r = tsdsl(['edit', 'hwloc', 'scotch'], { env: { VISUAL: `${script} -n`, EDITOR: '/nonexistent/editor' } });
    expect(r.code).toBe(0);
    const args = readFileSync(log, 'utf8').split('\n');
    expect(args.slice(0, 3)).toEqual(['-n', `+${hwlocLine()}`, join(ROOT, 'packages', 'mpi.ts')]);
    expect(args[3]).toMatch(/^\+\d+$/);
    expect(args[4]).toBe(join(ROOT, 'packages', 'maths.ts'));
  });

  it('says that the compiled collection must be rebuilt when its file was saved, and nothing for a file of one\'s own', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-edit-save-'));
    const script = join(dir, 'vi');
    // Saves the file unchanged (its mtime moves), as `:w` does.
    writeFileSync(script, '#!/bin/sh\ntouch "$2"\n');
    chmodSync(script, 0o755);
    const mpi = join(ROOT, 'packages', 'mpi.ts');
    const { atime, mtime } = statSync(mpi);
    try {
      const r = tsdsl(['edit', 'hwloc'], { env: { EDITOR: script, VISUAL: '' } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/^tsdsl: note: packages\/mpi\.ts belongs to the compiled default collection: run `node scripts\/build\.mjs` \(or `npm run build`\)/);
    } finally {
      utimesSync(mpi, atime, mtime);
    }
    const mine = join(dir, 'mine');
    mkdirSync(mine);
    writeFileSync(
      join(mine, 'a.ts'),
      "import { definePackage, trivial, licenses } from 'tsdsl';\nexport const a = definePackage({ name: 'a', version: '1', buildSystem: trivial, synopsis: 'A', description: 'A.', homePage: 'https://example.org', license: licenses.expat });\n",
    );
    const own = tsdsl(['edit', '-L', mine, 'a'], { env: { EDITOR: script, VISUAL: '' } });
    expect(own.code, own.stderr).toBe(0);
    expect(own.stderr).toBe('');
  });

  it('an editor that fails is said, with its status', () => {
    const r = tsdsl(['edit', 'hwloc'], { env: { EDITOR: 'false', VISUAL: '' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('tsdsl: error: the editor `false` (from EDITOR) exited with status 1; check EDITOR, or use --print for FILE:LINE\n');
  });

  it('prints FILE:LINE when no editor is set, or with --print', () => {
    const r = tsdsl(['edit', 'hwloc'], { env: { EDITOR: '', VISUAL: '' } });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`packages/mpi.ts:${hwlocLine()}\n`);
    const p = tsdsl(['edit', '--print', 'hwloc'], { env: { EDITOR: '/nonexistent/editor' } });
    expect(p.stdout).toBe(`packages/mpi.ts:${hwlocLine()}\n`);
  });

  it('an editor variable is split as a shell splits words: quotes keep blanks', () => {
    expect(editorWords('emacsclient  -nw', 'EDITOR')).toEqual(['emacsclient', '-nw']);
    expect(editorWords(`"/opt/My Editor/ed" -w 'a b' c\\ d ""`, 'EDITOR')).toEqual(['/opt/My Editor/ed', '-w', 'a b', 'c d', '']);
    expect(() => editorWords('"/opt/ed -w', 'VISUAL')).toThrow(/VISUAL has an unclosed " quote/);
    // A program whose directory has a blank in its name starts.
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl edit '));
    const log = join(dir, 'args');
    writeFileSync(join(dir, 'my vi'), `#!/bin/sh\nprintf '%s\\n' "$@" > '${log}'\n`);
    chmodSync(join(dir, 'my vi'), 0o755);
    const r = tsdsl(['edit', 'hwloc'], { env: { VISUAL: `'${join(dir, 'my vi')}' -n`, EDITOR: '' } });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(log, 'utf8')).toBe(`-n\n+${hwlocLine()}\n${join(ROOT, 'packages', 'mpi.ts')}\n`);
  });

  it('VS Code gets --goto FILE:LINE:COLUMN', () => {
    expect(editorArguments('/usr/bin/code', [{ file: '/p/x.ts', line: 3, column: 22 }])).toEqual(['--goto', '/p/x.ts:3:22']);
    expect(editorArguments('emacsclient', [{ file: '/p/x.ts', line: 3, column: 22 }])).toEqual(['+3', '/p/x.ts']);
  });

  it('a missing editor or unknown package is a clear error', () => {
    const r = tsdsl(['edit', 'hwloc'], { env: { EDITOR: '/nonexistent/editor', VISUAL: '' } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/cannot start the editor `\/nonexistent\/editor` \(from EDITOR\): not found; set VISUAL or EDITOR/);
    expect(tsdsl(['edit', 'hwlok'], { env: { EDITOR: '' } }).stderr).toMatch(/unknown package `hwlok`; did you mean `hwloc`/);
    expect(tsdsl(['edit']).stderr).toMatch(/no package given/);
  });
});
