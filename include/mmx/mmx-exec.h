/* mmx-exec.h: models (parameter memory) and executors (planned forward/backward).
 *
 *     g_autoptr(mmx_model) model = mmx_model_new(graph, seed, &error);
 *     g_autoptr(mmx_exec) ex = mmx_exec_new(model, 128, true, &error);  // plans memory once
 *     memcpy(mmx_exec_input(ex), images, ...);
 *     mmx_exec_forward(ex, 128, step_key, &error);
 *     loss = mmx_softmax_xent(mmx_exec_output(ex), labels, 128, classes, 0.1,
 *                             mmx_exec_output_grad(ex), NULL);
 *     mmx_exec_backward(ex, 128, &error);       // parameter gradients in mmx_model_grads()
 *
 * A model owns every parameter of a graph in one arena laid out as [decayed | not
 * decayed | buffers], so optimizers run over flat ranges. An executor plans, for one batch
 * size and mode, every activation, gradient, saved and workspace buffer in one arena,
 * reusing memory whose lifetime has ended; after mmx_exec_new nothing is allocated.
 */
#ifndef MMX_EXEC_H
#define MMX_EXEC_H

#include <mmx/mmx-graph.h>
#include <mmx/mmx-optim.h>

G_BEGIN_DECLS

#define MMX_EXEC_ERROR (mmx_exec_error_quark())
MMX_API GQuark mmx_exec_error_quark(void);
typedef enum mmx_exec_error_code {
    MMX_EXEC_ERROR_MEMORY,   /* the plan does not fit (the message has the estimate) */
    MMX_EXEC_ERROR_KERNEL,   /* a kernel failed (its message, node and plugin) */
    MMX_EXEC_ERROR_MISMATCH, /* a checkpoint does not fit the model */
} mmx_exec_error_code;

typedef struct mmx_model mmx_model;

/* Allocates and initializes every parameter of graph (borrowed: it must outlive the
 * model) from seed: parameter P gets Philox key mmx_rng_key(seed, hash(P's name), 0), so
 * its values do not depend on the other parameters or their order. */
MMX_API mmx_model *mmx_model_new(const mmx_graph *graph, uint64_t seed, GError **error);
/* Bytes a model of graph takes: parameters, buffers, gradients and optim_states optimizer
 * vectors per trainable parameter (AdamW 2, SGD 1, inference 0), without allocating;
 * SIZE_MAX when it is past any machine. mmx_model_new refuses (MMX_EXEC_ERROR_MEMORY) a
 * model whose estimate with 0 states is over mmx_memory_available(). */
MMX_API size_t mmx_model_estimate(const mmx_graph *graph, int optim_states);

/* Bytes the process may use: MMX_MAX_MEMORY when set, else MemAvailable of
 * /proc/meminfo, else SIZE_MAX. */
MMX_API size_t mmx_memory_available(void);
/* true when `needed` bytes fit in mmx_memory_available(); else false with an
 * MMX_EXEC_ERROR_MEMORY error "<what> needs N GB (<detail>), but only M GB are
 * available ...". detail may be NULL. */
MMX_API bool mmx_memory_check(const char *what, size_t needed, const char *detail, GError **error);
MMX_API void mmx_model_free(mmx_model *model);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(mmx_model, mmx_model_free)

MMX_API const mmx_graph *mmx_model_graph(const mmx_model *model);
/* The arenas: params has n_total floats (trainable first, then buffers), grads
 * n_trainable; the first n_decay trainable floats are weight-decayed. */
MMX_API float *mmx_model_params(mmx_model *model);
MMX_API float *mmx_model_grads(mmx_model *model);
MMX_API int64_t mmx_model_n_trainable(const mmx_model *model);
MMX_API int64_t mmx_model_n_decay(const mmx_model *model);
MMX_API int64_t mmx_model_n_total(const mmx_model *model);
/* One graph parameter's data and gradient (NULL for buffers). */
MMX_API float *mmx_model_param(mmx_model *model, int param);
MMX_API float *mmx_model_grad(mmx_model *model, int param);

/* Saves parameters (under their names), buffers, the optimizer state (when optim is
 * given, as "optim.<state>.<param>") and string metadata, atomically. */
MMX_API bool mmx_model_save(mmx_model *model, const char *path, mmx_optim *optim,
                            json_t *metadata, GError **error);
/* Loads what mmx_model_save wrote. Every tensor of the model must be present with its
 * shape; a mismatch names the tensor, the expected and the found shape. With optim, the
 * optimizer state must be there too. *metadata (may be NULL) gets a new reference. */
MMX_API bool mmx_model_load(mmx_model *model, const char *path, mmx_optim *optim,
                            json_t **metadata, GError **error);

