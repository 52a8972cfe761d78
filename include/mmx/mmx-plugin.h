/* mmx-plugin.h: the plugin ABI of mmx, version 1.
 *
 * This is the one header a plugin author includes. It needs only the C library
 * (<stddef.h>, <stdint.h>) and compiles on its own.
 *
 * A plugin is a shared object that exports exactly one symbol, mmx_plugin_entry_v1
 * (the ABI major version is part of the name, so a plugin built for another major
 * version is never called with the wrong layout). The entry receives the host's
 * service table and hands back a static plugin descriptor:
 *
 *     static const mmx_op_desc *const ops[] = {&my_op};
 *     static const mmx_plugin_desc plugin = {
 *         .struct_size = sizeof(mmx_plugin_desc), .abi_major = MMX_PLUGIN_ABI_MAJOR,
 *         .abi_minor = MMX_PLUGIN_ABI_MINOR, .name = "mine", .version = "1.0.0",
 *         .doc = "what it does", .n_ops = 1, .ops = ops};
 *
 *     MMX_PLUGIN_EXPORT int
 *     mmx_plugin_entry_v1(mmx_ctx *ctx, const mmx_plugin_desc **out)
 *     {
 *         (void)ctx;
 *         *out = &plugin;
 *         return MMX_OK;
 *     }
 *
 * Contract (docs/plugin-guide.md has the long form):
 * - Descriptors are static data owned by the plugin; the host never frees them and
 *   never unloads the plugin, so pointers stay valid for the life of the process.
 * - Plugins own no weights and no activations. The host allocates every tensor,
 *   initializes and checkpoints parameters, and hands kernels plain float arrays.
 * - Kernels never allocate (workspace is declared up front), never exit, never start
 *   threads: parallel work goes through ctx->host->parallel_for.
 * - Every fallible call returns an int status (MMX_OK or an mmx_status value) and
 *   writes its message with ctx->host->error(); the host copies the text and adds
 *   the spec file, the node path and the plugin file.
 * - Backward overwrites input gradients and ADDS into parameter gradients (a tied
 *   parameter receives the gradient of every use).
 *
 * Versioning: every extensible struct begins with struct_size. A minor version only
 * appends fields; a reader checks struct_size before touching a field newer than the
 * ones it was built with. Value types that travel in arrays (mmx_shape,
 * mmx_attr_value, mmx_param_info) have a frozen layout and are never extended: new
 * information arrives in new fields of the structs that carry them. Arrays of
 * descriptors are arrays of pointers, so descriptors can grow. 1.1 appended
 * mmx_op_desc.flags and .node_flags (the op flags, for fusion).
 */
#ifndef MMX_PLUGIN_H
#define MMX_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MMX_PLUGIN_ABI_MAJOR 1
#define MMX_PLUGIN_ABI_MINOR 1

/* The entry symbol's name for this major version. */
#define MMX_PLUGIN_ENTRY_NAME "mmx_plugin_entry_v1"

#if defined(_WIN32)
#define MMX_PLUGIN_EXPORT __declspec(dllexport)
#else
#define MMX_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

#if defined(__GNUC__)
#define MMX_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#else
#define MMX_PRINTF(fmt_idx, arg_idx)
#endif

/* Status codes, one list for host and plugins (the X-macro keeps the names and the
 * descriptions together: adding a code? add it here only). */
#define MMX_STATUS_LIST(X)                                                                         \
    X(MMX_OK, 0, "ok")                                                                             \
    X(MMX_ERR_INVALID, 1, "invalid attribute, shape or argument")                                  \
    X(MMX_ERR_NOMEM, 2, "out of memory")                                                           \
    X(MMX_ERR_UNSUPPORTED, 3, "unsupported configuration")                                         \
    X(MMX_ERR_NUMERIC, 4, "numerical failure")                                                     \
    X(MMX_ERR_INTERNAL, 5, "internal error")

