/**
 * Base libraries and tools that the HPC stack needs: compression libraries, parser generators,
 * pkg-config, libxml2. Versions and hashes are Debian bookworm's source packages; where Debian
 * ships the upstream tarball unchanged the upstream URL comes first and Debian's pool second,
 * and where Debian repacks it (`.dfsg`, `+ds`) the Debian file is the source.
 *
 * Shell snippets in `arguments.phases` run at the top of the unpacked source tree, with `$out`
 * the output prefix and `$NIX_BUILD_CORES` the core count; flags are expanded by the shell.
 */
import { definePackage, licenses, url } from '../src/dsl/index.js';
import { gnu } from './build-systems.js';

export const zlib = definePackage({
  name: 'zlib',
  version: '1.2.13',
  source: url({
    // Debian repacks zlib (.dfsg: contrib/ removed), so its file is the source.
    urls: 'mirror://debian/pool/main/z/zlib/zlib_1.2.13.dfsg.orig.tar.bz2',
    sha256: '71feb7947e3c00ef125f83b79a4e529bde31171e5babe48b391f06758d1ab0a1',
  }),
  buildSystem: gnu,
  arguments: {
    // zlib's configure is not autoconf: it rejects unknown options, so none are added.
    phases: { configure: './configure --prefix="$out"' },
  },
  synopsis: 'Compression library',
  description:
    'zlib is a lossless data-compression library implementing the deflate format used by gzip and PNG. It is small, portable and free of patents.',
  homePage: 'https://zlib.net/',
  license: licenses.zlib,
});

export const bzip2 = definePackage({
  name: 'bzip2',
  version: '1.0.8',
  source: url({
    // Debian's orig tarball is upstream's file (same sha256 as sourceware's bzip2-1.0.8.tar.gz).
    urls: [
      'https://sourceware.org/pub/bzip2/bzip2-1.0.8.tar.gz',
      'mirror://debian/pool/main/b/bzip2/bzip2_1.0.8.orig.tar.gz',
    ],
    sha256: 'ab5a03176ee106d3f0fa90e381da478ddae405918153cca248e682cd0c4a2269',
  }),
  buildSystem: gnu,
  arguments: {
    phases: {
      // No configure script: the Makefiles take everything on the command line.
      configure: ':',
      // The shared library has its own Makefile, whose objects are built with -fpic; clean
      // them before building the static library and the programs with the main Makefile.
      build: 'make -j"$NIX_BUILD_CORES" -f Makefile-libbz2_so && make clean && make -j"$NIX_BUILD_CORES"',
      install: [
        'make install PREFIX="$out"',
        'cp -a libbz2.so.1.0.8 libbz2.so.1.0 "$out/lib/"',
        'ln -sf libbz2.so.1.0.8 "$out/lib/libbz2.so"',
      ].join(' && '),
    },
    // The main Makefile's default target already compresses and compares its sample files.
    tests: false,
  },
  synopsis: 'High-quality block-sorting file compressor',
  description:
    'bzip2 compresses files with the Burrows-Wheeler block-sorting algorithm and Huffman coding, typically 10–15% smaller than gzip. The package has the bzip2, bunzip2 and bzip2recover programs and the libbz2 library, static and shared.',
  homePage: 'https://sourceware.org/bzip2/',
  license: licenses.bzip2,
  properties: { debianVersion: '1.0.8-5' },
});

export const xz = definePackage({
  name: 'xz',
  version: '5.4.1',
  source: url({
    // Debian keeps upstream's signed file: its .orig.tar.xz.asc is Lasse Collin's signature
    // and verifies against the orig tarball.
    urls: [
      'https://tukaani.org/xz/xz-5.4.1.tar.xz',
      'mirror://debian/pool/main/x/xz-utils/xz-utils_5.4.1.orig.tar.xz',
    ],
    sha256: '5d9827aa1875b21c288f78864bb26d2650b436ea8d2cad364e4921eb6266a5a5',
  }),
  buildSystem: gnu,
  synopsis: 'General-purpose data compression with the XZ and LZMA formats',
  description:
    'XZ Utils compress and decompress data with the LZMA2 algorithm, giving higher compression ratios than gzip and bzip2. The package has the xz, unxz, xzcat, lzma programs and the liblzma library.',
  homePage: 'https://tukaani.org/xz/',
  // liblzma and most tools are public domain; some scripts are GPL 2+ and getopt is LGPL 2.1+.
  license: [licenses.publicDomain, licenses.lgpl21Plus, licenses.gpl2Plus],
  // Debian's source package is xz-utils: the updater looks it up by that name.
  properties: { debianVersion: '5.4.1-1+deb12u1', debianName: 'xz-utils' },
});

