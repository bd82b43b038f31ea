/** applyTransformOptions() and applyTransformations() check the arguments a script gives them. */
import { describe, expect, it } from 'vitest';
import { applyTransformOptions, applyTransformations } from '../../src/transform/options.js';
import { getDefaultCollection } from '../../src/transform/api.js';
import { isTsdslError } from '../../src/errors.js';
import { hwloc } from '../../packages/index.js';

const c = getDefaultCollection();
const noEffect = [{ name: 'without-tests', value: 'scotch' }];

describe('applyTransformOptions() and applyTransformations()', () => {
  it('refuse an io without warn, naming the field, rather than fail with a TypeError at the first warning', async () => {
    const e = await applyTransformOptions([hwloc], noEffect, c, { wran: () => {} } as never).catch((x: unknown) => x);
    expect(isTsdslError(e)).toBe(true);
    expect((e as Error).message).toBe("applyTransformOptions()'s io: unknown field `wran`; did you mean `warn`? (the fields: warn)");
    expect(() => applyTransformations([hwloc], noEffect, c, {} as never)).toThrow('applyTransformations(): io.warn must be a function');
  });

  it('refuse a misspelt extra.cwd, which relative file names would not have been read from', async () => {
    await expect(applyTransformOptions([hwloc], [], c, { warn: () => {} }, { cdw: '/srv' } as never)).rejects.toThrow("applyTransformOptions()'s extra: unknown field `cdw`; did you mean `cwd`?");
  });

  it('refuse one package where a list is expected', () => {
    expect(() => applyTransformations(hwloc as never, [], c, { warn: () => {} })).toThrow('applyTransformations(): the packages are');
  });

  it('take an io with more than warn (console, a logger), as its type allows', async () => {
    const logger = { info: () => {}, warn: () => {}, error: () => {} };
    expect(applyTransformations([hwloc], noEffect, c, logger)).toEqual([hwloc]);
    expect(await applyTransformOptions([hwloc], [], c, console)).toEqual([hwloc]);
  });

  it('still warn through io.warn', () => {
    const said: string[] = [];
    expect(applyTransformations([hwloc], noEffect, c, { warn: (w) => said.push(w) })).toEqual([hwloc]);
    expect(said).toEqual(['--without-tests=scotch had no effect on `hwloc@2.9.0`']);
  });
});
