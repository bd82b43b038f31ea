/**
 * The bootstrap seed: the toolchain every build starts from, as Debian bookworm (amd64) binary
 * packages pinned by pool file and sha256 (the `SHA256` of Debian's Packages index, which
 * `apt-cache show NAME=VERSION` prints). The `debianBinary` build system unpacks each `.deb` into
 * its own store item; nothing here is compiled. The set is the minimal closure measured in
 * shared/reference/bootstrap-debs.md (C, C++, Fortran and OpenMP compile with it) plus the HPC
 * extras (flex, bison, m4, zlib1g-dev, perl-base, libcrypt1).
 *
 * `inputs` are each package's Debian `Depends:` and `Pre-Depends:` restricted to this set (the
 * first alternative that is in the set), so the graph shows the real run-time closure; it is a
 * DAG once the libc6 → libgcc-s1 edge is dropped (see libc6). Names are Debian's binary package
 * names, except where one would clash with a package built from source in the collection
 * (bzip2, flex, bison, m4 get a `-bootstrap` suffix). Versions are the upstream part of Debian's
 * version; the full one is in `properties.debianVersion`.
 *
 * Debian's archive only serves the current point release and security updates, so a pinned
 * file can disappear after an update; the sha256 pins stay valid for copies (the store, Debian's
 * snapshot archive). Files under `pool/updates/` come from the bookworm-security archive, so the
 * `debian` mirror must also try the security archive's base URL for them.
 *
 * At the end, the bundles that build systems and packages refer to: `gccToolchain`, `gfortran`,
 * and the small run-time items `glibc` and `gccLib`.
 *
 * `properties.runtime` marks the items built programs load at run time: `libc` (its
 * ld-linux-x86-64.so.2 becomes every program's interpreter) and `lib` (GCC's run-time
 * libraries). The gnu build system puts their library directories in every output's RUNPATH,
 * so programs run from a root holding nothing but their closure. This module must not import
 * ./build-systems.js (which imports it).
 */
import { debianBinary, definePackage, licenses, union, url, type Package } from '../src/dsl/index.js';

export const libc6 = definePackage({
  name: 'libc6',
  version: '2.36',
  source: url({
    urls: 'mirror://debian/pool/main/g/glibc/libc6_2.36-9+deb12u14_amd64.deb',
    sha256: 'ba4f88f73dbc3ae9055f3c20f4523bfdbaf1ad13ff95e258924f77d20b4fbedf',
  }),
  buildSystem: debianBinary,
  // Debian's libc6 Depends on libgcc-s1, which Depends on libc6. The edge from the C library
  // (the lower level: libgcc_s is only dlopen()ed by it for unwinding in pthread_cancel) is left out.
  synopsis: 'GNU C Library: shared libraries',
  description:
    'The GNU C Library\'s shared libraries and dynamic loader (libc, libm, libpthread, ld-linux-x86-64.so.2, …), which every program here is linked against.',
  homePage: 'https://www.gnu.org/software/libc/',
  license: licenses.lgpl21Plus,
  properties: { bootstrap: true, runtime: 'libc', debianVersion: '2.36-9+deb12u14' },
});

export const dash = definePackage({
  name: 'dash',
  version: '0.5.12',
  source: url({
    urls: 'mirror://debian/pool/main/d/dash/dash_0.5.12-2_amd64.deb',
    sha256: '33ea40061da2f1a861ec46212b2b6a34f0776a049b1a3f0abce2fb8cb994258f',
  }),
  buildSystem: debianBinary,
  inputs: [libc6],
  synopsis: 'POSIX-compliant shell',
  description:
    'The Debian Almquist shell: a small, fast POSIX shell, used as /bin/sh by many configure scripts.',
  homePage: 'http://gondor.apana.org.au/~herbert/dash/',
  license: [licenses.bsd3, licenses.gpl2Plus],
  properties: { bootstrap: true, debianVersion: '0.5.12-2' },
});

export const diffutils = definePackage({
  name: 'diffutils',
  version: '3.8',
  source: url({
    urls: 'mirror://debian/pool/main/d/diffutils/diffutils_3.8-4_amd64.deb',
    sha256: '8bdfedc14c1035e3750e9f055ac9c1ecd9b5d05d9e6dc6466c4e9237eef407dd',
  }),
  buildSystem: debianBinary,
  inputs: [libc6],
  synopsis: 'File comparison utilities',
  description:
    'GNU diff, cmp, diff3 and sdiff, which show the differences between files.',
  homePage: 'https://www.gnu.org/software/diffutils/',
  license: licenses.gpl3Plus,
  properties: { bootstrap: true, debianVersion: '1:3.8-4' },
});

export const gzip = definePackage({
  name: 'gzip',
  version: '1.12',
  source: url({
    urls: 'mirror://debian/pool/main/g/gzip/gzip_1.12-1_amd64.deb',
    sha256: 'eabec1dde2834f72540d7b93fc5df2625f52611c06d93d61f5cdb12480e0e6a3',
  }),
  buildSystem: debianBinary,
  inputs: [libc6],
  synopsis: 'GNU compression utilities',
  description:
    'GNU gzip compresses and decompresses files in the deflate-based gzip format, used to unpack .tar.gz sources.',
  homePage: 'https://www.gnu.org/software/gzip/',
  license: licenses.gpl3Plus,
  properties: { bootstrap: true, debianVersion: '1.12-1' },
});

export const libacl1 = definePackage({
  name: 'libacl1',
  version: '2.3.1',
  source: url({
    urls: 'mirror://debian/pool/main/a/acl/libacl1_2.3.1-3_amd64.deb',
    sha256: '8be9df5795114bfe90e2be3d208ef47a5edd3fc7b3e20d387a597486d444e5e2',
  }),
  buildSystem: debianBinary,
  inputs: [libc6],
  synopsis: 'Access control list shared library',
  description:
    'The shared library for POSIX access control lists, used by coreutils, sed and tar.',
  homePage: 'https://savannah.nongnu.org/projects/acl/',
  license: licenses.lgpl21Plus,
  properties: { bootstrap: true, debianVersion: '2.3.1-3' },
});

export const libatomic1 = definePackage({
  name: 'libatomic1',
  version: '12.2.0',
  source: url({
    urls: 'mirror://debian/pool/main/g/gcc-12/libatomic1_12.2.0-14+deb12u1_amd64.deb',
    sha256: 'fbd4e154a6b444229ea002cc209df099209c0adc09102e5fd21239a3d2b55e2d',
  }),
  buildSystem: debianBinary,
  inputs: [libc6],
  synopsis: 'Support library providing __atomic built-in functions',
  description:
    'GCC\'s libatomic implements the __atomic built-ins for operand sizes the processor cannot handle natively.',
  homePage: 'https://gcc.gnu.org/',
  license: licenses.gpl3PlusGccRuntime,
  properties: { bootstrap: true, runtime: 'lib', debianVersion: '12.2.0-14+deb12u1' },
});

