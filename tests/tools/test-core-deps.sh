#!/bin/sh
# test-core-deps.sh ROOT BUILD: no dependency circle between the files of core/
# (tools/check-core-deps over the objects of libmmx), and the checker itself on a small
# synthetic build: it finds a circle, names the symbols, honours --group and --allow. TAP;
# a skip without python3 or nm.
root=$1
build=$2
if ! command -v python3 >/dev/null 2>&1 || ! command -v nm >/dev/null 2>&1; then
    echo "1..0 # SKIP tools/check-core-deps needs python3 and nm"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
check() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; sed 's/^/# /' "$tmp/out"; fi; }
cc=${CC:-cc}

echo "1..5"
# The conformance kit (check.c and its checks check-*.c) is one module: the checks report
# through check.c's ck_fail, and check.c runs them. No other circle is allowed.
"$root/tools/check-core-deps" --group 'check*.c' "$build" > "$tmp/out" 2>&1
status=$?
check "no dependency circle between the files of core/" \
    '[ $status -eq 0 ] && ! grep -q "^circle" "$tmp/out"'

# A synthetic build: a.c and b.c call each other, c.c calls a.c, d.c is alone.
mkdir -p "$tmp/b/core/libx.so.p"
printf 'int b(void); int a(void) { return b(); }\n' > "$tmp/a.c"
printf 'int a(void); int b(void) { return 1; } int b2(void) { return a(); }\n' > "$tmp/b.c"
printf 'int a(void); int c(void) { return a(); }\n' > "$tmp/c.c"
printf 'static int d0(void) { return 0; } int d(void) { return d0(); }\n' > "$tmp/d.c"
for f in a b c d; do
    "$cc" -c "$tmp/$f.c" -o "$tmp/b/core/libx.so.p/$f.c.o" 2>"$tmp/out" || break
done
"$root/tools/check-core-deps" "$tmp/b" > "$tmp/out" 2>&1
status=$?
check "a circle is found and fails, with the symbols behind each edge" \
    '[ $status -eq 1 ] && grep -qx "circle: a.c <-> b.c" "$tmp/out" &&
     grep -qx "  a.c -> b.c: b" "$tmp/out" && grep -qx "  b.c -> a.c: a" "$tmp/out" &&
     [ $(grep -c "^circle" "$tmp/out") -eq 1 ]'
"$root/tools/check-core-deps" --allow a.c,b.c "$tmp/b" > "$tmp/out" 2>&1
status=$?
check "--allow tolerates exactly that circle (still printed)" \
    '[ $status -eq 0 ] && grep -qx "allowed circle: a.c <-> b.c" "$tmp/out" &&
     grep -qx "no other circles among the 4 modules of core/" "$tmp/out"'
"$root/tools/check-core-deps" --group '[ab].c' --graph "$tmp/b" > "$tmp/out" 2>&1
status=$?
check "--group makes one node of a module's files; --graph lists the edges" \
    '[ $status -eq 0 ] && grep -qx "c.c -> \[ab\].c: a" "$tmp/out" &&
     grep -qx "no circles among the 3 modules of core/" "$tmp/out"'
"$root/tools/check-core-deps" "$tmp/nothing" > "$tmp/out" 2>&1
status=$?
check "a build directory without objects is refused with a message" \
    '[ $status -eq 2 ] && grep -q "no object files under $tmp/nothing/core (build it first)" "$tmp/out"'
