/* check-private.h: internals of the conformance kit (core/check*.c).
 *
 * check.c        the API: the list of checks, isolation in forked children, the report
 * check-buf.c    guarded buffers (guard pages, canaries) and the fault handler that maps
 *                a faulting address back to the buffer it overran
 * check-run.c    configurations (examples and tail variants) and runs: one op instance with
 *                guarded tensors, forward and backward through any kernel
 * check-num.c    the numeric checks: gradients, backward semantics, ISA equivalence
 * check-schema.c attributes at and past their bounds, arity, bad shapes
 * check-hyg.c    examples, memory, workspace, threads, allocations
 *
 * A check writes one ck_result: a status, a one-line summary, explanation lines for the
 * failures and check-specific JSON. Results cross the fork boundary as JSON.
 */
#ifndef MMX_CHECK_PRIVATE_H
#define MMX_CHECK_PRIVATE_H

#include "mmx-private.h"

#include <mmx/mmx-check.h>

/* g_autoptr for Jansson values, under a name of our own. */
typedef json_t ck_json;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ck_json, json_decref)

/* ---- results ---- */

typedef enum ck_status {
    CK_PASS = 0,
    CK_FAIL = 1,
    CK_SKIP = 2,
} ck_status;

typedef struct ck_result {
    char *name; /* "gradients" */
    ck_status status;
    GString *summary;   /* one line */
    GPtrArray *details; /* char *: one line per failure explained, hints */
    json_t *data;       /* check-specific fields, owned */
} ck_result;

ck_result *ck_result_new(const char *name);
void ck_result_free(ck_result *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ck_result, ck_result_free)
/* Marks the result failed and adds an explanation line (the first failure also becomes
 * the summary unless one is set later). */
