"""test_peer.py ROOT BUILD: tools/bench/compare's peer check, TAP.

The decision (tools/bench/peer.py) on synthetic probe results: the reference BLAS is
refused with the reason and the fix, OpenBLAS at a good rate is accepted, a rate under
20% of the FMA peak is refused, an inexact product is refused; gemm-bench's tables are
parsed. Then, when /usr/bin/python3 has torch: the idiomatic peers of ffnet, convnext and
mlp-mixer have mmx's parameter counts, and a spec whose structure they do not follow is
refused; blas_probe.py reports the library behind libtorch's sgemm_; and, when Debian's
reference BLAS is on the machine, compare run on it exits 3 before timing anything,
with the reason and the fix and no ratio. No speed is judged.
"""

import json
import os
import subprocess
import sys
import tempfile

ROOT, BUILD = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(ROOT, "tools", "bench"))
import peer  # noqa: E402

PY = "/usr/bin/python3"
REFERENCE_DIR = "/usr/lib/x86_64-linux-gnu/blas"
results = []


def check(name, ok, detail=""):
    results.append((name, bool(ok), detail))


def skip(name, why):
    results.append((name, None, why))


def probe(provider, gflops, corename="SkylakeX", correct=True, blas_info="generic"):
    return {"torch": {"version": "1.13.0a0", "blas_info": blas_info, "threads": 2},
            "sgemm_provider": provider, "mapped": [provider] if provider else [],
            "openblas": {"config": f"OpenBLAS 0.3.21 DYNAMIC_ARCH {corename}",
                         "corename": corename, "num_threads": 2, "parallel": 1},
            "env": {"OPENBLAS_CORETYPE": corename},
            "matmul": {"shape": [2048, 2048, 2048], "threads": 2, "gflops": gflops,
                       "linear_6272x512x128_gflops": gflops},
            "correct": correct}


OPENBLAS = "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"
REFERENCE = "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0"
PEAK = 327.0

# The reference BLAS (what the user hit: BLAS_INFO=generic, 1.8 GFLOP/s): refused.
v = peer.judge(probe(REFERENCE, 1.8), PEAK)
msg = peer.refusal("tuned", v)
check("the reference BLAS is refused", not v["ok"] and v["kind"] == "reference", v)
check("the refusal names the reference BLAS and the low rate",
      "reference BLAS (blas/libblas.so.3.11.0; torch BLAS_INFO=generic)" in msg
      and "1.8 GFLOP/s on 2 threads, 0.6% of the machine's measured FMA peak" in msg, msg)
check("the refusal gives the fix: tools/bootstrap bench installs libopenblas-dev",
      "`tools/bootstrap bench` installs libopenblas-dev" in msg and "fix:" in msg, msg)
# Refused by kind even at a rate that would pass: the library is what is wrong.
v = peer.judge(probe(REFERENCE, 200.0), PEAK)
check("the reference BLAS is refused whatever its rate", not v["ok"], v)

# OpenBLAS at a good rate: accepted, and the header line says what it runs.
v = peer.judge(probe(OPENBLAS, 250.0), PEAK)
line = peer.describe(probe(OPENBLAS, 250.0), v, PEAK)
check("OpenBLAS at 76% of the peak is accepted", v["ok"] and v["kind"] == "OpenBLAS"
      and not v["reasons"], v)
check("the header names the BLAS, its core type, its threads and the share of the peak",
      "BLAS OpenBLAS (OpenBLAS 0.3.21 DYNAMIC_ARCH SkylakeX)" in line
      and "core type SkylakeX, 2 OpenBLAS threads (pthreads)" in line
      and "OPENBLAS_CORETYPE=SkylakeX" in line and "= 76% of the 327.0 GFLOP/s" in line, line)

