/* optim.c: softmax cross-entropy, AdamW and SGD over flat arrays, clipping, schedules.
 *
 * AdamW follows PyTorch's torch.optim.AdamW (decoupled decay p -= lr*wd*p, bias-corrected
 * moments, eps added after the square root); SGD follows torch.optim.SGD (L2 added to the
 * gradient, momentum buffer initialized with the first gradient, optional Nesterov), so
 * the PyTorch twins train the same way. The updates run on the host pool in fixed chunks.
 */
#include "mmx-private.h"

#include <math.h>
#include <string.h>

#include <mmx/mmx-optim.h>

double
mmx_softmax_xent(const float *logits, const int32_t *labels, int64_t batch, int classes,
                 double smoothing, float *grad, int64_t *correct)
{
    double total = 0;
    int64_t right = 0;
    for (int64_t b = 0; b < batch; b++) {
        const float *z = logits + b * classes;
        int32_t y = labels[b];
        int arg = 0;
        double mx = z[0];
        for (int k = 1; k < classes; k++)
            if (z[k] > mx) {
                mx = z[k];
                arg = k;
            }
        right += arg == y;
        double sum = 0;
        for (int k = 0; k < classes; k++)
            sum += exp((double)z[k] - mx);
        double lse = mx + log(sum);
        /* loss = -sum_k t_k log p_k with t = (1-eps) onehot + eps/K */
        double loss = 0;
        for (int k = 0; k < classes; k++) {
            double t = (k == y ? 1.0 - smoothing : 0.0) + smoothing / classes;
            double logp = (double)z[k] - lse;
            loss -= t * logp;
            if (grad)
                grad[b * classes + k] = (float)((exp(logp) - t) / (double)batch);
        }
        total += loss;
    }
    if (correct)
        *correct = right;
    return batch > 0 ? total / (double)batch : 0.0;
}

struct mmx_optim {
    mmx_optim_config c;
    int64_t n_decay, n;
    int64_t steps;
    float *s0, *s1; /* exp_avg, exp_avg_sq / momentum_buffer */
};

mmx_optim *
mmx_optim_new(const mmx_optim_config *config, int64_t n_decay, int64_t n_no_decay)
{
    mmx_optim *o = g_new0(mmx_optim, 1);
    o->c = *config;
    o->n_decay = n_decay;
    o->n = n_decay + n_no_decay;
    o->s0 = g_new0(float, o->n ? o->n : 1);
    if (config->kind == MMX_OPTIM_ADAMW)
        o->s1 = g_new0(float, o->n ? o->n : 1);
    return o;
}

void
mmx_optim_free(mmx_optim *o)
{
    if (o == NULL)
        return;
    g_free(o->s0);
    g_free(o->s1);
    g_free(o);
}

typedef struct step_job {
    mmx_optim *o;
    float *p;
    const float *g;
    double lr, bc1, bc2;
} step_job;

static int
adamw_range(void *arg, int64_t begin, int64_t end)
{
    const step_job *j = arg;
    const mmx_optim *o = j->o;
    const float b1 = (float)o->c.beta1, b2 = (float)o->c.beta2, eps = (float)o->c.eps;
    const float step_size = (float)(j->lr / j->bc1);
    const float inv_sqrt_bc2 = (float)(1.0 / sqrt(j->bc2));
    const float decay = (float)(1.0 - j->lr * o->c.wd);
    float *restrict p = j->p, *restrict m = o->s0, *restrict v = o->s1;
    const float *restrict g = j->g;
    for (int64_t i = begin; i < end; i++) {
        if (i < o->n_decay)
            p[i] *= decay;
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        p[i] -= step_size * m[i] / (sqrtf(v[i]) * inv_sqrt_bc2 + eps);
    }
    return MMX_OK;
}

static int
sgd_range(void *arg, int64_t begin, int64_t end)
{
    const step_job *j = arg;
    const mmx_optim *o = j->o;
    const float mu = (float)o->c.momentum, wd = (float)o->c.wd, lr = (float)j->lr;
    const bool first = o->steps == 0;
    float *restrict p = j->p, *restrict buf = o->s0;
    const float *restrict g = j->g;
    for (int64_t i = begin; i < end; i++) {
        float d = g[i] + (i < o->n_decay ? wd * p[i] : 0.0f);
        if (mu != 0.0f) {
            buf[i] = first ? d : mu * buf[i] + d;
            d = o->c.nesterov ? d + mu * buf[i] : buf[i];
        }
        p[i] -= lr * d;
    }
    return MMX_OK;
}

