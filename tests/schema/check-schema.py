#!/usr/bin/env python3
"""check-schema.py: every model spec mmx ships (specs/**/*.json) and every good test spec
(tests/data/specs/*.json) validates against specs/schema/model.schema.json; broken specs
whose mistake is structural are rejected by it. Prints TAP. Usage: check-schema.py ROOT"""
import glob
import json
import os
import sys

from jsonschema import Draft202012Validator

# Broken corpus files the schema alone must reject (the others need the ops' schemas,
# the vars or the shapes, which a static JSON Schema cannot know).
SCHEMA_REJECTS = [
    "unknown-top-key.json", "unknown-block-key.json", "unknown-mixer-key.json",
    "format-version.json", "missing-head.json", "missing-input.json", "bad-name.json",
    "bad-mixer-axis.json", "stages-and-blocks.json", "no-mixer.json", "parallel-empty.json",
    "drop-path-range.json", "layer-scale-bad.json", "stage-no-depth.json", "op-not-object.json",
    "use-extra-key.json", "train-unknown-key.json", "train-bad-optimizer.json",
    "train-bad-range.json", "train-bad-checkpoint-every.json", "train-bad-augment.json", "bad-input-shape.json",
    "tie-bad-form.json",
]


def main():
    root = sys.argv[1]
    with open(os.path.join(root, "specs/schema/model.schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    files = sorted(p for p in glob.glob(os.path.join(root, "specs/**/*.json"), recursive=True)
                   if os.sep + "schema" + os.sep not in p)
    files += sorted(glob.glob(os.path.join(root, "tests/data/specs/*.json")))
    broken = [os.path.join(root, "tests/data/specs/broken", n) for n in SCHEMA_REJECTS]
    print("1..%d" % (1 + len(files) + len(broken)))
    try:
        Draft202012Validator.check_schema(schema)
        print("ok 1 - the schema is a valid JSON Schema (2020-12)")
    except Exception as e:  # noqa: BLE001 - report whatever the checker says
        print("not ok 1 - the schema is not valid: %s" % str(e).splitlines()[0])
    validator = Draft202012Validator(schema)
    n = 1
    for path in files:
        n += 1
        rel = os.path.relpath(path, root)
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        if isinstance(doc, dict) and "mmx_sweep" in doc:
            print("ok %d - %s # SKIP a sweep spec (docs/sweeps.md), not a model" % (n, rel))
            continue
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        if errors:
            print("not ok %d - %s" % (n, rel))
            for e in errors[:5]:
                print("# /%s: %s" % ("/".join(str(p) for p in e.absolute_path), e.message[:200]))
        else:
            print("ok %d - %s validates" % (n, rel))
    for path in broken:
        n += 1
        rel = os.path.relpath(path, root)
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        if validator.is_valid(doc):
            print("not ok %d - %s: the schema accepts it" % (n, rel))
        else:
            print("ok %d - %s is rejected" % (n, rel))


if __name__ == "__main__":
    main()