typedef enum mmx_status {
#define MMX__STATUS_ENUM(name, value, text) name = value,
    MMX_STATUS_LIST(MMX__STATUS_ENUM)
#undef MMX__STATUS_ENUM
} mmx_status;

/* Instruction-set levels, ordered: a CPU that runs a level runs every lower one.
 * AVX2 means AVX2 + FMA + F16C; AVX512 means AVX-512 F, CD, BW, DQ and VL. */
#define MMX_ISA_LIST(X)                                                                            \
    X(MMX_ISA_SCALAR, 0, "scalar")                                                                 \
    X(MMX_ISA_AVX2, 1, "avx2")                                                                     \
    X(MMX_ISA_AVX512, 2, "avx512")

typedef enum mmx_isa {
#define MMX__ISA_ENUM(name, value, text) name = value,
    MMX_ISA_LIST(MMX__ISA_ENUM)
#undef MMX__ISA_ENUM
} mmx_isa;

/* Log levels for mmx_host.log. */
typedef enum mmx_log_level {
    MMX_LOG_DEBUG = 0,
    MMX_LOG_INFO = 1,
    MMX_LOG_WARNING = 2,
} mmx_log_level;

/* ---------------------------------------------------------------------------------------
 * Shapes
 *
 * Shapes are per sample: the batch dimension is never part of a shape; kernels receive
 * the batch size separately and tensors are [batch, dim0, dim1, ...] row-major.
 * Activations are channels-last token grids [N, C]; when the tokens form a 2-D grid,
 * height * width == N (a 1-D sequence has width 1); height == width == 0 when the
 * tensor has no token grid (a vector [C], or attention scores [heads, N, N]).
 * ------------------------------------------------------------------------------------ */
#define MMX_MAX_RANK 4

typedef struct mmx_shape { /* frozen layout */
    int32_t rank;          /* 1..MMX_MAX_RANK; 0 marks "absent" where documented */
    int32_t height, width; /* token grid, or 0 */
    int64_t dim[MMX_MAX_RANK];
} mmx_shape;

/* ---------------------------------------------------------------------------------------
 * Attributes
 *
 * An op declares its attributes as a schema; the host checks the JSON of a spec against
 * it (unknown keys, types, ranges and choices are the host's errors, not the plugin's),
 * fills defaults and hands the op one mmx_attr_value per schema entry, in schema order.
 * ------------------------------------------------------------------------------------ */
typedef enum mmx_attr_type {
    MMX_ATTR_INT = 0,    /* 64-bit integer; range [min, max] with MMX_ATTR_HAS_RANGE */
    MMX_ATTR_FLOAT = 1,  /* double; range [min, max] with MMX_ATTR_HAS_RANGE */
    MMX_ATTR_BOOL = 2,   /* true or false */
    MMX_ATTR_STRING = 3, /* one of choices when choices != NULL, else any string */
    MMX_ATTR_INTS = 4,   /* list of 1..MMX_MAX_ATTR_INTS integers (each in the range) */
} mmx_attr_type;

#define MMX_MAX_ATTR_INTS 8

/* Attribute flags. */
#define MMX_ATTR_REQUIRED 0x1u  /* the spec must give it; the default is ignored */
#define MMX_ATTR_HAS_RANGE 0x2u /* INT, FLOAT, INTS: values must lie in [min, max] */

typedef struct mmx_attr_desc {
    uint32_t struct_size;
    const char *name; /* lower_snake_case */
    mmx_attr_type type;
    uint32_t flags;
    const char *doc;
    double default_number;              /* INT, FLOAT, BOOL (0 or 1) */
    const char *default_string;         /* STRING */
    const char *const *choices;         /* STRING: NULL-terminated list, or NULL */
    double min, max;                    /* inclusive range, with MMX_ATTR_HAS_RANGE */
    int32_t default_count;              /* INTS: number of default values */
    int64_t default_ints[MMX_MAX_ATTR_INTS];
} mmx_attr_desc;

