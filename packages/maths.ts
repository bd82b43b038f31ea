/**
 * Numerical libraries: graph partitioning (METIS, Scotch, PT-Scotch), dense linear algebra
 * (OpenBLAS, reference LAPACK, ScaLAPACK) and the MUMPS sparse direct solver, sequential and
 * with MPI. Sources are Debian bookworm's orig tarballs (see base.ts for the URL rules).
 *
 * Variants are declared where users ask for them (`mumps~metis`, `scotch+int64`,
 * `openblas arch=HASWELL`); inputs and arguments are functions of them, and a 64-bit-index
 * package pulls the 64-bit-index variants of its dependencies.
 *
 * Shell snippets run at the top of the unpacked source tree, with `$out` the output prefix and
 * `$NIX_BUILD_CORES` the core count; flags are expanded by the shell. `${metis}`, `${scotch}`,
 * `${pt_scotch}`, … are the store paths of the inputs of those names (docs/builds.md).
 */
import { debianBinary, definePackage, inherit, licenses, url, withVariants, type Package } from '../src/dsl/index.js';
import { bison, flex, zlib } from './base.js';
import { gfortran, libc6, libgccS1, libstdcxx6 } from './bootstrap.js';
import { cmake, gnu } from './build-systems.js';
import { openmpi, openmpiSandboxEnv } from './mpi.js';

// ---------------------------------------------------------------------------------------------
// Graph partitioning

export const metis = definePackage({
  name: 'metis',
  version: '5.1.0',
  source: url({
    // Debian repacks METIS (5.1.0.dfsg: the non-free manual is removed), so its file is the source.
    urls: 'mirror://debian/pool/main/m/metis/metis_5.1.0.dfsg.orig.tar.xz',
    sha256: 'c50a88b92b01fa3972c5c92cf50117f126c62589b8f793657c7d865c59c23615',
  }),
  buildSystem: cmake,
  variants: { int64: { default: false, description: '64-bit graph indices (idx_t)' } },
  arguments: (v) => ({
    cmakeFlags: ['-DSHARED=ON'],
    phases: {
      // GKlib is found through a relative path, which breaks in an out-of-source build; make it
      // absolute, as Debian's 01_fix_installation_paths.patch does. The programs link from the
      // author's home directory (link_directories(/home/karypis/local/lib)), which CMake would
      // put in their installed RUNPATH: drop it. The index width is a #define in the installed
      // metis.h, so the int64 variant edits it before building.
      preConfigure: [
        "sed -i 's|\"GKlib\" CACHE|\"${CMAKE_SOURCE_DIR}/GKlib\" CACHE|' CMakeLists.txt",
        "sed -i '/link_directories(\\/home\\/karypis/d' programs/CMakeLists.txt",
        ...(v.int64 ? ["sed -i 's/#define IDXTYPEWIDTH 32/#define IDXTYPEWIDTH 64/' include/metis.h"] : []),
      ].join(' && '),
      // METIS has no test suite: partition one of its sample graphs into 4 parts instead (the
      // check phase runs in CMake's build directory).
      check: "programs/gpmetis ../graphs/4elt.graph 4 | tee gpmetis.log && grep -Eq 'Edgecut: +[0-9]+' gpmetis.log",
    },
  }),
  synopsis: 'Graph partitioning and fill-reducing matrix ordering library',
  description:
    'METIS is a set of serial programs and a library for partitioning graphs, partitioning finite element meshes, and producing fill-reducing orderings for sparse matrices. Its algorithms are based on multilevel recursive bisection, multilevel k-way and multi-constraint partitioning schemes.',
  homePage: 'http://glaros.dtc.umn.edu/gkhome/metis/metis/overview',
  license: licenses.asl2,
  properties: { debianVersion: '5.1.0.dfsg-7', tunable: true },
});

/** Make targets that build PT-Scotch and its MUMPS interface (they build Scotch first). */
const PT_SCOTCH_BUILD = 'make -C src -j"$NIX_BUILD_CORES" ptscotch ptesmumps';
const PT_SCOTCH_CHECK = 'make -C src ptcheck FC=gfortran';