export const m4 = definePackage({
  name: 'm4',
  version: '1.4.19',
  source: url({
    // Debian's .orig.tar.xz.asc (Eric Blake's upstream signature) verifies against the orig tarball.
    urls: [
      'mirror://gnu/m4/m4-1.4.19.tar.xz',
      'mirror://debian/pool/main/m/m4/m4_1.4.19.orig.tar.xz',
    ],
    sha256: '63aede5c6d33b6d9b13511cd0be2cac046f2e70fd0a07aa9573a04a82783af96',
  }),
  buildSystem: gnu,
  arguments: {
    phases: {
      // checks/198.sysval runs `/bin/sh -c 'kill -9 $$'` from /bin/sh and expects nothing on
      // stderr, but dash 0.5.12 (the sandbox's /bin/sh) reports "Killed" for a child killed by
      // a signal. Make the test report itself skipped (exit 77), as it does on other systems.
      preCheck: "echo 'm4exit(77)' > checks/198.sysval",
    },
  },
  synopsis: 'Macro processor',
  description:
    'GNU M4 is an implementation of the traditional Unix macro processor, with extensions such as more than nine arguments, file inclusion, shell commands and arithmetic. Autoconf, Bison and flex depend on it.',
  homePage: 'https://www.gnu.org/software/m4/',
  license: licenses.gpl3Plus,
  properties: { debianVersion: '1.4.19-3' },
});

/**
 * Bash built from source, linked against the store's C library like every package built here,
 * so that it runs from a pack on any machine. The toolchain's `bash` (bootstrap.ts, Debian's
 * binary) runs the build scripts but asks for the host's /lib64 loader and libraries; it is
 * hidden, so `tsdsl pack … bash` and `tsdsl shell bash` get this one.
 */
export const bashFromSource = definePackage({
  name: 'bash',
  version: '5.2.15',
  source: url({
    // GNU releases bash 5.2 and its patches separately; Debian's orig tarball is 5.2 with
    // patches 1–15 applied, so it is the only release file of 5.2.15.
    urls: 'mirror://debian/pool/main/b/bash/bash_5.2.15.orig.tar.gz',
    sha256: '7a315bc0e9d90713159e4390ec1096a41e4f33cd8cc3d1a749a8e5ad56600f51',
  }),
  buildSystem: gnu,
  arguments: {
    configureFlags: [
      // glibc's malloc, as Guix and Debian build it.
      '--without-bash-malloc',
      // Readline is bash's own copy; its terminal handling is bash's termcap emulation, so
      // nothing outside the closure (no libtinfo) is needed at run time.
      'bash_cv_termcap_lib=gnutermcap',
    ],
    phases: {
      // `sh` for scripts and for images whose /bin/sh this is.
      postInstall: 'ln -s bash "$out/bin/sh"',
    },
  },
  synopsis: 'GNU Bourne-Again shell',
  description:
    'Bash is the GNU shell, compatible with the Bourne shell and adding features from the Korn and C shells: command-line editing, history, arrays, arithmetic.',
  homePage: 'https://www.gnu.org/software/bash/',
  license: licenses.gpl3Plus,
  properties: { debianVersion: '5.2.15-2' },
});

/**
 * Coreutils built from source, for the same reason as bash above: the toolchain's `coreutils`
 * (bootstrap.ts) is Debian's binary, which asks for the host's /lib64 loader, so it cannot run
 * in a container or from a pack. That one is hidden; `tsdsl shell -C … coreutils` and `tsdsl
 * pack … coreutils` get this one.
 */
export const coreutilsFromSource = definePackage({
  name: 'coreutils',
  version: '9.1',
  source: url({
    // Debian's orig tarball is upstream's file (same sha256), and its .asc verifies against it.
    urls: [
      'mirror://gnu/coreutils/coreutils-9.1.tar.xz',
      'mirror://debian/pool/main/c/coreutils/coreutils_9.1.orig.tar.xz',
    ],
    sha256: '61a1f410d78ba7e7f37a5a4f50e6d1320aca33375484a3255eddf17a38580423',
  }),
  buildSystem: gnu,
  arguments: {
    env: {
      // The build runs as root in its user namespace, where configure refuses to run (some
      // of its checks create device files) unless told this is deliberate.
      FORCE_UNSAFE_CONFIGURE: '1',
    },
    configureFlags: [
      // No libacl, libattr, libselinux, libcap or GMP headers are in the toolchain; say so, so
      // that a later toolchain with them does not silently change what is built.
      '--disable-acl',
      '--disable-xattr',
      '--disable-libcap',
      '--without-selinux',
      '--without-libgmp',
      '--without-openssl',
    ],
    phases: {
      // The build runs as root in a user namespace that maps no other user, so the tests that
      // give files to another owner (chown to uid 1, install -C -o, rm's no-give-up as nobody)
      // fail with EINVAL, as for any root on a system without those users. They report
      // themselves skipped (exit 77), as the suite does where it cannot run a test.
      preCheck: "for t in tests/chown/basic.sh tests/install/install-C-root.sh tests/rm/no-give-up.sh; do printf '#!/bin/sh\\nexit 77\\n' > \"$t\"; done",
    },
  },
  synopsis: 'GNU core utilities',
  description:
    'The basic file, shell and text manipulation utilities of the GNU system: ls, cp, mv, rm, cat, sort, env, install, and many more.',
  homePage: 'https://www.gnu.org/software/coreutils/',
  license: licenses.gpl3Plus,
  properties: { debianVersion: '9.1-1' },
});