typedef struct mmx_attr_value { /* frozen layout */
    int32_t is_set;             /* 1 when the spec gave it, 0 when it is the default */
    int32_t count;              /* INTS: number of values */
    int64_t i;                  /* INT, BOOL; STRING with choices: index of the choice */
    double f;                   /* FLOAT (INT values are mirrored here too) */
    const char *s;              /* STRING: the text (owned by the host) */
    int64_t ints[MMX_MAX_ATTR_INTS];
} mmx_attr_value;

/* ---------------------------------------------------------------------------------------
 * Parameters
 *
 * Parameters are declared statically (name, flags, default initializer); the op's
 * infer callback gives each one its shape for a node and may change the initializer
 * (a layer scale reads its initial value from an attribute). The host allocates,
 * initializes, checkpoints and optimizes them.
 * ------------------------------------------------------------------------------------ */
typedef enum mmx_init {
    MMX_INIT_ZEROS = 0,
    MMX_INIT_ONES = 1,
    MMX_INIT_CONST = 2,          /* a */
    MMX_INIT_UNIFORM = 3,        /* U(a, b) */
    MMX_INIT_NORMAL = 4,         /* N(a, b^2): mean a, std b */
    MMX_INIT_TRUNC_NORMAL = 5,   /* N(0, a^2) truncated to [-2a, 2a] (timm's trunc_normal_) */
    MMX_INIT_XAVIER_UNIFORM = 6, /* U(-g*sqrt(6/(fan_in+fan_out)), +...), g = a or 1 */
    MMX_INIT_XAVIER_NORMAL = 7,  /* N(0, g^2 * 2/(fan_in+fan_out)) */
    MMX_INIT_KAIMING_UNIFORM = 8, /* U(-bound, bound), bound = g*sqrt(3/fan_in), g = a or sqrt(2) */
    MMX_INIT_KAIMING_NORMAL = 9, /* N(0, g^2/fan_in) */
} mmx_init;

/* Parameter flags. */
#define MMX_PARAM_NO_DECAY 0x1u /* no weight decay: norms, biases, layer scales, embeddings */
#define MMX_PARAM_BUFFER 0x2u   /* state, not trained: running statistics (checkpointed) */

typedef struct mmx_param_desc {
    uint32_t struct_size;
    const char *name; /* checkpoint key is "<node>.<name>" */
    uint32_t flags;
    const char *doc;
    mmx_init init;   /* default initializer */
    double init_a, init_b;
} mmx_param_desc;

typedef struct mmx_param_info { /* frozen layout */
    mmx_shape shape;            /* rank 0: the parameter is absent for this node */
    mmx_init init;
    double init_a, init_b;
    int64_t fan_in, fan_out;    /* 0: PyTorch's convention from the shape */
} mmx_param_info;

/* ---------------------------------------------------------------------------------------
 * Nodes, context, host services
 * ------------------------------------------------------------------------------------ */
typedef struct mmx_host mmx_host;

/* Passed to every callback. The host owns it; host_data is opaque to plugins. */
typedef struct mmx_ctx {
    uint32_t struct_size;
    const mmx_host *host;
    void *host_data;
} mmx_ctx;

/* One op instance as the plugin sees it. Owned by the host, valid during a call. */
typedef struct mmx_node {
    uint32_t struct_size;
    const char *name;             /* "blocks.3.mixer.key" */
    const mmx_attr_value *attrs;  /* one per schema entry, defaults filled */
    size_t n_inputs;
    const mmx_shape *inputs;      /* per-sample input shapes */
    mmx_shape output;             /* after infer */
    size_t n_params;              /* == the op's n_params */
    const mmx_param_info *params; /* after infer */
} mmx_node;

