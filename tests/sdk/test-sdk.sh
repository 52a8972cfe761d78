#!/bin/sh
# test-sdk.sh MESON: the plugin SDK as a plugin author gets it, end to end (TAP).
#
# mmx is installed from this build directory into a temporary staging tree (meson install
# --destdir; the install is relocatable, so the staged tree is a prefix of its own: its
# mmx finds its libmmx and plugins, its mmx-plugin.pc its headers). Then, against that
# prefix only (PKG_CONFIG_PATH, no include path into the source or build tree, no
# MMX_PLUGIN_PATH unless a step says so):
#   - the installed mmx lists the shipped plugins from the staged plugin directory;
#   - the ninformer example, copied from the installed docs, builds, passes its meson
#     test (check-plugin, validate, sweep plan) and mmx check-plugin;
#   - a fresh `mmx new-plugin` project of each kind does the same, and one installs into
#     pluginsdir;
#   - one epoch of the example spec trains on the synthetic set;
#   - docs/plugin-guide.md's commands run as written (every ```sh block not marked
#     "<!-- sdk-test: skip -->", in order, in one shell with a fresh HOME), and every line
#     its ```text blocks quote appears in what they printed.
# Needs MMX_BUILD_ROOT and MMX_SOURCE_ROOT (tests/meson.build). Builds two small projects:
# suite 'slow', out of the sanitizer pass.
set -u
meson=$1
n=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mmx-sdk-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
log=$tmp/log

ok() {
    n=$((n + 1))
    echo "ok $n - $1"
}

# not_ok DESCRIPTION: prints the step's log as TAP diagnostics.
not_ok() {
    n=$((n + 1))
    failed=$((failed + 1))
    echo "not ok $n - $1"
    sed 's/^/# /' "$log" | tail -n 60
}

# step DESCRIPTION COMMAND...: runs the command with its output in the log.
step() {
    d=$1
    shift
    if "$@" >"$log" 2>&1; then ok "$d"; else not_ok "$d"; fi
}

echo "1..16"
# meson test points LD_LIBRARY_PATH at the build tree (its libmmx would win over the
# installed one); a plugin author has none of these.
unset MMX_PLUGIN_PATH CPATH C_INCLUDE_PATH LIBRARY_PATH LD_LIBRARY_PATH PKG_CONFIG_PATH
stage=$tmp/stage

# 1. Install.
step "meson install --destdir into a staging tree" \
    "$meson" install -C "$MMX_BUILD_ROOT" --destdir "$stage" --no-rebuild --quiet
mmx=$(find "$stage" -path '*/bin/mmx' -type f | head -n 1)
pc=$(find "$stage" -name mmx-plugin.pc | head -n 1)
if [ -z "$mmx" ] || [ -z "$pc" ]; then
    echo "Bail out! no bin/mmx or mmx-plugin.pc in the staged install"
    exit 1
fi
pcdir=$(dirname "$pc")
prefix=$(cd "$pcdir/$(sed -n 's|^prefix=\${pcfiledir}/||p' "$pc")" && pwd)
export PKG_CONFIG_PATH="$pcdir"