# OpenBLAS on its SSE3 fallback: too slow, refused with the core-type fix.
v = peer.judge(probe(OPENBLAS, 40.0, corename="Prescott"), PEAK)
msg = peer.refusal("as installed", v)
check("OpenBLAS at 12% of the peak is refused, the fix names OPENBLAS_CORETYPE",
      not v["ok"] and "under the 20% a working BLAS reaches" in msg
      and "OPENBLAS_CORETYPE=SkylakeX" in msg and "libopenblas-dev" not in msg, msg)

# The threshold, both sides of it.
at = peer.judge(probe(OPENBLAS, PEAK * peer.MIN_SHARE), PEAK)
under = peer.judge(probe(OPENBLAS, PEAK * peer.MIN_SHARE * 0.99), PEAK)
check("exactly 20% of the peak is accepted, just under is refused",
      peer.MIN_SHARE == 0.20 and at["ok"] and not under["ok"], (at, under))

v = peer.judge(probe(OPENBLAS, 250.0, correct=False), PEAK)
check("a fast but inexact product is refused",
      not v["ok"] and any("is not exact" in r for r in v["reasons"]), v)
v = peer.judge(probe(OPENBLAS, 250.0), 0.0)
check("without a measured peak nothing is accepted",
      not v["ok"] and any("no FMA peak" in r for r in v["reasons"]), v)

kinds = [peer.blas_kind(REFERENCE), peer.blas_kind(OPENBLAS),
         peer.blas_kind("/opt/intel/mkl/lib/libmkl_rt.so.2"),
         peer.blas_kind("/usr/lib/x86_64-linux-gnu/blis-openmp/libblas.so.3"),
         peer.blas_kind(None, "mkl"), peer.blas_kind(None, "generic"),
         peer.blas_kind("/usr/lib/libfoo.so")]
check("blas_kind: reference, OpenBLAS, MKL, BLIS by path; MKL and unknown by BLAS_INFO",
      kinds == ["reference", "OpenBLAS", "MKL", "BLIS", "MKL", "unknown", "unknown"], kinds)

TABLES = """## FMA peak (register-only FMA loop, GFLOP/s, median of 3)

| ISA | 1 thread | 2 threads |
|---|---:|---:|
| avx2 | 93.4 | 168.2 |
| avx512 | 172.8 | 327.0 |

## Memory bandwidth (GB/s)

| kernel | 1 thread | 2 threads |
|---|---:|---:|
| copy | 10.1 | 19.1 |
| triad | 10.9 | 21.7 |
"""
check("gemm-bench's peak and triad columns are read by thread count",
      peer.parse_gemm_bench(TABLES, 2) == ({"avx2": 168.2, "avx512": 327.0}, 21.7)
      and peer.parse_gemm_bench(TABLES, 1) == ({"avx2": 93.4, "avx512": 172.8}, 10.9)
      and peer.parse_gemm_bench(TABLES, 4) == ({}, None),
      (peer.parse_gemm_bench(TABLES, 2), peer.parse_gemm_bench(TABLES, 1)))

LOADED = TABLES.replace("| avx512 | 172.8 | 327.0 |", "| avx512 | 116.0 | 61.0 |").replace(
    "| avx2 | 93.4 | 168.2 |", "| avx2 | 115.0 | 66.0 |")
best = peer.best_peak([LOADED, TABLES], 2)
loaded = peer.best_peak([LOADED], 2)
check("the peak is the best 2-thread figure over runs, or the 1-thread one when larger",
      best == {"peak": 327.0, "isa": "avx512", "at_threads": 327.0, "at_one": 172.8}
      and loaded == {"peak": 116.0, "isa": "avx512", "at_threads": 66.0, "at_one": 116.0},
      (best, loaded))

# With torch.
has_torch = os.access(PY, os.X_OK) and subprocess.run(
    [PY, "-c", "import torch"], capture_output=True).returncode == 0
mmx = os.path.join(BUILD, "tools", "mmx", "mmx")
twin = os.path.join(ROOT, "tools", "bench", "torch", "mmx_torch.py")
if not has_torch:
    for name in ("idiomatic peers", "idiomatic refusal", "idiomatic: unknown spec",
                 "blas_probe", "compare on the reference BLAS"):
        skip(name, f"{PY} cannot import torch (apt-get install python3-torch)")
