/** Quoting for the shell: values in generated scripts, and commands a message suggests. */

/** `'…'`: any string as one shell word. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `s` as one shell word, quoted only when it has to be (`--with-input=scotch=pt-scotch` stays as it is). */
export function shellWord(s: string): string {
  // No `~` (a home directory at the start) nor `^` (a pattern in zsh) unquoted.
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : shellQuote(s);
}
