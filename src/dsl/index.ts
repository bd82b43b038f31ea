/** The DSL in one import: records, origins, build systems and licenses. */
export {
  definePackage,
  inherit,
  derive,
  withVariants,
  modifyInputs,
  modifyInputList,
  isPackage,
  isPackageOutput,
  fullName,
  specString,
  directInputs,
  PACKAGE_BRAND,
} from './package.js';
export type {
  Package,
  PackageOutput,
  ProfileItem,
  PackageSpec,
  Overrides,
  BuildArguments,
  InputEdits,
  VariantDecl,
  VariantDecls,
  VariantValue,
  VariantValues,
} from './package.js';
export { url, unpinnedUrl, git, local, withOrigin, isOrigin, KNOWN_MIRRORS } from './origin.js';
export type { Origin, UrlOrigin, GitOrigin, LocalOrigin, Patch, UrlSpec, GitSpec } from './origin.js';
export { defineBuildSystem, withToolchain, implicitInputs, isBuildSystem, phaseKeys, trivial, debianBinary, union } from './build-systems.js';
export type { BuildSystem, BuildSystemSpec } from './build-systems.js';
export { licenses, isKnownLicense } from './licenses.js';
export type { License, LicenseName } from './licenses.js';
export type { Location } from './location.js';
