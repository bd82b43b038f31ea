/**
 * The license table. Packages name licenses by value (`licenses.bsd3`), never by free text, so
 * `tsdsl lint` and pack manifests can rely on SPDX identifiers.
 */

/** A software license: a short name, its SPDX identifier and where to read it. */
export interface License {
  readonly name: string;
  readonly spdx: string;
  readonly url: string;
  readonly copyleft: boolean;
}

function license(name: string, spdx: string, url: string, copyleft: boolean): License {
  return Object.freeze({ name, spdx, url, copyleft });
}

/** Every license the collection uses, keyed by the name packages refer to. */
export const licenses = Object.freeze({
  agpl3Plus: license('AGPL 3+', 'AGPL-3.0-or-later', 'https://www.gnu.org/licenses/agpl-3.0.html', true),
  artistic1Perl: license('Artistic 1.0 (Perl)', 'Artistic-1.0-Perl', 'https://dev.perl.org/licenses/artistic.html', false),
  asl2: license('Apache 2.0', 'Apache-2.0', 'https://www.apache.org/licenses/LICENSE-2.0', false),
  bsd2: license('Modified BSD (2 clauses)', 'BSD-2-Clause', 'https://opensource.org/licenses/BSD-2-Clause', false),
  bsd3: license('Modified BSD (3 clauses)', 'BSD-3-Clause', 'https://opensource.org/licenses/BSD-3-Clause', false),
  bzip2: license('bzip2', 'bzip2-1.0.6', 'https://sourceware.org/bzip2/', false),
  cecillC: license('CeCILL-C', 'CECILL-C', 'https://www.cecill.info/licences/Licence_CeCILL-C_V1-en.html', true),
  expat: license('Expat (MIT)', 'MIT', 'https://opensource.org/licenses/MIT', false),
  flex: license('flex (BSD-style)', 'BSD-3-Clause-flex', 'https://github.com/westes/flex/blob/master/COPYING', false),
  gpl1Plus: license('GPL 1+', 'GPL-1.0-or-later', 'https://www.gnu.org/licenses/old-licenses/gpl-1.0.html', true),
  gpl2: license('GPL 2', 'GPL-2.0-only', 'https://www.gnu.org/licenses/old-licenses/gpl-2.0.html', true),
  gpl2Plus: license('GPL 2+', 'GPL-2.0-or-later', 'https://www.gnu.org/licenses/old-licenses/gpl-2.0.html', true),
  gpl2SyscallNote: license('GPL 2 with the Linux syscall note', 'GPL-2.0-only WITH Linux-syscall-note', 'https://spdx.org/licenses/Linux-syscall-note.html', true),
  gpl3Plus: license('GPL 3+', 'GPL-3.0-or-later', 'https://www.gnu.org/licenses/gpl-3.0.html', true),
  gpl3PlusGccRuntime: license('GPL 3+ with the GCC Runtime Library Exception', 'GPL-3.0-or-later WITH GCC-exception-3.1', 'https://www.gnu.org/licenses/gcc-exception-3.1.html', true),
  isc: license('ISC', 'ISC', 'https://opensource.org/licenses/ISC', false),
  lgpl21Plus: license('LGPL 2.1+', 'LGPL-2.1-or-later', 'https://www.gnu.org/licenses/old-licenses/lgpl-2.1.html', true),
  lgpl3Plus: license('LGPL 3+', 'LGPL-3.0-or-later', 'https://www.gnu.org/licenses/lgpl-3.0.html', true),
  mpl2: license('MPL 2.0', 'MPL-2.0', 'https://www.mozilla.org/MPL/2.0/', true),
  publicDomain: license('Public Domain', 'LicenseRef-public-domain', 'https://en.wikipedia.org/wiki/Public_domain', false),
  x11: license('X11', 'X11', 'https://opensource.org/licenses/MIT', false),
  zlib: license('Zlib', 'Zlib', 'https://zlib.net/zlib_license.html', false),
});

export type LicenseName = keyof typeof licenses;

const knownSpdx = new Set<string>(Object.values(licenses).map((l) => l.spdx));

/** True when `x` is one of the table's licenses (and not a look-alike object). */
export function isKnownLicense(x: unknown): x is License {
  return typeof x === "object" && x !== null && knownSpdx.has((x as License).spdx);
}