export const scotch = definePackage({
  name: 'scotch',
  version: '7.0.3',
  source: url({
    // Debian makes its orig tarball from the upstream git tag (watch: mode=git), and upstream
    // (gitlab.inria.fr) publishes no .tar.xz, so Debian's file is the only URL for this hash.
    urls: 'mirror://debian/pool/main/s/scotch/scotch_7.0.3.orig.tar.xz',
    sha256: '09b582e75df3cf91313e8dd83306bc9d59385fa358d6d4052e5bbf8c75a83348',
  }),
  buildSystem: gnu,
  variants: {
    mpi: { default: false, description: 'also build PT-Scotch (distributed graphs, with Open MPI)' },
    int64: { default: false, description: '64-bit integers (SCOTCH_Num) instead of int' },
  },
  // The libraries are static and read gzip-compressed graphs, so whoever links them needs
  // zlib too; with PT-Scotch, the headers include mpi.h, so its users need Open MPI as well.
  propagatedInputs: (v) => (v.mpi ? [openmpi, zlib] : [zlib]),
  // The checks include Fortran programs (the METIS-compatible interface, compiled with $(FC)).
  nativeInputs: [bison, flex, gfortran],
  arguments: (v) => ({
    phases: {
      // The upstream Makefile.inc for x86-64 Linux: gzip-compressed graph files, threads, a
      // fixed random seed (reproducible orderings), SCOTCH_RENAME (no symbol clashes with
      // other libraries) and 64-bit indices for the Fortran interface (IDXSIZE64). int64 also
      // makes SCOTCH_Num 64 bits.
      // The template sets CFLAGS itself, so the flags --tune and --with-debug-info add
      // ($extraCFlags, from the environment) are appended to it, as make reads them.
      configure: [
        'cp src/Make.inc/Makefile.inc.x86-64_pc_linux2 src/Makefile.inc',
        ...(v.int64 ? ["sed -i 's/^CFLAGS\\(.*\\)$/CFLAGS\\1 -DINTSIZE64/' src/Makefile.inc"] : []),
        "sed -i 's/^CFLAGS\\(.*\\)$/CFLAGS\\1 $(extraCFlags)/' src/Makefile.inc",
      ].join(' && '),
      build: v.mpi ? PT_SCOTCH_BUILD : 'make -C src -j"$NIX_BUILD_CORES" scotch esmumps',
      check: v.mpi ? PT_SCOTCH_CHECK : 'make -C src check FC=gfortran',
      install: 'make -C src install prefix="$out"',
    },
    ...(v.mpi ? { env: openmpiSandboxEnv } : {}),
  }),
  synopsis: 'Programs and libraries for graph algorithms',
  description:
    'Scotch is a set of programs and libraries which implement the static mapping and sparse matrix reordering algorithms developed within the Scotch project. It applies graph theory, with a divide and conquer approach, to scientific computing problems such as graph and mesh partitioning, static mapping, and sparse matrix ordering, in domains ranging from structural mechanics to operating systems or bio-chemistry. It includes the libesmumps interface used by MUMPS.',
  homePage: 'https://gitlab.inria.fr/scotch/scotch',
  license: licenses.cecillC,
  properties: { debianVersion: '7.0.3-2', tunable: true },
});

/**
 * Scotch with the parallel (MPI) libraries, as its own package like Guix's `pt-scotch`:
 * Open MPI propagated (the headers include mpi.h), the ptscotch/ptesmumps targets built and
 * `ptcheck` run. Its only variant is int64.
 */
export const ptScotch = inherit(scotch, {
  name: 'pt-scotch',
  variants: { int64: { default: false, description: '64-bit integers (SCOTCH_Num) instead of int' } },
  propagatedInputs: (_v, parent) => [...parent.propagatedInputs, openmpi],
  arguments: {
    phases: { build: PT_SCOTCH_BUILD, check: PT_SCOTCH_CHECK },
    env: openmpiSandboxEnv,
  },
  synopsis: 'Programs and libraries for graph algorithms (with MPI)',
  // Built from Debian's scotch tarball: the updater (refresh, --with-latest) looks it up there.
  properties: { ...scotch.properties, debianName: 'scotch' },
});

