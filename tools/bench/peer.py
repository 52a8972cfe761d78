"""peer.py: is this PyTorch a peer worth a ratio? (tools/bench/compare's peer check)

A ratio against a crippled peer is worse than none. Debian's python3-torch reports
BLAS_INFO=generic: it calls whatever libblas.so.3 resolves to, which is the reference
(netlib) BLAS unless OpenBLAS is installed, and the reference BLAS runs a 6272x128x512
product at under 2 GFLOP/s, a hundred times under the machine. So before it times
anything, compare runs tools/bench/torch/blas_probe.py in each PyTorch environment it
will use, and `judge` decides on what the probe found:

  - refused when libtorch's `sgemm_` comes from the reference BLAS (Debian's libblas3:
    a libblas.so.3 that is not OpenBLAS, MKL, BLIS or ATLAS); a BLAS the check does not
    know is judged by its rate alone;
  - refused when the probe's product was not exact (its operands are small integers, so
    every summation order gives the same floats);
  - refused when the probe's float32 2048^3 matmul, at the benchmark's thread count, runs
    under MIN_SHARE (20%) of the machine's FMA peak at that thread count, measured by
    tools/bench/gemm-bench in the same run. A tuned OpenBLAS reaches 75-90% of it on that
    product; a BLAS on the wrong kernels (OpenBLAS's SSE3 fallback on a CPU it does not
    know) or on one thread of two lands near or under 20%, the reference BLAS under 2%.
    Peak and probe take the best of their samples, so the load of a shared machine
    lowers both and the share holds up; the threshold leaves room for that.

No torch here: the decision is a function of plain data, tested on synthetic inputs
(tests/tools/test_peer.py).
"""

import os
import re

MIN_SHARE = 0.20

FIX_BLAS = ("install OpenBLAS so that libblas.so.3 resolves to it: `tools/bootstrap bench` "
            "installs libopenblas-dev (Debian's alternatives then point libblas.so.3 at "
            "OpenBLAS; check with update-alternatives --display libblas.so.3-x86_64-linux-gnu), "
            "and unset an LD_LIBRARY_PATH or LD_PRELOAD that puts the reference libblas first")
FIX_RATE = ("give OpenBLAS the strongest kernels the CPU runs, OPENBLAS_CORETYPE=SkylakeX "
            "(AVX-512) or Haswell (AVX2) (`--torch-env tuned` sets it), and "
            "OPENBLAS_NUM_THREADS / OMP_NUM_THREADS at the benchmark's thread count; on a "
            "loaded machine, run again when it is quieter")


def blas_kind(provider, blas_info=None):
    """What kind of BLAS a library path is: OpenBLAS, MKL, BLIS, ATLAS, reference or
    unknown; without a path (no dynamic sgemm_), what torch's BLAS_INFO says."""
    if provider:
        p = provider.lower()
        for word, kind in (("openblas", "OpenBLAS"), ("mkl", "MKL"), ("blis", "BLIS"),
                           ("atlas", "ATLAS")):
            if word in p:
                return kind
        if re.match(r"libblas\.so", os.path.basename(p)) or "/blas/" in p:
            return "reference"
        return "unknown"
    info = (blas_info or "").lower()
    return {"mkl": "MKL", "open": "OpenBLAS", "openblas": "OpenBLAS", "blis": "BLIS",
            "accelerate": "Accelerate"}.get(info, "unknown")


def short_path(path):
    """The last two components of a library path (the directory says which package)."""
    return "/".join(path.split("/")[-2:]) if path else "-"


def judge(probe, peak_gflops, min_share=MIN_SHARE):
    """The verdict on one PyTorch environment: a dict with ok, kind, share (of the peak),
    reasons (why refused; empty when accepted) and fixes (what to do about each)."""
    provider = probe.get("sgemm_provider")
    info = (probe.get("torch") or {}).get("blas_info")
    kind = blas_kind(provider, info)
    rate = (probe.get("matmul") or {}).get("gflops") or 0.0
    shape = "x".join(str(d) for d in (probe.get("matmul") or {}).get("shape", []))
    threads = (probe.get("matmul") or {}).get("threads")
    share = rate / peak_gflops if peak_gflops and peak_gflops > 0 else float("nan")
    reasons, fixes = [], []
    if kind == "reference":
        reasons.append(f"PyTorch's sgemm_ comes from the reference BLAS "
                       f"({short_path(provider)}; torch BLAS_INFO={info})")
        fixes.append(FIX_BLAS)
    if not probe.get("correct", False):
        reasons.append(f"its {shape} float32 product on small integers is not exact")
        fixes.append(FIX_BLAS)
    if not (peak_gflops and peak_gflops > 0):
        reasons.append("no FMA peak was measured to judge the matmul rate against")
        fixes.append("build tools/bench/gemm-bench (ninja -C BUILD tools/bench/gemm-bench)")
    elif share < min_share:
        reasons.append(f"its {shape} float32 matmul runs at {rate:.1f} GFLOP/s on {threads} "
                       f"threads, {100 * share:.1f}% of the machine's measured FMA peak "
                       f"({peak_gflops:.1f} GFLOP/s), under the {100 * min_share:.0f}% a "
                       f"working BLAS reaches")
        fixes.append(FIX_BLAS if kind in ("reference", "unknown") else FIX_RATE)
    return {"ok": not reasons, "kind": kind, "share": share, "rate": rate,
            "reasons": reasons, "fixes": list(dict.fromkeys(fixes))}