export const bison = definePackage({
  name: 'bison',
  version: '3.8.2',
  source: url({
    // Debian repacks Bison (+dfsg: the GFDL manual doc/bison.texi and doc/figs are removed).
    urls: 'mirror://debian/pool/main/b/bison/bison_3.8.2+dfsg.orig.tar.xz',
    sha256: 'dff8a3c96dd34121828f62a7fa49e1f7765815b89e59f564e8d2a9e71c177be5',
  }),
  buildSystem: gnu,
  // Bison runs m4 on its skeletons every time it generates a parser.
  propagatedInputs: [m4],
  nativeInputs: [m4],
  arguments: {
    phases: {
      // As debian/rules does for the repacked tarball: a stub manual, and every file the info
      // page depends on touched to one date, so that make never calls makeinfo.
      preConfigure: "echo '@setfilename bison.info' > doc/bison.texi",
      // doc/bison.info.bak (a Perl clean-up of the info page, always made by `all`) is touched
      // after it, so that make neither runs Perl on the stub nor needs Perl at all.
      preBuild: [
        'mkdir -p doc/figs',
        "touch --date='2000-01-01' doc/bison.info doc/bison.help doc/figs/example.txt doc/figs/example-reduce.txt doc/figs/example-shift.txt doc/*.texi build-aux/cross-options.pl src/getargs.c",
        "touch --date='2000-01-02' doc/bison.info.bak",
      ].join(' && '),
    },
  },
  synopsis: 'Yacc-compatible parser generator',
  description:
    'GNU Bison is a general-purpose parser generator that converts an annotated context-free grammar into a deterministic LR or generalized LR parser in C, C++ or Java. It is upward compatible with Yacc.',
  homePage: 'https://www.gnu.org/software/bison/',
  license: licenses.gpl3Plus,
  properties: { debianVersion: '2:3.8.2+dfsg-1' },
});

export const flex = definePackage({
  name: 'flex',
  version: '2.6.4',
  source: url({
    // Debian's orig tarball is upstream's release file (same sha256 as the GitHub release asset).
    urls: [
      'https://github.com/westes/flex/releases/download/v2.6.4/flex-2.6.4.tar.gz',
      'mirror://debian/pool/main/f/flex/flex_2.6.4.orig.tar.gz',
    ],
    sha256: 'e87aae032bf07c26f85ac0ed3250998c37621d95f8bd748b31f15b33c45ee995',
  }),
  buildSystem: gnu,
  // Generated scanners are produced by running m4 on flex's skeleton, at run time.
  propagatedInputs: [m4],
  // Bison is only needed by the test suite (the bison-bridge tests).
  nativeInputs: [bison, m4],
  arguments: {
    // glibc ≥ 2.26 has reallocarray, so configure finds it, but stdlib.h declares it only with
    // _GNU_SOURCE; without the declaration the bootstrap stage1flex truncates the returned
    // pointer and crashes (github.com/westes/flex/issues/241).
    configureFlags: ['CPPFLAGS=-D_GNU_SOURCE'],
  },
  synopsis: 'Fast lexical analyser generator',
  description:
    'flex generates scanners: programs that recognise lexical patterns in text. It reads rules made of regular expressions and C code and writes a C source file, lex.yy.c, that implements them.',
  homePage: 'https://github.com/westes/flex',
  license: licenses.flex,
  properties: { debianVersion: '2.6.4-8.2' },
});

/**
 * pkgconf, not freedesktop's pkg-config: Debian bookworm has no `pkg-config` source package
 * any more (its pkg-config binary package is built from pkgconf), so this is what the
 * collection ships. A `pkg-config` link is installed so that autoconf's PKG_PROG_PKG_CONFIG
 * finds it.
 */
