/* test-linear.c: the linear plugin against a naive double-precision reference (both axes,
 * bias, transpose, causal), gradients by finite differences, every ISA kernel against the
 * scalar one on odd sizes, accumulation and overwrite semantics, the causal mask's zero
 * gradient, thread-count independence, and each refusal with its message. */
#include <math.h>
#include <string.h>

#include <mmx/mmx-check.h>

#include "op-harness.h"

/* The attributes as the test reads them back from the node (schema order). */
typedef struct lin_cfg {
    int token, transpose, causal, bias;
    int64_t in, out, other;
} lin_cfg;

static lin_cfg
cfg_of(const oph *h)
{
    const mmx_op *op = h->op;
    const mmx_attr_value *at = h->node->attrs;
    const mmx_shape *x = &h->node->inputs[0];
    lin_cfg c = {.token = at[mmx_op_attr_index(op, "axis")].i == 1,
                 .transpose = (int)at[mmx_op_attr_index(op, "transpose")].i,
                 .causal = (int)at[mmx_op_attr_index(op, "causal")].i,
                 .bias = (int)at[mmx_op_attr_index(op, "bias")].i};
    int64_t numel = mmx_shape_numel(x);
    if (c.token) {
        c.in = x->dim[0];
        c.other = x->dim[1];
    } else {
        c.in = x->dim[x->rank - 1];
        c.other = numel / c.in;
    }
    int64_t out = at[mmx_op_attr_index(op, "out")].i;
    c.out = out > 0 ? out : c.in;
    return c;
}

/* Whether causal keeps (o, i): input i at a position <= output o's, a side of size
 * e x min(in, out) holding e rows per position (e = 1: the square map's i <= o). */
static bool
causal_keeps(const lin_cfg *c, int64_t o, int64_t i)
{
    int64_t n = c->in < c->out ? c->in : c->out;
    return i / (c->in / n) <= o / (c->out / n);
}

/* W_eff[o][i] as the maths defines it: stored [out, in], or [in, out] transposed; zero
 * above the (block) diagonal when causal. */
static double
weff(const lin_cfg *c, const float *w, int64_t o, int64_t i)
{
    if (c->causal && !causal_keeps(c, o, i))
        return 0.0;
    return c->transpose ? w[i * c->out + o] : w[o * c->in + i];
}

static void
ref_forward(const oph *h, double *y)
{
    lin_cfg c = cfg_of(h);
    const float *x = h->in[0], *w = h->param[0], *b = h->param[1];
    for (int64_t s = 0; s < h->batch; s++)
        for (int64_t r = 0; r < c.other; r++)
            for (int64_t o = 0; o < c.out; o++) {
                double acc = c.bias ? b[o] : 0.0;
                for (int64_t i = 0; i < c.in; i++) {
                    /* channel: x[s][r][i] -> y[s][r][o]; token: x[s][i][r] -> y[s][o][r] */
                    double xv =
                        c.token ? x[(s * c.in + i) * c.other + r] : x[(s * c.other + r) * c.in + i];
                    acc += weff(&c, w, o, i) * xv;
                }
                int64_t at =
                    c.token ? (s * c.out + o) * c.other + r : (s * c.other + r) * c.out + o;
                y[at] = acc;
            }
}

static oph *
make(mmx_registry *reg, const char *attrs, mmx_shape in, int64_t batch)
{
    g_autoptr(GError) error = NULL;
    oph *h = oph_new(reg, "linear", attrs, &in, 1, batch, &error);
    ck_assert_msg(h != NULL, "%s: %s", attrs ? attrs : "{}", error ? error->message : "?");
    return h;
}

typedef struct lin_case {
    const char *attrs;
    mmx_shape in;
} lin_case;

