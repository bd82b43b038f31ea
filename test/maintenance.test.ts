/**
 * The maintenance commands as functions (`import { lint, style, collectGarbage, … } from
 * 'tsdsl'`): the same work as `tsdsl lint`, `style`, `gc`, `verify` and `size`, and errors
 * that name the request's fields rather than the command line's flags.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { closureSizes, collectGarbage, definePackage, licenses, lint, lintCheckers, openStore, style, trivial, verifyStore } from 'tsdsl';

const dirs: string[] = [];
const tempDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('maintenance functions of the API', () => {
  it('lint() reports what tsdsl lint reports, and names its own fields in errors', async () => {
    const bad = definePackage({
      name: 'Bad_Name', version: '1.0', buildSystem: trivial, synopsis: 'Fixture of the API test', description: 'Fixture.',
      homePage: 'https://example.org/', license: licenses.expat,
    });
    const findings = await lint({ packages: [bad], checkers: ['name'] });
    expect(findings.map((f) => [f.checker, f.package])).toEqual([['name', 'Bad_Name@1.0']]);
    expect(findings[0]!.file).toMatch(/maintenance\.test\.ts$/);
    expect(lintCheckers().map((c) => c.name)).toContain('name');
    await expect(lint({ checkers: ['nmae'] })).rejects.toThrow(/^lint\(\): `checkers`: unknown lint checker `nmae`; did you mean `name`\?.*see lintCheckers\(\)/);
    await expect(lint({ exclude: ['nmae'] })).rejects.toThrow(/^lint\(\): `exclude`: unknown lint checker `nmae`/);
    await expect(lint({ checkers: ['name'], exclude: ['name'] })).rejects.toThrow(/^lint\(\): `exclude` excludes every checker `checkers` names \(name\)/);
    await expect(lint({ checker: ['name'] } as never)).rejects.toThrow(/^lint\(\): unknown field `checker`; did you mean `checkers`\?/);
    // Field types too (a string for the list was a TypeError's text; a string for a switch, taken).
    await expect(lint({ checkers: 'source' } as never)).rejects.toThrow(/^lint\(\): `checkers` must be an array of strings, not "source"/);
    await expect(lint({ network: 'yes' } as never)).rejects.toThrow(/^lint\(\): `network` must be true or false, not "yes"/);
  });

  it('lint() takes a one-letter package named in its description for the package, as longer names are', async () => {
    const x = definePackage({ name: 'x', version: '1.0', buildSystem: trivial, synopsis: 'x tool', description: 'x is a tool.', homePage: 'https://example.org/', license: licenses.expat });
    const said = (await lint({ packages: [x], checkers: ['synopsis', 'description'] })).map((f) => f.message);
    // It said "should start with a capital letter or the package name, not `x`" of `x`.
    expect(said).toEqual(['synopsis should not start with the package name `x`']);
  });

  it('style() gives the canonical text, and writes it only when asked', async () => {
    const file = join(tempDir('tsdsl-api-style-'), 'p.ts');
    const text = `import { definePackage, licenses, trivial } from 'tsdsl';\n\nexport const p = definePackage({\n  version: '1.0',\n  name: 'p',\n  buildSystem: trivial,\n  synopsis: 'S',\n  description: 'D.',\n  homePage: 'https://example.org/',\n  license: licenses.expat,\n});\n`;
    writeFileSync(file, text);
    const dry = await style(file);
    expect(dry.changed).toBe(true);
    expect(dry.text.indexOf("name: 'p'")).toBeLessThan(dry.text.indexOf("version: '1.0'"));
    expect(readFileSync(file, 'utf8')).toBe(text);
    await style(file, { write: true });
    expect(readFileSync(file, 'utf8')).toBe(dry.text);
    expect((await style(file)).changed).toBe(false);
    await expect(style(join(file, '..', 'missing.ts'))).rejects.toThrow(/cannot read .*missing\.ts.*no such file/);
  });

  it('closureSizes(), verifyStore() and collectGarbage() work on a store opened with openStore()', async () => {
    const root = tempDir('tsdsl-api-store-');
    const src = join(tempDir('tsdsl-api-src-'), 'tree');
    mkdirSync(src);
    writeFileSync(join(src, 'data'), 'x'.repeat(1000));
    const store = openStore({ root, storeDir: '/tsdsl/store', env: {} });
    try {
      const path = await store.addToStoreFromPath('tree', src);
      const sizes = closureSizes(store, [path]);
      expect(sizes.items.map((i) => i.path)).toEqual([path]);
      expect(sizes.total).toBeGreaterThan(1000);
      expect((await verifyStore(store)).problems).toEqual([]);
      // A misspelt option is refused before anything is done: `dryrun` deleted for real.
      expect(() => collectGarbage(store, { dryrun: true } as never)).toThrow(/^collectGarbage\(\): unknown field `dryrun`; did you mean `dryRun`\?/);
      expect(() => collectGarbage({ dryRun: true } as never)).toThrow(/^collectGarbage\(\) takes a store made by openStore\(\) first, not another object/);
      await expect(verifyStore(store, { checkcontents: true } as never)).rejects.toThrow(/^verifyStore\(\): unknown field `checkcontents`; did you mean `checkContents`\?/);
      expect(store.isValid(path)).toBe(true);
      const gc = collectGarbage(store);
      expect(gc.deleted).toEqual([path]);
      expect(store.isValid(path)).toBe(false);
    } finally {
      store.close();
    }
    expect(() => collectGarbage(store)).toThrow(/^collectGarbage\(\): the store \(.*\) was closed before collectGarbage\(\) used it/);
  });

  it('openStore() refuses a misspelt field rather than opening the default store', () => {
    const root = tempDir('tsdsl-api-open-');
    expect(() => openStore({ rooot: root } as never)).toThrow(/^openStore\(\): unknown field `rooot`; did you mean `root`\?/);
    expect(() => openStore({ root: 42 } as never)).toThrow(/^openStore\(\): `root` must be a non-empty string, not 42/);
  });
});