/* The data a kernel works on. Owned by the host. Tensors are float32, contiguous,
 * [batch, shape...]. Backward receives the forward's inputs and output again in in[]
 * and out (read-only there), and the same param[] and saved buffer. In backward, grad_in[i] == NULL means input i needs no gradient,
 * grad_param[j] == NULL means parameter j is frozen; absent parameters are NULL in
 * param[] and grad_param[]. */
typedef struct mmx_kernel_args {
    uint32_t struct_size;
    const mmx_node *node;
    int64_t batch;
    int32_t training;          /* 1: training forward (batchnorm statistics, dropout) */
    uint64_t rng_key;          /* distinct per node and step: feed it to host->philox */
    const float *const *in;    /* [n_inputs] */
    float *out;
    float *const *param;       /* [n_params]; buffers (MMX_PARAM_BUFFER) are writable */
    void *workspace;           /* buffer_sizes().workspace bytes, contents undefined */
    void *saved;               /* buffer_sizes().saved bytes: forward writes, backward reads */
    const float *grad_out;     /* backward only */
    float *const *grad_in;     /* backward only: overwrite */
    float *const *grad_param;  /* backward only: accumulate (+=) */
} mmx_kernel_args;

typedef int (*mmx_range_fn)(void *arg, int64_t begin, int64_t end);

/* Host services. Append-only: a plugin checks host->struct_size before using a field
 * newer than MMX_PLUGIN_ABI_MINOR 0. Every function is thread-safe. */
struct mmx_host {
    uint32_t struct_size;
    uint32_t abi_major, abi_minor;

    /* Aligned allocation (align a power of two, at least sizeof(void*)); NULL when out
     * of memory. Counted: the conformance kit checks that every alloc has its free. */
    void *(*alloc)(size_t size, size_t align);
    void (*free)(void *ptr);

    /* Logging and errors. error() records the message for the current call (the host
     * copies it and adds spec file, node and plugin) and returns status, so a plugin
     * writes: return ctx->host->error(ctx, MMX_ERR_INVALID, "kernel %d is even", k); */
    void (*log)(mmx_ctx *ctx, mmx_log_level level, const char *fmt, ...) MMX_PRINTF(3, 4);
    int (*error)(mmx_ctx *ctx, int status, const char *fmt, ...) MMX_PRINTF(3, 4);

    /* Runs fn over [0, n) in chunks of `grain` items (the last one shorter) on the host's
     * thread pool and waits. Chunk boundaries depend only on n and grain, never on the
     * thread count, so a kernel that reduces per chunk is deterministic. Nested calls run
     * inline. Returns MMX_OK or the status of the lowest failing chunk. */
    int (*parallel_for)(mmx_ctx *ctx, int64_t n, int64_t grain, mmx_range_fn fn, void *arg);

    /* Row-major C = alpha * op(A) op(B) + beta * C, op(X) = X or X^T; op(A) is m x k,
     * op(B) is k x n. beta == 0 never reads C. Parallel over the pool; results do not
     * depend on the thread count. */
    void (*sgemm)(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                  int64_t ldc);
    /* count independent sgemms: A_i = a + i*stride_a, and so on. */
    void (*sgemm_batched)(int64_t count, int trans_a, int trans_b, int64_t m, int64_t n,
                          int64_t k, float alpha, const float *a, int64_t lda, int64_t stride_a,
                          const float *b, int64_t ldb, int64_t stride_b, float beta, float *c,
                          int64_t ldc, int64_t stride_c);

    /* The highest ISA level this CPU and OS run, capped by MMX_ISA. */
    mmx_isa (*cpu_isa)(void);

    /* Counter-based RNG (Philox4x32-10): four 32-bit words for (key, counter). The same
     * key and counter give the same words on any thread, so results never depend on
     * the thread count. Use the kernel's rng_key and the element index as counter. */
    void (*philox)(uint64_t key, uint64_t counter, uint32_t out[4]);
};

/* ---------------------------------------------------------------------------------------
 * Ops and kernels
 * ------------------------------------------------------------------------------------ */
