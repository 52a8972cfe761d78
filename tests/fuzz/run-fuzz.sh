#!/usr/bin/env bash
# tests/fuzz/run-fuzz.sh BUILD_DIR SECONDS|runs:N [TARGET...]: runs each libFuzzer target (spec,
# sweep, results, safetensors, idx by default) for SECONDS, one after the other, starting from its
# seed corpus and what earlier runs in BUILD_DIR found (BUILD_DIR/fuzz-work/<target>/).
# Fails on the first crash, sanitizer report, leak, timeout or out-of-memory, and says
# which input did it. BUILD_DIR is a clang build with -Dfuzz=true and ASan+UBSan
# (tools/bootstrap test makes one). docs/reliability.md has the long runs' figures.
set -euo pipefail

build=${1:?usage: run-fuzz.sh BUILD_DIR SECONDS [TARGET...]}
seconds=${2:?usage: run-fuzz.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(spec sweep results safetensors idx)
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(cd "$build" && pwd)

export MMX_PLUGIN_PATH="$build/plugins"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1

seeds_of() {
    case $1 in
    spec) echo "$src/tests/data/specs" "$src/specs/models" ;;
    sweep) echo "$src/tests/fuzz/corpus/sweep" ;;
    results) echo "$src/tests/fuzz/corpus/results" ;;
    safetensors) echo "$src/tests/fuzz/corpus/safetensors" ;;
    idx) echo "$src/tests/fuzz/corpus/idx" ;;
    *) echo "run-fuzz.sh: unknown target '$1'" >&2; exit 2 ;;
    esac
}

status=0
for t in "${targets[@]}"; do
    exe="$build/tests/fuzz/fuzz-$t"
    [ -x "$exe" ] || { echo "run-fuzz.sh: $exe is not built (meson setup with -Dfuzz=true)" >&2; exit 2; }
    work="$build/fuzz-work/$t"
    mkdir -p "$work/corpus" "$work/artifacts"
    dirs=()
    for d in $(seeds_of "$t") "$src/tests/fuzz/regressions/$t"; do
        [ -d "$d" ] && dirs+=("$d")
    done
    dict=()
    [ -f "$src/tests/fuzz/$t.dict" ] && dict=(-dict="$src/tests/fuzz/$t.dict")
    log="$work/last-run.log"
    # runs:N: N inputs from a fixed seed, the same inputs on every machine (what CI uses:
    # a time budget would make its outcome depend on the machine's speed); SECONDS: a
    # time budget from a random seed (exploration).
    if [[ "$seconds" == runs:* ]]; then
        budget=(-runs="${seconds#runs:}" -seed=1)
    else
        budget=(-max_total_time="$seconds")
    fi
    echo "run-fuzz.sh: $t for ${seconds}"
    # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a reader must not need GBs.
    if "$exe" "${budget[@]}" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/" "${dict[@]}" \
        "$work/corpus" "${dirs[@]}" >"$log" 2>&1; then
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
        echo "run-fuzz.sh: $t: no crash in ${seconds}, $runs inputs, $cov, corpus $(ls "$work/corpus" | wc -l) files"
    else
        status=1
        echo "run-fuzz.sh: $t FAILED; the end of $log:" >&2
        tail -n 60 "$log" >&2
        echo "run-fuzz.sh: reproduce with: MMX_PLUGIN_PATH=$build/plugins $exe $(ls -t "$work/artifacts/"* 2>/dev/null | head -1)" >&2
        break
    fi
done
exit $status
