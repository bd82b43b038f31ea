/**
 * What marks a package, in a module of its own that imports nothing at run time: build systems
 * check the packages their thunks return (build-systems.ts), and package.ts imports that module.
 * The brand is a registered symbol, so packages of two loaded copies of tsdsl mix.
 */
import type { Package } from './package.js';

export const PACKAGE_BRAND: unique symbol = Symbol.for('tsdsl.package') as never;

/** True for a package from any loaded copy of tsdsl. */
export function isPackage(x: unknown): x is Package {
  return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[PACKAGE_BRAND] === true;
}