typedef int (*mmx_kernel_fn)(mmx_ctx *ctx, const mmx_kernel_args *args);

typedef struct mmx_kernel_desc {
    uint32_t struct_size;
    const char *name;      /* "gelu_avx512" */
    mmx_isa isa;           /* the level it needs */
    mmx_kernel_fn forward;
    mmx_kernel_fn backward; /* NULL: the op is not differentiable with this kernel */
} mmx_kernel_desc;

typedef struct mmx_cost {
    uint32_t struct_size;
    double flops; /* per sample, forward: 2 x multiply-adds, 1 per other arithmetic op */
    double bytes; /* per sample, forward: bytes read and written, at least once each */
} mmx_cost;

typedef struct mmx_buffer_sizes {
    uint32_t struct_size;
    size_t workspace; /* scratch for forward and backward, contents undefined on entry */
    size_t saved;     /* written by a training forward, read by backward */
} mmx_buffer_sizes;

/* Input roles. In a MetaMixer slot, input 0 is the previous slot's output; an op with
 * a second input of role MEMORY receives the mixer's (normed) input x there, the source
 * from which attention projects keys and values. */
typedef enum mmx_input_role {
    MMX_INPUT_DATA = 0,
    MMX_INPUT_MEMORY = 1,
} mmx_input_role;

#define MMX_MAX_INPUTS 4
#define MMX_MAX_PARAMS 8

/* ---------------------------------------------------------------------------------------
 * Op flags (ABI 1.1): promises about an op's arithmetic that let the host fuse it
 *
 * The executor fuses a producer's bias with the elementwise op or residual add that reads
 * its output: it runs the producer without its bias, then one pass over the output that
 * adds the bias and calls the consumer's own kernel on cache-sized tiles. Fused and
 * unfused runs must give the same bits, so each flag is an exact contract on what the
 * op's kernels compute, not a hint; a kernel that breaks it makes MMX_FUSE=0 change the
 * results. An op that sets no flags, or was built for ABI 1.0 (its struct_size does not
 * reach the field), never fuses. Where the host fuses is its own decision (it also checks
 * the graph: a producer output read by one node only, a bias not tied, ...).
 * ------------------------------------------------------------------------------------ */

/* Rows per chunk of a bias gradient summed over rows (MMX_OP_BIAS_EPILOGUE). A reduction's
 * bits depend on its order; host and op sum the same gradient (the fused pass, or the op's
 * own backward) and must agree on the order, so the grain is part of the ABI. */
#define MMX_ROW_GRAIN 256

/* The host cuts an elementwise op's tensor only at multiples of this many elements
 * (MMX_OP_ELEMENTWISE). */
#define MMX_ELEMENTWISE_ALIGN 16

/* Elementwise. The op has exactly one input, no parameters, an output of the input's
 * shape, and needs no workspace or saved buffer. Forward out[i] is a function of in[i]
 * and the attributes alone; backward grad_in[i] of in[i], out[i], grad_out[i] and the
 * attributes alone (no RNG, nothing that depends on i). The host may then instantiate the
 * op on the shape [1] with a node's attributes and call its kernels with batch = n on any
 * n contiguous elements of the tensor: a range that starts at a multiple of
 * MMX_ELEMENTWISE_ALIGN elements and ends at one or at the tensor's end. Every element must
 * get the same bits in every such cut as in the whole-tensor call. A vector loop whose
 * width divides 16, run from the range's start, with a scalar loop for the rest, meets
 * this even where its vector and scalar code round differently. */
#define MMX_OP_ELEMENTWISE 0x1u

