#!/bin/sh
# test-zoo.sh ROOT: tools/zoo-run and tools/zoo-table on two tiny specs trained for real on
# the synthetic set (a second each), printed as TAP: runs land in <spec>/seed<S>/, finished
# runs are skipped, an interrupted run is resumed, a run of an older spec is moved aside
# (a spec whose doc string alone changed is the same spec),
# bad usage exits 2 with a message; the table has one row per spec with the right n,
# keeps the prose outside its markers and leaves runs of an old spec out; finished runs are
# copied (without weights) to the record, from which the table comes out the same; a
# comparison between specs trained with different recipes says what differs; a seed trained
# with another thread count counts for accuracy but not for the speed columns.
# MMX_EXE (set by meson) is the mmx binary; python3 is needed (zoo-table and the checks).
root=$1
if ! command -v python3 >/dev/null 2>&1; then
    echo "1..0 # SKIP python3 is not installed (tools/zoo-table needs it)"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/specs"
cat > "$tmp/specs/tied.json" <<'EOF'
{"mmx": 1, "name": "tied", "doc": "zoo tool test: a tied token mixer",
 "input": {"shape": [28, 28, 1], "classes": 10},
 "stem": [{"op": "conv2d", "out": 8, "kernel": 7, "stride": 7}],
 "blocks": [{"norm": {"op": "layernorm"},
   "mixer": {"axis": "token", "key": {"op": "linear", "out": 8, "bias": false},
             "activation": {"op": "gelu"},
             "value": {"op": "linear", "out": 16, "bias": false, "transpose": true, "tie": "key.weight"}}}],
 "head": [{"op": "layernorm"}, {"op": "mean_tokens"}, {"op": "linear", "out": 10}],
 "train": {"data": "synthetic:128:64", "epochs": 2, "batch": 32, "lr": 0.01, "warmup": 0.5}}
EOF
sed -e 's/"tied"/"free"/' -e 's/, "transpose": true, "tie": "key.weight"//' \
    "$tmp/specs/tied.json" > "$tmp/specs/free.json"

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else notok "$1"; fi; }
run() { "$root/tools/zoo-run" --mmx "$MMX_EXE" --specs "$tmp/specs" --out "$tmp/runs" \
            --record "$tmp/record" "$@" \
            > "$tmp/out" 2> "$tmp/err"; }
status() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' "$1"; }

echo "1..27"
run 0 1
check "zoo-run trains every spec and seed (exit 0)" '[ $? -eq 0 ]'
check "each run finished in <spec>/seed<S>/ with zoo-run.json" \
    '[ "$(status "$tmp/runs/tied/seed0/result.json")$(status "$tmp/runs/free/seed1/result.json")" = finishedfinished ] && [ -s "$tmp/runs/tied/seed1/zoo-run.json" ]'
check "zoo-run.json records the spec's file and training hashes and the command" \
    'python3 -c "import json,sys,hashlib,importlib.machinery as m; t=m.SourceFileLoader(\"zoo_table\", sys.argv[3]).load_module(); z=json.load(open(sys.argv[1])); assert z[\"spec_sha256\"]==hashlib.sha256(open(sys.argv[2],\"rb\").read()).hexdigest(); assert z[\"train_sha256\"]==t.train_sha256(sys.argv[2])!=z[\"spec_sha256\"]; assert \"--seed 0\" in z[\"pieces\"][0][\"command\"]" "$tmp/runs/free/seed0/zoo-run.json" "$tmp/specs/free.json" "$root/tools/zoo-table"'
run 0 1
check "finished runs are skipped" '[ $(grep -c "finished, skipped" "$tmp/out") -eq 4 ] && ! grep -q " train " "$tmp/out"'
python3 -c 'import json,sys; p=sys.argv[1]; d=json.load(open(p)); d["status"]="interrupted"; json.dump(d, open(p, "w"))' "$tmp/runs/tied/seed1/result.json"
run --only tied 1
check "an interrupted run is resumed" 'grep -q "train --resume $tmp/runs/tied/seed1" "$tmp/out" && [ "$(status "$tmp/runs/tied/seed1/result.json")" = finished ]'
check "a resumed run keeps both pieces" \
    'python3 -c "import json,sys; assert len(json.load(open(sys.argv[1]))[\"pieces\"]) == 2" "$tmp/runs/tied/seed1/zoo-run.json"'