void ck_fail(ck_result *r, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
void ck_detail(ck_result *r, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
void ck_summary(ck_result *r, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
json_t *ck_result_to_json(const ck_result *r);
ck_result *ck_result_from_json(json_t *j);
const char *ck_status_name(ck_status s);

/* ---- guarded buffers (check-buf.c) ---- */

/* A float buffer in its own mapping. Read-only buffers (inputs, parameters, grad_out)
 * end exactly at a PROT_NONE page, so reading one float past the end faults. Writable
 * buffers (outputs, gradients, workspace) are fenced by canary floats on both sides up to
 * the page edges and a PROT_NONE page after, so any write outside is seen. */
typedef struct ck_buf {
    char *what; /* "input 0", "gradient of parameter 'weight'" */
    bool writable;
    int64_t n;    /* floats (workspace: bytes rounded up to floats) */
    size_t bytes; /* as declared (workspace, saved) or n * 4 */
    float *data;
    void *map; /* the whole mapping */
    size_t map_len;
    char *guard; /* the PROT_NONE page */
    int slot;    /* index in the fault table, -1 if none */
} ck_buf;

ck_buf *ck_buf_new(const char *what, int64_t n, size_t bytes, bool writable);
void ck_buf_free(ck_buf *b);
/* Read-only buffers are sealed (PROT_READ) during kernel calls: a write into an input
 * faults. Writable buffers can be sealed too (the output during backward). */
void ck_buf_seal(ck_buf *b, bool sealed);
/* The first canary that changed: false and a description "N float(s) after the end" if
 * one did. Resets the canaries. */
bool ck_buf_canaries_ok(ck_buf *b, char **where);

/* What is running, for the fault handler's message ("kernel gelu_avx2 forward"). */
void ck_fault_set_context(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* Installs the SIGSEGV/SIGBUS handler; it writes its explanation to fd, then ends the
 * process with CK_EXIT_FAULT. ck_fault_uninstall restores the previous handlers. */
void ck_fault_install(int fd);
void ck_fault_uninstall(void);
#define CK_EXIT_FAULT 86

/* ---- configurations and runs (check-run.c) ---- */

typedef struct ck_ctx ck_ctx;

typedef struct ck_config {
    char *label;  /* "example 2 ({...}) inputs [9, 37] (3x3 grid)" */
    json_t *json; /* the attribute object (keeps string values alive) */
    mmx_attr_value *attrs;
    size_t n_inputs;
    mmx_shape inputs[MMX_MAX_INPUTS];
    int example;  /* 0-based index of the example */
    int64_t tail; /* 0 for the example itself, else the changed last dimension */
} ck_config;

/* A configuration of one's own (the schema check's accepted cases); json is referenced. */
ck_config *ck_config_make(const ck_ctx *ctx, const char *label, json_t *json,
                          const mmx_attr_value *attrs, const mmx_shape *inputs, size_t n_inputs);
void ck_config_free(ck_config *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ck_config, ck_config_free)

struct ck_ctx {
    const mmx_op *op;
    const mmx_op_desc *desc;
    const char *plugin_path;
    bool quick;
    mmx_isa isa;                /* mmx_cpu_isa() */
    const mmx_kernel_desc *ref; /* the scalar reference: the first scalar kernel */
    GPtrArray *kernels;         /* eligible kernels, the reference first (borrowed) */
    GPtrArray *examples;        /* ck_config *: the examples that infer */
    GPtrArray *variants;        /* ck_config *: tail variants that infer */
    GPtrArray *problems;        /* char *: why examples were refused */
    int n_examples;             /* declared */
};

/* Parses the op's examples and builds the tail variants; never fails (problems are
 * listed in ctx->problems). */
ck_ctx *ck_ctx_new(const mmx_op *op, bool quick);
void ck_ctx_free(ck_ctx *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ck_ctx, ck_ctx_free)

/* Tensor kinds, for loops over "everything a run computes". */
typedef struct ck_run {
    ck_ctx *ctx;
    const ck_config *cfg;
    mmx_op_instance *inst;
    const mmx_node *node;
    int64_t batch;
    uint64_t seed;
    ck_buf *in[MMX_MAX_INPUTS];
    ck_buf *out;
    ck_buf *param[MMX_MAX_PARAMS];     /* NULL when absent */
    float *param_init[MMX_MAX_PARAMS]; /* BUFFER params: values restored before each forward */
    ck_buf *grad_out;
    ck_buf *grad_in[MMX_MAX_INPUTS];
    ck_buf *grad_param[MMX_MAX_PARAMS];
    ck_buf *workspace, *saved;
    mmx_buffer_sizes sizes;
    /* What buffers hold before each call: 0 zeros, 1 NaN, 2 large random garbage. */
    int scratch_fill;
    /* Backward: values grad_in and grad_param hold before the call (NaN allowed), and
     * which ones are passed (false: NULL). */
    float grad_in_fill;
    const float *grad_param_fill[MMX_MAX_PARAMS]; /* NULL: zeros */
    bool want_grad_in[MMX_MAX_INPUTS];
    bool want_grad_param[MMX_MAX_PARAMS];
    /* The last kernel error came without a message from the plugin. */
    bool error_without_message;
    /* Host allocations that a call did not free: the first one seen. */
    int64_t leaked_count, leaked_bytes;
    char *leak_where;
} ck_run;

/* An instance of cfg with every tensor allocated and filled from seed (inputs and
 * trainable parameters: magnitudes in [0.1, 1], random signs; BUFFER parameters: their
 * initializer; grad_out: the loss weights). NULL with an error when infer refuses. */
ck_run *ck_run_new(ck_ctx *ctx, const ck_config *cfg, int64_t batch, uint64_t seed, GError **error);
void ck_run_free(ck_run *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ck_run, ck_run_free)
/* Runs a kernel (training mode, fixed rng_key). False with the kernel's error, or with
 * "wrote past the end of ..." when a canary changed. */
bool ck_forward(ck_run *r, const mmx_kernel_desc *k, GError **error);
bool ck_backward(ck_run *r, const mmx_kernel_desc *k, GError **error);
/* Element index i of a buffer of the run as "[1, 3, 5]" with the batch first when the
 * tensor has one (inputs, output and their gradients). */
char *ck_run_where(const ck_run *r, const ck_buf *b, int64_t i);
/* The numel of a parameter, 0 when absent. */
int64_t ck_run_param_numel(const ck_run *r, size_t j);
bool ck_param_trainable(const ck_run *r, size_t j);

/* Random numbers from (seed, index): magnitudes in [0.1, 1] with random signs, and
 * uniform [0, 1). */
float ck_rand_signed(uint64_t seed, uint64_t i);
double ck_rand_u01(uint64_t seed, uint64_t i);

/* A copy of n floats (g_malloc). */
float *ck_copy(const float *x, int64_t n);

/* ---- the checks ---- */

typedef void (*ck_check_fn)(ck_ctx *ctx, ck_result *r);

void ck_check_examples(ck_ctx *ctx, ck_result *r);
void ck_check_schema(ck_ctx *ctx, ck_result *r);
void ck_check_memory(ck_ctx *ctx, ck_result *r);
void ck_check_gradients(ck_ctx *ctx, ck_result *r);
void ck_check_backward(ck_ctx *ctx, ck_result *r);
void ck_check_isa(ck_ctx *ctx, ck_result *r);
void ck_check_workspace(ck_ctx *ctx, ck_result *r);
void ck_check_threads(ck_ctx *ctx, ck_result *r);
void ck_check_allocations(ck_ctx *ctx, ck_result *r);
/* check-causal.c: run only for ops whose flags declare MMX_OP_CAUSAL. */
void ck_check_causal(ck_ctx *ctx, ck_result *r);
bool ck_op_declares_causal(const mmx_op_desc *d);
/* The MMX_OP_* flags a node keeps (flags & node_flags(node)); 0 for an ABI 1.0 op. */
uint32_t ck_node_flags(const mmx_op_desc *d, const mmx_node *node);

/* A worst-error tracker for comparisons: the largest error and where it was. */
typedef struct ck_worst {
    double err;
    char *where;  /* "output [1, 36] of example 2, last dim 37: got 0.51 vs 0.5 (scalar)" */
    json_t *json; /* the same as fields */
} ck_worst;

void ck_worst_clear(ck_worst *w);
/* Takes where and json (owned) when err is larger than the current worst. */
void ck_worst_offer(ck_worst *w, double err, char *where, json_t *json);

#endif /* MMX_CHECK_PRIVATE_H */
