/**
 * The tsdsl programmatic API: the DSL, collections, graphs and transformations. Package files
 * import from here (`import { definePackage, url } from 'tsdsl'`) and the default collection
 * from `tsdsl/packages`.
 */
// Node's types, which the declarations use (Buffer, NodeJS.CallSite, node:fs): without this
// line a user's compiler finds them only when her tsconfig lists "node" in `types` (TypeScript 6
// and later include no @types package by default), and otherwise stops in tsdsl's declaration files.
/// <reference types="node" preserve="true" />
export * from './dsl/index.js';
export { TsdslError, isTsdslError } from './errors.js';
export { Collection } from './registry/collection.js';
export { loadCollection, type LoadOptions } from './registry/load.js';
export { parseSpec, type PackageSpecString } from './registry/spec.js';
export { compareVersions, versionMatches } from './registry/version.js';
export { buildGraph, findNodeType, findCycle, topologicalOrder, type PackageGraph, type BuildGraphOptions } from './graph/build.js';
export { nodeTypes, bagInputs, type NodeType, type GraphContext, type GraphNode } from './graph/node-types.js';
export { backends, findBackend, type GraphBackend, type RenderOptions } from './graph/backends/index.js';
export { shortestPath } from './graph/path.js';
export { gnu, cmake } from '../packages/build-systems.js';
export { transform, getDefaultCollection, type TransformSpec, type TransformOptions } from './transform/api.js';
export { transformations, applyTransformations, applyTransformOptions, findTransformation, type Transformation, type AppliedTransformation } from './transform/options.js';
export { packageMapping, mapPackages, rewriteInputs, type MappingOptions, type PackageMapping } from './transform/rewrite.js';
export { pack, parseSymlinks, type PackRequest, type PackResult, type PackFormatName, type CompressionName } from './pack/api.js';
export { defineManifest, collectionRevision, type PackManifest } from './pack/manifest.js';
export { packFormats, findPackFormat, type PackFormat, type PackInput, type PackOptions } from './pack/formats.js';
export { lowerPackages, Lowerer, derivationJson, type LoweredPackage, type LowerOptions } from './derivation/lower.js';
export type { Derivation, DerivationOutput, FinalizedDerivation } from './derivation/aterm.js';
export type { DerivationTable } from './derivation/table.js';
export { openStore, type Store, type LocalStore } from './store/store.js';
export { realise, readLog, BuildError, type BuildEvent, type BuildOptions } from './build/scheduler.js';
export { instantiate } from './derivation/instantiate.js';
export { runEngines, findEngine, autoEngine, type RunEngine, type RunSpec } from './run/engines.js';
export { explainEngines, formatExplanation } from './run/diagnose.js';
export { run, type RunRequest, type BindRequest, type EngineName } from './run/api.js';
export { collectPackCache, listPackCache, packCacheDir, type PackCacheEntry, type PackCacheCollection } from './run/unpack.js';
export { lint, lintCheckers, style, collectGarbage, verifyStore, repairStore, closureSizes, type LintRequest, type Finding, type StyleResult, type GcOptions, type GcResult, type VerifyOptions, type StoreProblem, type RepairResult, type SizeEntry } from './maintenance.js';