printf '# Zoo\n\nprose before\n\n<!-- zoo-table:begin -->\nstale table\n<!-- zoo-table:end -->\n\nprose after\n' > "$tmp/zoo.md"
"$root/tools/zoo-table" --runs "$tmp/runs" --specs "$tmp/specs" --output "$tmp/zoo.md" > /dev/null 2> "$tmp/err"
check "zoo-table writes the page (exit 0)" '[ $? -eq 0 ]'
check "zoo-table keeps the prose and replaces the generated part" \
    'grep -q "prose before" "$tmp/zoo.md" && grep -q "prose after" "$tmp/zoo.md" && ! grep -q "stale table" "$tmp/zoo.md"'
check "one row per spec with n = 2 seeds" \
    '[ $(grep -c "^| tied | .*(n=" "$tmp/zoo.md") -eq 1 ] && grep -q "^| free | .*(n=2)" "$tmp/zoo.md" && grep -q "^| tied | .*(n=2)" "$tmp/zoo.md"'
check "the recipe comes from the runs' config.json" 'grep -q "^| tied | 2 ep, batch 32, adamw, lr 0.01" "$tmp/zoo.md"'
check "the symmetry score is measured on the free weights only" \
    'grep -q "\`free\` [-0-9.]*\." "$tmp/zoo.md" && ! grep -q "\`tied\` [-0-9]" "$tmp/zoo.md"'
check "a comparison at unmatched cost says so; one with one seed says it cannot judge" \
    'python3 -c "
