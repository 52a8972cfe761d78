/* check-causal.c: the conformance kit's `causal` check, for ops that set MMX_OP_CAUSAL.
 *
 * A causal op (a masked token mixer, causal attention, anything position-wise) promises
 * that output token t depends on input tokens 0..t only. The check runs each kernel on
 * every configuration whose node keeps the flag, then, for every token t > 0, changes
 * every input's token t in every sample (a new random value per element) and runs it
 * again: every output at positions < t must keep its bits. The first output that changes
 * is the failure, with the token changed, the position and the values. It runs only for
 * ops that declare the flag (check.c leaves it out of the report of the others).
 */
#include "check-private.h"

#include <math.h>
#include <string.h>

uint32_t
ck_node_flags(const mmx_op_desc *d, const mmx_node *node)
{
    if (d->struct_size < offsetof(mmx_op_desc, flags) + sizeof d->flags)
        return 0;
    uint32_t f = d->flags;
    if (f != 0 && d->struct_size >= offsetof(mmx_op_desc, node_flags) + sizeof d->node_flags &&
        d->node_flags != NULL)
        f &= d->node_flags(node);
    return f;
}

bool
ck_op_declares_causal(const mmx_op_desc *d)
{
    return d->struct_size >= offsetof(mmx_op_desc, flags) + sizeof d->flags &&
           (d->flags & MMX_OP_CAUSAL) != 0;
}

/* The first output element at a position < t of any sample whose bits differ; -1 if none. */
static int64_t
first_changed(const float *a, const float *b, int64_t batch, int64_t per_sample, int64_t per_token,
              int64_t t)
{
    for (int64_t s = 0; s < batch; s++)
        for (int64_t e = 0; e < t * per_token; e++) {
            int64_t i = s * per_sample + e;
            if (memcmp(&a[i], &b[i], sizeof(float)) != 0 && !(a[i] == 0.0f && b[i] == 0.0f))
                return i;
        }
    return -1;
}

/* Changes (or restores from keep) token t of every input of every sample. */
static void
set_token(ck_run *run, int64_t t, float *const *keep, bool restore, uint64_t key)
{
    for (size_t i = 0; i < run->cfg->n_inputs; i++) {
        const mmx_shape *s = &run->cfg->inputs[i];
        int64_t per_sample = mmx_shape_numel(s), per_token = per_sample / s->dim[0];
        ck_buf_seal(run->in[i], false);
        for (int64_t b = 0; b < run->batch; b++)
            for (int64_t c = 0; c < per_token; c++) {
                int64_t at = b * per_sample + t * per_token + c;
                run->in[i]->data[at] =
                    restore ? keep[i][at] : ck_rand_signed(key, (uint64_t)at) * 3.0f;
            }
        ck_buf_seal(run->in[i], true);
    }
}

void
ck_check_causal(ck_ctx *ctx, ck_result *r)
{
    if (ctx->examples->len == 0) {
        r->status = CK_SKIP;
        ck_summary(r, "no example of the op infers (see the examples check)");
        return;
    }
    int configs = 0;
    int64_t changes = 0;
    for (guint c = 0; c < ctx->examples->len + ctx->variants->len && r->status != CK_FAIL; c++) {
        const ck_config *cfg = c < ctx->examples->len ? ctx->examples->pdata[c]
                                                      : ctx->variants->pdata[c - ctx->examples->len];
        g_autoptr(GError) error = NULL;
        g_autoptr(ck_run) run = ck_run_new(ctx, cfg, 2, mmx_rng_key(0xca05a1ull, c, 0), &error);
        if (run == NULL) {
            ck_fail(r, "%s", error->message);
            break;
        }
        if (!(ck_node_flags(ctx->desc, run->node) & MMX_OP_CAUSAL))
            continue;
        const mmx_shape *out = &run->node->output;
        int64_t N = out->dim[0];
        bool shapes_ok = out->rank >= 2;
        for (size_t i = 0; i < cfg->n_inputs; i++)
            shapes_ok = shapes_ok && cfg->inputs[i].rank >= 1 && cfg->inputs[i].dim[0] == N;
        if (!shapes_ok) {
            g_autofree char *os = mmx_shape_to_string(out);
            ck_fail(r, "%s: the node declares MMX_OP_CAUSAL but its output %s and inputs do not "
                       "share a first (token) dimension",
                    cfg->label, os);
            break;
        }
        configs++;
        int64_t per_sample = mmx_shape_numel(out), per_token = per_sample / N;
        float *keep[MMX_MAX_INPUTS] = {0};
        for (size_t i = 0; i < cfg->n_inputs; i++)
            keep[i] = ck_copy(run->in[i]->data, run->in[i]->n);
        for (guint k = 0; k < ctx->kernels->len && r->status != CK_FAIL; k++) {
            const mmx_kernel_desc *kd = ctx->kernels->pdata[k];
            if (!ck_forward(run, kd, &error)) {
                ck_fail(r, "kernel %s on %s: %s", kd->name, cfg->label, error->message);
                break;
            }
            g_autofree float *base = ck_copy(run->out->data, run->out->n);
            for (int64_t t = 1; t < N && r->status != CK_FAIL; t++) {
                set_token(run, t, keep, false, mmx_rng_key(0xca05a2ull, c, (uint64_t)t));
                bool ok = ck_forward(run, kd, &error);
                set_token(run, t, keep, true, 0);
                if (!ok) {
                    ck_fail(r, "kernel %s on %s: %s", kd->name, cfg->label, error->message);
                    break;
                }
                changes++;
                int64_t at = first_changed(base, run->out->data, run->batch, per_sample,
                                           per_token, t);
                if (at >= 0) {
                    g_autofree char *where = ck_run_where(run, run->out, at);
                    ck_fail(r,
                            "kernel %s on %s: changing input token %" G_GINT64_FORMAT
                            " changed the output at %s (token %" G_GINT64_FORMAT
                            ", before it): %.9g, was %.9g",
                            kd->name, cfg->label, t, where, (at % per_sample) / per_token,
                            (double)run->out->data[at], (double)base[at]);
                    ck_detail(r, "hint: an op with MMX_OP_CAUSAL must not read later tokens: mask "
                                 "the upper triangle (token t sees tokens <= t), or do not set "
                                 "the flag for this node (node_flags)");
                }
            }
        }
        for (size_t i = 0; i < cfg->n_inputs; i++)
            g_free(keep[i]);
    }
    json_object_set_new(r->data, "configs", json_integer(configs));
    json_object_set_new(r->data, "changes", json_integer((json_int_t)changes));
    if (r->status == CK_FAIL)
        return;
    if (configs == 0) {
        r->status = CK_SKIP;
        ck_summary(r, "the op declares MMX_OP_CAUSAL but no example configures a causal node");
        return;
    }
    ck_summary(r,
               "%d config%s, every kernel: changing input token t never changed an output at a "
               "position < t (%" G_GINT64_FORMAT " changes)",
               configs, configs == 1 ? "" : "s", changes);
}