export const libattr1 = definePackage({
  name: 'libattr1',
  version: '2.5.1',
  source: url({
    urls: 'mirror://debian/pool/main/a/attr/libattr1_2.5.1-4_amd64.deb',
    sha256: 'c4945123d66d0503ba42e2fc0585abc76d0838978c6d277b9cc37a4da25d1a34',
  }),
  buildSystem: debianBinary,
  inputs: [libc6],
  synopsis: 'Extended attribute handling shared library',
  description:
    'The shared library for reading and writing file extended attributes.',
  homePage: 'https://savannah.nongnu.org/projects/attr/',
  license: licenses.lgpl21Plus,
  properties: { bootstrap: true, debianVersion: '1:2.5.1-4' },
});

export const libbz2 = definePackage({
  name: 'libbz2-1.0',
  version: '1.0.8',
  source: url({
    urls: 'mirror://debian/pool/main/b/bzip2/libbz2-1.0_1.0.8-5+b1_amd64.deb',
    sha256: '54149da3f44b22d523b26b692033b84503d822cc5122fed606ea69cc83ca5aeb',
  }),
  buildSystem: debianBinary,
  inputs: [libc6],
  synopsis: 'Block-sorting file compressor library (runtime)',
  description:
    'The libbz2 shared library, which reads and writes bzip2-compressed data.',
  homePage: 'https://sourceware.org/bzip2/',
  license: licenses.bzip2,
  properties: { bootstrap: true, debianVersion: '1.0.8-5+b1' },
});

export const bzip2Bootstrap = definePackage({
  name: 'bzip2-bootstrap',
  version: '1.0.8',
  source: url({
    urls: 'mirror://debian/pool/main/b/bzip2/bzip2_1.0.8-5+b1_amd64.deb',
    sha256: '438871b3f5c5c7a357a9840951dab9dab8db7eb1ff760a563226fafa111b99e5',
  }),
  buildSystem: debianBinary,
  inputs: [libbz2, libc6],
  synopsis: 'Block-sorting file compressor (command-line tools)',
  description:
    'bzip2 compresses files with the Burrows-Wheeler block-sorting algorithm and Huffman coding; these are its command-line tools, used to unpack .tar.bz2 sources.',
  homePage: 'https://sourceware.org/bzip2/',
  license: licenses.bzip2,
  properties: { bootstrap: true, debianVersion: '1.0.8-5+b1' },
});

export const libgccS1 = definePackage({
  name: 'libgcc-s1',
  version: '12.2.0',
  source: url({
    urls: 'mirror://debian/pool/main/g/gcc-12/libgcc-s1_12.2.0-14+deb12u1_amd64.deb',
    sha256: '3016e62cb4b7cd8038822870601f5ed131befe942774d0f745622cc77d8a88f7',
  }),
  buildSystem: debianBinary,
  inputs: [libc6],
  synopsis: 'GCC support library',
  description:
    'libgcc_s.so.1, the shared GCC support library with stack unwinding and arithmetic helpers.',
  homePage: 'https://gcc.gnu.org/',
  license: licenses.gpl3PlusGccRuntime,
  properties: { bootstrap: true, runtime: 'lib', debianVersion: '12.2.0-14+deb12u1' },
});

export const libgmp10 = definePackage({
  name: 'libgmp10',
  version: '6.2.1',
  source: url({
    urls: 'mirror://debian/pool/main/g/gmp/libgmp10_6.2.1+dfsg1-1.1_amd64.deb',
    sha256: '187aedef2ed763f425c1e523753b9719677633c7eede660401739e9c893482bd',
  }),
  buildSystem: debianBinary,
  inputs: [libc6],
  synopsis: 'Multiprecision arithmetic library',
  description:
    'GMP, the GNU library for arbitrary-precision arithmetic on integers, rationals and floating-point numbers, used by GCC.',
  homePage: 'https://gmplib.org/',
  license: [licenses.lgpl3Plus, licenses.gpl2Plus],
  properties: { bootstrap: true, debianVersion: '2:6.2.1+dfsg1-1.1' },
});

export const libgomp1 = definePackage({
  name: 'libgomp1',
  version: '12.2.0',
  source: url({
    urls: 'mirror://debian/pool/main/g/gcc-12/libgomp1_12.2.0-14+deb12u1_amd64.deb',
    sha256: '48fec46bda7f5b1638b9e959889bfbc20491247d402d120bb152687eb48143d7',
  }),
  buildSystem: debianBinary,
  inputs: [libc6],
  synopsis: 'GCC OpenMP (GOMP) support library',
  description:
    'libgomp.so.1, GCC\'s runtime library for OpenMP and OpenACC programs.',
  homePage: 'https://gcc.gnu.org/',
  license: licenses.gpl3PlusGccRuntime,
  properties: { bootstrap: true, runtime: 'lib', debianVersion: '12.2.0-14+deb12u1' },
});

export const libisl23 = definePackage({
  name: 'libisl23',
  version: '0.25',
  source: url({
    urls: 'mirror://debian/pool/main/i/isl/libisl23_0.25-1.1_amd64.deb',
    sha256: 'ebff0b2f8b220c74224197523019366e97ee4770d464bebc48e4865114e4da0e',
  }),
  buildSystem: debianBinary,
  inputs: [libc6, libgmp10],
  synopsis: 'Integer set library',
  description:
    'isl manipulates sets and relations of integer points bounded by linear constraints; GCC uses it for its polyhedral loop optimisations (Graphite).',
  homePage: 'https://libisl.sourceforge.io/',
  license: licenses.expat,
  properties: { bootstrap: true, debianVersion: '0.25-1.1' },
});

export const libjansson4 = definePackage({
  name: 'libjansson4',
  version: '2.14',
  source: url({
    urls: 'mirror://debian/pool/main/j/jansson/libjansson4_2.14-2_amd64.deb',
    sha256: '3fc9742f9f1a37bcb9931df6074b4d1483419ef832ad5349f47323e75fc27864',
  }),
  buildSystem: debianBinary,
  inputs: [libc6],
  synopsis: 'C library for encoding, decoding and manipulating JSON data',
  description:
    'Jansson is a small C library for reading and writing JSON; Binutils 2.40 links it.',
  homePage: 'https://github.com/akheron/jansson',
  license: licenses.expat,
  properties: { bootstrap: true, debianVersion: '2.14-2' },
});