import importlib.machinery as m, sys
z = m.SourceFileLoader(\"zoo_table\", sys.argv[1]).load_module()
a = dict(train=dict(epochs=20, batch=128), flops=16e6, acc=0.87, acc_std=None, n=1)
note = z.caveats(a, dict(a, flops=30e6))
assert \"differ 1.9x in FLOPs per image\" in note and \"single seed\" in note, note
note = z.caveats(dict(a, acc_std=0.001, n=3), dict(a, flops=17e6, acc=0.88, acc_std=0.001, n=3))
assert \"matched\" not in note and \"beyond 2 standard errors\" in note, note
assert \"recipe\" not in note, note
" "$root/tools/zoo-table"'
check "a comparison of specs trained with different recipes names what differs" \
    'python3 -c "
import importlib.machinery as m, sys
z = m.SourceFileLoader(\"zoo_table\", sys.argv[1]).load_module()
r = dict(epochs=20, batch=128, augment=dict(crop=0, flip=True))
a = dict(train=r, flops=3e7, acc=0.92, acc_std=None, n=1)
note = z.caveats(a, dict(a, train=dict(r, batch=64, augment=dict(crop=1, flip=True))))
assert \"Not the same recipe (augment.crop 0 vs 1, batch 128 vs 64)\" in note, note
" "$root/tools/zoo-table"'
check "the record holds each run's result, config and zoo-run.json, no weights" \
    '[ -s "$tmp/record/free/seed1/result.json" ] && [ -s "$tmp/record/tied/seed0/config.json" ] && [ -s "$tmp/record/tied/seed1/zoo-run.json" ] && [ -z "$(find "$tmp/record" -name "*.safetensors")" ] && cmp -s "$tmp/runs/tied/seed1/result.json" "$tmp/record/tied/seed1/result.json"'
cp "$tmp/zoo.md" "$tmp/zoo-record.md"
"$root/tools/zoo-table" --runs "$tmp/record" --specs "$tmp/specs" --output "$tmp/zoo-record.md" > /dev/null 2>&1
check "the table from the record equals the one from the runs (commands aside; symmetry included)" \
    'grep -v "tools/zoo-" "$tmp/zoo-record.md" > "$tmp/a" && grep -v "tools/zoo-" "$tmp/zoo.md" > "$tmp/b" && grep -q "^| free | " "$tmp/a" && cmp -s "$tmp/a" "$tmp/b"'
cp -r "$tmp/record" "$tmp/record1t"
python3 -c '
import json, sys
p = sys.argv[1]
d = json.load(open(p)); d["threads"] = 1; d["wall_seconds"] = 3600 * 99; json.dump(d, open(p, "w"))
' "$tmp/record1t/tied/seed1/result.json"
"$root/tools/zoo-table" --runs "$tmp/record1t" --specs "$tmp/specs" --output "$tmp/zoo1t.md" > /dev/null 2>&1
check "a 1-thread seed counts for accuracy, not for the speed columns, and the page says so" \
    'grep -q "^| tied | .*(n=2) | [0-9.]* / [0-9.]* |" "$tmp/zoo1t.md" && ! grep -q "^| tied | .* 5940.0 |" "$tmp/zoo1t.md" && grep -q "\`tied\` timed on seed 0 of 0, 1" "$tmp/zoo1t.md" && grep -q "1, 2 threads" "$tmp/zoo1t.md"'
python3 -c '
import json, sys
p = sys.argv[1]
d = json.load(open(p)); d["threads"] = 1; json.dump(d, open(p, "w"))
' "$tmp/record1t/tied/seed0/result.json"
"$root/tools/zoo-table" --runs "$tmp/record1t" --specs "$tmp/specs" --output "$tmp/zoo1t.md" > /dev/null 2>&1
check "a spec with no 2-thread run is timed from what it has, and the page says so" \
    'grep -q "No run at 2 threads, so timed from runs at 1 threads: \`tied\`\." "$tmp/zoo1t.md" && grep -q "^| tied | .* 5940.0 |" "$tmp/zoo1t.md"'
check "the page shows zoo-run's --mmx as MMX, not the machine's path" \
    'grep -q "^- Runs: .*--mmx MMX" "$tmp/zoo.md" && ! grep -qF "$MMX_EXE" "$tmp/zoo.md"'
sed -i 's/"doc": "[^"]*"/"doc": "zoo tool test: the free twin, reworded"/' "$tmp/specs/free.json"
"$root/tools/zoo-table" --runs "$tmp/runs" --specs "$tmp/specs" --output "$tmp/zoo.md" > /dev/null 2>&1
check "a spec whose doc string changed keeps its runs in the table" \
    'grep -q "reworded" "$tmp/specs/free.json" && grep -q "^| free | .*(n=2)" "$tmp/zoo.md" && ! grep -q "Excluded" "$tmp/zoo.md"'
run --only free 0
check "zoo-run keeps a run whose spec changed in its doc string only" \
    'grep -q "free/seed0: finished, skipped" "$tmp/out" && ! ls -d "$tmp/runs/free/seed0.stale-"* > /dev/null 2>&1'
check "a zoo-run.json without train_sha256 (an older record) is judged by the file hash" \
    'python3 -c "
import importlib.machinery as m, sys
z = m.SourceFileLoader(\"zoo_table\", sys.argv[1]).load_module()
assert z.is_current(dict(spec_sha256=\"f\"), \"f\", \"t\")
assert not z.is_current(dict(spec_sha256=\"old\"), \"f\", \"t\")
assert z.is_current(dict(spec_sha256=\"old\", train_sha256=\"t\"), \"f\", \"t\")
assert not z.is_current(dict(spec_sha256=\"f\", train_sha256=\"old\"), \"f\", \"t\")
assert not z.is_current(None, \"f\", \"t\")
" "$root/tools/zoo-table"'
sed -i 's/"lr": 0.01/"lr": 0.02/' "$tmp/specs/free.json"
"$root/tools/zoo-table" --runs "$tmp/runs" --specs "$tmp/specs" --output "$tmp/zoo.md" > /dev/null 2>&1
check "zoo-table leaves out runs of an older spec and says so" \
    'grep -q "^| free | .*no finished run" "$tmp/zoo.md" && grep -q "Excluded: \`free/seed0\`: trained from another version" "$tmp/zoo.md"'
run --only free 0
check "zoo-run moves a run of an older spec aside and trains again" \
    'grep -q "trained from another version of free.json: moving it aside" "$tmp/out" && ls -d "$tmp/runs/free/seed0.stale-"* > /dev/null 2>&1 && [ "$(status "$tmp/runs/free/seed0/result.json")" = finished ]'
run 0 x
check "a bad seed is a usage error (exit 2) with a message" '[ $? -eq 2 ] && grep -q "a seed is a non-negative integer, got '"'"'x'"'"'" "$tmp/err"'
run --threads 0 0
check "--threads takes a positive integer (exit 2 with a message)" '[ $? -eq 2 ] && grep -q "\-\-threads takes a positive integer, got '"'"'0'"'"'" "$tmp/err"'
run --only nothing 0
check "an --only that matches no spec is a usage error" '[ $? -eq 2 ] && grep -q "no spec in .* matches '"'"'nothing'"'"'" "$tmp/err"'
"$root/tools/zoo-table" --specs "$tmp/none" --output "$tmp/x.md" > /dev/null 2> "$tmp/err"
check "zoo-table refuses a missing spec folder (exit 2) with a message" '[ $? -eq 2 ] && grep -q "none: not a directory" "$tmp/err"'