else:
    for name in ("ffnet", "convnext", "mlp-mixer"):
        spec = os.path.join(ROOT, "specs", "models", name + ".json")
        r = subprocess.run([PY, twin, "idiomatic", spec, "--mmx", mmx], capture_output=True,
                           text=True)
        info = json.loads(r.stdout) if r.returncode == 0 else {}
        check(f"idiomatic {name}: the PyTorch module has mmx's parameter count",
              r.returncode == 0 and info.get("params") == info.get("mmx_params") > 0, r)
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(ROOT, "specs", "models", "convnext.json")) as f:
            spec = json.load(f)
        # One more linear in the head: the idiomatic ConvNeXt does not have it.
        spec["head"].insert(2, {"op": "linear", "out": 64})
        path = os.path.join(tmp, "convnext.json")
        with open(path, "w") as f:
            json.dump(spec, f)
        r = subprocess.run([PY, twin, "idiomatic", path, "--mmx", mmx], capture_output=True,
                           text=True)
        check("idiomatic convnext on a spec it does not follow is refused, naming both counts",
              r.returncode == 2 and "convnext: the idiomatic PyTorch model has 102378 trainable "
              "parameters, mmx's graph 106538: not the same model, refused" in r.stderr, r)
        r = subprocess.run([PY, twin, "bench", path, "--mmx", mmx, "--peer", "idiomatic",
                            "--steps", "1", "--warmup", "0"], capture_output=True, text=True)
        check("the refused idiomatic peer is not benchmarked either",
              r.returncode == 2 and "not the same model, refused" in r.stderr, r)
    r = subprocess.run([PY, twin, "idiomatic", os.path.join(ROOT, "specs", "models", "vit.json"),
                        "--mmx", mmx], capture_output=True, text=True)
    check("a spec without an idiomatic model is refused by name",
          r.returncode == 2 and "no idiomatic PyTorch model for 'vit'" in r.stderr, r)
    r = subprocess.run([PY, os.path.join(ROOT, "tools", "bench", "torch", "blas_probe.py"),
                        "--threads", "1", "--size", "256", "--seconds", "0.1"],
                       capture_output=True, text=True)
    facts = json.loads(r.stdout) if r.returncode == 0 else {}
    check("blas_probe names the library behind libtorch's sgemm_, a rate, and an exact product",
          r.returncode == 0 and facts.get("sgemm_provider")
          and facts["matmul"]["gflops"] > 0 and facts["correct"] is True
          and facts["torch"]["blas_info"], r)
    if not os.path.exists(os.path.join(REFERENCE_DIR, "libblas.so.3")):
        skip("compare on the reference BLAS", f"no reference BLAS in {REFERENCE_DIR} "
             "(Debian's libblas3)")
    else:
        env = dict(os.environ, LD_LIBRARY_PATH=REFERENCE_DIR)
        r = subprocess.run([os.path.join(ROOT, "tools", "bench", "compare"),
                            os.path.join(ROOT, "specs", "models", "convnext.json"), "--build",
                            BUILD, "--quick", "--no-gemm", "--no-roofline", "--torch-env",
                            "tuned"], capture_output=True, text=True, env=env)
        check("compare on the reference BLAS exits 3 with the reason and the fix, no ratio",
              r.returncode == 3 and r.stdout == ""
              and "PyTorch's sgemm_ comes from the reference BLAS" in r.stderr
              and "`tools/bootstrap bench` installs libopenblas-dev" in r.stderr
              and "no ratio is printed" in r.stderr, r)

print(f"1..{len(results)}")
for i, (name, ok, detail) in enumerate(results, 1):
    if ok is None:
        print(f"ok {i} - {name} # SKIP {detail}")
    elif ok:
        print(f"ok {i} - {name}")
    else:
        print(f"not ok {i} - {name}")
        for line in str(detail).splitlines():
            print(f"# {line}")