export const liblzma5 = definePackage({
  name: 'liblzma5',
  version: '5.4.1',
  // A bookworm-security update: the file lives in the security archive's pool/updates.
  source: url({
    urls: 'mirror://debian/pool/updates/main/x/xz-utils/liblzma5_5.4.1-1+deb12u2_amd64.deb',
    sha256: '3d8c29c8c21ec6007635e1b2591edf98b771c9572a085968f47452b33040f384',
  }),
  buildSystem: debianBinary,
  inputs: [libc6],
  synopsis: 'XZ-format compression library',
  description:
    'liblzma, the library that reads and writes the .xz and .lzma formats with LZMA2 compression.',
  homePage: 'https://tukaani.org/xz/',
  license: licenses.publicDomain,
  properties: { bootstrap: true, debianVersion: '5.4.1-1+deb12u2' },
});

export const libmpfr6 = definePackage({
  name: 'libmpfr6',
  version: '4.2.0',
  source: url({
    urls: 'mirror://debian/pool/main/m/mpfr4/libmpfr6_4.2.0-1_amd64.deb',
    sha256: '37b7a2b4e78890b6a074777f27b96c84f58e81558ba08410c2b6c0ca4a4ad77b',
  }),
  buildSystem: debianBinary,
  inputs: [libc6, libgmp10],
  synopsis: 'Multiple-precision floating-point computation',
  description:
    'GNU MPFR does arbitrary-precision floating-point arithmetic with correct rounding; GCC uses it to fold constants.',
  homePage: 'https://www.mpfr.org/',
  license: licenses.lgpl3Plus,
  properties: { bootstrap: true, debianVersion: '4.2.0-1' },
});

export const libmpc3 = definePackage({
  name: 'libmpc3',
  version: '1.3.1',
  source: url({
    urls: 'mirror://debian/pool/main/m/mpclib3/libmpc3_1.3.1-1_amd64.deb',
    sha256: 'd7f79544790e44f9b0c8cb9034a18c58d37f8702a15f32539050718679e52f80',
  }),
  buildSystem: debianBinary,
  inputs: [libc6, libgmp10, libmpfr6],
  synopsis: 'Multiple-precision complex floating-point library',
  description:
    'GNU MPC does arithmetic on complex numbers of arbitrarily high precision with correct rounding; GCC uses it to fold constants.',
  homePage: 'https://www.multiprecision.org/mpc/',
  license: licenses.lgpl3Plus,
  properties: { bootstrap: true, debianVersion: '1.3.1-1' },
});

export const libpcre2_8 = definePackage({
  name: 'libpcre2-8-0',
  version: '10.42',
  // A bookworm-security update: the file lives in the security archive's pool/updates.
  source: url({
    urls: 'mirror://debian/pool/updates/main/p/pcre2/libpcre2-8-0_10.42-1+deb12u2_amd64.deb',
    sha256: 'd2f7edfcc7689b9e0761c2742cc824ac86a20768bc5e8057818dc6875291fe76',
  }),
  buildSystem: debianBinary,
  inputs: [libc6],
  synopsis: 'Perl-compatible regular expression library (8-bit runtime)',
  description:
    'PCRE2 implements regular expressions with the syntax and semantics of Perl 5; this is its 8-bit library, used by grep and libselinux.',
  homePage: 'https://pcre.org/',
  license: licenses.bsd3,
  properties: { bootstrap: true, debianVersion: '10.42-1+deb12u2' },
});

export const grep = definePackage({
  name: 'grep',
  version: '3.8',
  source: url({
    urls: 'mirror://debian/pool/main/g/grep/grep_3.8-5_amd64.deb',
    sha256: '3264acea728df3c48a54f20e9291b965130e306b9d00adac76647049da7196df',
  }),
  buildSystem: debianBinary,
  inputs: [libc6, libpcre2_8],
  synopsis: 'GNU grep, egrep and fgrep',
  description:
    'GNU grep searches files for lines matching regular expressions.',
  homePage: 'https://www.gnu.org/software/grep/',
  license: licenses.gpl3Plus,
  properties: { bootstrap: true, debianVersion: '3.8-5' },
});

export const libquadmath0 = definePackage({
  name: 'libquadmath0',
  version: '12.2.0',
  source: url({
    urls: 'mirror://debian/pool/main/g/gcc-12/libquadmath0_12.2.0-14+deb12u1_amd64.deb',
    sha256: '3f0c9a4c730da2fdab001cae596625438598fd2996d29d888feeb4c1cdc9011f',
  }),
  buildSystem: debianBinary,
  inputs: [libc6],
  synopsis: 'GCC quad-precision math library',
  description:
    'libquadmath provides the __float128 mathematical functions used by GNU Fortran\'s REAL(16).',
  homePage: 'https://gcc.gnu.org/',
  license: licenses.lgpl21Plus,
  properties: { bootstrap: true, runtime: 'lib', debianVersion: '12.2.0-14+deb12u1' },
});

export const libgcc12Dev = definePackage({
  name: 'libgcc-12-dev',
  version: '12.2.0',
  source: url({
    urls: 'mirror://debian/pool/main/g/gcc-12/libgcc-12-dev_12.2.0-14+deb12u1_amd64.deb',
    sha256: 'd720259380a84f2ffc6fe516eff5cbe9c8a005138e8d6a5748747ba4b3404a82',
  }),
  buildSystem: debianBinary,
  inputs: [libgccS1, libgomp1, libatomic1, libquadmath0 /* order of the .deb's Depends */],
  synopsis: 'GCC support library (development files)',
  description:
    'libgcc.a, the C runtime start files (crtbegin.o, …) and the link-time pieces of GCC 12\'s support libraries.',
  homePage: 'https://gcc.gnu.org/',
  license: licenses.gpl3PlusGccRuntime,
  properties: { bootstrap: true, debianVersion: '12.2.0-14+deb12u1' },
});

export const libgfortran5 = definePackage({
  name: 'libgfortran5',
  version: '12.2.0',
  source: url({
    urls: 'mirror://debian/pool/main/g/gcc-12/libgfortran5_12.2.0-14+deb12u1_amd64.deb',
    sha256: '63d38775d20c425c1f00914b52167ae0e3b4639facdb0aa734877279fb716fbb',
  }),
  buildSystem: debianBinary,
  inputs: [libc6, libgccS1, libquadmath0],
  synopsis: 'Runtime library for GNU Fortran applications',
  description:
    'libgfortran.so.5, the shared runtime library of programs compiled by GNU Fortran.',
  homePage: 'https://gcc.gnu.org/',
  license: licenses.gpl3PlusGccRuntime,
  properties: { bootstrap: true, runtime: 'lib', debianVersion: '12.2.0-14+deb12u1' },
});

export const libgfortran12Dev = definePackage({
  name: 'libgfortran-12-dev',
  version: '12.2.0',
  source: url({
    urls: 'mirror://debian/pool/main/g/gcc-12/libgfortran-12-dev_12.2.0-14+deb12u1_amd64.deb',
    sha256: '49ceacf2f8b1299e2b2a91a420dc9b4458a37bf74d8d0ba1bc349caca248ed54',
  }),
  buildSystem: debianBinary,
  inputs: [libgcc12Dev, libgfortran5],
  synopsis: 'Runtime library for GNU Fortran applications (development files)',
  description:
    'The link-time files of GCC 12\'s Fortran runtime library (libgfortran.so, libgfortran.a, libgfortran.spec).',
  homePage: 'https://gcc.gnu.org/',
  license: licenses.gpl3PlusGccRuntime,
  properties: { bootstrap: true, debianVersion: '12.2.0-14+deb12u1' },
});