// ---------------------------------------------------------------------------------------------
// Dense linear algebra

export const openblas = definePackage({
  name: 'openblas',
  version: '0.3.21',
  source: url({
    // Debian repacks OpenBLAS (+ds: the bundled lapack-netlib/ and relapack/ are removed).
    urls: 'mirror://debian/pool/main/o/openblas/openblas_0.3.21+ds.orig.tar.xz',
    sha256: 'bbec5cca61c8033b2d57aaecde205d709323a0b35a5f193290081dbb3826848a',
  }),
  buildSystem: gnu,
  variants: {
    // GENERIC (the default) is OpenBLAS's plain-C target: it runs on every x86-64 CPU, builds in
    // a few minutes, and never uses OpenBLAS's CPU detection (which fails on recent CPUs such
    // as family 6 model 207), so the result does not depend on the machine that built it.
    // `dynamic` builds kernels for every x86-64 CPU OpenBLAS knows and picks one at run time,
    // as Debian does (fast everywhere, but several times longer to build); a named TARGET is
    // fast and only runs on that CPU or newer.
    arch: {
      default: 'GENERIC',
      values: ['GENERIC', 'dynamic', 'CORE2', 'NEHALEM', 'SANDYBRIDGE', 'HASWELL', 'SKYLAKEX', 'ZEN'],
      description: 'CPU kernels: all, selected at run time, or one TARGET',
    },
    int64: { default: false, description: '64-bit integer BLAS interface (INTERFACE64)' },
  },
  nativeInputs: [gfortran],
  arguments: (v) => ({
    makeFlags: [
      ...(v.arch === 'dynamic' ? ['DYNAMIC_ARCH=1', 'DYNAMIC_OLDER=1', 'TARGET=GENERIC'] : [`TARGET=${v.arch}`]),
      // The +ds tarball has no lapack-netlib, so only BLAS and CBLAS are built (NO_LAPACK
      // implies NO_LAPACKE); LAPACK comes from the `lapack` package.
      'NO_LAPACK=1',
      'USE_OPENMP=0',
      'NUM_THREADS=128',
      'CC=gcc',
      'FC=gfortran',
      ...(v.int64 ? ['INTERFACE64=1'] : []),
      'PREFIX=${out}',
    ],
    phases: { configure: ':' },
    // The default make target already builds and runs OpenBLAS's tests.
    tests: false,
  }),
  synopsis: 'Optimized BLAS library based on GotoBLAS',
  description:
    'OpenBLAS is an optimized implementation of the Basic Linear Algebra Subprograms (BLAS) and CBLAS, based on GotoBLAS2 1.13, with kernels hand-tuned for many processors. This build has no LAPACK (Debian\'s tarball drops the bundled copy); pair it with the `lapack` package.',
  homePage: 'https://www.openblas.net/',
  license: licenses.bsd3,
  properties: { debianVersion: '0.3.21+ds-4' },
});