static lin_case
lin_case_at(int i)
{
    int64_t d3[] = {2, 3, 7}, d1[] = {37}, d2[] = {6, 7}, d2b[] = {5, 9};
    switch (i) {
    case 0:
        return (lin_case){"{\"out\": 13}", mmx_shape_tokens(3, 3, 7)};
    case 1:
        return (lin_case){"{\"out\": 5, \"bias\": false}", mmx_shape_make(1, d1)};
    case 2:
        return (lin_case){"{\"out\": 9, \"transpose\": true}", mmx_shape_make(3, d3)};
    case 3:
        return (lin_case){"{\"axis\": \"token\", \"out\": 5}", mmx_shape_tokens(3, 3, 7)};
    case 4:
        return (lin_case){"{\"axis\": \"token\", \"transpose\": true, \"out\": 4}",
                          mmx_shape_make(2, d2)};
    case 5:
        return (lin_case){"{\"axis\": \"token\", \"causal\": true}", mmx_shape_make(2, d2)};
    case 6:
        return (lin_case){"{\"axis\": \"token\", \"causal\": true, \"transpose\": true}",
                          mmx_shape_make(2, d2b)};
    case 7:
        return (lin_case){"{\"axis\": \"token\", \"causal\": true, \"bias\": false}",
                          mmx_shape_tokens(2, 3, 5)};
    case 8: /* the expanded masked mixer's first layer: 3 rows per token */
        return (lin_case){"{\"axis\": \"token\", \"causal\": true, \"out\": 18}",
                          mmx_shape_tokens(2, 3, 5)};
    default: /* and its second: 3 rows per token mapped back, stored transposed */
        return (lin_case){"{\"axis\": \"token\", \"causal\": true, \"out\": 2, \"transpose\": true}",
                          mmx_shape_tokens(2, 3, 5)};
    }
}
#define N_LIN_CASES 10

START_TEST(test_forward_matches_reference)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    lin_case lc = lin_case_at(_i);
    /* batch 37 for the token axis cuts the gradient into several chunks */
    oph *h = make(reg, lc.attrs, lc.in, 3);
    oph_forward_ok(h);
    double *want = g_new(double, h->out_n);
    ref_forward(h, want);
    for (int64_t e = 0; e < h->out_n; e++)
        ck_assert_msg(fabs(h->out[e] - want[e]) <= 1e-5 * (1.0 + fabs(want[e])),
                      "%s: y[%lld] = %.7g, want %.7g", lc.attrs, (long long)e, h->out[e], want[e]);
    g_free(want);
    oph_free(h);
}
END_TEST

START_TEST(test_gradients_finite_differences)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    lin_case lc = lin_case_at(_i);
    oph *h = make(reg, lc.attrs, lc.in, 2);
    /* The op is bilinear in (x, W): central differences are exact up to rounding. */
    oph_check_grads(h, 0.05, 2e-4, 2e-3, 24);
    oph_free(h);
}
END_TEST

/* Backward over many samples (several chunks on the token axis, several row chunks of the
 * bias gradient on the channel axis) against sums the test does itself. */
START_TEST(test_parameter_gradients_large_batch)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    const char *attrs[] = {"{\"axis\": \"token\", \"out\": 4}",
                           "{\"axis\": \"token\", \"causal\": true}", "{\"out\": 3}"};
    for (int a = 0; a < 3; a++) {
        oph *h = make(reg, attrs[a], mmx_shape_tokens(4, 5, 3), 37);
        lin_cfg c = cfg_of(h);
        oph_forward_ok(h);
        oph_backward_ok(h);
        for (int64_t o = 0; o < c.out; o++) {
            double gb = 0.0;
            for (int64_t s = 0; s < h->batch; s++)
                for (int64_t r = 0; r < c.other; r++)
                    gb += h->gout[c.token ? (s * c.out + o) * c.other + r
                                          : (s * c.other + r) * c.out + o];
            ck_assert_msg(fabs(h->gparam[1][o] - gb) <= 1e-4 * (1 + fabs(gb)),
                          "%s: grad bias[%lld] = %g, want %g", attrs[a], (long long)o,
                          h->gparam[1][o], gb);
            for (int64_t i = 0; i < c.in; i++) {
                double gw = 0.0;
                for (int64_t s = 0; s < h->batch; s++)
                    for (int64_t r = 0; r < c.other; r++) {
                        double gy = h->gout[c.token ? (s * c.out + o) * c.other + r
                                                    : (s * c.other + r) * c.out + o];
                        double xv = h->in[0][c.token ? (s * c.in + i) * c.other + r
                                                     : (s * c.other + r) * c.in + i];
                        gw += gy * xv;
                    }
                if (c.causal && i > o)
                    gw = 0.0;
                double got = h->gparam[0][o * c.in + i];
                ck_assert_msg(fabs(got - gw) <= 1e-4 * (1 + fabs(gw)),
                              "%s: grad W[%lld][%lld] = %g, want %g", attrs[a], (long long)o,
                              (long long)i, got, gw);
            }
        }
        oph_free(h);
    }
}
END_TEST

