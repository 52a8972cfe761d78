/* gemm-bench.c: the machine's limits and the host sgemm against OpenBLAS.
 *
 *   gemm-bench [--quick] [--part peak|bandwidth|gemm|none]... [--threads N]... [--only TEXT]
 *
 * Three parts, all by default:
 *   peak       the FMA peak: a register-only FMA loop per ISA on 1 and 2 threads.
 *   bandwidth  memory bandwidth: STREAM-like copy and triad over arrays far larger than
 *              the caches, on 1 and 2 threads.
 *   gemm       mmx_sgemm / mmx_sgemm_batched against Debian's OpenBLAS cblas_sgemm (a
 *              loop of calls for the batched shapes) on the shapes the zoo produces and
 *              on large squares, per thread count: GFLOP/s, the ratio, % of peak.
 *
 * Method: every timing is the median of several samples; a sample repeats the call
 * enough times to last ~30 ms; mmx and OpenBLAS samples alternate, so a neighbour's
 * burst of load hits both. Single-thread samples time the thread's CPU time, others
 * wall time (see now()); the load average is printed with the results. Both results are compared (relative to the size of the
 * products), so a fast wrong kernel cannot hide. It is a benchmark, not a test:
 * meson builds it and never runs it (tools/bench/gemm-bench.sh does).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mmx/mmx.h>

#include "bench.h"

#ifdef MMX_HAVE_OPENBLAS
#include <cblas.h>
#endif

static volatile float sink_slot;

float
bench_opaque_float(float x)
{
    volatile float v = x;
    return v;
}

void
bench_sink(float x)
{
    sink_slot = x;
}

/* The clock of a measurement: on one thread, the CPU time of the calling thread, which
 * a neighbour's load on a shared machine does not inflate (a preempted thread's clock
 * stops); on several threads, wall time (a thread waiting for another one is what a
 * parallel product costs). */
static clockid_t bench_clock = CLOCK_MONOTONIC;

static void
use_clock_for(int threads)
{
    bench_clock = threads == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC;
}

