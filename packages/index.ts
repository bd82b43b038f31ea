/**
 * The default collection: every public package of every module, re-exported so that the
 * registry (and `import … from 'tsdsl/packages'`) sees one namespace. Non-package exports
 * (such as `bootstrapPackages` or `openmpiSandboxEnv`) are skipped by the registry.
 */
// Node's types, which the declarations use (Buffer, NodeJS.CallSite, node:fs): without this
// line a user's compiler finds them only when her tsconfig lists "node" in `types` (TypeScript 6
// and later include no @types package by default), and otherwise stops in tsdsl's declaration files.
/// <reference types="node" preserve="true" />
export * from './bootstrap.js';
export { cmakeMinimal } from './build-systems.js';
export * from './base.js';
export * from './mpi.js';
export * from './maths.js';
export * from './relocation.js';