export const libselinux1 = definePackage({
  name: 'libselinux1',
  version: '3.4',
  source: url({
    urls: 'mirror://debian/pool/main/libs/libselinux/libselinux1_3.4-1+b6_amd64.deb',
    sha256: '2b07f5287b9105f40158b56e4d70cc1652dac56a408f3507b4ab3d061eed425f',
  }),
  buildSystem: debianBinary,
  inputs: [libc6, libpcre2_8],
  synopsis: 'SELinux runtime shared libraries',
  description:
    'libselinux, the API used by SELinux-aware programs such as coreutils, sed, tar and findutils.',
  homePage: 'https://github.com/SELinuxProject/selinux',
  license: licenses.publicDomain,
  properties: { bootstrap: true, debianVersion: '3.4-1+b6' },
});

export const coreutils = definePackage({
  name: 'coreutils',
  version: '9.1',
  source: url({
    urls: 'mirror://debian/pool/main/c/coreutils/coreutils_9.1-1_amd64.deb',
    sha256: '61038f857e346e8500adf53a2a0a20859f4d3a3b51570cc876b153a2d51a3091',
  }),
  buildSystem: debianBinary,
  inputs: [libacl1, libattr1, libc6, libgmp10, libselinux1],
  synopsis: 'GNU core utilities',
  description:
    'The basic file, shell and text manipulation utilities of the GNU system: ls, cp, mv, rm, cat, sort, install, and many more.',
  homePage: 'https://www.gnu.org/software/coreutils/',
  license: licenses.gpl3Plus,
  // Hidden: by name, users get base.ts's coreutils, built against the store's C library.
  properties: { bootstrap: true, hidden: true, debianVersion: '9.1-1' },
});

export const findutils = definePackage({
  name: 'findutils',
  version: '4.9.0',
  source: url({
    urls: 'mirror://debian/pool/main/f/findutils/findutils_4.9.0-4_amd64.deb',
    sha256: '5dd86bd0af4aa73f067dfd6b8339dd868f2dd84056aa79db29d1206d4fbc5e04',
  }),
  buildSystem: debianBinary,
  inputs: [libc6, libselinux1],
  synopsis: 'Utilities for finding files: find and xargs',
  description:
    'GNU find searches directory trees for files matching given criteria; xargs builds command lines from its output.',
  homePage: 'https://www.gnu.org/software/findutils/',
  license: licenses.gpl3Plus,
  properties: { bootstrap: true, debianVersion: '4.9.0-4' },
});

export const libsigsegv2 = definePackage({
  name: 'libsigsegv2',
  version: '2.14',
  source: url({
    urls: 'mirror://debian/pool/main/libs/libsigsegv/libsigsegv2_2.14-1_amd64.deb',
    sha256: '92336a5c47989b82ba4c778adc0ea22fc84450773f2d8428fca4448b0789cfe6',
  }),
  buildSystem: debianBinary,
  inputs: [libc6],
  synopsis: 'Library for handling page faults in a portable way',
  description:
    'GNU libsigsegv lets programs handle page faults and stack overflows in user mode; gawk uses it.',
  homePage: 'https://www.gnu.org/software/libsigsegv/',
  license: licenses.gpl2Plus,
  properties: { bootstrap: true, debianVersion: '2.14-1' },
});

export const libstdcxx6 = definePackage({
  name: 'libstdc++6',
  version: '12.2.0',
  source: url({
    urls: 'mirror://debian/pool/main/g/gcc-12/libstdc++6_12.2.0-14+deb12u1_amd64.deb',
    sha256: '5cd3171216d4ab0fc911cfe9c35509bf2dd8f47761c43b7f6a4296701551a24d',
  }),
  buildSystem: debianBinary,
  inputs: [libc6, libgccS1],
  synopsis: 'GNU Standard C++ Library v3',
  description:
    'libstdc++.so.6, the shared C++ standard library of GCC.',
  homePage: 'https://gcc.gnu.org/',
  license: licenses.gpl3PlusGccRuntime,
  properties: { bootstrap: true, runtime: 'lib', debianVersion: '12.2.0-14+deb12u1' },
});

export const libtinfo6 = definePackage({
  name: 'libtinfo6',
  version: '6.4',
  source: url({
    urls: 'mirror://debian/pool/main/n/ncurses/libtinfo6_6.4-4_amd64.deb',
    sha256: '072d908f38f51090ca28ca5afa3b46b2957dc61fe35094c0b851426859a49a51',
  }),
  buildSystem: debianBinary,
  inputs: [libc6],
  synopsis: 'Shared low-level terminfo library for terminal handling',
  description:
    'The terminfo part of ncurses, which describes terminal capabilities; bash and readline link it.',
  homePage: 'https://invisible-island.net/ncurses/',
  license: licenses.x11,
  properties: { bootstrap: true, debianVersion: '6.4-4' },
});

export const bash = definePackage({
  name: 'bash',
  version: '5.2.15',
  source: url({
    urls: 'mirror://debian/pool/main/b/bash/bash_5.2.15-2+b13_amd64.deb',
    sha256: '82130bb6a560cd2a7234d8018baf73f188f5dd56413d5aa0accc987b2197a6a1',
  }),
  buildSystem: debianBinary,
  inputs: [libc6, libtinfo6],
  synopsis: 'GNU Bourne-Again shell',
  description:
    'Bash is the GNU shell, compatible with the Bourne shell and adding features from the Korn and C shells. It runs the build scripts of every package.',
  homePage: 'https://www.gnu.org/software/bash/',
  license: licenses.gpl3Plus,
  // Hidden: by name, users get base.ts's bash, built against the store's C library.
  properties: { bootstrap: true, hidden: true, debianVersion: '5.2.15-2+b13' },
});

export const libreadline8 = definePackage({
  name: 'libreadline8',
  version: '8.2',
  source: url({
    urls: 'mirror://debian/pool/main/r/readline/libreadline8_8.2-1.3_amd64.deb',
    sha256: 'e02ebbd3701cf468dbf98d6d917fbe0325e881f07fe8b316150c8d2a64486e66',
  }),
  buildSystem: debianBinary,
  inputs: [libc6, libtinfo6],
  synopsis: 'GNU readline and history libraries (runtime)',
  description:
    'GNU Readline lets programs edit command lines interactively and keep a history; gawk links it.',
  homePage: 'https://tiswww.case.edu/php/chet/readline/rltop.html',
  license: licenses.gpl3Plus,
  properties: { bootstrap: true, debianVersion: '8.2-1.3' },
});

