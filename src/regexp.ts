/** `s` as a RegExp source that matches it literally. */
export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * `re` without the `g` and `y` flags, for `test()`: a global or sticky pattern's `test()`
 * starts where its last match ended, so calling it on one string after another skips matches.
 * Returns `re` itself when it has neither flag.
 */
export function statelessRegExp(re: RegExp): RegExp {
  return re.global || re.sticky ? new RegExp(re.source, re.flags.replace(/[gy]/g, '')) : re;
}
