#!/bin/sh
# test-spec-docs.sh ROOT: every `doc` string of the specs mmx ships (specs/models,
# specs/sweeps, at any depth) is one or two sentences of at most 300 characters; the long
# form of a spec's story is in docs/zoo.md (models) or docs/sweeps.md (sweeps), which the
# doc points at. Printed as TAP, one line per spec file, then two checks of the checker
# itself on documents it must refuse. A sentence ends at . ! or ? followed by a space and
# a capital letter, a quote or a parenthesis, so "et al. 2021" does not end one.
root=$1
if ! command -v python3 >/dev/null 2>&1; then
    echo "1..0 # SKIP python3 is not installed"
    exit 0
fi
exec python3 - "$root" <<'PY'
import glob, json, os, re, sys

MAX_CHARS, MAX_SENTENCES = 300, 2
END = re.compile(r"(?<=[.!?])\s+(?=[A-Z'\"(])")


def docs(x, ptr=""):
    if isinstance(x, dict):
        for k, v in x.items():
            if k == "doc" and isinstance(v, str):
                yield ptr + "/doc", v
            else:
                yield from docs(v, ptr + "/" + k)
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from docs(v, "%s/%d" % (ptr, i))


def problems(spec):
    out = []
    for ptr, text in docs(spec):
        n = len([s for s in END.split(text.strip()) if s])
        if len(text) > MAX_CHARS:
            out.append("%s: %d characters (at most %d)" % (ptr, len(text), MAX_CHARS))
        if n > MAX_SENTENCES:
            out.append("%s: %d sentences (at most %d)" % (ptr, n, MAX_SENTENCES))
    return out


root = sys.argv[1]
files = sorted(glob.glob(os.path.join(root, "specs", "models", "**", "*.json"), recursive=True) +
               glob.glob(os.path.join(root, "specs", "sweeps", "**", "*.json"), recursive=True))
print("1..%d" % (len(files) + 2))
n = 0
for f in files:
    n += 1
    rel = os.path.relpath(f, root)
    spec = json.load(open(f, encoding="utf-8"))
    bad = problems(spec)
    if "doc" not in spec:
        bad.append("/doc: missing")
    print("%s %d - %s: doc strings of one or two sentences, <= %d characters" % (
        "not ok" if bad else "ok", n, rel, MAX_CHARS))
    for b in bad:
        print("# %s%s" % (rel, b))
three = {"doc": "One. Two (a clause). Three et al. 2021."}
n += 1
got = problems(three)
print("%s %d - a three-sentence doc is refused" % (
    "ok" if got == ["/doc: 3 sentences (at most 2)"] else "not ok", n))
long = {"blocks": [{"doc": "x" * 301}]}
n += 1
got = problems(long)
print("%s %d - a 301-character doc is refused, with its pointer" % (
    "ok" if got == ["/blocks/0/doc: 301 characters (at most 300)"] else "not ok", n))
PY
