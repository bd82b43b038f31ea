/** The package on the left of an option may be one of the graph being transformed that the collection lacks. */
import { describe, expect, it } from 'vitest';
import { directInputs, withVariants } from '../../src/dsl/index.js';
import { Collection } from '../../src/registry/collection.js';
import { transform } from '../../src/transform/api.js';
import { hwloc, zlib } from '../../packages/index.js';
import { dummyPackage } from '../fixtures/dummy.js';

// A script's own packages, made in code or loaded from its files: not in the default collection.
const labLib = dummyPackage({ name: 'lab-lib', version: '2.0', variants: { fast: false }, inputs: [zlib] });
const tool = dummyPackage({ name: 'lab-tool', version: '1.0', inputs: [labLib, hwloc] });

describe('transform() of a package the default collection does not hold', () => {
  it('matches a name of its graph without the collection that defines it', () => {
    const said: string[] = [];
    const t = transform(tool, ['--without-tests=lab-lib', '--with-input=lab-lib=zlib'], { warn: (w) => said.push(w) });
    expect(said).toEqual([]);
    expect(directInputs(t).map((p) => p.name)).toEqual(['zlib', 'hwloc']);
    const quick = transform(tool, { withoutTests: ['lab-lib@2'] });
    expect(directInputs(quick)[0]!.arguments.tests).toBe(false);
    // The same as with the collection given.
    const withCollection = transform(tool, { withoutTests: ['lab-lib@2'] }, { collection: new Collection([labLib, tool]) });
    expect(directInputs(withCollection)[0]!.arguments).toEqual(directInputs(quick)[0]!.arguments);
  });

  it('still checks its version and variants, and refuses a name the graph does not hold either', () => {
    expect(() => transform(tool, ['--without-tests=lab-lib@3'])).toThrow(/^--without-tests=lab-lib@3: `lab-lib` has no version matching `3`/);
    expect(() => transform(tool, ['--without-tests=lab-lib+slow'])).toThrow(/has no variant `slow`/);
    expect(() => transform(tool, ['--without-tests=lab-lbi'])).toThrow(/^--without-tests=lab-lbi: unknown package `lab-lbi`/);
    const fast = withVariants(labLib, { fast: true });
    const both = dummyPackage({ name: 'lab-both', version: '1.0', inputs: [fast] });
    expect(directInputs(transform(both, ['--without-tests=lab-lib+fast']))[0]!.arguments.tests).toBe(false);
  });
});