export const pkgconf = definePackage({
  name: 'pkgconf',
  version: '1.8.1',
  source: url({
    // Debian's watch file fetches upstream's .tar.xz without repacking (same name and format);
    // no independent upstream hash was found to compare with.
    urls: [
      'https://distfiles.dereferenced.org/pkgconf/pkgconf-1.8.1.tar.xz',
      'mirror://debian/pool/main/p/pkgconf/pkgconf_1.8.1.orig.tar.xz',
    ],
    sha256: '644361ada2942be05655d4452eb018791647c31bba429b287f1f68deb2dc6840',
  }),
  buildSystem: gnu,
  arguments: {
    phases: { postInstall: 'ln -s pkgconf "$out/bin/pkg-config"' },
    // The test suite needs kyua and atf, which the collection does not have.
    tests: false,
  },
  synopsis: 'Package compiler and linker metadata toolkit (pkg-config implementation)',
  description:
    'pkgconf reads the .pc files that libraries install and prints the compiler and linker flags needed to use them. It is a compatible, faster implementation of freedesktop.org\'s pkg-config, and is installed here under both names.',
  homePage: 'http://pkgconf.org/',
  license: licenses.isc,
  properties: { debianVersion: '1.8.1-1' },
});

export const libxml2 = definePackage({
  name: 'libxml2',
  version: '2.9.14',
  source: url({
    // Debian repacks libxml2 (+dfsg: the test/ and result/ directories are removed).
    urls: 'mirror://debian/pool/main/libx/libxml2/libxml2_2.9.14+dfsg.orig.tar.xz',
    sha256: '4fe913dec8b1ab89d13b489b419a8203176ea39e931eaa0d25b17eafb9c279e9',
  }),
  buildSystem: gnu,
  inputs: [xz, zlib],
  nativeInputs: [pkgconf],
  arguments: {
    // TODO(input prefixes): how an input's prefix reaches the builder is not decided; `${zlib}`
    // and `${xz}` stand for the zlib and xz store paths.
    configureFlags: ['--without-python', '--with-zlib=${zlib}', '--with-lzma=${xz}'],
    // The repacked tarball has no test/ and result/ data, which `make check` reads.
    tests: false,
  },
  synopsis: 'C library for parsing and writing XML',
  description:
    'libxml2 is the XML C parser and toolkit of the GNOME project: XML and HTML parsing, XPath, XPointer, XInclude, XML Schemas and RelaxNG validation, with a SAX and a tree interface. hwloc uses it to import and export topologies.',
  homePage: 'https://gitlab.gnome.org/GNOME/libxml2',
  license: licenses.expat,
  properties: { debianVersion: '2.9.14+dfsg-1.3~deb12u6' },
});

export const perl = definePackage({
  name: 'perl',
  version: '5.36.0',
  source: url({
    // Debian's main orig tarball is upstream's (same sha256 as www.cpan.org's perl-5.36.0.tar.xz);
    // Debian's extra "regen-configure" component tarball is not needed for an upstream build.
    urls: [
      'https://www.cpan.org/src/5.0/perl-5.36.0.tar.xz',
      'mirror://debian/pool/main/p/perl/perl_5.36.0.orig.tar.xz',
    ],
    sha256: '0f386dccbee8e26286404b2cca144e1005be65477979beb9b1ba272d4819bcf0',
  }),
  buildSystem: gnu,
  arguments: {
    phases: {
      // Perl's Configure is not autoconf. -des: accept defaults, no questions. Installing
      // everything under lib/perl5 keeps the tree relocatable-looking and store-friendly.
      // TODO(toolchain paths): Configure probes /usr/include and /usr/lib for libc; the builder
      // must point it (-Dlocincpth/-Dloclibpth) at the toolchain's include and lib dirs.
      configure: [
        './Configure -des',
        '-Dprefix="$out"',
        '-Dman1dir="$out/share/man/man1"',
        '-Dman3dir="$out/share/man/man3"',
        '-Dinstallstyle=lib/perl5',
        '-Duseshrplib',
        '-Uinstallusrbinperl',
        '-Dcc=gcc',
      ].join(' '),
    },
    // The core test suite runs for longer than the rest of the stack takes to build; Perl is
    // only a build tool here (Open MPI's wrapper generators).
    tests: false,
  },
  synopsis: 'Implementation of the Perl programming language',
  description:
    'Perl 5 is a general-purpose programming language with strong text processing, regular expressions and a large library of core modules. Build systems such as Open MPI\'s use Perl scripts.',
  homePage: 'https://www.perl.org/',
  license: [licenses.artistic1Perl, licenses.gpl1Plus],
  properties: { debianVersion: '5.36.0-7+deb12u3' },
});
