/**
 * The default collection: every public package of every module, re-exported so that the
 * registry (and `import … from 'tsdsl/packages'`) sees one namespace. Non-package exports
 * (such as `bootstrapPackages` or `openmpiSandboxEnv`) are skipped by the registry.
 */
export * from './bootstrap.js';
export { cmakeMinimal } from './build-systems.js';
export * from './base.js';
export * from './mpi.js';
export * from './maths.js';
export * from './relocation.js';
