/* fuse-private.h: the fusion plan, between the planner and passes (fuse.c) and the
 * executor (exec.c). Nothing here is part of the API; <mmx/mmx-exec.h> describes the
 * fusions themselves. */
#ifndef MMX_FUSE_PRIVATE_H
#define MMX_FUSE_PRIVATE_H

#include "mmx-private.h"

#include <mmx/mmx-exec.h>

typedef enum mmx__fuse_role {
    MMX__FUSE_NONE = 0,
    MMX__FUSE_PRODUCER, /* forward runs `twin`, the op without its bias */
    MMX__FUSE_BIAS_ACT, /* forward and backward are mmx__fuse_forward/backward */
    MMX__FUSE_BIAS_ADD, /* forward is mmx__fuse_forward; backward is the add's */
} mmx__fuse_role;

typedef struct mmx__fuse_node {
    mmx__fuse_role role;
    int producer;          /* BIAS_ACT, BIAS_ADD: the producer node; else -1 */
    int src_input;         /* BIAS_ADD: which input is the producer's output */
    int bias_param;        /* PRODUCER: the bias among the op's parameters */
    bool token_bias;       /* PRODUCER: one bias per token row ([out, C] output), not per channel */
    mmx_op_instance *twin; /* PRODUCER: the op with bias off; BIAS_ACT: the activation on a
                            * [1] vector, called with batch = the elements of a tile */
    bool twin_backward;    /* PRODUCER: backward runs the twin (the fused pass sums the bias
                            * gradient); else the op itself, which sums it */
    int shared;            /* residual add: bit k when input k shares the output's gradient */
} mmx__fuse_node;

typedef struct mmx__fuse_plan {
    GArray *fusions;       /* mmx_fusion, for the API, `mmx info` and MMX_PROFILE */
    mmx__fuse_node *nodes; /* per node */
    int *grad_root;        /* per value: the value whose gradient buffer it uses (itself) */
} mmx__fuse_plan;

/* The plan for graph; with enabled false, or nothing to fuse, every node has role NONE
 * and every value its own gradient. Never NULL. */
mmx__fuse_plan *mmx__fuse_plan_new(const mmx_graph *graph, bool training, bool enabled);
void mmx__fuse_plan_free(mmx__fuse_plan *fp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(mmx__fuse_plan, mmx__fuse_plan_free)

/* Workspace bytes the twins and the fused passes need at batch (the executor's shared
 * workspace is at least this). */
size_t mmx__fuse_workspace(const mmx__fuse_plan *fp, const mmx_graph *graph, int64_t batch);

/* What a fused pass of node `node` reads and writes (every pointer the whole tensor). */
typedef struct mmx__fuse_io {
    int64_t batch;
    int training;
    uint64_t rng_key;
    const float *src;      /* the producer's output, computed without its bias */
    const float *bias;     /* the producer's bias */
    const float *other;    /* BIAS_ADD: the add's other input (the residual stream) */
    float *out;            /* the node's output */
    const float *grad_out; /* backward */
    float *grad_src;       /* backward: the gradient of src (overwritten) */
    float *grad_bias;      /* backward: NULL when frozen or the producer sums it itself */
    void *workspace;
} mmx__fuse_io;

/* One pass: BIAS_ACT out = act(src + bias), BIAS_ADD out = other + (src + bias); and
 * BIAS_ACT's backward grad_src = act'(src + bias) * grad_out with grad_bias += its column
 * sums. False with the activation kernel's message. */
bool mmx__fuse_forward(const mmx__fuse_plan *fp, const mmx_graph *graph, int node,
                       const mmx__fuse_io *io, GError **error);
bool mmx__fuse_backward(const mmx__fuse_plan *fp, const mmx_graph *graph, int node,
                        const mmx__fuse_io *io, GError **error);

/* A one-line summary for MMX_PROFILE ("3 bias+activation, 6 residual-gradient"), new. */
char *mmx__fuse_summary(const mmx__fuse_plan *fp);

#endif /* MMX_FUSE_PRIVATE_H */
