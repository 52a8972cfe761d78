#!/usr/bin/python3
"""blas_probe.py: what BLAS this PyTorch really runs, and how fast (tools/bench/compare's peer check).

    blas_probe.py [--threads N] [--size N] [--seconds S]

Prints one JSON object on stdout:
  - torch: version, BLAS_INFO and LAPACK_INFO from torch.__config__.show(), threads;
  - sgemm_provider: the shared object that gives libtorch_cpu its `sgemm_` (dlsym on
    libtorch_cpu's own handle, which searches it and its dependencies in load order, as
    the dynamic linker resolved the call; then dladdr and realpath). Debian's torch says
    BLAS_INFO=generic and links libblas.so.3, which the alternatives system points at
    the reference BLAS or at OpenBLAS: only this path says which one runs;
  - mapped: every BLAS/LAPACK-looking library in /proc/self/maps;
  - openblas: when an OpenBLAS library is mapped, its openblas_get_config(),
    openblas_get_corename() (the kernels it chose or was told to use, OPENBLAS_CORETYPE),
    openblas_get_num_threads() and openblas_get_parallel() (0 sequential, 1 pthreads,
    2 OpenMP);
  - env: the environment variables that steer the BLAS and OpenMP threads;
  - matmul: a SIZE^3 float32 torch.matmul at N threads (torch.set_num_threads), the best
    GFLOP/s of the samples that fit in about S seconds (a shared machine only ever slows
    a sample down), plus a 6272x128 by 128x512 product (a zoo linear layer at batch 128);
  - correct: whether the timed product is exact on integer-valued operands (entries in
    -2..2, so every partial sum is an integer below 2^24 and any summation order gives
    the same float), checked on 32 rows against torch's int64 matmul, which does not go
    through the BLAS.
The decision on these facts is tools/bench/peer.py's (no torch needed there, so it can
be tested on synthetic inputs).
"""

import argparse
import ctypes
import json
import os
import re
import time

import torch

BLAS_WORDS = ("blas", "lapack", "mkl", "blis", "atlas")
ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OPENBLAS_VERBOSE", "GOTO_NUM_THREADS",
       "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "MKL_NUM_THREADS",
       "LD_LIBRARY_PATH", "LD_PRELOAD")


class DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def mapped_libraries():
    seen = []
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 6:
                continue
            path = parts[5]
            base = os.path.basename(path).lower()
            if any(w in base for w in BLAS_WORDS) and path not in seen:
                seen.append(path)
    return seen


def torch_cpu_path():
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and os.path.basename(parts[5]).startswith("libtorch_cpu"):
                return parts[5]
    return None


def symbol_provider(lib_path, symbol):
    """The file whose definition of `symbol` the library at lib_path resolves to."""
    libc = ctypes.CDLL(None)
    handle = ctypes.CDLL(lib_path)
    try:
        addr = ctypes.cast(getattr(handle, symbol), ctypes.c_void_p).value
    except AttributeError:
        return None
    info = DlInfo()
    if not libc.dladdr(ctypes.c_void_p(addr), ctypes.byref(info)) or not info.dli_fname:
        return None
    return os.path.realpath(info.dli_fname.decode())


def openblas_facts(mapped):
    lib = next((p for p in mapped if "libopenblas" in os.path.basename(p)), None)
    if lib is None:
        return None
    h = ctypes.CDLL(lib)
    out = {"library": lib}
    for name in ("openblas_get_config", "openblas_get_corename"):
        f = getattr(h, name, None)
        if f is not None:
            f.restype = ctypes.c_char_p
            out[name.replace("openblas_get_", "")] = f().decode()
    for name in ("openblas_get_num_threads", "openblas_get_parallel"):
        f = getattr(h, name, None)
        if f is not None:
            f.restype = ctypes.c_int
            out[name.replace("openblas_get_", "")] = f()
    return out


def config_field(show, key):
    m = re.search(r"(?<![A-Z_])" + key + r"=([^,\s]+)", show)
    return m.group(1) if m else None


def rate(m, n, k, seconds, gen):
    """Best GFLOP/s of C = A B over samples filling about `seconds`; (gflops, A, B, C)."""
    a = torch.randint(-2, 3, (m, k), generator=gen).float()
    b = torch.randint(-2, 3, (k, n), generator=gen).float()
    torch.matmul(a[:64, :64], b[:64, :64])  # thread pool and buffers up
    best, spent, samples, c = 0.0, 0.0, 0, None
    while samples < 3 or spent < seconds / 4:
        t0 = time.perf_counter()
        c = torch.matmul(a, b)
        dt = time.perf_counter() - t0
        spent += dt
        samples += 1
        best = max(best, 2.0 * m * n * k / dt / 1e9)
        if spent > seconds or samples >= 20:
            break
    return best, samples, a, b, c


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(1)
    n = args.size
    square, samples, a, b, c = rate(n, n, n, args.seconds, gen)
    rows = min(32, n)
    exact = torch.matmul(a[:rows].long(), b.long())
    correct = bool(torch.equal(c[:rows].long(), exact)) and bool(torch.isfinite(c).all())
    linear, _, _, _, _ = rate(6272, 512, 128, args.seconds / 3, gen)
    show = torch.__config__.show()
    mapped = mapped_libraries()
    tc = torch_cpu_path()
    out = {
        "torch": {"version": torch.__version__, "blas_info": config_field(show, "BLAS_INFO"),
                  "lapack_info": config_field(show, "LAPACK_INFO"),
                  "threads": torch.get_num_threads(),
                  "interop_threads": torch.get_num_interop_threads()},
        "sgemm_provider": symbol_provider(tc, "sgemm_") if tc else None,
        "mapped": mapped,
        "openblas": openblas_facts(mapped),
        "env": {k: os.environ[k] for k in ENV if k in os.environ},
        "matmul": {"shape": [n, n, n], "threads": args.threads, "gflops": square,
                   "samples": samples, "linear_6272x512x128_gflops": linear},
        "correct": correct,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