export const gawk = definePackage({
  name: 'gawk',
  version: '5.2.1',
  source: url({
    urls: 'mirror://debian/pool/main/g/gawk/gawk_5.2.1-2_amd64.deb',
    sha256: '9cd63c1b35ff082092c221a23dcb167f72c4d1c3de3a42e11f16181f42ab3b55',
  }),
  buildSystem: debianBinary,
  inputs: [libc6, libgmp10, libmpfr6, libreadline8, libsigsegv2],
  synopsis: 'GNU awk, a pattern scanning and processing language',
  description:
    'GNU awk, the implementation of the AWK language used by many configure scripts and Makefiles to process text.',
  homePage: 'https://www.gnu.org/software/gawk/',
  license: licenses.gpl3Plus,
  properties: { bootstrap: true, debianVersion: '1:5.2.1-2' },
});

export const libzstd1 = definePackage({
  name: 'libzstd1',
  version: '1.5.4',
  source: url({
    urls: 'mirror://debian/pool/main/libz/libzstd/libzstd1_1.5.4+dfsg2-5_amd64.deb',
    sha256: '6315b5ac38b724a710fb96bf1042019398cb656718b1522279a5185ed39318fa',
  }),
  buildSystem: debianBinary,
  inputs: [libc6],
  synopsis: 'Fast lossless compression algorithm (library)',
  description:
    'Zstandard is a real-time compression algorithm with high compression ratios; GCC and Binutils use it for compressed debug sections and LTO.',
  homePage: 'https://facebook.github.io/zstd/',
  license: [licenses.bsd3, licenses.gpl2],
  properties: { bootstrap: true, debianVersion: '1.5.4+dfsg2-5' },
});

export const linuxLibcDev = definePackage({
  name: 'linux-libc-dev',
  version: '6.1.192',
  // A bookworm-security update: the file lives in the security archive's pool/updates.
  source: url({
    urls: 'mirror://debian/pool/updates/main/l/linux/linux-libc-dev_6.1.192-3_amd64.deb',
    sha256: '1b699a9cf27fd36f295b8f7615b73cea8d2d11d43c275c2aca1f4a7a7d14c4ea',
  }),
  buildSystem: debianBinary,
  synopsis: 'Linux support headers for userspace development',
  description:
    'The Linux kernel\'s user-space API headers (linux/, asm/, …) that the C library headers include.',
  homePage: 'https://www.kernel.org/',
  license: licenses.gpl2SyscallNote,
  properties: { bootstrap: true, debianVersion: '6.1.192-3' },
});

export const libc6Dev = definePackage({
  name: 'libc6-dev',
  version: '2.36',
  source: url({
    urls: 'mirror://debian/pool/main/g/glibc/libc6-dev_2.36-9+deb12u14_amd64.deb',
    sha256: '0218fc2befcd784c1b0c6292c0a137ce89fad054efaa579ad083bee0f2c01aae',
  }),
  buildSystem: debianBinary,
  inputs: [libc6, linuxLibcDev],
  synopsis: 'GNU C Library: development libraries and header files',
  description:
    'Headers, object files and static/linker-script libraries needed to compile and link programs against the GNU C Library.',
  homePage: 'https://www.gnu.org/software/libc/',
  license: licenses.lgpl21Plus,
  properties: { bootstrap: true, debianVersion: '2.36-9+deb12u14' },
});

export const libstdcxx12Dev = definePackage({
  name: 'libstdc++-12-dev',
  version: '12.2.0',
  source: url({
    urls: 'mirror://debian/pool/main/g/gcc-12/libstdc++-12-dev_12.2.0-14+deb12u1_amd64.deb',
    sha256: 'd28def6c23630432b57cb38a4c2fd67a79d4e0484027386ca6e8d6005c3d7a73',
  }),
  buildSystem: debianBinary,
  inputs: [libgcc12Dev, libstdcxx6, libc6Dev /* order of the .deb's Depends */],
  synopsis: 'GNU Standard C++ Library v3 (development files)',
  description:
    'The headers and link-time libraries of GCC 12\'s C++ standard library.',
  homePage: 'https://gcc.gnu.org/',
  license: licenses.gpl3PlusGccRuntime,
  properties: { bootstrap: true, debianVersion: '12.2.0-14+deb12u1' },
});

export const make = definePackage({
  name: 'make',
  version: '4.3',
  source: url({
    urls: 'mirror://debian/pool/main/m/make-dfsg/make_4.3-4.1_amd64.deb',
    sha256: 'a1a83af8cbd854af887b72ad196b1f4af58387815e21ced1000253a116a46e2a',
  }),
  buildSystem: debianBinary,
  inputs: [libc6],
  synopsis: 'Utility for directing compilation',
  description:
    'GNU Make determines which pieces of a program need rebuilding and runs the commands to rebuild them, as described in a Makefile.',
  homePage: 'https://www.gnu.org/software/make/',
  license: licenses.gpl3Plus,
  properties: { bootstrap: true, debianVersion: '4.3-4.1' },
});

export const patch = definePackage({
  name: 'patch',
  version: '2.7.6',
  source: url({
    urls: 'mirror://debian/pool/main/p/patch/patch_2.7.6-7_amd64.deb',
    sha256: '8c6d49b771530dbe26d7bd060582dc7d2b4eeb603a20789debc1ef4bbbc4ef67',
  }),
  buildSystem: debianBinary,
  inputs: [libc6],
  synopsis: 'Apply a diff file to an original',
  description:
    'GNU patch applies the output of diff to original files, producing patched versions.',
  homePage: 'https://savannah.gnu.org/projects/patch/',
  license: licenses.gpl3Plus,
  properties: { bootstrap: true, debianVersion: '2.7.6-7' },
});

export const sed = definePackage({
  name: 'sed',
  version: '4.9',
  source: url({
    urls: 'mirror://debian/pool/main/s/sed/sed_4.9-1+deb12u1_amd64.deb',
    sha256: 'fd557efeee8aae4619c2cb7f68aadccb804322ad4a99ab048aaae5901d253885',
  }),
  buildSystem: debianBinary,
  inputs: [libacl1, libc6, libselinux1],
  synopsis: 'GNU stream editor for filtering and transforming text',
  description:
    'GNU sed reads text, applies editing commands to it and writes the result; configure scripts and builds use it everywhere.',
  homePage: 'https://www.gnu.org/software/sed/',
  license: licenses.gpl3Plus,
  properties: { bootstrap: true, debianVersion: '4.9-1+deb12u1' },
});

