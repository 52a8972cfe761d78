/* gemm.c: the host sgemm (row-major, transposes, alpha/beta): blocking, packing
 * decisions and threading around the per-ISA micro-kernels.
 *
 * The algorithm is Goto's (as in BLIS). C is cut into a grid of tasks, each a block of
 * whole register tiles; the pool runs the tasks. Inside a task:
 *
 *   for each block of nc columns:
 *     for each K slice of kc (balanced: K = 400 gives two slices of 200):
 *       pack B[kc x nc] into nr-wide panels                     (stays in L2)
 *       for each block of mc rows:
 *         pack A[mc x kc] into mr-tall panels (A transposed)    (stays in L2)
 *         for each B panel:                                     (stays in L1)
 *           for each A panel: the mr x nr micro-kernel over kc
 *
 * The first K slice applies beta, the others add to C. The kernel reads B row by row
 * (nr floats per step of k) and broadcasts A element by element, from a packed panel
 * or from A itself: see b_in_place() and a_in_place() for when packing pays. Packing B
 * absorbs its transpose.
 *
 * Determinism: every element of C is computed by one kernel call per K slice, adding
 * the products in the order of k with the same instructions whatever the tile shape
 * (see gemm-private.h); the K slices depend only on K. So the task grid, which depends
 * on the thread count, changes who computes an element but never its bits.
 *
 * The task grid is the cheapest by a small cost model (grid_cost()): multiply-adds on
 * the critical path (waves of tasks, with tiles rounded up), what each task reads and
 * packs again, and a share of one task for the tail.
 * Products below a few thousand multiply-adds skip all of this (a plain loop nest).
 * sgemm_batched runs one product per task, each on one thread.
 */
#include "mmx-private.h"

#include <stdlib.h>
#include <string.h>

#include "gemm-private.h"

/* Below this many multiply-adds a plain loop nest beats packing. */
#define GEMM_NAIVE_MAX 4096
/* Below this many flops a product runs on the calling thread only: waking the pool
 * and waiting for it costs microseconds (a futex wake-up, the last chunk), and 2
 * MFLOP take ~13 us on one AVX-512 core. */
#define GEMM_PARALLEL_MIN 2e6
/* Cost model, in flops of the micro-kernel: packing one float, reading one float from
 * memory; and the tail of a task grid, in tasks (see grid_cost()). */
#define GEMM_PACK_COST 24.0
#define GEMM_READ_COST 8.0
#define GEMM_TAIL 0.25

const mmx__gemm_isa *
mmx__gemm_pick(void)
{
    mmx_isa isa = mmx_cpu_isa();
    if (isa >= MMX_ISA_AVX512)
        return &mmx__gemm_avx512;
    if (isa >= MMX_ISA_AVX2)
        return &mmx__gemm_avx2;
    return &mmx__gemm_generic;
}

const char *
mmx_sgemm_kernel_name(void)
{
    return mmx__gemm_pick()->name;
}

/* Per-thread packing buffers: grown on demand, kept for the life of the thread, so a
 * training step that has run once allocates nothing here. */
static __thread float *tls_buf[2];
static __thread size_t tls_cap[2];

static float *
scratch(int which, size_t n)
{
    if (tls_cap[which] < n) {
        free(tls_buf[which]);
        size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
        tls_buf[which] = aligned_alloc(64, bytes);
        tls_cap[which] = tls_buf[which] ? n : 0;
    }
    return tls_buf[which];
}

static int64_t
ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

static int64_t
round_up(int64_t a, int64_t b)
{
    return ceil_div(a, b) * b;
}

static int64_t
min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* op(A)[i][p] and op(B)[p][j] */
#define A_AT(i, p) (ta ? a[(p) * lda + (i)] : a[(i) * lda + (p)])
#define B_AT(p, j) (tb ? b[(j) * ldb + (p)] : b[(p) * ldb + (j)])

