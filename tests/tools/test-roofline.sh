#!/bin/sh
# test-roofline.sh ROOT BUILD: tools/bench/roofline runs end to end on a tiny batch (its
# figures are not judged: speed is measured in benchmarks, not tests) and prints one row
# per probe with the kernel the profile named; a bad build directory is refused with a
# message. What can break here is the parsing of `mmx bench`'s profile table and of
# gemm-bench's peak and bandwidth tables, whose formats other changes may move. TAP.
root=$1
build=$2
if ! command -v python3 >/dev/null 2>&1; then
    echo "1..0 # SKIP python3 is not installed (tools/bench/roofline needs it)"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
check() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; sed 's/^/# /' "$tmp/out" "$tmp/err"; fi; }

echo "1..4"
"$root/tools/bench/roofline" --build "$build" --threads 1 --batch 4 --steps 1 --repeats 1 --quick \
    > "$tmp/out" 2> "$tmp/err"
status=$?
check "roofline runs (exit 0)" '[ $status -eq 0 ]'
check "one row per probe, each with a dwconv2d, activation or norm kernel" \
    '[ $(grep -cE "^\| (depthwise conv|GELU|layer norm|batch norm|group norm|softmax)[^|]* \| (dwconv2d|gelu|layernorm|batchnorm|groupnorm|softmax)_[a-z0-9]+ \| [0-9.]+ \|" "$tmp/out") -eq 8 ]'
check "the peak and the bandwidth come from gemm-bench" \
    'grep -qE "^FMA peak .*[0-9.]+ GFLOP/s; triad bandwidth [0-9.]+ GB/s" "$tmp/out"'
"$root/tools/bench/roofline" --build "$tmp/nothing" > "$tmp/out" 2> "$tmp/err"
status=$?
check "a build directory without mmx is refused with a message" \
    '[ $status -eq 1 ] && grep -q "nothing/tools/mmx/mmx: not built" "$tmp/err"'