START_TEST(test_isa_kernels_match_scalar)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    const int64_t sizes[] = {1, 7, 37, 129};
    const char *attrs[] = {"{\"out\": 19}", "{\"transpose\": true, \"out\": 33}",
                           "{\"axis\": \"token\", \"out\": 7}",
                           "{\"axis\": \"token\", \"causal\": true, \"transpose\": true}"};
    for (int a = 0; a < 4; a++)
        for (int s = 0; s < 4; s++) {
            mmx_shape in = mmx_shape_tokens(3, 3, sizes[s]);
            /* batch 33: several chunks for the token-axis reductions */
            int n = oph_compare_isas(reg, "linear", attrs[a], &in, 1, 33, 1, 2e-5);
            ck_assert_int_ge(n, 1 + (mmx_cpu_isa_detected() >= MMX_ISA_AVX2) +
                                    (mmx_cpu_isa_detected() >= MMX_ISA_AVX512));
        }
}
END_TEST

START_TEST(test_isa_cap_picks_the_kernel)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    static const char *const names[] = {"linear_scalar", "linear_avx2", "linear_avx512"};
    for (int isa = MMX_ISA_SCALAR; isa <= (int)mmx_cpu_isa_detected(); isa++) {
        mmx_set_isa_cap((mmx_isa)isa);
        oph *h = make(reg, NULL, mmx_shape_tokens(2, 2, 7), 1);
        ck_assert_str_eq(mmx_op_instance_kernel(h->inst)->name, names[isa]);
        oph_free(h);
    }
}
END_TEST

/* Backward adds into parameter gradients (a tied weight gets every use) and overwrites
 * input gradients (the harness pre-fills them with NaN). */
START_TEST(test_accumulate_and_overwrite)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    const char *attrs[] = {"{\"out\": 5}", "{\"axis\": \"token\", \"out\": 6, \"transpose\": true}",
                           "{\"axis\": \"token\", \"causal\": true}"};
    for (int a = 0; a < 3; a++) {
        oph *h = make(reg, attrs[a], mmx_shape_tokens(2, 3, 7), 19);
        oph_forward_ok(h);
        oph_backward_ok(h);
        float *g1 = g_memdup2(h->gin[0], (size_t)h->in_n[0] * sizeof(float));
        float *w1 = g_memdup2(h->gparam[0], (size_t)h->param_n[0] * sizeof(float));
        float *b1 = g_memdup2(h->gparam[1], (size_t)h->param_n[1] * sizeof(float));
        oph_backward_ok(h);
        for (int64_t e = 0; e < h->in_n[0]; e++)
            ck_assert_float_eq(h->gin[0][e], g1[e]);
        for (int64_t e = 0; e < h->param_n[0]; e++)
            ck_assert_float_eq_tol(h->gparam[0][e], 2 * w1[e], 1e-5 * (1 + fabsf(w1[e])));
        for (int64_t e = 0; e < h->param_n[1]; e++)
            ck_assert_float_eq_tol(h->gparam[1][e], 2 * b1[e], 1e-5 * (1 + fabsf(b1[e])));
        /* grad_in NULL and grad_param NULL are skipped */
        float *keep_gin = h->gin[0];
        h->gin[0] = NULL;
        float *keep = h->gparam[0];
        h->gparam[0] = NULL;
        oph_args(h);
        g_autoptr(GError) error = NULL;
        ck_assert(mmx_op_instance_backward(h->inst, &h->args, &error));
        for (int64_t e = 0; e < h->param_n[1]; e++)
            ck_assert_float_eq_tol(h->gparam[1][e], 3 * b1[e], 1e-5 * (1 + fabsf(b1[e])));
        h->gin[0] = keep_gin;
        h->gparam[0] = keep;
        g_free(g1);
        g_free(w1);
        g_free(b1);
        oph_free(h);
    }
}
END_TEST

