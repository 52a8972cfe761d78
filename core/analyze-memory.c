/* analyze-memory.c: the key-value memory view of a model's channel mixers
 * (mmx_analyze_memory, mmx-analyze.h).
 *
 * Read as a memory (MetaMixer; Geva et al. 2021 for the FFN), each hidden unit j of a
 * mixer's key is a key pattern, and its pre-activation h_j at a token says how strongly
 * that token matches it. Over the test images we keep, per key, the tokens with the
 * largest h_j (the image patches they cover are the key's "top-activating patches"), how
 * often h_j is positive, and its mean positive part u_j. A key that is never positive on
 * any token of any image is dead; the usage entropy H = -sum p_j log p_j of p_j = u_j /
 * sum u says how evenly the keys share the work (exp(H): the effective number of keys).
 */
#include "analyze-private.h"

#include <math.h>
#include <string.h>

typedef struct hit {
    float h;
    int64_t image;
    int32_t token;
} hit;

typedef struct keys {
    char *mixer;
    int value; /* the key node's output [tokens, hid] on a token grid */
    int64_t tokens, hid;
    int gh, gw;
    hit *top; /* [hid][ntop], largest first */
    double *usage;
    int64_t *positive;
} keys;

static void
keys_free(gpointer p)
{
    keys *k = p;
    g_free(k->mixer);
    g_free(k->top);
    g_free(k->usage);
    g_free(k->positive);
    g_free(k);
}

typedef struct memory_run {
    GPtrArray *mixers;
    int ntop;
} memory_run;

static void
insert(hit *top, int ntop, hit x)
{
    if (x.h <= top[ntop - 1].h)
        return;
    int i = ntop - 1;
    while (i > 0 && top[i - 1].h < x.h) {
        top[i] = top[i - 1];
        i--;
    }
    top[i] = x;
}

/* In image order, one thread: ties keep the first image and token. */
static void
memory_batch(const mmx_exec *ex, int64_t first, int64_t nb, void *user)
{
    memory_run *r = user;
    for (guint m = 0; m < r->mixers->len; m++) {
        keys *k = g_ptr_array_index(r->mixers, m);
        const float *h = mmx__exec_value(ex, k->value);
        for (int64_t s = 0; s < nb; s++)
            for (int64_t t = 0; t < k->tokens; t++) {
                const float *row = h + (s * k->tokens + t) * k->hid;
                for (int64_t j = 0; j < k->hid; j++) {
                    if (row[j] > 0) {
                        k->usage[j] += row[j];
                        k->positive[j]++;
                    }
                    insert(k->top + j * r->ntop, r->ntop, (hit){row[j], first + s, (int32_t)t});
                }
            }
    }
}

json_t *
mmx_analyze_memory(mmx_model *model, const mmx_dataset *ds, const mmx_norm_stats *stats,
                   int64_t limit, int ntop, GError **error)
{
    g_return_val_if_fail(model != NULL && ds != NULL && stats != NULL && ntop > 0, NULL);
    int64_t total = mmx__analyze_image_count(model, ds, limit, error);
    if (total < 1)
        return NULL;
    const mmx_graph *g = mmx_model_graph(model);
    int H = mmx_dataset_height(ds), W = mmx_dataset_width(ds);
    g_autoptr(GPtrArray) mixers = g_ptr_array_new_with_free_func(keys_free);
    for (int i = 0; i < mmx_graph_n_nodes(g); i++) {
        const mmx_graph_node *key = mmx_graph_get_node(g, i);
        const mmx_shape *sh = &mmx_graph_get_value(g, key->output)->shape;
        if (!g_str_has_suffix(key->name, ".key") || sh->rank != 2 || sh->height < 1 ||
            (int64_t)sh->height * sh->width != sh->dim[0] || H % sh->height || W % sh->width)
            continue; /* keys of channel mixers on a token grid that tiles the image */
        keys *k = g_new0(keys, 1);
        k->mixer = g_strndup(key->name, strlen(key->name) - strlen(".key"));
        k->value = key->output;
        k->tokens = sh->dim[0];
        k->hid = sh->dim[1];
        k->gh = sh->height;
        k->gw = sh->width;
        k->top = g_new(hit, (gsize)(k->hid * ntop));
        for (int64_t j = 0; j < k->hid * ntop; j++)
            k->top[j] = (hit){-INFINITY, -1, -1};
        k->usage = g_new0(double, (gsize)k->hid);
        k->positive = g_new0(int64_t, (gsize)k->hid);
        g_ptr_array_add(mixers, k);
    }
    if (mixers->len == 0) {
        mmx__analyze_refuse(error,
                            "the model has no mixer whose key reads a grid of tokens "
                            "tiling the %dx%d images (a channel mixer on patches)",
                            H, W);
        return NULL;
    }
    memory_run r = {mixers, ntop};
    if (!mmx__analyze_images(model, ds, stats, total, memory_batch, &r, error))
        return NULL;
    json_t *list = json_array();
    for (guint m = 0; m < mixers->len; m++) {
        keys *k = g_ptr_array_index(mixers, m);
        double sum = 0, h = 0;
        json_t *dead = json_array(), *usage = json_array(), *top = json_array();
        for (int64_t j = 0; j < k->hid; j++) {
            sum += k->usage[j];
            if (k->positive[j] == 0)
                json_array_append_new(dead, json_integer((json_int_t)j));
        }
        for (int64_t j = 0; j < k->hid; j++) {
            double p = sum > 0 ? k->usage[j] / sum : 0;
            if (p > 0)
                h -= p * log(p);
            json_array_append_new(usage, json_real(k->usage[j] / (double)(total * k->tokens)));
            json_t *hits = json_array();
            for (int t = 0; t < ntop; t++) {
                const hit *x = &k->top[j * ntop + t];
                if (x->image >= 0)
                    json_array_append_new(hits, json_pack("{s:I, s:i, s:f}", "image",
                                                          (json_int_t)x->image, "token", x->token,
                                                          "h", (double)x->h));
            }
            json_array_append_new(top, hits);
        }
        json_array_append_new(
            list, json_pack("{s:s, s:I, s:[i,i], s:[i,i], s:o, s:f, s:f, s:o, s:o}", "mixer",
                            k->mixer, "keys", (json_int_t)k->hid, "grid", k->gh, k->gw, "patch",
                            H / k->gh, W / k->gw, "dead", dead, "usage_entropy", h,
                            "effective_keys", exp(h), "usage", usage, "top", top));
    }
    return json_pack("{s:s, s:I, s:o}", "data", mmx_dataset_name(ds), "inputs", (json_int_t)total,
                     "mixers", list);
}