def describe(probe, verdict, peak_gflops):
    """One line for the report's header: the BLAS, its kernels and threads, the rate."""
    ob = probe.get("openblas") or {}
    env = probe.get("env") or {}
    mm = probe.get("matmul") or {}
    torch_ = probe.get("torch") or {}
    kind = verdict["kind"]
    parts = [f"BLAS {kind}" + (f" ({ob['config']})" if kind == "OpenBLAS" and ob.get("config")
                                else ""),
             f"sgemm_ from {short_path(probe.get('sgemm_provider'))}, torch "
             f"BLAS_INFO={torch_.get('blas_info')}"]
    if kind == "OpenBLAS" and ob:
        par = {0: "sequential", 1: "pthreads", 2: "OpenMP"}.get(ob.get("parallel"), "?")
        parts.append(f"core type {ob.get('corename')}, {ob.get('num_threads')} OpenBLAS "
                     f"threads ({par})")
    parts.append(f"torch threads {torch_.get('threads')}")
    steer = ", ".join(f"{k}={v}" for k, v in sorted(env.items()))
    parts.append(steer if steer else "no BLAS/OpenMP variables set")
    shape = "x".join(str(d) for d in mm.get("shape", []))
    parts.append(f"{shape} sgemm {mm.get('gflops', 0):.1f} GFLOP/s = "
                 f"{100 * verdict['share']:.0f}% of the {peak_gflops:.1f} GFLOP/s FMA peak "
                 f"(refused under {100 * MIN_SHARE:.0f}%), 6272x512x128 "
                 f"{mm.get('linear_6272x512x128_gflops', 0):.1f} GFLOP/s"
                 + (", exact" if probe.get("correct") else ", NOT exact"))
    return "; ".join(parts)


def refusal(env_name, verdict):
    """The message compare exits with when an environment is refused."""
    lines = [f"PyTorch ({env_name} environment) is not a peer to compare against:"]
    lines += [f"  - {r}" for r in verdict["reasons"]]
    lines += ["fix:"] + [f"  - {f}" for f in verdict["fixes"]]
    return "\n".join(lines)


def parse_gemm_bench(stdout, threads):
    """(FMA peak GFLOP/s by ISA, triad GB/s or None) at `threads` from gemm-bench's
    markdown tables (--part peak, --part bandwidth)."""
    peak, triad, col = {}, None, None
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2:
            continue
        if cells[0] in ("ISA", "kernel"):
            heads = [re.match(r"(\d+) thread", c) for c in cells[1:]]
            col = next((i + 1 for i, m in enumerate(heads) if m and int(m.group(1)) == threads),
                       None)
            continue
        if col is None or col >= len(cells):
            continue
        try:
            value = float(cells[col])
        except ValueError:
            continue
        if cells[0] in ("avx2", "avx512"):
            peak[cells[0]] = value
        elif cells[0] == "triad":
            triad = value
    return peak, triad


def best_peak(outputs, threads):
    """The FMA peak P to judge against, from several gemm-bench outputs: the best
    `threads`-thread figure over the ISAs and runs, or the best 1-thread figure when that
    is larger (threads never run slower than one of them on an idle machine; on a loaded
    one the `threads`-thread loop can share its cores with neighbours and measure less
    than one core alone). A dict: peak, isa, at_threads, at_one."""
    at_t, at_1 = (0.0, None), (0.0, None)
    for out in outputs:
        for isa, v in parse_gemm_bench(out, threads)[0].items():
            at_t = max(at_t, (v, isa))
        for isa, v in parse_gemm_bench(out, 1)[0].items():
            at_1 = max(at_1, (v, isa))
    best = max(at_t, at_1)
    return {"peak": best[0], "isa": best[1], "at_threads": at_t[0], "at_one": at_1[0]}