/* Causal: entries above the diagonal are never read and never receive gradient. */
START_TEST(test_causal_mask)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    const char *attrs[] = {"{\"axis\": \"token\", \"causal\": true}",
                           "{\"axis\": \"token\", \"causal\": true, \"transpose\": true}"};
    for (int a = 0; a < 2; a++) {
        oph *h = make(reg, attrs[a], mmx_shape_tokens(3, 3, 5), 20);
        lin_cfg c = cfg_of(h);
        int64_t n = c.in;
        oph_forward_ok(h);
        float *y1 = g_memdup2(h->out, (size_t)h->out_n * sizeof(float));
        /* masked: effective (t, s) with s > t; stored at [t][s], or [s][t] transposed */
        for (int64_t t = 0; t < n; t++)
            for (int64_t s = t + 1; s < n; s++)
                h->param[0][c.transpose ? s * n + t : t * n + s] = 1e6f;
        oph_forward_ok(h);
        for (int64_t e = 0; e < h->out_n; e++)
            ck_assert_float_eq(h->out[e], y1[e]);
        /* token 0's output depends on token 0's input only */
        for (int64_t ch = 0; ch < c.other; ch++)
            h->in[0][(1 * n + 5) * c.other + ch] += 1.0f; /* sample 1, token 5 */
        oph_forward_ok(h);
        for (int64_t t = 0; t < 5; t++)
            for (int64_t ch = 0; ch < c.other; ch++)
                ck_assert_float_eq(h->out[(1 * n + t) * c.other + ch],
                                   y1[(1 * n + t) * c.other + ch]);
        oph_backward_ok(h);
        for (int64_t t = 0; t < n; t++)
            for (int64_t s = 0; s < n; s++) {
                float g = h->gparam[0][c.transpose ? s * n + t : t * n + s];
                if (s > t)
                    ck_assert_msg(g == 0.0f, "%s: masked (%lld, %lld) got gradient %g", attrs[a],
                                  (long long)t, (long long)s, g);
                else
                    ck_assert_msg(g != 0.0f, "%s: kept (%lld, %lld) got no gradient", attrs[a],
                                  (long long)t, (long long)s);
            }
        g_free(y1);
        oph_free(h);
    }
}
END_TEST

/* Forward and backward run inside a chunk of a host parallel_for, where every nested
 * parallel_for (the op's and the sgemm's) runs inline: the single-threaded result. */
typedef struct inline_run {
    oph *h;
    bool ok;
} inline_run;

static int
run_in_chunk(void *arg, int64_t begin, int64_t end)
{
    (void)end;
    inline_run *r = arg;
    if (begin == 0) /* no ck_assert here: this may be a worker thread */
        r->ok = oph_forward(r->h, NULL) && oph_backward(r->h, NULL);
    return MMX_OK;
}

static void
run_single_threaded(oph *h)
{
    inline_run r = {h, false};
    ck_assert_int_eq(mmx_host_get()->parallel_for(NULL, 2, 1, run_in_chunk, &r), MMX_OK);
    ck_assert(r.ok);
}