/* The plain loop nest: tiny products, and the fallback when packing memory runs out. */
static void
gemm_naive(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
           int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    for (int64_t i = 0; i < m; i++) {
        float *crow = c + i * ldc;
        if (beta == 0.0f)
            memset(crow, 0, (size_t)n * sizeof(float));
        else if (beta != 1.0f)
            for (int64_t jj = 0; jj < n; jj++)
                crow[jj] *= beta;
        for (int64_t p = 0; p < k; p++) {
            float av = alpha * A_AT(i, p);
            if (!tb) {
                const float *brow = b + p * ldb;
                for (int64_t jj = 0; jj < n; jj++)
                    crow[jj] += av * brow[jj];
            } else {
                for (int64_t jj = 0; jj < n; jj++)
                    crow[jj] += av * b[jj * ldb + p];
            }
        }
    }
}

typedef struct plan {
    const mmx__gemm_isa *isa;
    int ta, tb;
    int64_t m, n, k;
    float alpha, beta;
    const float *a, *b;
    float *c;
    int64_t lda, ldb, ldc;
    int64_t kc;             /* depth of every K slice but maybe the last */
    int64_t m_step, n_step; /* rows and columns of a task */
    int64_t tm, tn;         /* tasks along M and N */
} plan;

/* &op(A)[i][p], &op(B)[p][j] */
static const float *
a_at(const plan *pl, int64_t i, int64_t p)
{
    return pl->ta ? pl->a + p * pl->lda + i : pl->a + i * pl->lda + p;
}

static const float *
b_at(const plan *pl, int64_t p, int64_t j)
{
    return pl->tb ? pl->b + j * pl->ldb + p : pl->b + p * pl->ldb + j;
}

/* Whether a task of `rows` x `cols` uses B, resp. A, in place rather than packed.
 *
 * An untransposed A always is: the kernel broadcasts from its rows (gemm-private.h),
 * each row a sequential stream whose cache lines serve 16 steps of k, and measured
 * faster than packing it (a 16 x 16 register transpose costs 64 shuffles on the port
 * the FMAs also need) at every size tried, ld = 49..2048. A transposed A is read a
 * short row per step of k, a new cache line each time: in place only for few columns
 * (little reuse to pay for packing) and rows closer than 512 bytes (wider strides
 * alias in L1 and measured slower). An untransposed B is used in place for few rows
 * (4 tiles); packing wins beyond, as the packed panel stays in L1 across many tiles;
 * strides beyond 4 KiB measured slower. */
static bool
b_in_place(const plan *pl, int64_t rows)
{
    return !pl->tb && rows <= 4 * pl->isa->mr && pl->ldb <= 1024;
}

static bool
a_in_place(const plan *pl, int64_t cols)
{
    if (pl->ta)
        return cols <= 2 * pl->isa->nr && pl->lda <= 128;
    return true;
}

/* Asks for `rows` rows of `len` floats, `ld` apart, before a kernel needs them. */
static void
prefetch_rows(const float *p, int64_t rows, int64_t len, int64_t ld)
{
    for (int64_t r = 0; r < rows; r++) {
        const char *row = (const char *)(p + r * ld);
        for (int64_t off = 0; off < len * (int64_t)sizeof(float); off += 64)
            __builtin_prefetch(row + off, 0, 3);
    }
}