export const lapack = definePackage({
  name: 'lapack',
  version: '3.11.0',
  source: url({
    // Debian's orig tarball is GitHub's archive of the v3.11.0 tag (debian/watch), the same
    // file (same sha256) that Arch's lapack-static and MXE fetch from that URL.
    urls: [
      'https://github.com/Reference-LAPACK/lapack/archive/v3.11.0/lapack-3.11.0.tar.gz',
      'mirror://debian/pool/main/l/lapack/lapack_3.11.0.orig.tar.gz',
    ],
    sha256: '4b9ba79bfd4921ca820e83979db76ab3363155709444a787979e81c22285ffa9',
  }),
  buildSystem: cmake,
  variants: { int64: { default: false, description: 'also build the 64-bit-index libraries (liblapack64, libblas64)' } },
  nativeInputs: [gfortran],
  arguments: (v) => ({
    cmakeFlags: [
      '-DBUILD_SHARED_LIBS=ON',
      '-DCBLAS=ON',
      '-DLAPACKE=ON',
      // The reference BLAS is built alongside; use openblas for speed where it matters.
      '-DUSE_OPTIMIZED_BLAS=OFF',
      '-DBUILD_TESTING=OFF',
      ...(v.int64 ? ['-DBUILD_INDEX64=ON'] : []),
    ],
    // The LAPACK test suite (BUILD_TESTING) takes several times longer than the build.
    tests: false,
  }),
  synopsis: 'Library of routines for numerical linear algebra (reference implementation)',
  description:
    'LAPACK provides routines for solving systems of simultaneous linear equations, least-squares solutions of linear systems, eigenvalue problems and singular value problems, with the associated matrix factorizations (LU, Cholesky, QR, SVD, Schur, generalized Schur). This is the reference implementation, with the reference BLAS, CBLAS and LAPACKE.',
  homePage: 'https://www.netlib.org/lapack/',
  license: licenses.bsd3,
  properties: { debianVersion: '3.11.0-2', tunable: true },
});

export const scalapack = definePackage({
  name: 'scalapack',
  version: '2.2.1',
  source: url({
    // Only Debian's URL: its upstream origin (probably GitHub's v2.2.1 tag archive) could not
    // be checked, since the Debian source package's files were not downloadable here. The
    // sha256 is the Checksums-Sha256 of Debian's index.
    urls: 'mirror://debian/pool/main/s/scalapack/scalapack_2.2.1.orig.tar.gz',
    sha256: '4aede775fdb28fa44b331875730bcd5bab130caaec225fadeccf424c8fcb55aa',
  }),
  buildSystem: cmake,
  inputs: [lapack, openmpi],
  nativeInputs: [gfortran],
  arguments: {
    cmakeFlags: [
      '-DBUILD_SHARED_LIBS=ON',
      // Name LAPACK and BLAS explicitly: if CMake's search failed, ScaLAPACK's CMakeLists
      // would try to download reference LAPACK from netlib (no network in the sandbox).
      '-DLAPACK_LIBRARIES=${lapack}/lib/liblapack.so',
      '-DBLAS_LIBRARIES=${lapack}/lib/libblas.so',
      // BLACS passes buffers of different types to the same routines, which gfortran ≥ 10
      // rejects unless told otherwise. Given here, the variable replaces what CMake would take
      // from $FFLAGS, so those (with --tune's and --with-debug-info's flags) are added to it.
      '-DCMAKE_Fortran_FLAGS=-fallow-argument-mismatch ${FFLAGS}',
      '-DSCALAPACK_BUILD_TESTS=OFF',
    ],
    // The tests (SCALAPACK_BUILD_TESTS) are MPI programs that take longer than the build.
    tests: false,
  },
  synopsis: 'Library for scalable numerical linear algebra',
  description:
    'ScaLAPACK is a Fortran 90 library of high-performance linear algebra routines for parallel distributed-memory machines, built on MPI. It solves dense and banded linear systems, least-squares problems, eigenvalue problems and singular value problems; it includes BLACS and PBLAS.',
  homePage: 'https://www.netlib.org/scalapack/',
  license: licenses.bsd3,
  properties: { debianVersion: '2.2.1-2', tunable: true },
});

/** Debian's patchelf, to give a prebuilt library a RUNPATH into the store (scalapack-debian). */
export const patchelf = definePackage({
  name: 'patchelf',
  version: '0.14.3',
  source: url({
    urls: 'mirror://debian/pool/main/p/patchelf/patchelf_0.14.3-1+b1_amd64.deb',
    sha256: '0364b90e81faabbb9569076063952c7bcbf07f83d954a2f2602a163d65be60e6',
  }),
  buildSystem: debianBinary,
  inputs: [libc6, libgccS1, libstdcxx6],
  synopsis: 'Modify the dynamic linker and RUNPATH of ELF executables and libraries',
  description:
    'PatchELF changes the dynamic loader ("ELF interpreter") of executables and the RUNPATH of executables and shared libraries. This is Debian\'s build, run from the sandbox\'s root file system.',
  homePage: 'https://github.com/NixOS/patchelf',
  license: licenses.gpl3Plus,
  properties: { debianVersion: '0.14.3-1+b1' },
});

