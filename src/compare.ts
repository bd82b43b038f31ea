/**
 * Compares strings by Unicode code point, which is UTF-8 byte order: the order of C++
 * `std::string` that Nix sorts with, and of GNU tar's `--sort=name`. Plain `<` is UTF-16 order
 * and differs when a surrogate pair meets a character at or above U+E000; `localeCompare`
 * depends on the user's locale (Danish sorts `aa` after `z`), so nothing that must come out the
 * same everywhere may use it.
 */
export function compareStrings(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Move surrogates above U+E000–U+FFFF so code-unit order becomes code-point order.
    if (x >= 0xd800) x += x < 0xe000 ? 0x2000 : -0x800;
    if (y >= 0xd800) y += y < 0xe000 ? 0x2000 : -0x800;
    return x - y;
  }
  return a.length - b.length;
}

/**
 * Names as people sort them, and the same everywhere: ignoring case first (`patches` before
 * `patchFlags`), then by code point. For lists shown to users and for the order `tsdsl style`
 * keeps; never the locale's.
 */
export function compareNames(a: string, b: string): number {
  return compareStrings(a.toLowerCase(), b.toLowerCase()) || compareStrings(a, b);
}