/* C[m0..m1) x [n0..n1): the blocked loops above. */
static int
gemm_block(const plan *pl, int64_t m0, int64_t m1, int64_t n0, int64_t n1)
{
    const mmx__gemm_isa *isa = pl->isa;
    const int64_t MR = isa->mr, NR = isa->nr;
    const int64_t rows = m1 - m0, cols = n1 - n0;
    const bool direct_a = a_in_place(pl, cols), direct_b = b_in_place(pl, rows);
    /* The kernel's view of A (gemm-private.h): packed panels, or A itself. */
    const int64_t a_rs = direct_a && !pl->ta ? pl->lda : 1;
    const int64_t a_cs = direct_a ? (pl->ta ? pl->lda : 1) : MR;
    /* Balanced blocks: 200 rows with mc = 168 give two blocks of 112, not 168 + 32. */
    const int64_t mc = round_up(ceil_div(rows, ceil_div(rows, isa->mc)), MR);
    const int64_t nc = round_up(ceil_div(cols, ceil_div(cols, isa->nc)), NR);
    float *bbuf = NULL, *abuf = NULL;
    if (!direct_b && (bbuf = scratch(0, (size_t)(pl->kc * nc))) == NULL)
        return MMX_ERR_NOMEM;
    if (!direct_a && (abuf = scratch(1, (size_t)(mc * pl->kc))) == NULL)
        return MMX_ERR_NOMEM;

    for (int64_t jc = n0; jc < n1; jc += nc) {
        const int64_t ncur = min64(nc, n1 - jc);
        for (int64_t pc = 0; pc < pl->k; pc += pl->kc) {
            const int64_t kc = min64(pl->kc, pl->k - pc);
            const float beta = pc == 0 ? pl->beta : 1.0f;
            if (!direct_b)
                isa->pack_b(pl->tb, b_at(pl, pc, jc), pl->ldb, kc, ncur, bbuf);
            for (int64_t ic = m0; ic < m1; ic += mc) {
                const int64_t mcur = min64(mc, m1 - ic);
                if (!direct_a)
                    isa->pack_a(a_at(pl, ic, pc), pl->lda, mcur, kc, abuf);
                for (int64_t jr = 0; jr < ncur; jr += NR) {
                    const int ncols = (int)min64(NR, ncur - jr);
                    const float *bp = direct_b ? b_at(pl, pc, jc + jr) : bbuf + jr * kc;
                    const int64_t b_rs = direct_b ? pl->ldb : mmx__gemm_panel_width(isa, ncols);
                    for (int64_t ir = 0; ir < mcur; ir += MR) {
                        const int nrows = (int)min64(MR, mcur - ir);
                        const float *ap = direct_a ? a_at(pl, ic + ir, pc) : abuf + ir * kc;
                        /* The first pass over an untransposed A in place brings its rows
                         * from memory, each a short stream the hardware prefetcher
                         * barely learns: ask for the next tile's rows meanwhile. */
                        if (direct_a && !pl->ta && jr == 0 && ir + MR < mcur)
                            prefetch_rows(ap + MR * pl->lda, min64(MR, mcur - ir - MR), kc,
                                          pl->lda);
                        isa->kernel(kc, ap, a_rs, a_cs, bp, b_rs,
                                    pl->c + (ic + ir) * pl->ldc + jc + jr, pl->ldc, nrows, ncols,
                                    pl->alpha, beta);
                    }
                }
            }
        }
    }
    return MMX_OK;
}

static int
run_tasks(void *arg, int64_t begin, int64_t end)
{
    const plan *pl = arg;
    for (int64_t t = begin; t < end; t++) {
        int64_t m0 = t / pl->tn * pl->m_step, n0 = t % pl->tn * pl->n_step;
        int64_t m1 = min64(m0 + pl->m_step, pl->m), n1 = min64(n0 + pl->n_step, pl->n);
        if (gemm_block(pl, m0, m1, n0, n1) != MMX_OK) {
            /* No memory for packing: this block still gets the right answer, and C has
             * not been touched yet (buffers are taken before the first write). */
            gemm_naive(pl->ta, pl->tb, m1 - m0, n1 - n0, pl->k, pl->alpha, a_at(pl, m0, 0),
                       pl->lda, b_at(pl, 0, n0), pl->ldb, pl->beta, pl->c + m0 * pl->ldc + n0,
                       pl->ldc);
        }
    }
    return MMX_OK;
}

/* Estimated time of a tm x tn task grid on `threads` threads, in flops: the waves of
 * equal tasks, plus a fraction of one task for the tail (on a shared machine a thread
 * can stall; smaller tasks let the others take up its share). */
static double
grid_cost(const plan *pl, int64_t tm, int64_t tn, int threads)
{
    const mmx__gemm_isa *isa = pl->isa;
    int64_t rows = ceil_div(ceil_div(pl->m, isa->mr), tm) * isa->mr;
    int64_t cols = ceil_div(ceil_div(pl->n, isa->nr), tn) * isa->nr;
    double waves = (double)ceil_div(tm * tn, threads);
    double work = 2.0 * (double)rows * (double)cols * (double)pl->k;
    /* Every task reads its rows of A and columns of B from memory at least once, and
     * packs them where they are not used in place. */
    double read = (double)(rows + cols) * (double)pl->k, pack = 0.0;
    if (!a_in_place(pl, cols)) /* A is packed once per block of nc columns */
        pack += (double)rows * (double)pl->k * (double)ceil_div(cols, isa->nc);
    if (!b_in_place(pl, rows))
        pack += (double)cols * (double)pl->k;
    double task = work + GEMM_READ_COST * read + GEMM_PACK_COST * pack;
    return waves * task + GEMM_TAIL * task;
}