export const tar = definePackage({
  name: 'tar',
  version: '1.34',
  source: url({
    urls: 'mirror://debian/pool/main/t/tar/tar_1.34+dfsg-1.2+deb12u1_amd64.deb',
    sha256: '24fb92e98c2969171f81a8b589263d705f6b1670f95d121cd74c810d4605acc3',
  }),
  buildSystem: debianBinary,
  inputs: [libacl1, libc6, libselinux1],
  synopsis: 'GNU version of the tar archiving utility',
  description:
    'GNU tar creates and extracts tape archives, the format in which source code is distributed.',
  homePage: 'https://www.gnu.org/software/tar/',
  license: licenses.gpl3Plus,
  properties: { bootstrap: true, debianVersion: '1.34+dfsg-1.2+deb12u1' },
});

export const xzUtils = definePackage({
  name: 'xz-utils',
  version: '5.4.1',
  // A bookworm-security update: the file lives in the security archive's pool/updates.
  source: url({
    urls: 'mirror://debian/pool/updates/main/x/xz-utils/xz-utils_5.4.1-1+deb12u2_amd64.deb',
    sha256: 'f99fc3fe4b4e5baecf5fd8b53853a82e1e71cb5ec187b36b0ddcf227a8961c8f',
  }),
  buildSystem: debianBinary,
  inputs: [libc6, liblzma5],
  synopsis: 'XZ-format compression utilities',
  description:
    'The xz, unxz and xzcat command-line tools, used to unpack .tar.xz sources.',
  homePage: 'https://tukaani.org/xz/',
  license: [licenses.publicDomain, licenses.lgpl21Plus, licenses.gpl2Plus],
  properties: { bootstrap: true, debianVersion: '5.4.1-1+deb12u2' },
});

export const zlib1g = definePackage({
  name: 'zlib1g',
  version: '1.2.13',
  source: url({
    urls: 'mirror://debian/pool/main/z/zlib/zlib1g_1.2.13.dfsg-1_amd64.deb',
    sha256: 'd7dd1d1411fedf27f5e27650a6eff20ef294077b568f4c8c5e51466dc7c08ce4',
  }),
  buildSystem: debianBinary,
  inputs: [libc6],
  synopsis: 'Compression library (runtime)',
  description:
    'The zlib shared library, which implements the deflate compression method of gzip and PKZIP.',
  homePage: 'https://zlib.net/',
  license: licenses.zlib,
  properties: { bootstrap: true, debianVersion: '1:1.2.13.dfsg-1' },
});

export const cpp12 = definePackage({
  name: 'cpp-12',
  version: '12.2.0',
  source: url({
    urls: 'mirror://debian/pool/main/g/gcc-12/cpp-12_12.2.0-14+deb12u1_amd64.deb',
    sha256: 'fedbb98e877adde83c983c6071537ea25ac52b277ac6e4637d85025949ca1454',
  }),
  buildSystem: debianBinary,
  inputs: [libc6, libgmp10, libisl23, libmpc3, libmpfr6, libzstd1, zlib1g],
  synopsis: 'GNU C preprocessor',
  description:
    'The C preprocessor of GCC 12 (`cpp` and `cc1`), which also does the compiling proper for the C driver.',
  homePage: 'https://gcc.gnu.org/',
  license: licenses.gpl3Plus,
  properties: { bootstrap: true, debianVersion: '12.2.0-14+deb12u1' },
});

export const libbinutils = definePackage({
  name: 'libbinutils',
  version: '2.40',
  source: url({
    urls: 'mirror://debian/pool/main/b/binutils/libbinutils_2.40-2_amd64.deb',
    sha256: 'fcf55b99e5f8a78f3c8ce9b6957f1024f394cf20c196b100d308a57e43547710',
  }),
  buildSystem: debianBinary,
  inputs: [libc6, libzstd1, zlib1g],
  synopsis: 'GNU binary utilities (private shared library)',
  description:
    'The BFD and opcodes libraries shared by the GNU Binutils programs.',
  homePage: 'https://www.gnu.org/software/binutils/',
  license: licenses.gpl3Plus,
  properties: { bootstrap: true, debianVersion: '2.40-2' },
});

export const libctfNobfd0 = definePackage({
  name: 'libctf-nobfd0',
  version: '2.40',
  source: url({
    urls: 'mirror://debian/pool/main/b/binutils/libctf-nobfd0_2.40-2_amd64.deb',
    sha256: 'ef1dfcf22de41ea90ebd3d505447ccccd999e96b85aa777a1d7d981dc3b347aa',
  }),
  buildSystem: debianBinary,
  inputs: [libc6, zlib1g],
  synopsis: 'Compact C Type Format library (runtime, no BFD dependency)',
  description:
    'The CTF library of GNU Binutils, which reads and writes Compact C Type Format debugging data, in a variant that does not use BFD.',
  homePage: 'https://www.gnu.org/software/binutils/',
  license: licenses.gpl3Plus,
  properties: { bootstrap: true, debianVersion: '2.40-2' },
});

export const libctf0 = definePackage({
  name: 'libctf0',
  version: '2.40',
  source: url({
    urls: 'mirror://debian/pool/main/b/binutils/libctf0_2.40-2_amd64.deb',
    sha256: '3fb7b6f326be3fae4a87a3d33b9269bd06c1e4346a24bd737f265067e3b7427f',
  }),
  buildSystem: debianBinary,
  inputs: [libbinutils, libc6, zlib1g],
  synopsis: 'Compact C Type Format library (runtime, BFD dependency)',
  description:
    'The CTF library of GNU Binutils, which reads and writes Compact C Type Format debugging data, using BFD.',
  homePage: 'https://www.gnu.org/software/binutils/',
  license: licenses.gpl3Plus,
  properties: { bootstrap: true, debianVersion: '2.40-2' },
});

export const binutilsX8664LinuxGnu = definePackage({
  name: 'binutils-x86-64-linux-gnu',
  version: '2.40',
  source: url({
    urls: 'mirror://debian/pool/main/b/binutils/binutils-x86-64-linux-gnu_2.40-2_amd64.deb',
    sha256: '2d7ea8a570d768224d7f2424abbe6f373d2154865a1fa7f56c80d43ecf492521',
  }),
  buildSystem: debianBinary,
  inputs: [libbinutils, libc6, libctfNobfd0, libctf0, libgccS1, libjansson4, libstdcxx6, libzstd1, zlib1g /* order of the .deb's Depends */],
  synopsis: 'GNU binary utilities for the x86-64-linux-gnu target',
  description:
    'The assembler, linker and binary utilities of GNU Binutils built for x86-64 GNU/Linux, as called by GCC.',
  homePage: 'https://www.gnu.org/software/binutils/',
  license: licenses.gpl3Plus,
  properties: { bootstrap: true, debianVersion: '2.40-2' },
});