/* A channel bias that can be split off as an epilogue. The op has a BOOL attribute "bias"
 * and a parameter "bias". With "bias": false the node has the same output shape, the same
 * other parameters, the bias parameter absent (rank 0) and no larger saved buffer, and
 * its forward writes P, the product the biased op adds its bias to. With the bias, the
 * output is rows of C floats (C its last dimension), the bias has shape [C] and
 * out[r][c] = P[r][c] + bias[c], one float add. Backward, with the bias or without, gives
 * the same input and other parameter gradients, never reads `out` (after a fused forward
 * it holds P), and with the bias adds into grad bias, per chunk of MMX_ROW_GRAIN rows (all
 * samples' rows in order), a partial per column summed over the chunk's rows in order
 * starting from 0.0f, the chunk partials added in chunk order: the host may sum it so
 * itself and run the backward without the bias. */
#define MMX_OP_BIAS_EPILOGUE 0x2u

/* A row bias that can be split off as an epilogue: as MMX_OP_BIAS_EPILOGUE, but on an
 * output [R, C] per sample with a bias of shape [R] and out[r][c] = P[r][c] + bias[r],
 * and with no promise on the order of the bias gradient: the host never sums it itself,
 * it runs the op's own backward with the bias on. */
#define MMX_OP_ROW_BIAS_EPILOGUE 0x4u

/* A residual add. The op takes two inputs of the output's shape, has no parameters and
 * needs no workspace or saved buffer; forward out[i] = in[0][i] + in[1][i], one float add;
 * backward copies grad_out into grad_in[0] and grad_in[1] unchanged. The host may then
 * add a producer's bias in the same pass, and let an input's gradient share the output's
 * buffer instead of running the backward. */
#define MMX_OP_RESIDUAL_ADD 0x8u

/* Causal along the tokens (a promise for language models, not a fusion). The output and
 * every input are per sample [N, ...] with the same N tokens first, and output token t
 * is a function of input tokens 0..t only (of every input, and of nothing at a later
 * position), for each sample on its own. Masked entries are never read, so changing a
 * later token changes no bit of an earlier output. The conformance kit's `causal` check
 * holds every node of an op with this flag (node_flags decides which nodes keep it) to it:
 * changing input token t must leave every output at positions < t unchanged, bit for bit. */
#define MMX_OP_CAUSAL 0x10u

/* What may be NULL in an op descriptor (the loader refuses the rest, naming the field):
 * - never: name, infer, kernels (n_kernels >= 1, one of them MMX_ISA_SCALAR, each with a
 *   name and a forward), examples (at least one);
 * - attrs when n_attrs is 0 and params when n_params is 0: a parameter-free op without
 *   attributes (an activation) sets both counts to 0 and both arrays to NULL;
 * - input_roles, buffer_sizes, cost and node_flags, with the meaning given at each field;
 * - a kernel's backward: the op is not differentiable with that kernel.
 * doc is one line that `mmx plugins` and the docs show: give one. */
typedef struct mmx_op_desc {
    uint32_t struct_size;
    const char *name; /* "gelu", "attention.scores"; third parties use "<plugin>.<op>" */
    uint32_t op_version;
    const char *doc;  /* one line */
    uint32_t min_inputs, max_inputs; /* arity, 1..MMX_MAX_INPUTS */
    const mmx_input_role *input_roles; /* [max_inputs], or NULL: all DATA */
    size_t n_attrs;
    const mmx_attr_desc *const *attrs;
    size_t n_params; /* <= MMX_MAX_PARAMS */
    const mmx_param_desc *const *params;

    /* Shape inference: read node->inputs and node->attrs; write *out and params[i]
     * (pre-filled with each declaration's initializer and rank 0). Reject bad shapes or
     * attribute combinations with host->error naming the rule. Mandatory. */
    int (*infer)(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params);

    /* Workspace and saved-for-backward bytes for a batch; NULL: none. */
    void (*buffer_sizes)(const mmx_node *node, int64_t batch, mmx_buffer_sizes *sizes);

    /* Forward cost per sample; NULL: zero. */
    void (*cost)(const mmx_node *node, mmx_cost *cost);

    size_t n_kernels; /* at least one kernel with isa == MMX_ISA_SCALAR: the reference */
    const mmx_kernel_desc *const *kernels;

    /* Valid configurations, for the conformance kit and the docs: a NULL-terminated list
     * of JSON texts {"attrs": {...}, "inputs": [INPUT, ...]} where INPUT is "HxW:C" (a
     * token grid of C channels) or an array of per-sample dims ([4, 49, 49]). The kit
     * runs its gradient and ISA checks on each, and on variants whose last dimension is
     * changed to sizes that hit vector tails. At least one example is required. */
    const char *const *examples;

    /* ABI 1.1: the host reads these only when struct_size reaches them. */

    /* MMX_OP_* flags: every promise some node of this op keeps; 0: none (never fuses). */
    uint32_t flags;

    /* The MMX_OP_* flags one node keeps (called after infer), for an op whose promises
     * depend on its attributes (linear: a channel or a row bias by its axis); the host
     * uses node_flags(node) & flags. NULL: every node keeps all of flags. */
    uint32_t (*node_flags)(const mmx_node *node);
} mmx_op_desc;