static double
now(void)
{
    struct timespec ts;
    clock_gettime(bench_clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int samples = 7;
static const char *only; /* --only: shapes whose description contains this text */

/* ---- running a function on N threads at once ---------------------------------------- */

typedef void (*work_fn)(void *arg, int index, int count);

typedef struct worker {
    work_fn fn;
    void *arg;
    int index, count;
    pthread_barrier_t *start;
} worker;

static void *
worker_main(void *p)
{
    worker *w = p;
    pthread_barrier_wait(w->start);
    w->fn(w->arg, w->index, w->count);
    return NULL;
}

/* Wall time of fn(arg, i, n) on n threads started together (the caller is thread 0). */
static double
run_on_threads(work_fn fn, void *arg, int n)
{
    pthread_t tid[64];
    worker w[64];
    pthread_barrier_t start;
    use_clock_for(n);
    pthread_barrier_init(&start, NULL, (unsigned)n);
    for (int i = 1; i < n; i++) {
        w[i] = (worker){fn, arg, i, n, &start};
        pthread_create(&tid[i], NULL, worker_main, &w[i]);
    }
    pthread_barrier_wait(&start);
    double t0 = now();
    fn(arg, 0, n);
    for (int i = 1; i < n; i++)
        pthread_join(tid[i], NULL);
    double t = now() - t0;
    pthread_barrier_destroy(&start);
    return t;
}

/* ---- peak ------------------------------------------------------------------------- */

typedef struct peak_job {
    double (*loop)(int64_t);
    int64_t iters;
    double flops[64];
} peak_job;

static void
peak_work(void *arg, int index, int count)
{
    (void)count;
    peak_job *j = arg;
    j->flops[index] = j->loop(j->iters);
}

/* Measured FMA peak in GFLOP/s for the ISA and thread count (0 if the CPU lacks it). */
static double peak_gflops[3][3]; /* [isa][threads] */

static double
measure_peak(double (*loop)(int64_t), int threads)
{
    peak_job j = {.loop = loop, .iters = 1000000};
    double t = run_on_threads(peak_work, &j, threads);
    j.iters = (int64_t)((double)j.iters * 0.2 / t) + 1; /* ~0.2 s per sample */
    double v[16];
    for (int s = 0; s < samples; s++) {
        t = run_on_threads(peak_work, &j, threads);
        double flops = 0;
        for (int i = 0; i < threads; i++)
            flops += j.flops[i];
        v[s] = flops / t * 1e-9;
    }
    return median(v, samples);
}

static void
part_peak(void)
{
    mmx_isa have = mmx_cpu_isa_detected();
    printf("\n## FMA peak (register-only FMA loop, GFLOP/s, median of %d)\n\n", samples);
    printf("| ISA | 1 thread | 2 threads |\n|---|---:|---:|\n");
    struct {
        mmx_isa isa;
        double (*loop)(int64_t);
    } isas[] = {{MMX_ISA_AVX2, bench_peak_avx2}, {MMX_ISA_AVX512, bench_peak_avx512}};
    for (unsigned i = 0; i < 2; i++) {
        if (isas[i].isa > have) {
            printf("| %s | (not on this CPU) | |\n", mmx_isa_name(isas[i].isa));
            continue;
        }
        for (int t = 1; t <= 2; t++)
            peak_gflops[isas[i].isa][t] = measure_peak(isas[i].loop, t);
        printf("| %s | %.1f | %.1f |\n", mmx_isa_name(isas[i].isa),
               peak_gflops[isas[i].isa][1], peak_gflops[isas[i].isa][2]);
    }
    fflush(stdout);
}

/* ---- memory bandwidth ----------------------------------------------------------------- */

typedef struct stream_job {
    float *a, *b, *c;
    size_t n;
    int kind; /* 0: copy c = a; 1: triad a = b + s * c */
} stream_job;

static void
stream_work(void *arg, int index, int count)
{
    stream_job *j = arg;
    size_t lo = j->n * (size_t)index / (size_t)count, hi = j->n * (size_t)(index + 1) / (size_t)count;
    float *restrict a = j->a, *restrict b = j->b, *restrict c = j->c;
    if (j->kind == 0) {
        for (size_t i = lo; i < hi; i++)
            c[i] = a[i];
    } else {
        const float s = 3.0f;
        for (size_t i = lo; i < hi; i++)
            a[i] = b[i] + s * c[i];
    }
}

static void
part_bandwidth(void)
{
    /* 3 x 256 MiB: beyond any cache this machine reports. */
    size_t n = (size_t)64 << 20;
    float *a = aligned_alloc(64, n * sizeof(float));
    float *b = aligned_alloc(64, n * sizeof(float));
    float *c = aligned_alloc(64, n * sizeof(float));
    if (!a || !b || !c) {
        printf("\n(bandwidth: out of memory)\n");
        free(a), free(b), free(c);
        return;
    }
    for (size_t i = 0; i < n; i++)
        a[i] = 1.0f, b[i] = 2.0f, c[i] = 0.5f;
    printf("\n## Memory bandwidth (GB/s, %zu MiB arrays, median of %d; copy moves 8 B per "
           "element, triad 12 B)\n\n",
           n * sizeof(float) >> 20, samples);
    printf("| kernel | 1 thread | 2 threads |\n|---|---:|---:|\n");
    const char *names[] = {"copy", "triad"};
    for (int kind = 0; kind < 2; kind++) {
        double res[3];
        for (int t = 1; t <= 2; t++) {
            stream_job j = {a, b, c, n, kind};
            double v[16];
            for (int s = 0; s < samples; s++)
                v[s] = (kind ? 12.0 : 8.0) * (double)n / run_on_threads(stream_work, &j, t) * 1e-9;
            res[t] = median(v, samples);
        }
        printf("| %s | %.1f | %.1f |\n", names[kind], res[1], res[2]);
    }
    bench_sink(a[n / 3] + c[n / 2]);
    free(a), free(b), free(c);
    fflush(stdout);
}

/* ---- sgemm ------------------------------------------------------------------------- */

typedef struct shape {
    const char *what;
    int64_t count; /* 0: one sgemm; otherwise sgemm_batched with this many products */
    int ta, tb;
    int64_t m, n, k;
    int64_t lda, ldb, ldc; /* 0: packed */
    float beta;
    bool shared_a; /* batched: one A for all products (a token-mixing weight) */
} shape;

/* The products a zoo model makes at batch 128 (49 tokens after a 4x4 patch stem on
 * 28x28, 196 after 2x2), channels 32..512, and large squares. */
static const shape shapes[] = {
    {"linear fwd, 128x49 tokens, 64->256", 0, 0, 1, 6272, 256, 64, 0, 0, 0, 0.0f, false},
    {"linear fwd, 128x49 tokens, 256->64", 0, 0, 1, 6272, 64, 256, 0, 0, 0, 0.0f, false},
    {"linear fwd, 128x49 tokens, 64->64", 0, 0, 1, 6272, 64, 64, 0, 0, 0, 0.0f, false},
    {"linear fwd, 128x49 tokens, 128->512", 0, 0, 1, 6272, 512, 128, 0, 0, 0, 0.0f, false},
    {"linear fwd, 128x196 tokens, 32->128", 0, 0, 1, 25088, 128, 32, 0, 0, 0, 0.0f, false},
    {"linear fwd, 128x196 tokens, 64->64", 0, 0, 1, 25088, 64, 64, 0, 0, 0, 0.0f, false},
    {"linear grad x, 128x49, 256->64", 0, 0, 0, 6272, 64, 256, 0, 0, 0, 0.0f, false},
    {"linear grad x, 128x49, 64->256", 0, 0, 0, 6272, 256, 64, 0, 0, 0, 0.0f, false},
    {"linear grad W, 128x49, 64x256", 0, 1, 0, 64, 256, 6272, 0, 0, 0, 1.0f, false},
    {"linear grad W, 128x49, 256x64", 0, 1, 0, 256, 64, 6272, 0, 0, 0, 1.0f, false},
    {"linear grad W, 128x196, 64x64", 0, 1, 0, 64, 64, 25088, 0, 0, 0, 1.0f, false},
    {"token mix 49->49, C=64 (x128)", 128, 0, 0, 49, 64, 49, 0, 0, 0, 0.0f, true},
    {"token mix 196->196, C=64 (x128)", 128, 0, 0, 196, 64, 196, 0, 0, 0, 0.0f, true},
    {"token mix grad W 49x49, C=64 (x128)", 128, 0, 1, 49, 49, 64, 0, 0, 0, 0.0f, false},
    {"attention QK^T 49x49x16 (x512)", 512, 0, 1, 49, 49, 16, 64, 64, 0, 0.0f, false},
    /* The 512 outputs of 49 x 16 are column slices of one 49 x 8192 matrix: written with
     * a stride of 16 into rows of 64 they would overlap (512 heads are 128 samples of 4),
     * and the order of the writes would decide the result. */
    {"attention PV 49x16x49 (x512)", 512, 0, 0, 49, 16, 49, 0, 64, 8192, 0.0f, false},
    {"attention grad K 49x16x49 (x512)", 512, 1, 0, 49, 16, 49, 0, 64, 8192, 0.0f, false},
    {"attention QK^T 196x196x16 (x512)", 512, 0, 1, 196, 196, 16, 64, 64, 0, 0.0f, false},
    {"square 512", 0, 0, 0, 512, 512, 512, 0, 0, 0, 0.0f, false},
    {"square 1024", 0, 0, 0, 1024, 1024, 1024, 0, 0, 0, 0.0f, false},
    {"square 2048", 0, 0, 0, 2048, 2048, 2048, 0, 0, 0, 0.0f, false},
    {"square 2048, B^T", 0, 0, 1, 2048, 2048, 2048, 0, 0, 0, 0.0f, false},
};

typedef struct operands {
    const shape *s;
    int64_t lda, ldb, ldc, sa, sb, sc, count;
    int64_t c_len;
    float *a, *b, *c, *c2, *c0;
} operands;

static void
fill(float *x, int64_t n, uint32_t seed)
{
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
}

static bool
operands_init(operands *o, const shape *s)
{
    *o = (operands){.s = s, .count = s->count ? s->count : 1};
    int64_t ra = s->ta ? s->k : s->m, ca = s->ta ? s->m : s->k;
    int64_t rb = s->tb ? s->n : s->k, cb = s->tb ? s->k : s->n;
    o->lda = s->lda ? s->lda : ca;
    o->ldb = s->ldb ? s->ldb : cb;
    o->ldc = s->ldc ? s->ldc : s->n;
    /* A leading dimension wider than the row means the operand is a slice of a wider
     * tensor (a head of Q): consecutive products start one slice further. */
    o->sa = s->shared_a ? 0 : s->lda ? ca : ra * o->lda;
    o->sb = s->ldb ? cb : rb * o->ldb;
    o->sc = s->ldc ? s->n : s->m * o->ldc;
    int64_t na = (o->count - 1) * o->sa + ra * o->lda, nb = (o->count - 1) * o->sb + rb * o->ldb;
    int64_t nc = (o->count - 1) * o->sc + s->m * o->ldc;
    o->a = aligned_alloc(64, (size_t)(na + 16) * sizeof(float));
    o->b = aligned_alloc(64, (size_t)(nb + 16) * sizeof(float));
    o->c = aligned_alloc(64, (size_t)(nc + 16) * sizeof(float));
    o->c2 = aligned_alloc(64, (size_t)(nc + 16) * sizeof(float));
    o->c0 = aligned_alloc(64, (size_t)(nc + 16) * sizeof(float));
    o->c_len = nc;
    if (!o->a || !o->b || !o->c || !o->c2 || !o->c0)
        return false;
    fill(o->a, na, 1);
    fill(o->b, nb, 2);
    fill(o->c0, nc, 3);
    memcpy(o->c, o->c0, (size_t)nc * sizeof(float));
    memcpy(o->c2, o->c0, (size_t)nc * sizeof(float));
    return true;
}

static void
operands_clear(operands *o)
{
    free(o->a), free(o->b), free(o->c), free(o->c2), free(o->c0);
}

static void
run_mmx(const operands *o, float *c)
{
    const shape *s = o->s;
    if (s->count)
        mmx_sgemm_batched(o->count, s->ta, s->tb, s->m, s->n, s->k, 1.0f, o->a, o->lda, o->sa,
                          o->b, o->ldb, o->sb, s->beta, c, o->ldc, o->sc);
    else
        mmx_sgemm(s->ta, s->tb, s->m, s->n, s->k, 1.0f, o->a, o->lda, o->b, o->ldb, s->beta, c,
                  o->ldc);
}

#ifdef MMX_HAVE_OPENBLAS
static void
run_openblas(const operands *o, float *c)
{
    const shape *s = o->s;
    for (int64_t i = 0; i < o->count; i++)
        cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans,
                    s->tb ? CblasTrans : CblasNoTrans, (blasint)s->m, (blasint)s->n,
                    (blasint)s->k, 1.0f, o->a + i * o->sa, (blasint)o->lda, o->b + i * o->sb,
                    (blasint)o->ldb, s->beta, c + i * o->sc, (blasint)o->ldc);
}
#endif

/* Seconds per call: `reps` calls timed together. */
static double
time_calls(void (*run)(const operands *, float *), const operands *o, float *c, int reps)
{
    double t0 = now();
    for (int r = 0; r < reps; r++)
        run(o, c);
    return (now() - t0) / reps;
}

static double
flops_of(const shape *s)
{
    return 2.0 * (double)(s->count ? s->count : 1) * (double)s->m * (double)s->n * (double)s->k;
}

#ifdef MMX_HAVE_OPENBLAS
/* max |mmx - openblas| / (sqrt(k) * max |C|): float rounding noise is ~1e-7. */
static double
disagreement(const operands *o)
{
    const shape *s = o->s;
    double worst = 0, scale = 1e-30;
    for (int64_t i = 0; i < o->count; i++)
        for (int64_t r = 0; r < s->m; r++)
            for (int64_t j = 0; j < s->n; j++) {
                int64_t at = i * o->sc + r * o->ldc + j;
                worst = fmax(worst, fabs((double)o->c[at] - (double)o->c2[at]));
                scale = fmax(scale, fabs((double)o->c2[at]));
            }
    return worst / (scale * sqrt((double)s->k));
}
#endif

static void
part_gemm(const int *threads, int n_threads)
{
    mmx_isa isa = mmx_cpu_isa();
#ifdef MMX_HAVE_OPENBLAS
    printf("\n## sgemm: mmx (%s kernels) vs OpenBLAS %s (%s), GFLOP/s, median of %d\n\n",
           mmx_isa_name(isa), openblas_get_config(), openblas_get_corename(), samples);
#else
    printf("\n## sgemm: mmx (%s kernels), GFLOP/s, median of %d (OpenBLAS not found)\n\n",
           mmx_isa_name(isa), samples);
#endif
    printf("| shape (C = op(A) op(B): m x n x k) | ta tb | threads | mmx | OpenBLAS | "
           "mmx/OpenBLAS | mmx %% of peak |\n");
    printf("|---|---|---:|---:|---:|---:|---:|\n");
    for (int ti = 0; ti < n_threads; ti++) {
        int t = threads[ti];
        /* The pool is sized once per thread count: all shapes run at one count first. */
        mmx_set_num_threads(t);
        use_clock_for(t);
#ifdef MMX_HAVE_OPENBLAS
        openblas_set_num_threads(t);
#endif
        double peak = t <= 2 ? peak_gflops[isa][t] : 0.0;
        for (unsigned si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const shape *s = &shapes[si];
            if (only && strstr(s->what, only) == NULL)
                continue;
            operands o;
            if (!operands_init(&o, s)) {
                printf("| %s | out of memory |\n", s->what);
                operands_clear(&o);
                continue;
            }
            double flops = flops_of(s);
            run_mmx(&o, o.c);
            int reps = (int)(0.03 / fmax(time_calls(run_mmx, &o, o.c, 1), 1e-7)) + 1;
            double vm[16];
#ifdef MMX_HAVE_OPENBLAS
            double vo[16];
#endif
            for (int r = 0; r < samples; r++) {
                vm[r] = flops / time_calls(run_mmx, &o, o.c, reps) * 1e-9;
#ifdef MMX_HAVE_OPENBLAS
                vo[r] = flops / time_calls(run_openblas, &o, o.c2, reps) * 1e-9;
#endif
            }
            double gm = median(vm, samples);
            char label[160];
            snprintf(label, sizeof label, "%s: %ldx%ldx%ld", s->what, (long)s->m, (long)s->n,
                     (long)s->k);
            printf("| %s | %d %d | %d | %.1f |", label, s->ta, s->tb, t, gm);
#ifdef MMX_HAVE_OPENBLAS
            /* One more call each from the same C (beta == 1 accumulates into it). */
            memcpy(o.c, o.c0, (size_t)o.c_len * sizeof(float));
            memcpy(o.c2, o.c0, (size_t)o.c_len * sizeof(float));
            run_mmx(&o, o.c);
            run_openblas(&o, o.c2);
            double d = disagreement(&o), go = median(vo, samples);
            printf(" %.1f | %.2f |", go, gm / go);
            if (d > 1e-5)
                printf(" RESULTS DIFFER (%.2g) |", d);
#else
            printf(" - | - |");
#endif
            if (peak > 0)
                printf(" %.0f%% |\n", 100.0 * gm / peak);
            else
                printf(" - |\n");
            fflush(stdout);
            operands_clear(&o);
        }
    }
}

static void
usage(void)
{
    fprintf(stderr, "usage: gemm-bench [--quick] [--part peak|bandwidth|gemm|none]... "
                    "[--threads N]... [--only TEXT]\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    bool parts[3] = {false, false, false}, any = false;
    int threads[8], n_threads = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            samples = 3;
        } else if (strcmp(argv[i], "--part") == 0 && i + 1 < argc) {
            const char *p = argv[++i];
            int which = strcmp(p, "peak") == 0        ? 0
                        : strcmp(p, "bandwidth") == 0 ? 1
                        : strcmp(p, "gemm") == 0      ? 2
                        : strcmp(p, "none") == 0      ? 3
                                                      : -1;
            if (which < 0)
                usage();
            any = true;
            if (which < 3)
                parts[which] = true;
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc && n_threads < 8) {
            threads[n_threads] = atoi(argv[++i]);
            if (threads[n_threads] < 1 || threads[n_threads] > 64)
                usage();
            n_threads++;
        } else {
            usage();
        }
    }
    if (!any)
        parts[0] = parts[1] = parts[2] = true;
    if (n_threads == 0) {
        threads[0] = 1;
        threads[1] = 2;
        n_threads = 2;
    }
    GError *error = NULL;
    if (!mmx_isa_cap_from_env(&error)) {
        fprintf(stderr, "gemm-bench: %s\n", error->message);
        g_error_free(error);
        return 2;
    }
    char *model = mmx_cpu_model();
    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) < 0)
        load[0] = load[1] = load[2] = -1;
    printf("# gemm-bench: %s, %ld CPUs online, ISA detected %s, sgemm kernels %s, load "
           "average %.2f %.2f %.2f\n",
           model, sysconf(_SC_NPROCESSORS_ONLN), mmx_isa_name(mmx_cpu_isa_detected()),
           mmx_sgemm_kernel_name(), load[0], load[1], load[2]);
    g_free(model);
    if (parts[0] || parts[2])
        part_peak(); /* the gemm table reports % of it */
    if (parts[1])
        part_bandwidth();
    if (parts[2])
        part_gemm(threads, n_threads);
    return 0;
}