void
mmx_optim_step(mmx_optim *o, float *params, const float *grads, double lr)
{
    int64_t t0 = mmx__profile_on() ? mmx__profile_now() : 0;
    int64_t t = o->steps + 1;
    step_job j = {o, params, grads, lr, 1.0 - pow(o->c.beta1, (double)t),
                  1.0 - pow(o->c.beta2, (double)t)};
    mmx__parallel_for(o->n, 1 << 15, o->c.kind == MMX_OPTIM_ADAMW ? adamw_range : sgd_range, &j);
    o->steps = t;
    if (t0)
        mmx__profile_other(o->c.kind == MMX_OPTIM_ADAMW ? "optimizer: adamw step"
                                                        : "optimizer: sgd step",
                           mmx__profile_now() - t0);
}

int64_t
mmx_optim_steps(const mmx_optim *o)
{
    return o->steps;
}

void
mmx_optim_set_steps(mmx_optim *o, int64_t steps)
{
    o->steps = steps;
}

int
mmx_optim_n_states(const mmx_optim *o)
{
    return o->c.kind == MMX_OPTIM_ADAMW ? 2 : 1;
}

const char *
mmx_optim_state_name(const mmx_optim *o, int i)
{
    if (o->c.kind == MMX_OPTIM_ADAMW)
        return i == 0 ? "exp_avg" : "exp_avg_sq";
    return "momentum_buffer";
}

float *
mmx_optim_state(mmx_optim *o, int i)
{
    return i == 0 ? o->s0 : o->s1;
}

/* At most NORM_CHUNKS partial sums, on the stack: a training step allocates nothing. */
enum { NORM_MIN_GRAIN = 1 << 14, NORM_CHUNKS = 1024 };

typedef struct norm_job {
    const float *g;
    double *partial;
    int64_t grain;
} norm_job;

static int
norm_range(void *arg, int64_t begin, int64_t end)
{
    const norm_job *j = arg;
    double s = 0;
    for (int64_t i = begin; i < end; i++)
        s += (double)j->g[i] * j->g[i];
    j->partial[begin / j->grain] = s;
    return MMX_OK;
}

typedef struct scale_job {
    float *g;
    float s;
} scale_job;

static int
scale_range(void *arg, int64_t begin, int64_t end)
{
    const scale_job *j = arg;
    for (int64_t i = begin; i < end; i++)
        j->g[i] *= j->s;
    return MMX_OK;
}

double
mmx_clip_grad_norm(float *g, int64_t n, double max_norm)
{
    /* The grain depends only on n, so the sum's rounding does too. */
    int64_t grain = (n + NORM_CHUNKS - 1) / NORM_CHUNKS;
    if (grain < NORM_MIN_GRAIN)
        grain = NORM_MIN_GRAIN;
    int64_t chunks = (n + grain - 1) / grain;
    double partial[NORM_CHUNKS] = {0};
    norm_job j = {g, partial, grain};
    mmx__parallel_for(n, grain, norm_range, &j);
    double sq = 0;
    for (int64_t c = 0; c < chunks; c++) /* combined in chunk order: deterministic */
        sq += partial[c];
    double norm = sqrt(sq);
    if (max_norm > 0 && isfinite(norm) && norm > max_norm) {
        scale_job s = {g, (float)(max_norm / (norm + 1e-6))};
        mmx__parallel_for(n, 1 << 15, scale_range, &s);
    }
    return norm;
}

double
mmx_schedule_lr(const mmx_schedule *s, int64_t step)
{
    if (s->warmup_steps > 0 && step < s->warmup_steps)
        return s->lr * (double)(step + 1) / (double)s->warmup_steps;
    if (s->kind == MMX_SCHEDULE_CONSTANT)
        return s->lr;
    int64_t span = s->total_steps - s->warmup_steps;
    if (span <= 0)
        return s->lr;
    double progress = (double)(step - s->warmup_steps) / (double)span;
    if (progress > 1.0)
        progress = 1.0;
    return s->min_lr + 0.5 * (s->lr - s->min_lr) * (1.0 + cos(G_PI * progress));
}