/**
 * ScaLAPACK as Debian built it (libscalapack-openmpi 2.2.1, against Open MPI 4.1.4 and the
 * reference BLAS/LAPACK interfaces), linked to the collection's own Open MPI 4.1.4 and LAPACK by
 * giving it a RUNPATH into the store. It exists because this network's Debian mirror answers 404
 * for `scalapack_2.2.1.orig.tar.gz` (the .dsc and the binary packages are served), so the
 * from-source `scalapack` cannot be fetched here; mumps-openmpi uses this one by default, and
 * `--with-input=scalapack-debian=scalapack` builds from source where the mirror has the tarball.
 * Same sonames, same Open MPI release: the libraries are ABI-compatible. The check phase links a
 * BLACS program against it and runs it on two MPI ranks.
 */
export const scalapackDebian = definePackage({
  name: 'scalapack-debian',
  version: '2.2.1',
  source: url({
    urls: 'mirror://debian/pool/main/s/scalapack/libscalapack-openmpi2.2_2.2.1-2+b1_amd64.deb',
    sha256: '659dbac6aa63a828893ac318b06f9cd846260fb2b1d60f66639939c3bc568c19',
  }),
  buildSystem: gnu,
  inputs: [lapack, openmpi],
  nativeInputs: [gfortran, patchelf],
  arguments: {
    phases: {
      unpack: 'ar x "$src" && mkdir source && tar -xf data.tar.xz -C source && cd source',
      configure: ':',
      // $rpath: $out/lib, the C library, GCC's run-time libraries and every input's lib.
      build: 'chmod u+w usr/lib/x86_64-linux-gnu/libscalapack-openmpi.so.2.2.1 && patchelf --set-rpath "$rpath" usr/lib/x86_64-linux-gnu/libscalapack-openmpi.so.2.2.1',
      // Before install, the program finds the library in the unpacked tree through
      // LD_LIBRARY_PATH, and the library its own dependencies through its new RUNPATH.
      check: [
        `printf '%s\\n' '#include <stdio.h>' 'void Cblacs_pinfo(int *, int *); void Cblacs_exit(int);' 'int main(void) { int me, n; Cblacs_pinfo(&me, &n); printf("BLACS process %d of %d\\n", me, n); Cblacs_exit(0); return 0; }' > blacs.c`,
        'mpicc -o blacs blacs.c usr/lib/x86_64-linux-gnu/libscalapack-openmpi.so.2.2',
        'LD_LIBRARY_PATH=$PWD/usr/lib/x86_64-linux-gnu mpirun -n 2 ./blacs | tee blacs.log',
        "grep -q 'process 1 of 2' blacs.log",
      ].join(' && '),
      install: [
        'mkdir -p "$out/lib" "$out/share/doc/scalapack"',
        'cp -a usr/lib/x86_64-linux-gnu/libscalapack-openmpi.so.2.2.1 usr/lib/x86_64-linux-gnu/libscalapack-openmpi.so.2.2 "$out/lib/"',
        'ln -s libscalapack-openmpi.so.2.2 "$out/lib/libscalapack-openmpi.so"',
        'ln -s libscalapack-openmpi.so.2.2 "$out/lib/libscalapack.so"',
        'cp usr/share/doc/libscalapack-openmpi2.2/copyright "$out/share/doc/scalapack/"',
      ].join(' && '),
    },
    env: openmpiSandboxEnv,
  },
  synopsis: 'Library for scalable numerical linear algebra (Debian\'s build, relinked)',
  description:
    'ScaLAPACK 2.2.1 as built by Debian for Open MPI, given a RUNPATH to this collection\'s Open MPI and LAPACK: for machines whose Debian mirror does not serve the ScaLAPACK source tarball. ScaLAPACK is a Fortran 90 library of linear algebra routines for distributed-memory machines (with BLACS and PBLAS).',
  homePage: 'https://www.netlib.org/scalapack/',
  license: licenses.bsd3,
  properties: { debianVersion: '2.2.1-2+b1' },
});