/* The same bits on the test's 2 threads (MMX_THREADS) and on one: reductions are
 * chunked by shape, not by thread. */
START_TEST(test_thread_count_independent)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    const char *attrs[] = {"{\"out\": 70}", "{\"axis\": \"token\", \"out\": 40}"};
    ck_assert_int_ge(mmx_num_threads(), 2);
    for (int a = 0; a < 2; a++) {
        oph *h = make(reg, attrs[a], mmx_shape_tokens(6, 6, 40), 24);
        oph_forward_ok(h);
        oph_backward_ok(h);
        float *y = g_memdup2(h->out, (size_t)h->out_n * sizeof(float));
        float *gw = g_memdup2(h->gparam[0], (size_t)h->param_n[0] * sizeof(float));
        float *gb = g_memdup2(h->gparam[1], (size_t)h->param_n[1] * sizeof(float));
        memset(h->gparam[0], 0, (size_t)h->param_n[0] * sizeof(float));
        memset(h->gparam[1], 0, (size_t)h->param_n[1] * sizeof(float));
        run_single_threaded(h);
        ck_assert_msg(memcmp(y, h->out, (size_t)h->out_n * sizeof(float)) == 0, "%s: y", attrs[a]);
        ck_assert_msg(memcmp(gw, h->gparam[0], (size_t)h->param_n[0] * sizeof(float)) == 0,
                      "%s: grad weight depends on the thread count", attrs[a]);
        ck_assert_msg(memcmp(gb, h->gparam[1], (size_t)h->param_n[1] * sizeof(float)) == 0,
                      "%s: grad bias depends on the thread count", attrs[a]);
        g_free(y);
        g_free(gw);
        g_free(gb);
        oph_free(h);
    }
}
END_TEST

START_TEST(test_shapes_params_cost)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    /* channel on a grid keeps the grid; the weight is [out, in] (PyTorch's layout) */
    oph *h = make(reg, "{\"out\": 13}", mmx_shape_tokens(3, 4, 7), 1);
    ck_assert(mmx_shape_equal(&h->node->output,
                              &(mmx_shape){.rank = 2, .height = 3, .width = 4, .dim = {12, 13}}));
    ck_assert_int_eq(h->node->params[0].shape.dim[0], 13);
    ck_assert_int_eq(h->node->params[0].shape.dim[1], 7);
    ck_assert_int_eq(h->node->params[0].init, MMX_INIT_TRUNC_NORMAL);
    ck_assert(h->node->params[0].init_a == 0.02);
    ck_assert_int_eq(h->node->params[1].init, MMX_INIT_ZEROS);
    mmx_cost cost;
    mmx_op_instance_cost(h->inst, &cost);
    ck_assert(cost.flops == 2.0 * 12 * 7 * 13 + 12 * 13);
    oph_free(h);
    /* token axis with out != N drops the grid; out == N keeps it */
    h = make(reg, "{\"axis\": \"token\", \"out\": 5}", mmx_shape_tokens(3, 3, 7), 1);
    ck_assert_int_eq(h->node->output.dim[0], 5);
    ck_assert_int_eq(h->node->output.height, 0);
    ck_assert_int_eq(h->node->params[0].shape.dim[0], 5);
    ck_assert_int_eq(h->node->params[0].shape.dim[1], 9);
    mmx_op_instance_cost(h->inst, &cost);
    ck_assert(cost.flops == 2.0 * 5 * 9 * 7 + 5 * 7);
    oph_free(h);
    h = make(reg,
             "{\"axis\": \"token\", \"transpose\": true, \"bias\": false, \"init\": \"torch\"}",
             mmx_shape_tokens(3, 3, 7), 1);
    ck_assert_int_eq(h->node->output.height, 3);
    ck_assert_int_eq(h->node->params[1].shape.rank, 0); /* no bias */
    ck_assert_ptr_null(h->param[1]);
    ck_assert_int_eq(h->node->params[0].init, MMX_INIT_KAIMING_UNIFORM);
    ck_assert_int_eq(h->node->params[0].fan_in, 9);
    oph_free(h);
    /* a vector (the head) */
    h = make(reg, "{\"out\": 10, \"init\": \"torch\"}", mmx_shape_vector(64), 4);
    ck_assert_int_eq(h->node->output.rank, 1);
    ck_assert_int_eq(h->node->output.dim[0], 10);
    ck_assert_int_eq(h->node->params[1].init, MMX_INIT_UNIFORM);
    ck_assert(fabs(h->node->params[1].init_b - 0.125) < 1e-12);
    oph_free(h);
}
END_TEST