static void
plan_grid(plan *pl, int threads)
{
    const mmx__gemm_isa *isa = pl->isa;
    int64_t tiles_m = ceil_div(pl->m, isa->mr), tiles_n = ceil_div(pl->n, isa->nr);
    int64_t best_m = 1, best_n = 1;
    double flops = 2.0 * (double)pl->m * (double)pl->n * (double)pl->k;
    if (threads > 1 && flops >= GEMM_PARALLEL_MIN) {
        double best = grid_cost(pl, 1, 1, threads);
        int64_t max_tasks = 8 * (int64_t)threads;
        for (int64_t tm = 1; tm <= min64(tiles_m, max_tasks); tm++)
            for (int64_t tn = 1; tn <= min64(tiles_n, max_tasks / tm); tn++) {
                double cost = grid_cost(pl, tm, tn, threads);
                if (cost < best * 0.999) {
                    best = cost;
                    best_m = tm;
                    best_n = tn;
                }
            }
    }
    pl->m_step = ceil_div(tiles_m, best_m) * isa->mr;
    pl->n_step = ceil_div(tiles_n, best_n) * isa->nr;
    pl->tm = ceil_div(pl->m, pl->m_step);
    pl->tn = ceil_div(pl->n, pl->n_step);
}

/* The product on up to `threads` threads (1: the calling thread only). */
static void
gemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
     const float *b, int64_t ldb, float beta, float *c, int64_t ldc, int threads)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0 || alpha == 0.0f) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t jj = 0; jj < n; jj++)
                c[i * ldc + jj] = beta == 0.0f ? 0.0f : beta * c[i * ldc + jj];
        return;
    }
    if (m * n * k <= GEMM_NAIVE_MAX) {
        gemm_naive(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    plan pl = {.isa = mmx__gemm_pick(), .ta = ta, .tb = tb, .m = m, .n = n, .k = k,
               .alpha = alpha, .beta = beta, .a = a, .b = b, .c = c, .lda = lda, .ldb = ldb,
               .ldc = ldc};
    pl.kc = ceil_div(k, ceil_div(k, pl.isa->kc));
    plan_grid(&pl, threads);
    int64_t tasks = pl.tm * pl.tn;
    if (tasks == 1) {
        run_tasks(&pl, 0, 1);
        return;
    }
    mmx__parallel_for(tasks, 1, run_tasks, &pl);
}

static int
pool_threads(void)
{
    return mmx__in_parallel_job() ? 1 : mmx_num_threads();
}

void
mmx_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
          int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, pool_threads());
}

typedef struct batched_job {
    int ta, tb;
    int64_t m, n, k;
    float alpha, beta;
    const float *a, *b;
    float *c;
    int64_t lda, ldb, ldc, sa, sb, sc;
} batched_job;

static int
batched_range(void *arg, int64_t begin, int64_t end)
{
    const batched_job *j = arg;
    for (int64_t i = begin; i < end; i++)
        gemm(j->ta, j->tb, j->m, j->n, j->k, j->alpha, j->a + i * j->sa, j->lda,
             j->b + i * j->sb, j->ldb, j->beta, j->c + i * j->sc, j->ldc, 1);
    return MMX_OK;
}

void
mmx_sgemm_batched(int64_t count, int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
                  const float *a, int64_t lda, int64_t sa, const float *b, int64_t ldb,
                  int64_t sb, float beta, float *c, int64_t ldc, int64_t sc)
{
    if (count <= 0)
        return;
    int threads = pool_threads();
    /* Fewer products than threads: parallel inside each product instead. */
    if (count < threads) {
        for (int64_t i = 0; i < count; i++)
            gemm(ta, tb, m, n, k, alpha, a + i * sa, lda, b + i * sb, ldb, beta, c + i * sc, ldc,
                 threads);
        return;
    }
    batched_job j = {ta, tb, m, n, k, alpha, beta, a, b, c, lda, ldb, ldc, sa, sb, sc};
    mmx__parallel_for(count, 1, batched_range, &j);
}