// ---------------------------------------------------------------------------------------------
// MUMPS

/** What MUMPS's Makefile.inc depends on. */
interface MumpsConfig {
  readonly mpi: boolean;
  readonly metis: boolean;
  /** 'scotch' (sequential Scotch), 'ptscotch' (PT-Scotch) or none. */
  readonly scotch: 'scotch' | 'ptscotch' | false;
  readonly int64: boolean;
}

/**
 * A shell snippet that writes MUMPS's Makefile.inc (there is no configure script), from the
 * Make.inc/Makefile.inc.generic{,.SEQ} templates: PORD always, METIS and (PT-)Scotch when
 * chosen, the sequential MPI stub (libseq) or Open MPI + ScaLAPACK.
 */
function mumpsMakefileInc(c: MumpsConfig): string {
  const orderings = ['-Dpord', ...(c.metis ? ['-Dmetis'] : []), ...(c.scotch ? [`-D${c.scotch}`] : [])];
  const lines = [
    'PLAT    =',
    'LIBEXT  = .a',
    'OUTC    = -o ',
    'OUTF    = -o ',
    'RM      = rm -f',
    ...(c.mpi
      ? ['CC      = mpicc', 'FC      = mpif90', 'FL      = mpif90']
      : ['CC      = gcc', 'FC      = gfortran', 'FL      = gfortran']),
    'AR      = ar vr ',
    'RANLIB  = ranlib',
    `LAPACK  = -L\${lapack}/lib -llapack${c.int64 ? '64' : ''}`,
    ...(c.mpi
      ? ['SCALAP  = -L${scalapack_debian}/lib -lscalapack', 'INCS    =', 'LIBS    = $(SCALAP) $(LAPACK)', 'LIBSEQNEEDED =']
      : ['INCSEQ  = -I$(topdir)/libseq', 'LIBSEQ  = $(LAPACK) -L$(topdir)/libseq -lmpiseq', 'INCS    = $(INCSEQ)', 'LIBS    = $(LIBSEQ)', 'LIBSEQNEEDED = libseqneeded']),
    'LIBBLAS = -L${openblas}/lib -lopenblas',
    // Debian's libgfortran.so.5 (a bootstrap item) has no RUNPATH, so its own dependencies
    // libquadmath and libgcc_s are only found if the program already loaded them: link them
    // directly (gfortran would drop -lquadmath as not needed), so the examples run from their
    // closure alone and not only where /usr/lib has them.
    'LIBOTHERS = -lpthread -Wl,--no-as-needed -lquadmath -lgcc_s',
    'CDEFS   = -DAdd_',
    // gfortran ≥ 10 rejects MUMPS's calls that pass INTEGER(4) and INTEGER(8) buffers to the
    // same MPI routine unless -fallow-argument-mismatch is given.
    // $(extraCFlags), from the environment: what --tune (-march) and --with-debug-info (-g)
    // add; these variables are MUMPS's only compiler flags.
    `OPTF    = -O2 -fPIC -fallow-argument-mismatch${c.int64 ? ' -fdefault-integer-8' : ''} $(extraCFlags)`,
    `OPTC    = -O2 -fPIC -I.${c.int64 ? ' -DINTSIZE64' : ''} $(extraCFlags)`,
    'OPTL    = -O2 -fPIC $(extraCFlags)',
    'LPORDDIR = $(topdir)/PORD/lib/',
    'IPORD    = -I$(topdir)/PORD/include/',
    'LPORD    = -L$(LPORDDIR) -lpord',
    ...(c.metis ? ['LMETISDIR = ${metis}/lib', 'IMETIS    = -I${metis}/include', 'LMETIS    = -L$(LMETISDIR) -lmetis'] : []),
    ...(c.scotch === 'scotch'
      ? [
          'SCOTCHDIR = ${scotch}',
          'ISCOTCH   = -I$(SCOTCHDIR)/include',
          // Given PT-Scotch instead (--with-input=scotch=pt-scotch), link its sequential parts:
          // its libptesmumps is libesmumps built by the sequential compiler, under another name.
          'LSCOTCH   = -L$(SCOTCHDIR)/lib $(if $(wildcard $(SCOTCHDIR)/lib/libesmumps.a),-lesmumps,-lptesmumps) -lscotch -lscotcherr -lz',
        ]
      : c.scotch === 'ptscotch'
        ? ['SCOTCHDIR = ${pt_scotch}', 'ISCOTCH   = -I$(SCOTCHDIR)/include', 'LSCOTCH   = -L$(SCOTCHDIR)/lib -lptesmumps -lptscotch -lptscotcherr -lscotch -lz']
        : []),
    `ORDERINGSF = ${orderings.join(' ')}`,
    'ORDERINGSC = $(ORDERINGSF)',
    'LORDERINGS = $(LMETIS) $(LPORD) $(LSCOTCH)',
    'IORDERINGSF = $(ISCOTCH)',
    'IORDERINGSC = $(IMETIS) $(IPORD) $(ISCOTCH)',
  ];
  // An unquoted here-document, so that the shell expands the input prefixes (${lapack} & co.);
  // make's own $(VAR) references are escaped so the shell leaves them alone.
  const text = lines.join('\n').replace(/\$\(/g, '\\$(');
  return `cat > Makefile.inc <<EOF\n${text}\nEOF`;
}

/** An awk program that succeeds when the file prints `Solution is` with 1, 2, 3, 4, 5 to within 1e-9. */
const SOLUTION_IS_1_TO_5 =
  "awk '/Solution is/ { n++; ok = NF == 7; for (i = 3; i <= NF; i++) { d = $i - (i - 2); if (d < 0) d = -d; if (d > 1e-9) ok = 0 } } END { exit !(n == 1 && ok) }'";

/**
 * Runs MUMPS's example drivers with their shipped inputs (optionally under mpirun): the simple
 * tests of the four arithmetics and the C example. A driver that solves wrongly may still exit
 * 0, so the printed solutions are checked too: (1, 2, 3, 4, 5) in double precision, (1, 2) for
 * the C example.
 */
function mumpsCheck(launcher: string): string {
  // A subshell: phases share one shell, and the install phase runs from the top of the tree.
  return `(${[
    'cd examples',
    `${launcher}./ssimpletest < input_simpletest_real | tee s.log && grep -q 'Solution is' s.log`,
    // (1, 2, 3, 4, 5) up to rounding: OpenBLAS's kernels print 0.99999999999999989 and the like.
    `${launcher}./dsimpletest < input_simpletest_real | tee d.log && ${SOLUTION_IS_1_TO_5} d.log`,
    `${launcher}./csimpletest < input_simpletest_cmplx | tee c.log && grep -q 'Solution is' c.log`,
    `${launcher}./zsimpletest < input_simpletest_cmplx | tee z.log && grep -q 'Solution is' z.log`,
    `${launcher}./c_example | tee c_example.log && grep -Eq 'Solution is : \\( *1\\.00 +2\\.00\\)' c_example.log`,
  ].join(' && ')})`;
}

/** Libraries, headers, and the example drivers with their inputs (what packs and users run). */
const MUMPS_INSTALL = [
  'mkdir -p "$out/lib" "$out/include" "$out/bin" "$out/share/mumps/examples"',
  'cp -a lib/. "$out/lib/"',
  'cp -a include/. "$out/include/"',
  'if [ -f libseq/libmpiseq.a ]; then cp libseq/libmpiseq.a "$out/lib/" && mkdir -p "$out/include/mumps_seq" && cp libseq/*.h "$out/include/mumps_seq/"; fi',
  'for e in ssimpletest dsimpletest csimpletest zsimpletest c_example multiple_arithmetics_example; do cp "examples/$e" "$out/bin/"; done',
  'cp examples/input_simpletest_real examples/input_simpletest_cmplx examples/README "$out/share/mumps/examples/"',
].join(' && ');

export const mumps = definePackage({
  name: 'mumps',
  version: '5.5.1',
  source: url({
    // Debian's orig tarball is upstream's MUMPS_5.5.1.tar.gz (same sha256 as the file on
    // mumps-solver.org, pinned by Homebrew, COIN-OR and Julia's BinaryBuilder).
    urls: [
      'https://mumps-solver.org/MUMPS_5.5.1.tar.gz',
      'mirror://debian/pool/main/m/mumps/mumps_5.5.1.orig.tar.gz',
    ],
    sha256: '1abff294fa47ee4cfd50dfd5c595942b72ebfcedce08142a75a99ab35014fa15',
  }),
  buildSystem: gnu,
  variants: {
    metis: { default: true, description: 'METIS ordering' },
    scotch: { default: true, description: 'Scotch ordering' },
    int64: { default: false, description: '64-bit integers (needs 64-bit METIS, Scotch, BLAS and LAPACK)' },
  },
  // The libraries MUMPS links against; with int64, their 64-bit-index variants.
  inputs: (v) => [
    withVariants(openblas, { int64: v.int64 }),
    withVariants(lapack, { int64: v.int64 }),
    ...(v.metis ? [withVariants(metis, { int64: v.int64 })] : []),
    ...(v.scotch ? [withVariants(scotch, { int64: v.int64 })] : []),
  ],
  nativeInputs: [gfortran],
  arguments: (v) => ({
    phases: {
      configure: mumpsMakefileInc({ mpi: false, metis: v.metis, scotch: v.scotch ? 'scotch' : false, int64: v.int64 }),
      // `all`: the four arithmetics (s, d, c, z) and the example drivers used by the tests.
      build: 'make -j"$NIX_BUILD_CORES" all',
      check: mumpsCheck(''),
      install: MUMPS_INSTALL,
    },
  }),
  synopsis: 'Multifrontal sparse direct solver',
  description:
    'MUMPS (MUltifrontal Massively Parallel sparse direct Solver) solves sparse systems of linear equations A x = b by Gaussian elimination (LU, or LDLT for symmetric matrices), in real and complex, single and double precision. This is the sequential build; orderings come from PORD and, by default, METIS and Scotch.',
  homePage: 'https://mumps-solver.org/',
  license: licenses.cecillC,
  properties: { debianVersion: '5.5.1-1', tunable: true },
});

/** Replace the sequential Scotch input by PT-Scotch (same int64 choice), as Guix's mumps-openmpi does. */
function withPtScotch(inputs: readonly Package[], int64: boolean): Package[] {
  return inputs.map((p) => (p.name === 'scotch' ? withVariants(ptScotch, { int64 }) : p));
}

/** MUMPS with MPI: Open MPI, ScaLAPACK and PT-Scotch instead of the sequential stub and Scotch. */
export const mumpsOpenmpi = inherit(mumps, {
  name: 'mumps-openmpi',
  // No int64 variant: ScaLAPACK is only packaged with 32-bit integers.
  variants: {
    metis: { default: true, description: 'METIS ordering' },
    scotch: { default: true, description: 'PT-Scotch ordering' },
  },
  // scalapack-debian: see there (the ScaLAPACK source cannot be fetched on every network).
  inputs: (_v, parent) => [openmpi, scalapackDebian, ...withPtScotch(parent.inputs, false)],
  arguments: (v, parent) => ({
    ...parent.arguments,
    phases: {
      ...parent.arguments.phases,
      configure: mumpsMakefileInc({ mpi: true, metis: v['metis'] === true, scotch: v['scotch'] === true ? 'ptscotch' : false, int64: false }),
      check: mumpsCheck('mpirun -n 2 '),
    },
    env: openmpiSandboxEnv,
  }),
  synopsis: 'Multifrontal sparse direct solver (with MPI)',
  description:
    'MUMPS (MUltifrontal Massively Parallel sparse direct Solver) solves sparse systems of linear equations A x = b by Gaussian elimination (LU, or LDLT for symmetric matrices), in real and complex, single and double precision. This is the parallel build, with Open MPI and ScaLAPACK; orderings come from PORD and, by default, METIS and PT-Scotch.',
});