# 2. What the SDK holds.
check_files() {
    for f in include/mmx/mmx-plugin.h bin/mmx share/doc/mmx/plugin-guide.md \
        share/doc/mmx/examples/ninformer-gate/ninformer.c share/doc/mmx/conformance.md \
        share/mmx/specs/schema/model.schema.json; do
        [ -f "$prefix/$f" ] || { echo "missing $prefix/$f"; return 1; }
    done
    ls "$prefix"/lib*/libmmx.so* "$prefix"/lib/*/libmmx.so* 2>/dev/null | grep -q . ||
        { echo "no libmmx under $prefix"; return 1; }
}
step "the install holds mmx-plugin.h, mmx, libmmx, the docs, the example and the specs" check_files

# 3. pkg-config: cflags and pluginsdir inside the staged prefix.
check_pc() {
    cflags=$(pkg-config --cflags mmx-plugin) || return 1
    inc=$(echo "$cflags" | sed -n 's/^-I\([^ ]*\).*/\1/p')
    [ "$(cd "$inc" && pwd)" = "$prefix/include" ] || { echo "cflags $cflags: not $prefix/include"; return 1; }
    pdir=$(pkg-config --variable=pluginsdir mmx-plugin) || return 1
    [ -f "$pdir/linear.so" ] || { echo "pluginsdir $pdir has no linear.so"; return 1; }
    case "$(cd "$pdir" && pwd)" in "$prefix"/*) ;; *) echo "pluginsdir $pdir outside $prefix"; return 1 ;; esac
    [ "$(pkg-config --variable=mmx mmx-plugin)" -ef "$mmx" ] || { echo "mmx variable is not $mmx"; return 1; }
}
step "mmx-plugin.pc gives cflags, pluginsdir and mmx inside the prefix" check_pc
pluginsdir=$(cd "$(pkg-config --variable=pluginsdir mmx-plugin)" && pwd)

# 4. The installed mmx finds the installed plugins, not the build tree's.
check_plugins() {
    "$mmx" plugins >"$tmp/plugins.txt" || return 1
    grep -q "^plugin linear .* $pluginsdir/linear.so" "$tmp/plugins.txt" ||
        { cat "$tmp/plugins.txt"; echo "linear.so not listed from $pluginsdir"; return 1; }
    if grep "^plugin " "$tmp/plugins.txt" | grep -v " $pluginsdir/"; then
        echo "plugins loaded from outside $pluginsdir"
        return 1
    fi
}
step "the installed mmx lists the shipped plugins from the installed plugin directory" check_plugins

# A project built against the SDK: no include path into the source or build tree.
build_project() {
    dir=$1
    (cd "$dir" && "$meson" setup build && "$meson" compile -C build) || return 1
    if grep -e "$MMX_SOURCE_ROOT/include" -e "$MMX_BUILD_ROOT" "$dir/build/compile_commands.json"; then
        echo "the build reaches into the mmx source or build tree"
        return 1
    fi
}

# 5-7. The ninformer example, from the installed docs.
cp -r "$prefix/share/doc/mmx/examples/ninformer-gate" "$tmp/ninformer"
chmod -R u+w "$tmp/ninformer"
step "docs/examples/ninformer-gate builds against the staged SDK only" build_project "$tmp/ninformer"
step "its meson test passes (check-plugin, validate, sweep plan)" \
    "$meson" test -C "$tmp/ninformer/build" --print-errorlogs
step "mmx check-plugin passes on ninformer.so" "$mmx" check-plugin "$tmp/ninformer/build/ninformer.so"

# 8-12. A fresh mmx new-plugin project of each kind.
step "mmx new-plugin writes a project" "$mmx" new-plugin sdkcheck --dir "$tmp/sdkcheck"
new_project() {
    build_project "$tmp/sdkcheck" && "$meson" test -C "$tmp/sdkcheck/build" --print-errorlogs
}
step "the new project builds against the staged SDK and passes its meson test" new_project
step "mmx check-plugin passes on sdkcheck.so" "$mmx" check-plugin "$tmp/sdkcheck/build/sdkcheck.so"
step "mmx new-plugin --kind elementwise writes an activation project" \
    "$mmx" new-plugin sdkact --kind elementwise --dir "$tmp/sdkact"
act_project() {
    build_project "$tmp/sdkact" && "$meson" test -C "$tmp/sdkact/build" --print-errorlogs
}
step "the elementwise project builds against the staged SDK and passes its meson test" act_project

# 13. One epoch of the example spec on the synthetic set, with the installed mmx.
train() {
    MMX_PLUGIN_PATH="$tmp/ninformer/build" "$mmx" train "$tmp/ninformer/ninformer.json" \
        --data synthetic:512:128 --epochs 1 --out "$tmp/run" --quiet || return 1
    grep -q '"finished"' "$tmp/run/result.json" || { cat "$tmp/run/result.json"; return 1; }
}
step "one epoch of ninformer.json on synthetic:512:128" train

# 14. meson install puts the new plugin in pluginsdir, where mmx finds it unaided.
installed() {
    "$meson" install -C "$tmp/sdkcheck/build" --quiet || return 1
    [ -f "$pluginsdir/sdkcheck.so" ] || { echo "no $pluginsdir/sdkcheck.so"; return 1; }
    "$mmx" plugins | grep -q "^plugin sdkcheck " || { echo "mmx plugins does not list sdkcheck"; return 1; }
    (cd "$tmp/sdkcheck" && "$mmx" validate sdkcheck-demo.json)
}
step "meson install of the new plugin lands in pluginsdir; mmx finds it without MMX_PLUGIN_PATH" installed

# 15-16. The plugin guide, as written, from an empty HOME (its install block is replaced by
# the staged prefix on PATH and PKG_CONFIG_PATH).
guide=$prefix/share/doc/mmx/plugin-guide.md
awk '/^<!-- sdk-test: skip/ { skip = 1; next }
     /^```sh$/ { if (!skip) run = 1; else inskip = 1; next }
     /^```$/ { if (run) print ""; run = 0; inskip = 0; skip = 0; next }
     run { print; next }
     !inskip && NF { skip = 0 }' "$guide" >"$tmp/guide.sh"
run_guide() {
    mkdir -p "$tmp/home"
    (cd "$tmp/home" && HOME="$tmp/home" PATH="$prefix/bin:$PATH" sh -e -x "$tmp/guide.sh") \
        >"$tmp/guide.out" 2>&1 || { cat "$tmp/guide.out"; return 1; }
}
step "the commands of docs/plugin-guide.md run as written" run_guide
quotes() {
    awk '/^<!-- output of:/ { fixture = 1; next }
         /^```text$/ { if (!fixture) show = 1; next }
         /^```/ { show = 0; fixture = 0; next }
         show' "$guide" >"$tmp/quotes.txt"
    missing=0
    while IFS= read -r line; do
        case "$line" in "..." | *" s): "*) continue ;; esac
        if ! grep -qF -- "$line" "$tmp/guide.out"; then
            echo "quoted but not printed: $line"
            missing=1
        fi
    done <"$tmp/quotes.txt"
    [ "$missing" -eq 0 ] || { cat "$tmp/guide.out"; return 1; }
}
step "the outputs docs/plugin-guide.md quotes are what its commands print" quotes

[ "$failed" -eq 0 ]