START_TEST(test_refusals)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    int64_t d3[] = {2, 5, 5};
    mmx_shape s3 = mmx_shape_make(3, d3);
    g_autofree char *e1 = oph_refusal(reg, "linear", "{\"axis\": \"token\"}", &s3, 1);
    ck_assert_contains(e1, "test.node: linear with axis=token mixes the N tokens of an [N, C] "
                           "input; got [2, 5, 5] (rank 3)");
    ck_assert_contains(e1, "linear.so]");
    mmx_shape g = mmx_shape_tokens(3, 3, 4);
    g_autofree char *e2 = oph_refusal(reg, "linear", "{\"causal\": true}", &g, 1);
    ck_assert_contains(e2, "linear: causal masks the token map (token t sees tokens <= t) and "
                           "needs axis=token; got axis=channel on [9, 4] (3x3 grid)");
    g_autofree char *e3 =
        oph_refusal(reg, "linear", "{\"axis\": \"token\", \"causal\": true, \"out\": 4}", &g, 1);
    ck_assert_contains(e3, "linear: causal needs out == N (a square lower-triangular map over the "
                           "9 tokens of [9, 4] (3x3 grid)), a multiple of N (each token expanded "
                           "to out / N rows) or a divisor of N (N / out rows per token mapped "
                           "back); got out = 4");
    g_autofree char *e4 = oph_attr_errors(reg, "linear", "{\"out\": -1}");
    ck_assert_contains(e4, "attribute 'out' of op 'linear': expected an integer in [0, 16777216], "
                           "got -1");
    g_autofree char *e5 = oph_attr_errors(reg, "linear", "{\"axis\": \"tokens\"}");
    ck_assert_contains(e5,
                       "expected one of channel, token, got \"tokens\" (did you mean 'token'?)");
    g_autofree char *e6 = oph_attr_errors(reg, "linear", "{\"init\": \"kaiming\"}");
    ck_assert_contains(e6, "expected one of trunc_normal, torch, xavier_uniform");
    /* a grid that does not hold the tokens */
    mmx_shape skew = mmx_shape_tokens(5, 5, 4);
    skew.dim[0] = 26;
    g_autofree char *eg_linear = oph_refusal(reg, "linear", NULL, &skew, 1);
    ck_assert_contains(
        eg_linear,
        "linear: the input [26, 4] (5x5 grid) has a token grid 5x5 that does not match it (a grid "
        "belongs to an [N, C] shape with height x width = N)");
}
END_TEST

/* The conformance kit (quick options) passes on the whole plugin. */
START_TEST(test_conformance_kit)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    const mmx_plugin *plugin = mmx_registry_find_plugin(reg, "linear");
    ck_assert_ptr_nonnull(plugin);
    g_autoptr(mmx_check_report) r = mmx_check_run(reg, plugin, &(mmx_check_options){.quick = true});
    mmx_test_assert_check_passed(r); /* prints the whole report on failure */
}
END_TEST

/* random_mixing (RandFormer): y = softmax_rows(U) x over tokens against the test's own
 * sums; the matrix is a frozen U(0, 1) buffer; x's gradient is R^T gy. */
