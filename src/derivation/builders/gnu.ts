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
  gnu: ['unpack', 'patch', 'bootstrap', 'configure', 'build', 'check', 'install', 'strip', 'validate'],
  cmake: ['unpack', 'patch', 'configure', 'build', 'check', 'install', 'strip', 'validate'],
};

/** The script for `buildSystem` ("gnu" or "cmake"). Changing it changes every derivation path. */
export function gnuBuilderScript(buildSystem: 'gnu' | 'cmake'): string {
  const phases = SCRIPT_PHASES[buildSystem]!;
  const configure =
    buildSystem === 'cmake'
      ? `phase_configure() {
  mkdir -p build && cd build
  local flags=()
  while IFS= read -r f; do [ -n "$f" ] && flags+=("$f"); done <<< "\${cmakeFlags-}
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
  while IFS= read -r f; do [ -n "$f" ] && flags+=("$f"); done <<< "\${configureFlags-}"
  [ -x ./configure ] || { echo "no ./configure script; override the configure phase"; return 0; }
  ./configure --prefix="$out" "\${flags[@]}"
}
phase_check() {
  [ -n "\${doCheck-}" ] || { echo "tests disabled"; return 0; }
  local flags=()
  while IFS= read -r f; do [ -n "$f" ] && flags+=("$f"); done <<< "\${makeFlags-}"
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
# Self-contained outputs: compiler wrappers add a specs file so that every link gets the store's
# dynamic linker and a RUNPATH with $out/lib, the run-time libraries and the inputs' libraries.
if [ -n "\${libc-}" ]; then
  interp=
  for d in lib/x86_64-linux-gnu lib64 lib; do
    if [ -e "$libc/$d/ld-linux-x86-64.so.2" ]; then interp="$libc/$d/ld-linux-x86-64.so.2"; break; fi
  done
  rpath="$out/lib"
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

phase_unpack() {
  if [ -d "$src" ]; then
    cp -r --no-preserve=mode "$src" source
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
  local p
  for p in \${patches-}; do
    echo "applying $(basename "$p")"
    patch \${patchFlags:--p1} --batch < "$p"
  done
  if [ -n "\${snippet-}" ]; then eval "$snippet"; fi
}
${configure}
phase_build() {
  local flags=()
  while IFS= read -r f; do [ -n "$f" ] && flags+=("$f"); done <<< "\${makeFlags-}"
  make \${parallelBuild:+-j"\${NIX_BUILD_CORES:-1}"} "\${flags[@]}"
}
phase_install() {
  local flags=()
  while IFS= read -r f; do [ -n "$f" ] && flags+=("$f"); done <<< "\${makeFlags-}"
  make "\${flags[@]}" "\${installTarget:-install}"
}
phase_strip() {
  [ -z "\${dontStrip-}" ] || { echo "keeping debugging information"; return 0; }
  local f
  find "$out" -type f -perm -u+x 2>/dev/null | while IFS= read -r f; do
    case "$(head -c 4 "$f" | od -An -c | tr -d ' ')" in *ELF*) strip --strip-unneeded "$f" 2>/dev/null || true ;; esac
  done
  find "$out" -type f -name '*.a' -exec strip --strip-debug {} + 2>/dev/null || true
}
phase_validate() {
  [ -n "\${validateRunpath-}" ] || return 0
  command -v readelf >/dev/null || return 0
  local f bad=0
  while IFS= read -r f; do
    if readelf -h "$f" >/dev/null 2>&1; then
      interp=$(readelf -l "$f" 2>/dev/null | sed -n 's/.*Requesting program interpreter: \\(.*\\)]/\\1/p')
      case "$interp" in ""|"$NIX_STORE"/*) ;; *) echo "$f: interpreter $interp is outside the store"; bad=1 ;; esac
    fi
  done < <(find "$out" -type f -perm -u+x)
  [ "$bad" = 0 ]
}

run_phase() {
  local phase="$1" cap override pre post
  cap="$(printf '%s' "\${phase:0:1}" | tr a-z A-Z)\${phase:1}"
  pre="pre$cap"; post="post$cap"; override="\${phase}Phase"
  echo "phase \\\`$phase'"
  [ -z "\${!pre-}" ] || eval "\${!pre}"
  if [ -n "\${!override-}" ]; then eval "\${!override}"; elif declare -F "phase_$phase" >/dev/null; then "phase_$phase"; fi
  [ -z "\${!post-}" ] || eval "\${!post}"
}

cd "\${TMPDIR:-/build}"
# \`phaseList\` (e.g. "unpack patch" for \`tsdsl build -S\`) runs only some phases.
for phase in \${phaseList:-${phases.join(' ')}}; do run_phase "$phase"; done
`;
}
