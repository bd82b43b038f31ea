/**
 * Message passing and hardware topology: hwloc (2.x, and 1.11 as `hwloc@1`) and Open MPI.
 * Sources are Debian bookworm's orig tarballs where Debian has them (see base.ts for the URL
 * rules); hwloc 1.11, which Debian no longer carries, comes from upstream with Guix's hash.
 *
 * Shell snippets run at the top of the unpacked source tree, with `$out` the output prefix and
 * `$NIX_BUILD_CORES` the core count; flags are expanded by the shell.
 * TODO(input prefixes): how an input's prefix reaches the builder is not decided; `${hwloc}`,
 * `${zlib}`, … stand for the store path of the input of that name.
 */
import { definePackage, inherit, licenses, url } from '../src/dsl/index.js';
import { libxml2, pkgconf, zlib } from './base.js';
import { gfortran, perlBase } from './bootstrap.js';
import { gnu } from './build-systems.js';

/**
 * Environment that lets Open MPI's `mpirun` work in the build sandbox (Guix's %openmpi-setup):
 * no ssh/rsh launcher (`plm isolated` starts every rank locally), more ranks than cores, and
 * uid 0 inside the user namespace. Packages whose tests run MPI programs add it to `env`.
 */
export const openmpiSandboxEnv: Readonly<Record<string, string>> = Object.freeze({
  OMPI_MCA_plm: 'isolated',
  OMPI_MCA_rmaps_base_oversubscribe: 'true',
  OMPI_ALLOW_RUN_AS_ROOT: '1',
  OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1',
});

export const hwloc = definePackage({
  name: 'hwloc',
  version: '2.9.0',
  source: url({
    // Debian's hwloc_2.9.0.orig.tar.bz2 is not byte-identical to upstream's hwloc-2.9.0.tar.bz2
    // (it is a pax-format tar; upstream's file has sha256 2070e963…8887 per Homebrew's hwloc
    // formula), so Debian's file is the only URL for this hash.
    urls: 'mirror://debian/pool/main/h/hwloc/hwloc_2.9.0.orig.tar.bz2',
    sha256: 'b3fb1a43a14d8fbcd8e976de5ede2ea7ce1d768ed173adb33c7ceaaf098dc970',
  }),
  buildSystem: gnu,
  variants: { libxml2: { default: false, description: 'full XML topology import/export with libxml2 (else hwloc\'s minimal XML parser)' } },
  inputs: (v) => (v.libxml2 ? [libxml2] : []),
  nativeInputs: [pkgconf],
  arguments: (v) => ({
    // Leave out the graphical lstopo and the GPU/accelerator back-ends: they would pull in
    // cairo/X11 or vendor libraries, and the build must not pick up whatever the host has.
    configureFlags: [
      '--disable-cairo',
      '--disable-opencl',
      '--disable-cuda',
      '--disable-nvml',
      '--disable-gl',
      '--disable-libudev',
      v.libxml2 ? '--enable-libxml2' : '--disable-libxml2',
    ],
    // test-gather-topology.sh reads the real /sys, which the build sandbox does not show.
    env: { HWLOC_TEST_GATHER_TOPOLOGY: '0' },
  }),
  synopsis: 'Abstraction of hardware architectures',
  description:
    'hwloc provides a portable abstraction (across OS, versions, architectures, …) of the hierarchical topology of modern architectures, including NUMA memory nodes, sockets, shared caches, cores and simultaneous multithreading. It also gathers attributes such as cache and memory information and the locality of I/O devices, and lets programs bind processes and memory. MPI libraries and runtime systems use it to place their work.',
  homePage: 'https://www.open-mpi.org/projects/hwloc/',
  license: licenses.bsd3,
  properties: { debianVersion: '2.9.0-1' },
});

/** The last hwloc 1.x release (API 1.x, libhwloc.so.5), for software not ported to hwloc 2. */
export const hwloc1 = inherit(hwloc, {
  version: '1.11.13',
  source: url({
    urls: [
      'https://download.open-mpi.org/release/hwloc/v1.11/hwloc-1.11.13.tar.bz2',
      'https://www.open-mpi.org/software/hwloc/v1.11/downloads/hwloc-1.11.13.tar.bz2',
    ],
    // Debian no longer has hwloc 1.x, so this hash is not from Debian: it is GNU Guix's
    // (gnu/packages/mpi.scm, `hwloc-1`, 1j69p8a1pjpbpwn4w7l4dfxmaxxqikchjzqw1ncw05zmcmvlnjd4
    // in nix-base32), the same value Homebrew's hwloc@1, Yocto's hwloc_1.11.13 recipe and
    // Arch's AUR hwloc1 pin.
    sha256: 'a4494b7765f517c0990d1c7f09d98cb87755bb6b841e4e2cbfebca1b14bac9c8',
  }),
  properties: {},
});

export const openmpi = definePackage({
  name: 'openmpi',
  version: '4.1.4',
  source: url({
    // Debian's orig tarball is upstream's tree recompressed as .tar.xz (upstream ships only
    // .tar.bz2/.tar.gz; openmpi-4.1.4.tar.bz2 is 92912e17…930d per Homebrew), so Debian's
    // file is the only URL for this hash.
    urls: 'mirror://debian/pool/main/o/openmpi/openmpi_4.1.4.orig.tar.xz',
    sha256: 'ddaee7dbdb01eb4fab1fda5b5e03e8bbff026711806c095c1f39bb410f99f263',
  }),
  buildSystem: gnu,
  inputs: [hwloc, zlib],
  // Perl runs Open MPI's code generators (the bootstrap's perl-base is enough, so the stack
  // does not wait for a Perl built from source); gfortran builds the Fortran bindings.
  nativeInputs: [gfortran, perlBase, pkgconf],
  arguments: {
    configureFlags: [
      // Use the collection's hwloc rather than the embedded copy (hwloc 2.0.x): a DIR value
      // forces the external one and adds DIR/include and DIR/lib to the search paths.
      '--with-hwloc=${hwloc}',
      // zlib is used by the embedded PMIx to compress its messages.
      '--with-zlib=${zlib}',
      // mpif.h, the `mpi` module and the `mpi_f08` module.
      '--enable-mpi-fortran',
      // mpirun finds its helpers and libraries under its own prefix, without LD_LIBRARY_PATH.
      '--enable-mpirun-prefix-by-default',
    ],
    phases: {
      // Reproducibility (as in Guix): ompi_info & co. print the configure and build dates.
      preBuild:
        "sed -i -e '/\"Configured on\"/d' -e '/\"Built on\"/d' ompi/tools/ompi_info/param.c orte/tools/orte-info/param.c oshmem/tools/oshmem_info/param.c",
      postInstall: 'find "$out" -name config.log -delete',
    },
    env: openmpiSandboxEnv,
  },
  synopsis: 'MPI-3 implementation',
  description:
    'The Open MPI Project is an MPI-3.1 implementation developed and maintained by a consortium of academic, research and industry partners. This build has the C and Fortran (mpif.h, mpi, mpi_f08) bindings, uses the collection\'s hwloc, and its embedded libevent and PMIx.',
  homePage: 'https://www.open-mpi.org/',
  license: licenses.bsd3,
  properties: { debianVersion: '4.1.4-3' },
});