START_TEST(test_random_mixing)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    g_autoptr(GError) error = NULL;
    mmx_shape in = mmx_shape_tokens(2, 3, 4); /* N = 6 tokens, C = 4 */
    oph *h = oph_new(reg, "random_mixing", NULL, &in, 1, 3, &error);
    ck_assert_msg(h != NULL, "%s", error ? error->message : "");
    ck_assert(mmx_shape_equal(&h->node->output, &in));
    ck_assert_int_eq(h->node->params[0].shape.dim[0], 6);
    ck_assert_int_eq(h->node->params[0].shape.dim[1], 6);
    ck_assert_int_eq(h->node->params[0].init, MMX_INIT_UNIFORM);
    ck_assert(h->node->params[0].init_a == 0.0 && h->node->params[0].init_b == 1.0);
    const mmx_op *op = mmx_registry_find_op(reg, "random_mixing");
    ck_assert(mmx_op_get_desc(op)->params[0]->flags & MMX_PARAM_BUFFER);
    oph_forward_ok(h);
    const float *u = h->param[0];
    double r[6][6];
    for (int i = 0; i < 6; i++) {
        double sum = 0;
        for (int j = 0; j < 6; j++)
            sum += r[i][j] = exp((double)u[i * 6 + j]);
        for (int j = 0; j < 6; j++)
            r[i][j] /= sum;
    }
    for (int64_t s = 0; s < 3; s++)
        for (int t = 0; t < 6; t++)
            for (int c = 0; c < 4; c++) {
                double want = 0;
                for (int k = 0; k < 6; k++)
                    want += r[t][k] * h->in[0][(s * 6 + k) * 4 + c];
                float got = h->out[(s * 6 + t) * 4 + c];
                ck_assert_msg(fabs(got - want) <= 1e-5 * (1 + fabs(want)), "y %g vs %g", got, want);
            }
    oph_backward_ok(h);
    for (int64_t s = 0; s < 3; s++)
        for (int t = 0; t < 6; t++)
            for (int c = 0; c < 4; c++) {
                double gwant = 0;
                for (int k = 0; k < 6; k++)
                    gwant += r[k][t] * h->gout[(s * 6 + k) * 4 + c];
                float got = h->gin[0][(s * 6 + t) * 4 + c];
                ck_assert_msg(fabs(got - gwant) <= 1e-5 * (1 + fabs(gwant)), "gx %g vs %g", got,
                              gwant);
            }
    mmx_cost cost;
    mmx_op_instance_cost(h->inst, &cost);
    ck_assert(cost.flops == 2.0 * 6 * 6 * 4);
    oph_free(h);
    int64_t d3[] = {2, 3, 4};
    g_autofree char *m3 = oph_refusal(reg, "random_mixing", NULL,
                                      (mmx_shape[]){mmx_shape_make(3, d3)}, 1);
    ck_assert_contains(m3, "random_mixing mixes the N tokens of an [N, C] input; got");
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("linear");
    TCase *m = tcase_create("maths");
    tcase_add_loop_test(m, test_forward_matches_reference, 0, N_LIN_CASES);
    tcase_add_loop_test(m, test_gradients_finite_differences, 0, N_LIN_CASES);
    tcase_add_test(m, test_parameter_gradients_large_batch);
    tcase_add_test(m, test_causal_mask);
    suite_add_tcase(s, m);
    TCase *k = tcase_create("kernels");
    tcase_add_test(k, test_isa_kernels_match_scalar);
    tcase_add_test(k, test_isa_cap_picks_the_kernel);
    tcase_add_test(k, test_accumulate_and_overwrite);
    tcase_add_test(k, test_thread_count_independent);
    suite_add_tcase(s, k);
    TCase *d = tcase_create("descriptor");
    tcase_add_test(d, test_shapes_params_cost);
    tcase_add_test(d, test_refusals);
    tcase_add_test(d, test_random_mixing);
    suite_add_tcase(s, d);
    TCase *kit = tcase_create("conformance");
    tcase_add_test(kit, test_conformance_kit);
    suite_add_tcase(s, kit);
    return mmx_test_run(s);
}