export const binutils = definePackage({
  name: 'binutils',
  version: '2.40',
  source: url({
    urls: 'mirror://debian/pool/main/b/binutils/binutils_2.40-2_amd64.deb',
    sha256: '83c3e20b53e1fbd84d764c3ba27d26a0376e361ae5d7fb37120196934dd87424',
  }),
  buildSystem: debianBinary,
  inputs: [libbinutils, binutilsX8664LinuxGnu /* order of the .deb's Depends */],
  synopsis: 'GNU assembler, linker and binary utilities',
  description:
    'GNU Binutils: `as`, `ld`, `ar`, `nm`, `objdump`, `strip` and friends. This package holds the generic names; the tools themselves are in binutils-x86-64-linux-gnu.',
  homePage: 'https://www.gnu.org/software/binutils/',
  license: licenses.gpl3Plus,
  properties: { bootstrap: true, debianVersion: '2.40-2' },
});

export const gcc12 = definePackage({
  name: 'gcc-12',
  version: '12.2.0',
  source: url({
    urls: 'mirror://debian/pool/main/g/gcc-12/gcc-12_12.2.0-14+deb12u1_amd64.deb',
    sha256: 'b46f33cc2ec245e435e043807038cecf4b201ef004800e9dfc1455240360e49d',
  }),
  buildSystem: debianBinary,
  inputs: [cpp12, binutils, libgcc12Dev, libc6, libgccS1, libgmp10, libisl23, libmpc3, libmpfr6, libstdcxx6, libzstd1, zlib1g /* order of the .deb's Depends */],
  synopsis: 'GNU C compiler',
  description:
    'The GNU Compiler Collection, version 12: the `gcc-12` driver, the link-time optimiser and the GCC plug-in headers.',
  homePage: 'https://gcc.gnu.org/',
  license: licenses.gpl3Plus,
  properties: { bootstrap: true, debianVersion: '12.2.0-14+deb12u1' },
});

export const gxx12 = definePackage({
  name: 'g++-12',
  version: '12.2.0',
  source: url({
    urls: 'mirror://debian/pool/main/g/gcc-12/g++-12_12.2.0-14+deb12u1_amd64.deb',
    sha256: '68b182badae4ace7d472f1393c559d3532a95a2d70817498b10bb481d2627251',
  }),
  buildSystem: debianBinary,
  inputs: [gcc12, libstdcxx12Dev, libc6, libgmp10, libisl23, libmpc3, libmpfr6, libzstd1, zlib1g /* order of the .deb's Depends */],
  synopsis: 'GNU C++ compiler',
  description:
    'The C++ front end of GCC 12 (`g++-12` and `cc1plus`).',
  homePage: 'https://gcc.gnu.org/',
  license: licenses.gpl3Plus,
  properties: { bootstrap: true, debianVersion: '12.2.0-14+deb12u1' },
});

export const gfortran12 = definePackage({
  name: 'gfortran-12',
  version: '12.2.0',
  source: url({
    urls: 'mirror://debian/pool/main/g/gcc-12/gfortran-12_12.2.0-14+deb12u1_amd64.deb',
    sha256: '9241c39f8a3adc70c039a3945eddcc2804295d953873546461465a4af071481d',
  }),
  buildSystem: debianBinary,
  inputs: [gcc12, libgfortran12Dev, libc6Dev, libc6, libgmp10, libisl23, libmpc3, libmpfr6, libzstd1, zlib1g /* order of the .deb's Depends */],
  synopsis: 'GNU Fortran compiler',
  description:
    'The Fortran 95/2003/2008 front end of GCC 12 (`gfortran-12` and `f951`).',
  homePage: 'https://gcc.gnu.org/',
  license: licenses.gpl3Plus,
  properties: { bootstrap: true, debianVersion: '12.2.0-14+deb12u1' },
});

export const m4Bootstrap = definePackage({
  name: 'm4-bootstrap',
  version: '1.4.19',
  source: url({
    urls: 'mirror://debian/pool/main/m/m4/m4_1.4.19-3_amd64.deb',
    sha256: 'b2dd7bfca426712416e651bb5ff6dabe7d05e4caebbac61d714dbe261b31e4c3',
  }),
  buildSystem: debianBinary,
  inputs: [libc6],
  synopsis: 'Macro processing language',
  description:
    'GNU M4, an implementation of the Unix macro processor, needed by flex and Bison at run time.',
  homePage: 'https://www.gnu.org/software/m4/',
  license: licenses.gpl3Plus,
  properties: { bootstrap: true, debianVersion: '1.4.19-3' },
});

export const flexBootstrap = definePackage({
  name: 'flex-bootstrap',
  version: '2.6.4',
  source: url({
    urls: 'mirror://debian/pool/main/f/flex/flex_2.6.4-8.2_amd64.deb',
    sha256: 'da3fd55dbb6aff4f7b3187580813e0ef707d0c596402e37c8fd144df60003636',
  }),
  buildSystem: debianBinary,
  inputs: [libc6, m4Bootstrap],
  synopsis: 'Fast lexical analyser generator',
  description:
    'flex generates C scanners from descriptions of regular expressions; a prebuilt flex, kept as a seed for packages that need one.',
  homePage: 'https://github.com/westes/flex',
  license: licenses.flex,
  properties: { bootstrap: true, debianVersion: '2.6.4-8.2' },
});

export const bisonBootstrap = definePackage({
  name: 'bison-bootstrap',
  version: '3.8.2',
  source: url({
    urls: 'mirror://debian/pool/main/b/bison/bison_3.8.2+dfsg-1+b1_amd64.deb',
    sha256: 'a414afd7519c53bfa33415ba5b951bc8b4906877004c49723ffda50a6033c3e8',
  }),
  buildSystem: debianBinary,
  inputs: [m4Bootstrap, libc6 /* order of the .deb's Depends */],
  synopsis: 'YACC-compatible parser generator',
  description:
    'GNU Bison turns a grammar description into a C parser; a prebuilt Bison, kept as a seed for packages that need one.',
  homePage: 'https://www.gnu.org/software/bison/',
  license: licenses.gpl3Plus,
  properties: { bootstrap: true, debianVersion: '2:3.8.2+dfsg-1+b1' },
});

export const zlib1gDev = definePackage({
  name: 'zlib1g-dev',
  version: '1.2.13',
  source: url({
    urls: 'mirror://debian/pool/main/z/zlib/zlib1g-dev_1.2.13.dfsg-1_amd64.deb',
    sha256: 'f9ce531f60cbd5df37996af9370e0171be96902a17ec2bdbd8d62038c354094f',
  }),
  buildSystem: debianBinary,
  inputs: [zlib1g, libc6Dev /* order of the .deb's Depends */],
  synopsis: 'Compression library (development files)',
  description:
    'Headers and link-time libraries for zlib.',
  homePage: 'https://zlib.net/',
  license: licenses.zlib,
  properties: { bootstrap: true, debianVersion: '1:1.2.13.dfsg-1' },
});

