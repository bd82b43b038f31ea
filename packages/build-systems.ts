/**
 * The collection's build systems that need a toolchain: `gnu` (./configure && make && make
 * check && make install) and `cmake`. Their implicit inputs are thunks over the bootstrap
 * packages (packages/bootstrap.ts), evaluated when a bag is made, never at load time. `cmake`
 * the package is defined here too, after `gnu`, because the cmake build system needs it and
 * any other module that used `gnu` at load time would form an import cycle with this one.
 */
import { defineBuildSystem, definePackage, licenses, url, type BuildSystem } from '../src/dsl/index.js';
import * as boot from './bootstrap.js';

const gnuTools = () => [
  boot.make, boot.coreutils, boot.bash, boot.sed, boot.grep, boot.gawk, boot.tar, boot.gzip,
  boot.bzip2Bootstrap, boot.xzUtils, boot.findutils, boot.diffutils, boot.patch, boot.dash,
];

/** GNU build system: unpack, patch, configure, build, check, install, strip, validate. */
export const gnu: BuildSystem = defineBuildSystem({
  name: 'gnu',
  description: 'GNU build system: ./configure && make && make check && make install',
  phases: ['unpack', 'patch', 'bootstrap', 'configure', 'build', 'check', 'install', 'shebangs', 'strip', 'validate'],
  argumentKeys: ['configureFlags', 'makeFlags', 'testTarget', 'installTarget', 'parallelTests'],
  toolchain: () => [boot.gccToolchain],
  tools: gnuTools,
});

/** CMake build system: cmake -DCMAKE_BUILD_TYPE=Release, make, ctest, make install. */
export const cmake: BuildSystem = defineBuildSystem({
  name: 'cmake',
  description: 'CMake: cmake && make && ctest && make install',
  phases: ['unpack', 'patch', 'configure', 'build', 'check', 'install', 'shebangs', 'strip', 'validate'],
  argumentKeys: ['cmakeFlags', 'configureFlags', 'makeFlags', 'buildType'],
  toolchain: () => [boot.gccToolchain],
  tools: () => [cmakeMinimal, ...gnuTools()],
});

export const cmakeMinimal = definePackage({
  name: 'cmake-minimal',
  version: '3.25.1',
  source: url({
    urls: [
      'https://cmake.org/files/v3.25/cmake-3.25.1.tar.gz',
      'mirror://debian/pool/main/c/cmake/cmake_3.25.1.orig.tar.gz',
    ],
    sha256: '1c511d09516af493694ed9baf13c55947a36389674d657a2d5e0ccedc6b291d8',
  }),
  buildSystem: gnu,
  arguments: {
    phases: {
      configure: './bootstrap --prefix="$out" --parallel="$NIX_BUILD_CORES" --no-system-libs -- -DCMAKE_USE_OPENSSL=OFF -DBUILD_TESTING=OFF',
    },
    tests: false,
  },
  synopsis: 'Cross-platform build system (minimal, for building other packages)',
  description:
    'CMake generates native build files (Makefiles) from a platform-independent description. This minimal variant uses its bundled libraries and no OpenSSL, so that it depends only on the bootstrap toolchain.',
  homePage: 'https://cmake.org/',
  license: licenses.bsd3,
  // Debian's source package is cmake: the updater looks it up by that name.
  properties: { debianName: 'cmake' },
});
