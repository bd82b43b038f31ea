/**
 * The builder script of the `gnu` and `cmake` build systems: one shell script, stored as a
 * `text` item and shared by every package of that build system (so it costs one store path, as
 * Nix's setup script does). Everything package-specific reaches it through the derivation's
 * environment: `src`, `patches`, flag lists (newline-separated, so flags may hold spaces), phase
 * overrides (`configurePhase`, `preBuild`, …), and the input lists from which it builds PATH,
 * CPATH, LIBRARY_PATH and PKG_CONFIG_PATH.
 */

/** Phases of each build system that this script implements, in order. */
export const SCRIPT_PHASES: Readonly<Record<string, readonly string[]>> = {
  gnu: ['unpack', 'patch', 'bootstrap', 'configure', 'build', 'check', 'install', 'shebangs', 'strip', 'validate'],
  cmake: ['unpack', 'patch', 'configure', 'build', 'check', 'install', 'shebangs', 'strip', 'validate'],
};

/** The script for `buildSystem` ("gnu" or "cmake"). Changing it changes every derivation path. */
export function gnuBuilderScript(buildSystem: 'gnu' | 'cmake'): string {
  const phases = SCRIPT_PHASES[buildSystem]!;
  const configure =
    buildSystem === 'cmake'
      ? `phase_configure() {
  mkdir -p build && cd build
  local flags=()
  read_flags flags "\${cmakeFlags-}
\${configureFlags-}"
  cmake .. -DCMAKE_INSTALL_PREFIX="$out" -DCMAKE_BUILD_TYPE="\${buildType:-Release}" \\
    -DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_SKIP_BUILD_RPATH=OFF -DCMAKE_INSTALL_RPATH_USE_LINK_PATH=ON "\${flags[@]}"
}
phase_check() {
  [ -n "\${doCheck-}" ] || { echo "tests disabled"; return 0; }
  ctest --output-on-failure -j "\${NIX_BUILD_CORES:-1}"
}`
      : `phase_bootstrap() {
  if [ ! -x ./configure ]; then
    for s in ./autogen.sh ./bootstrap; do
      if [ -x "$s" ]; then "$s"; return 0; fi
    done
  fi
}
phase_configure() {
  local flags=()
  read_flags flags "\${configureFlags-}"
  [ -x ./configure ] || { echo "no ./configure script; override the configure phase"; return 0; }
  ./configure --prefix="$out" "\${flags[@]}"
}
phase_check() {
  [ -n "\${doCheck-}" ] || { echo "tests disabled"; return 0; }
  local flags=()
  read_flags flags "\${makeFlags-}"
  make \${parallelTests:+-j"\${NIX_BUILD_CORES:-1}"} "\${flags[@]}" "\${testTarget:-check}"
}`;
  return `# tsdsl ${buildSystem} build system builder (generated; shared by every ${buildSystem} package)
set -eu -o pipefail
export LC_ALL=C TZ=UTC SOURCE_DATE_EPOCH="\${SOURCE_DATE_EPOCH:-1}"
# The build runs as root in a user namespace that maps one uid: tar must not restore owners.
export TAR_OPTIONS=--no-same-owner

# Search paths from inputs: native inputs (tools) first, then host inputs (libraries).
PATH= CPATH= LIBRARY_PATH= PKG_CONFIG_PATH=
add_prefix() {
  local p="$1" d
  for d in bin usr/bin sbin usr/sbin; do [ -d "$p/$d" ] && PATH="\${PATH:+$PATH:}$p/$d"; done
  for d in include usr/include usr/include/x86_64-linux-gnu; do [ -d "$p/$d" ] && CPATH="\${CPATH:+$CPATH:}$p/$d"; done
  for d in lib lib64 usr/lib lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu; do
    [ -d "$p/$d" ] && LIBRARY_PATH="\${LIBRARY_PATH:+$LIBRARY_PATH:}$p/$d"
  done
  for d in lib/pkgconfig share/pkgconfig usr/lib/x86_64-linux-gnu/pkgconfig usr/share/pkgconfig; do
    [ -d "$p/$d" ] && PKG_CONFIG_PATH="\${PKG_CONFIG_PATH:+$PKG_CONFIG_PATH:}$p/$d"
  done
  return 0
}
for p in \${nativeInputs-} \${inputs-}; do add_prefix "$p"; done
# Then the root file system: the bootstrap toolchain in its Debian (FHS) layout.
PATH="\${PATH:+$PATH:}/usr/bin:/bin:/usr/sbin:/sbin"
export PATH CPATH LIBRARY_PATH PKG_CONFIG_PATH
# The outputs' directories: $out, and each other output a package declares (\$outputs, as Nix sets
# it for several), which ./configure fills from --bindir, --libdir, --docdir, …
output_dirs=()
set_output_dirs() { local _o; for _o in \${outputs:-out}; do output_dirs+=("\${!_o}"); done; }
set_output_dirs
# A file's name as the log shows it: within \$out, or its store path.
shown_file() { printf '%s' "\${1#"$out"/}"; }
# Self-contained outputs: compiler wrappers add a specs file so that every link gets the store's
# dynamic linker and a RUNPATH with $out/lib (and each other output's lib), the run-time libraries
# and the inputs' libraries.
if [ -n "\${libc-}" ]; then
  interp=
  for d in lib/x86_64-linux-gnu lib64 lib; do
    if [ -e "$libc/$d/ld-linux-x86-64.so.2" ]; then interp="$libc/$d/ld-linux-x86-64.so.2"; break; fi
  done
  rpath=
  for p in "\${output_dirs[@]}"; do rpath="\${rpath:+$rpath:}$p/lib"; done
  for p in $libc \${runtimeLibs-} \${inputs-}; do
    for d in lib lib64 lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu; do [ -d "$p/$d" ] && rpath="$rpath:$p/$d"; done
  done
  wrap="\${TMPDIR:-/build}/.tsdsl-cc"
  mkdir -p "$wrap"
  cat > "$wrap/store.specs" <<SPECS
%rename link old_link

*link:
%(old_link) %{!static:%{!shared:-dynamic-linker $interp}} -rpath $rpath

SPECS
  for tool in gcc g++ gfortran cc c++ f95 gcc-12 g++-12 gfortran-12; do
    real=$(command -v "$tool" 2>/dev/null) || continue
    printf '#!/bin/sh\\nexec %s -specs=%s "$@"\\n' "$real" "$wrap/store.specs" > "$wrap/$tool"
    chmod +x "$wrap/$tool"
  done
  export PATH="$wrap:$PATH"
fi
export CFLAGS="\${CFLAGS:--O2}\${extraCFlags:+ $extraCFlags}" CXXFLAGS="\${CXXFLAGS:--O2}\${extraCFlags:+ $extraCFlags}" FFLAGS="\${FFLAGS:--O2}\${extraCFlags:+ $extraCFlags}"

# Flag lists hold one flag a line. \${name} in a flag is the prefix of the input of that name
# (\`--with-hwloc=\${hwloc}\`), expanded here and nowhere else: no word splitting, no globbing,
# and make's own $(VAR) references are left alone.
expand_refs() {
  # Locals start with _ so that they never hide the variable a flag names, such as out.
  local _s="$1" _acc="" _rest _name
  while [[ "$_s" == *'\${'* ]]; do
    _acc+="\${_s%%'\${'*}"; _rest="\${_s#*'\${'}"; _name="\${_rest%%'}'*}"
    if [[ "$_rest" == *'}'* && "$_name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
      [ -n "\${!_name+x}" ] || { echo "flag \\\`$1' names \\\`\${_name}', which is not an input of this package (nor a variable of the build)" >&2; return 1; }
      _acc+="\${!_name}"; _s="\${_rest#*'}'}"
    else _acc+='\${'; _s="$_rest"; fi
  done
  printf '%s' "$_acc$_s"
}
# read_flags ARRAY TEXT: append each non-empty line of TEXT, expanded, to the array ARRAY.
read_flags() {
  local -n into="$1"; local f
  while IFS= read -r f; do
    [ -n "$f" ] || continue
    f=$(expand_refs "$f") || return 1
    into+=("$f")
  done <<< "$2"
  return 0
}
phase_unpack() {
  if [ -d "$src" ]; then
    # Keep the execute bits (./configure, scripts) and make the copy writable.
    cp -r "$src" source && chmod -R u+w source
  else
    mkdir unpack
    case "$src" in
      *.zip) unzip -q "$src" -d unpack ;;
      *) tar -xf "$src" -C unpack --no-same-owner --no-same-permissions ;;
    esac
    if [ "$(ls -A unpack | wc -l)" = 1 ] && [ -d "unpack/$(ls -A unpack)" ]; then mv "unpack/$(ls -A unpack)" source; rmdir unpack
    else mv unpack source; fi
  fi
  cd source
  chmod -R u+w .
}
phase_patch() {
  local p name
  for p in \${patches-}; do
    # The patch's own name, without its store path's hash.
    name="$(basename "$p")"; [[ ! "$name" =~ ^[0-9a-z]{32}- ]] || name="\${name:33}"
    echo "applying $name"
    # --forward: a patch that looks applied already (merged upstream) fails the build, as in
    # Guix and Nix, rather than being reversed (--batch alone assumes -R, undoing the fix).
    if ! patch \${patchFlags:--p1} --batch --forward --no-backup-if-mismatch < "$p"; then
      echo "tsdsl: the patch $name does not apply to this source (see above): it may be applied already, or made for another version; drop it or make it again" >&2
      return 1
    fi
  done
  if [ -n "\${snippet-}" ]; then eval "$snippet"; fi
}
${configure}
phase_build() {
  local flags=()
  read_flags flags "\${makeFlags-}"
  make \${parallelBuild:+-j"\${NIX_BUILD_CORES:-1}"} "\${flags[@]}"
}
phase_install() {
  local flags=()
  read_flags flags "\${makeFlags-}"
  make "\${flags[@]}" "\${installTarget:-install}"
}
# Makes each installed script run its interpreter from the store, as Guix's patch-shebangs and
# Nix's patchShebangs do: '#!/usr/bin/perl -w' becomes '#!<perl's store path>/bin/perl -w', and
# '#!/usr/bin/env python3' python3's store path. The interpreter is the first program of that
# name in $out's or an input's bin or sbin directory: an input, because a script's interpreter is
# needed where it runs (not a native input, a tool of the build, nor the bootstrap root's). The
# rewritten line is a reference, so the interpreter joins the package's closure and its packs.
# An interpreter found nowhere is kept, and said (tsdsl pack warns about it too).
phase_shebangs() {
  local dirs=() p d f magic line interp args name found mode new
  for p in "\${output_dirs[@]}" \${inputs-}; do
    for d in bin sbin usr/bin usr/sbin; do [ -d "$p/$d" ] && dirs+=("$p/$d"); done
  done
  while IFS= read -r -d '' f; do
    magic=; IFS= read -r -N 2 magic < "$f" 2>/dev/null || true
    [ "$magic" = '#!' ] || continue
    line=; IFS= read -r line < "$f" || true
    line="\${line#??}"; line="\${line%$'\\r'}"
    args="\${line#"\${line%%[![:blank:]]*}"}"; interp="\${args%%[[:blank:]]*}"; args="\${args:\${#interp}}"
    case "$interp" in ''|"$NIX_STORE"/*) continue ;; esac
    name="\${interp##*/}"
    if [ "$name" = env ]; then
      name="\${args#"\${args%%[![:blank:]]*}"}"; name="\${name%%[[:blank:]]*}"
      case "$name" in ''|-*) echo "$(shown_file "$f"): keeps #!$line (env with options)"; continue ;; esac
      args="\${args#*"$name"}"
    fi
    found=
    for d in "\${dirs[@]}"; do
      if [ -f "$d/$name" ] && [ -x "$d/$name" ]; then found="$d/$name"; break; fi
    done
    if [ -z "$found" ]; then
      echo "$(shown_file "$f"): keeps #!$line: no $name among the programs of \\$out\${outputs:+, the other outputs} and the inputs (list its package among the inputs to run it from the store)"
      continue
    fi
    new="#!$found$args"
    # Kernels before Linux 5.1 read only the first 127 bytes of a #! line.
    if [ \${#new} -gt 127 ]; then echo "$(shown_file "$f"): keeps #!$line: #!$found is longer than old kernels read"; continue; fi
    # Rewritten in place (its directory may not be writable), through a copy in the build tree.
    mode=$(stat -c %a "$f"); chmod u+w "$f"
    { printf '%s\\n' "$new"; tail -n +2 "$f"; } > "\${TMPDIR:-/build}/.tsdsl-shebang"
    cat "\${TMPDIR:-/build}/.tsdsl-shebang" > "$f"; rm "\${TMPDIR:-/build}/.tsdsl-shebang"
    chmod "$mode" "$f"
    echo "$(shown_file "$f"): #!$line -> $new"
  done < <(find "\${output_dirs[@]}" -type f -perm -u+x -print0 | sort -z)
}
phase_strip() {
  [ -z "\${dontStrip-}" ] || { echo "keeping debugging information"; return 0; }
  local f
  find "\${output_dirs[@]}" -type f -perm -u+x 2>/dev/null | while IFS= read -r f; do
    case "$(head -c 4 "$f" | od -An -c | tr -d ' ')" in *ELF*) strip --strip-unneeded "$f" 2>/dev/null || true ;; esac
  done
  find "\${output_dirs[@]}" -type f -name '*.a' -exec strip --strip-debug {} + 2>/dev/null || true
}
# Shrinks an ELF file's RUNPATH to the directories that hold a library it needs, as patchelf
# --shrink-rpath does: the compiler wrappers give every program a RUNPATH with all the
# toolchain's run-time libraries (libstdc++, libgomp, …), and each directory named there is a
# reference, so part of every closure and pack. The shorter string is written over the old one
# in .dynstr (the entry's offset stays), the rest of it zeros. $ORIGIN entries are kept.
shrink_runpath() {
  local f="$1" rp needed d lib keep="" have="" found sec str off mode
  rp=$(readelf -d "$f" 2>/dev/null | sed -n 's/.*(RUNPATH).*: \\[\\(.*\\)\\]$/\\1/p')
  [ -n "$rp" ] || return 0
  needed=$(readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*: \\[\\(.*\\)\\]$/\\1/p')
  for d in \${rp//:/ }; do
    case "$d" in *ORIGIN*) keep="\${keep:+$keep:}$d"; continue ;; esac
    found=
    for lib in $needed; do
      case " $have " in *" $lib "*) continue ;; esac
      [ -e "$d/$lib" ] && { have="$have $lib"; found=1; }
    done
    [ -z "$found" ] || keep="\${keep:+$keep:}$d"
  done
  [ "$keep" != "$rp" ] || return 0
  sec=$(readelf -S -W "$f" | sed -n 's/.*\\] \\.dynstr  *STRTAB  *[0-9a-f]*  *\\([0-9a-f]*\\) .*/\\1/p')
  str=$(readelf -p .dynstr "$f" | while IFS= read -r line; do
    case "$line" in *"]  $rp") line=\${line#*\\[}; line=\${line%%]*}; echo \${line// /}; break ;; esac
  done)
  [ -n "$sec" ] && [ -n "$str" ] || { echo "$f: cannot find its RUNPATH in .dynstr; left as it is"; return 0; }
  off=$((16#$sec + 16#$str))
  mode=$(stat -c %a "$f")
  chmod u+w "$f"
  printf '%s' "$keep" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
  head -c $((\${#rp} - \${#keep})) /dev/zero | dd of="$f" bs=1 seek=$((off + \${#keep})) conv=notrunc status=none
  chmod "$mode" "$f"
}
phase_validate() {
  [ -n "\${validateRunpath-}" ] || return 0
  command -v readelf >/dev/null || { echo "no readelf: cannot check that the outputs are self-contained" >&2; return 1; }
  # First, each RUNPATH holds only what is needed (see shrink_runpath).
  local elf
  while IFS= read -r -d '' elf; do
    [ "$(head -c 4 "$elf" | od -An -c | tr -d ' ')" = '177ELF' ] || continue
    case "$(readelf -h "$elf" 2>/dev/null | sed -n 's/^ *Type: *\\([A-Z]*\\).*/\\1/p')" in EXEC|DYN) shrink_runpath "$elf" ;; esac
  done < <(find "\${output_dirs[@]}" -type f -print0)
  # Every dynamically linked ELF file (programs and shared libraries) must load from the store
  # alone: its interpreter is in the store, its RUNPATH names only store directories, and each
  # library it needs is found in one of them. Otherwise it would pick up the host's libraries
  # (or fail) once packed and run outside the build sandbox.
  local f bad=0 interp rp needed lib d found type
  while IFS= read -r -d '' f; do
    [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] || continue
    type=$(readelf -h "$f" 2>/dev/null | sed -n 's/^ *Type: *\\([A-Z]*\\).*/\\1/p')
    case "$type" in EXEC|DYN) ;; *) continue ;; esac
    interp=$(readelf -l "$f" 2>/dev/null | sed -n 's/.*Requesting program interpreter: \\(.*\\)]/\\1/p')
    case "$interp" in ""|"$NIX_STORE"/*) ;; *) echo "$f: interpreter $interp is outside the store"; bad=1 ;; esac
    rp=$(readelf -d "$f" 2>/dev/null | sed -n 's/.*(\\(RUNPATH\\|RPATH\\)).*: \\[\\(.*\\)\\]$/\\2/p' | tr '\\n' ':')
    rp="\${rp//'$ORIGIN'/\${f%/*}}"; rp="\${rp//'\${ORIGIN}'/\${f%/*}}"
    for d in \${rp//:/ }; do
      case "$d" in "$NIX_STORE"/*) ;; *) echo "$f: RUNPATH entry $d is outside the store"; bad=1 ;; esac
    done
    needed=$(readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*: \\[\\(.*\\)\\]$/\\1/p')
    for lib in $needed; do
      found=
      for d in \${rp//:/ }; do [ -e "$d/$lib" ] && { found=1; break; }; done
      [ -n "$found" ] || { echo "$f: needs $lib, which is in none of its RUNPATH directories (\${rp:-none})"; bad=1; }
    done
  done < <(find "\${output_dirs[@]}" -type f -print0)
  local _o filled=
  for _o in "\${output_dirs[@]}"; do [ -z "$(ls -A "$_o")" ] || filled=1; done
  if [ -z "$filled" ]; then
    echo "the install phase put nothing in \$out\${outputs:+ nor in the other outputs}; check that it installs into \$out (e.g. PREFIX=\\\${out} among the make flags)" >&2
    return 1
  fi
  if [ "$bad" != 0 ]; then
    echo 'some ELF files of $out (or of the other outputs) are not self-contained in the store: link them with the compiler wrappers (store C library and RUNPATH) and list every library they need among the inputs' >&2
    return 1
  fi
}

run_phase() {
  local phase="$1" cap override pre post
  cap="$(printf '%s' "\${phase:0:1}" | tr a-z A-Z)\${phase:1}"
  pre="pre$cap"; post="post$cap"; override="\${phase}Phase"
  echo "phase \\\`$phase'"
  # An overridden check phase is still a test suite: --without-tests turns it off too.
  if [ "$phase" = check ] && [ -z "\${doCheck-}" ]; then echo "tests disabled"; return 0; fi
  # _where names the step running, for the message a failure ends the log with.
  _where="arguments.phases.$pre"; [ -z "\${!pre-}" ] || eval "\${!pre}"
  if [ -n "\${!override-}" ]; then _where="arguments.phases.$phase"; eval "\${!override}"
  elif declare -F "phase_$phase" >/dev/null; then _where="the $phase phase"; "phase_$phase"; fi
  _where="arguments.phases.$post"; [ -z "\${!post-}" ] || eval "\${!post}"
  _where=
}

_where=
trap '_rc=$?; [ "$_rc" = 0 ] || [ -z "$_where" ] || echo "tsdsl: the build failed in $_where (status $_rc)" >&2' EXIT
cd "\${TMPDIR:-/build}"
# \`phaseList\` (e.g. "unpack patch" for \`tsdsl build -S\`) runs only some phases.
for phase in \${phaseList:-${phases.join(' ')}}; do run_phase "$phase"; done
`;
}