export const libcrypt1 = definePackage({
  name: 'libcrypt1',
  version: '4.4.33',
  source: url({
    urls: 'mirror://debian/pool/main/libx/libxcrypt/libcrypt1_4.4.33-2_amd64.deb',
    sha256: 'f5f60a5cdfd4e4eaa9438ade5078a57741a7a78d659fcb0c701204f523e8bd29',
  }),
  buildSystem: debianBinary,
  inputs: [libc6],
  synopsis: 'Password-hashing library (libcrypt), shared library',
  description:
    'The libxcrypt password-hashing library (crypt(3)) that Perl links.',
  homePage: 'https://github.com/besser82/libxcrypt',
  license: licenses.lgpl21Plus,
  properties: { bootstrap: true, debianVersion: '1:4.4.33-2' },
});

export const perlBase = definePackage({
  name: 'perl-base',
  version: '5.36.0',
  // A bookworm-security update: the file lives in the security archive's pool/updates.
  source: url({
    urls: 'mirror://debian/pool/updates/main/p/perl/perl-base_5.36.0-7+deb12u4_amd64.deb',
    sha256: 'd7d1943aec9597629bf73075efcc5ef6dc9bda96d78e80d843156ecd448478b8',
  }),
  buildSystem: debianBinary,
  inputs: [libc6, libcrypt1],
  synopsis: 'Minimal Perl system',
  description:
    'The Perl 5 interpreter with its smallest set of core modules, enough to run the Perl scripts of build systems such as Open MPI\'s.',
  homePage: 'https://www.perl.org/',
  license: [licenses.artistic1Perl, licenses.gpl1Plus],
  properties: { bootstrap: true, debianVersion: '5.36.0-7+deb12u4' },
});

// ---------------------------------------------------------------------------------------------
// Bundles: symlink unions of the debs above, which is what build systems and packages name.

/** Everything needed to compile and link C and C++: the compilers, binutils, libc headers and libraries. */
export const gccToolchain = definePackage({
  name: 'gcc-toolchain',
  version: '12.2.0',
  buildSystem: union,
  // The whole run-time closure is listed (not only the drivers), so that the union alone is a
  // working compiler: cc1 needs gmp/mpfr/mpc/isl/zstd/zlib, ld needs libbinutils and libctf.
  propagatedInputs: [
    // Drivers first, then the run-time libraries: search-path order.
    gcc12, gxx12, cpp12, binutils, binutilsX8664LinuxGnu, libc6Dev, linuxLibcDev, libgcc12Dev, libstdcxx12Dev,
    libc6, libgccS1, libstdcxx6, libgomp1, libatomic1, libquadmath0,
    libbinutils, libctf0, libctfNobfd0, libjansson4, libgmp10, libmpfr6, libmpc3, libisl23, libzstd1, zlib1g,
  ],
  synopsis: 'GCC 12 toolchain for C and C++ (bootstrap)',
  description:
    'A union of the Debian bookworm packages that make a complete C and C++ compiler: GCC 12 (gcc, g++, cpp), GNU Binutils 2.40, the GNU C Library 2.36 headers and libraries, the Linux API headers, and the GCC support and C++ standard libraries. It is the implicit toolchain of the gnu and cmake build systems.',
  homePage: 'https://gcc.gnu.org/',
  license: [licenses.gpl3Plus, licenses.gpl3PlusGccRuntime, licenses.lgpl21Plus],
  // What --with-c-toolchain accepts (itself, or a package that propagates it, as gfortran does).
  properties: { bootstrap: true, toolchain: true },
});

/** The GNU Fortran compiler on top of the C/C++ toolchain. */
export const gfortran = definePackage({
  name: 'gfortran',
  version: '12.2.0',
  buildSystem: union,
  propagatedInputs: [gfortran12, libgfortran12Dev, libgfortran5, gccToolchain /* search-path order */],
  synopsis: 'GNU Fortran 12 compiler (bootstrap)',
  description:
    'A union of GNU Fortran 12 (gfortran-12 and its runtime library libgfortran, with libquadmath for REAL(16)) and the C/C++ toolchain it drives for preprocessing, assembling and linking. Packages with Fortran sources list it as a native input.',
  homePage: 'https://gcc.gnu.org/fortran/',
  license: [licenses.gpl3Plus, licenses.gpl3PlusGccRuntime],
  properties: { bootstrap: true },
});

/** The C library as a store item of its own: what every built program's interpreter and RUNPATH point to. */
export const glibc = definePackage({
  name: 'glibc',
  version: '2.36',
  buildSystem: union,
  propagatedInputs: [libc6],
  synopsis: 'GNU C Library (run-time item)',
  description:
    'The shared libraries and dynamic loader of the GNU C Library 2.36, from Debian\'s libc6. Programs built here are linked with this item\'s ld-linux-x86-64.so.2 as their interpreter and its lib directory in their RUNPATH, so they run in a root that holds nothing but their closure.',
  homePage: 'https://www.gnu.org/software/libc/',
  license: licenses.lgpl21Plus,
  properties: { bootstrap: true },
});

/** GCC's shared run-time libraries, referenced by C++, Fortran and OpenMP programs. */
export const gccLib = definePackage({
  name: 'gcc-lib',
  version: '12.2.0',
  buildSystem: union,
  propagatedInputs: [libgccS1, libstdcxx6, libgfortran5, libgomp1, libquadmath0, libatomic1 /* search-path order */],
  synopsis: 'GCC 12 shared run-time libraries',
  description:
    'The shared libraries that programs compiled by GCC 12 load at run time: libgcc_s, libstdc++, libgfortran, libgomp (OpenMP), libquadmath and libatomic. Without them in the link, GCC silently falls back to static copies, so they are kept as their own small item.',
  homePage: 'https://gcc.gnu.org/',
  license: [licenses.gpl3PlusGccRuntime, licenses.lgpl21Plus],
  properties: { bootstrap: true },
});

/** Every bootstrap package: the debs in dependency order, then the bundles. */
export const bootstrapPackages: readonly Package[] = Object.freeze([
  libc6, dash, diffutils, gzip, libacl1, libatomic1, libattr1, libbz2, bzip2Bootstrap, libgccS1,
  libgmp10, libgomp1, libisl23, libjansson4, liblzma5, libmpfr6, libmpc3, libpcre2_8, grep,
  libquadmath0, libgcc12Dev, libgfortran5, libgfortran12Dev, libselinux1, coreutils, findutils,
  libsigsegv2, libstdcxx6, libtinfo6, bash, libreadline8, gawk, libzstd1, linuxLibcDev, libc6Dev,
  libstdcxx12Dev, make, patch, sed, tar, xzUtils, zlib1g, cpp12, libbinutils, libctfNobfd0,
  libctf0, binutilsX8664LinuxGnu, binutils, gcc12, gxx12, gfortran12, m4Bootstrap, flexBootstrap,
  bisonBootstrap, zlib1gDev, libcrypt1, perlBase, gccToolchain, gfortran, glibc, gccLib,
]);