typedef struct mmx_plugin_desc {
    uint32_t struct_size;
    uint32_t abi_major, abi_minor; /* MMX_PLUGIN_ABI_MAJOR, MMX_PLUGIN_ABI_MINOR */
    const char *name;              /* "activation" */
    const char *version;           /* the plugin's own version, "1.0.0" */
    const char *doc;
    size_t n_ops;
    const mmx_op_desc *const *ops;
} mmx_plugin_desc;

/* The entry point. Returns MMX_OK and sets *out, or an error status with a message
 * written through ctx->host->error. Called once per process. */
typedef int (*mmx_plugin_entry_fn)(mmx_ctx *ctx, const mmx_plugin_desc **out);

/* MMX_PLUGIN_DEFINE(name, version, doc, &op, ...); is the whole end of a plugin source: the
 * plugin descriptor listing the ops given (at least one), with the ABI version of this
 * header, and the exported entry point that hands it out:
 *
 *     MMX_PLUGIN_DEFINE("mine", "1.0.0", "what it does", &my_op, &my_other_op);
 *
 * It expands to the hand-written form shown at the top of this header, field for field
 * (a static ops array, a static mmx_plugin_desc, mmx_plugin_entry_v1), so a plugin may use
 * either. Use it once, at file scope; the `;` after it ends the entry's redeclaration. An
 * entry that must do more than hand out the descriptor (refuse a host, say why) is
 * written by hand. */
#define MMX_PLUGIN_DEFINE(name_, version_, doc_, ...)                                              \
    static const mmx_op_desc *const mmx_plugin_ops_[] = {__VA_ARGS__};                             \
    static const mmx_plugin_desc mmx_plugin_desc_ = {                                              \
        .struct_size = sizeof(mmx_plugin_desc),                                                    \
        .abi_major = MMX_PLUGIN_ABI_MAJOR,                                                         \
        .abi_minor = MMX_PLUGIN_ABI_MINOR,                                                         \
        .name = name_,                                                                             \
        .version = version_,                                                                       \
        .doc = doc_,                                                                               \
        .n_ops = sizeof mmx_plugin_ops_ / sizeof mmx_plugin_ops_[0],                               \
        .ops = mmx_plugin_ops_};                                                                   \
    MMX_PLUGIN_EXPORT int mmx_plugin_entry_v1(mmx_ctx *ctx, const mmx_plugin_desc **out)           \
    {                                                                                              \
        (void)ctx;                                                                                 \
        *out = &mmx_plugin_desc_;                                                                  \
        return MMX_OK;                                                                             \
    }                                                                                              \
    MMX_PLUGIN_EXPORT int mmx_plugin_entry_v1(mmx_ctx *ctx, const mmx_plugin_desc **out)

#ifdef __cplusplus
}
#endif

#endif /* MMX_PLUGIN_H */