typedef struct mmx_exec mmx_exec;

/* Plans buffers for up to `batch` samples, for training (activations and saved buffers
 * kept for backward) or inference (memory reused as soon as a value is consumed), and the
 * fusions below when mmx_fusion_default() is true. Refuses a plan larger than the memory
 * available (MemAvailable, or MMX_MAX_MEMORY bytes when set) with the estimate, before
 * allocating. */
MMX_API mmx_exec *mmx_exec_new(mmx_model *model, int64_t batch, bool training, GError **error);
/* The same with fusion chosen by the caller (tests compare fuse = true and false). */
MMX_API mmx_exec *mmx_exec_new_full(mmx_model *model, int64_t batch, bool training, bool fuse,
                                    GError **error);
MMX_API void mmx_exec_free(mmx_exec *ex);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(mmx_exec, mmx_exec_free)

/* Bytes a plan would take (activations etc., parameters not included), without
 * allocating, with fusion as mmx_fusion_default() says; 0 on overflow. */
MMX_API size_t mmx_exec_estimate(const mmx_graph *graph, int64_t batch, bool training);
MMX_API size_t mmx_exec_arena_bytes(const mmx_exec *ex);
MMX_API int64_t mmx_exec_batch(const mmx_exec *ex);

/* The input buffer [batch, H*W, C] and the output [batch, classes]. */
MMX_API float *mmx_exec_input(mmx_exec *ex);
MMX_API const float *mmx_exec_output(const mmx_exec *ex);
/* Training: where d loss / d output goes before mmx_exec_backward. */
MMX_API float *mmx_exec_output_grad(mmx_exec *ex);

/* Runs every node on the first `batch` samples (batch <= the planned batch). key makes
 * dropout-like ops draw their randomness: node i gets mmx_rng_key(key, i, 0). */
MMX_API bool mmx_exec_forward(mmx_exec *ex, int64_t batch, uint64_t key, GError **error);
/* Zeroes the model's gradients, then backpropagates from mmx_exec_output_grad through every
 * node (same batch and key as the forward). */
MMX_API bool mmx_exec_backward(mmx_exec *ex, int64_t batch, GError **error);

/* Fusion (docs/performance.md, "Fusion"). The executor plans it from the graph; every
 * fused path computes the same floats as the unfused ops, bit for bit, so fusion never
 * changes a result (tests/core/test-fuse.c holds each one against the composition).
 *
 *   BIAS_ACTIVATION   a linear over channels or tokens, or a conv2d, with a bias, whose
 *                     output only an elementwise activation (relu, gelu, silu, sigmoid)
 *                     reads: the op runs without its bias, then one pass adds the bias and
 *                     applies the activation tile by tile; backward, one pass recomputes
 *                     the biased input, applies the activation's gradient and (channel
 *                     biases) sums the bias gradient.
 *   BIAS_RESIDUAL     the same producers, whose output only a residual add reads: one pass
 *                     writes h + (y + b).
 *   RESIDUAL_GRADIENT a residual add's backward, which is two copies of its output's
 *                     gradient, is no work: the inputs' gradients share the output's
 *                     buffer (training only; `shared` says which inputs).
 */
typedef enum mmx_fusion_kind {
    MMX_FUSION_BIAS_ACTIVATION,
    MMX_FUSION_BIAS_RESIDUAL,
    MMX_FUSION_RESIDUAL_GRADIENT,
} mmx_fusion_kind;

typedef struct mmx_fusion {
    mmx_fusion_kind kind;
    int producer; /* node whose bias moves into `node`'s pass, -1 for RESIDUAL_GRADIENT */
    int node;     /* the activation or the add */
    int shared;   /* RESIDUAL_GRADIENT: bit k set when input k shares the output's gradient */
} mmx_fusion;

/* "bias+activation", "bias+residual", "residual-gradient" (static strings). */
MMX_API const char *mmx_fusion_kind_name(mmx_fusion_kind kind);
/* Whether executors fuse by default: false when MMX_FUSE is "0" (read at every call). */
MMX_API bool mmx_fusion_default(void);
/* The fusions an executor of graph plans for training or inference with fusion on, in
 * node order: a new array of mmx_fusion (never NULL). */
MMX_API GArray *mmx_fusion_plan(const mmx_graph *graph, bool training);
/* The fusions ex runs (none when it was made with fusion off); i < n, borrowed. */
MMX_API int mmx_exec_n_fusions(const mmx_exec *ex);
MMX_API const mmx_fusion *mmx_exec_get_fusion(const mmx_exec *ex, int i);

G_END_DECLS

#endif
