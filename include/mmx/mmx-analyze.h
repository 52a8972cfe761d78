/* mmx-analyze.h: what the weights of a trained model look like.
 *
 *     g_autoptr(mmx_model) model = mmx_model_new(graph, 0, &error);
 *     g_autoptr(json_t) doc = mmx_analyze_checkpoint(model, "final.safetensors", &error);
 *
 * Two analyses of the mixers' key and value weights, in double precision:
 * - symmetry: the cosine between a value weight V and its key weight K transposed (1 for
 *   tied weights by construction, about 0 for independent random ones; the zoo's record
 *   is the mean of these cosines), and the symmetric / antisymmetric energy split of the
 *   square coupling V K through the hidden layer;
 * - spectra: singular values, the entropy effective rank (Roy & Vetterli 2007), the
 *   stable rank, and a power-law fit of the tail of the eigenvalues of W^T W (Clauset,
 *   Shalizi & Newman 2009) with its Kolmogorov-Smirnov distance.
 * The statistics are also public one by one, on row-major float matrices, so that they
 * can be tested on matrices whose answer is known.
 */
#ifndef MMX_ANALYZE_H
#define MMX_ANALYZE_H

#include <mmx/mmx-data.h>
#include <mmx/mmx-exec.h>

G_BEGIN_DECLS

#define MMX_ANALYZE_ERROR (mmx_analyze_error_quark())
MMX_API GQuark mmx_analyze_error_quark(void);
typedef enum mmx_analyze_error_code {
    MMX_ANALYZE_ERROR_INPUT, /* a matrix or sample the statistic cannot be computed on */
} mmx_analyze_error_code;

/* Fewer tail points than this and a power-law fit says it is unreliable. */
#define MMX_ANALYZE_POWER_LAW_MIN_TAIL 50

/* cos(V, K^T): K is [rows, cols], V is [cols, rows]. 0 when either is all zeros.
 * Cannot fail. */
MMX_API double mmx_analyze_cosine_transpose(const float *v, const float *k, int64_t rows,
                                            int64_t cols);

/* The fractions of ||W||_F^2 in the symmetric part (W+W^T)/2 and the antisymmetric part
 * (W-W^T)/2 of a square [n, n] matrix (W in double precision; they add to 1; both 0 for
 * the zero matrix). Cannot fail. */
MMX_API void mmx_analyze_symmetry_split(const double *w, int64_t n, double *sym, double *anti);

/* The min(rows, cols) singular values of the [rows, cols] matrix w, largest first, into
 * sv (the caller's array): square roots of the eigenvalues of the smaller Gram matrix,
 * found by cyclic Jacobi rotations in double precision. False with MMX_ANALYZE_ERROR_INPUT
 * when a dimension is not positive or the Gram matrix is larger than 4096 wide. */
MMX_API bool mmx_analyze_singular_values(const float *w, int64_t rows, int64_t cols, double *sv,
                                         GError **error);

/* exp of the entropy of p_i = s_i / sum s (Roy & Vetterli): k for k equal nonzero values.
 * 0 when every value is 0. Cannot fail. */
MMX_API double mmx_analyze_effective_rank(const double *sv, int64_t n);
/* sum s_i^2 / max s_i^2; 0 when every value is 0. Cannot fail. */
MMX_API double mmx_analyze_stable_rank(const double *sv, int64_t n);

typedef struct mmx_power_law {
    double alpha;   /* density ~ x^-alpha above xmin (continuous MLE) */
    double xmin;    /* the start of the tail, chosen by the least KS distance */
    double ks;      /* Kolmogorov-Smirnov distance of the tail to the fitted law */
    int64_t n_tail; /* samples >= xmin */
    int64_t n;      /* positive samples given */
    bool reliable;  /* n_tail >= MMX_ANALYZE_POWER_LAW_MIN_TAIL */
} mmx_power_law;

/* Fits a power law to the positive values of x[n] (the caller's; not modified). Every
 * distinct value leaving at least 5 samples in the tail is tried as xmin. False with
 * MMX_ANALYZE_ERROR_INPUT ("... needs at least 5 distinct positive values ...") when
 * there is no such candidate. */
MMX_API bool mmx_analyze_power_law(const double *x, int64_t n, mmx_power_law *fit, GError **error);

/* Loads the checkpoint at path into model (its parameters are overwritten) and analyzes
 * every mixer of its graph: a node "P.key" with a 2-D weight and a node "P.value" beside
 * it. A new JSON document {"weights", "spec_name", "symmetry": [...], "spectra": [...]}
 * Each "symmetry" entry: mixer, axis, key and value parameter names, tied, cosine,
 * coupling_symmetric, coupling_antisymmetric; the document's mean_cosine is their mean.
 * Each "spectra" entry: node, role, axis, shape, singular_values, effective_rank, stable_rank
 * and power_law {alpha, xmin, ks, n_tail, n_eigenvalues, reliable}. NULL with the loader's error when the file is not
 * a safetensors file (MMX_CHECKPOINT_ERROR) or does not fit the model (MMX_EXEC_ERROR:
 * a missing parameter or a shape that differs, named), or MMX_ANALYZE_ERROR_INPUT when
 * the graph has no mixer. */
MMX_API json_t *mmx_analyze_checkpoint(mmx_model *model, const char *path, GError **error);

/* The same analysis of the weights model holds now (no file read): {"symmetry",
 * "spectra", "mean_cosine"}. what names the weights in the error of a graph without a
 * mixer. */
MMX_API json_t *mmx_analyze_model(mmx_model *model, const char *what, GError **error);

/* ---- runs and sweeps (core/analyze-run.c) ---- */

/* A run folder as mmx train writes it: the spec from its config.json, then the weights
 * at initialization (epoch 0: the run's seed gives them again, exactly), every
 * epoch-<e>.safetensors (train.checkpoint_every) in epoch order, and final.safetensors
 * when its epoch is not one of those. A new document {"run", "spec_name", "checkpoints":
 * [{"epoch", "weights" (null at initialization), "final", "symmetry", "spectra",
 * "mean_cosine"}...], "series": [{"mixer", "axis", "tied", "epoch": [...], "cosine":
 * [...], "coupling_symmetric": [...]}...]} (a series per mixer, one value per
 * checkpoint). MMX_ANALYZE_ERROR_INPUT naming the file when config.json is missing or has
 * no spec, or when the folder holds no weights; a checkpoint that does not fit the spec
 * gives the loader's error, which names it. */
MMX_API json_t *mmx_analyze_run(mmx_registry *reg, const char *dir, GError **error);

/* The spec of a run folder (its config.json's resolved copy, loaded with reg) and, in
 * *seed, the run's seed. MMX_ANALYZE_ERROR_INPUT naming the file when config.json is
 * missing or has no spec; the spec reader's error when the spec does not load. */
MMX_API mmx_spec *mmx_analyze_run_spec(mmx_registry *reg, const char *dir, uint64_t *seed,
                                       GError **error);

/* A sweep folder (sweep.json, trials/<id>/): each planned trial's run folder, in plan
 * order. {"sweep", "trials": [{"trial", "variant", "seed", "analysis": a run document}],
 * "skipped": [{"trial", "reason"}]} (trials without weights yet, or failed to analyze).
 * MMX_ANALYZE_ERROR_INPUT when sweep.json cannot be read or no trial has weights. */
MMX_API json_t *mmx_analyze_sweep(mmx_registry *reg, const char *dir, GError **error);

/* The Hopfield energy of the tied parallel blocks of model (core/analyze-energy.c): each
 * block x' = x + y(LN(x)) whose mixers are tied, key - activation - value along tokens or
 * channels (hopfield-parallel.json), has the energy
 *     E(z) = |z|^2 / 2 - sum_mixers [ sum L(W z + b) + c . z ],   L' = act (gelu, relu,
 *     identity, sigmoid), L(0) = 0,
 * whose gradient is z - y(z). For the first `limit` images of ds (all when limit <= 0),
 * normalized with stats, E is evaluated with the block's weights and layer norm at
 * LN(x) and at LN(x'). A new document {"data", "inputs", "blocks": [{"block", "mixers",
 * "mean_energy_in", "mean_energy_out", "decreased" (the fraction of inputs whose energy
 * the block's update lowered)}]}. MMX_ANALYZE_ERROR_INPUT when the model has no such block
 * or a block's mixer is untied, has more than key, activation and value, or an
 * activation without a closed-form Lagrangian (the message names the mixer). */
MMX_API json_t *mmx_analyze_energy(mmx_model *model, const mmx_dataset *ds,
                                   const mmx_norm_stats *stats, int64_t limit, GError **error);

/* The key-value memory view of the channel mixers of model (core/analyze-memory.c): for
 * every node "P.key" whose output is [tokens, keys] on a token grid that tiles the images
 * of ds, over the first `limit` images (all when limit <= 0): per key, the `ntop` tokens
 * with the largest pre-activation h (image index, token, h), the mean of max(h, 0) over
 * all tokens ("usage"), the keys never positive ("dead"), and the entropy H of the usage
 * shares with exp(H) ("effective_keys"). {"data", "inputs", "mixers": [{"mixer", "keys",
 * "grid", "patch", "dead", "usage_entropy", "effective_keys", "usage", "top"}]}.
 * MMX_ANALYZE_ERROR_INPUT when no key reads such a grid. */
MMX_API json_t *mmx_analyze_memory(mmx_model *model, const mmx_dataset *ds,
                                   const mmx_norm_stats *stats, int64_t limit, int ntop,
                                   GError **error);
/* memory-<mixer>.svg in dir per mixer of a memory view made on ds: the most used keys
 * (at most 32) as rows, each with the image patches of its top tokens; their paths are
 * appended to files (may be NULL). */
MMX_API bool mmx_analyze_memory_svg(json_t *memory, const mmx_dataset *ds, const char *dir,
                                    GPtrArray *files, GError **error);

/* A sweep document's symmetry over training by variant (the trials' "variant" labels, in
 * plan order): [{"variant", "trials", "epoch": [...], "mean_cosine": [...]}], each epoch's
 * value the mean over the variant's trials that have that epoch of their checkpoints'
 * mean cosines. New reference. */
MMX_API json_t *mmx_analyze_sweep_series(json_t *sweep);
/* The same as a Markdown section ("## Symmetry over training", a table of variants by
 * epoch, the plot PLOTS_DIR/symmetry.svg when plots_dir is not NULL, then the trials not
 * analyzed with the reason), for mmx report. Newly allocated. */
MMX_API char *mmx_analyze_sweep_markdown(json_t *sweep, const char *plots_dir);
/* The same as symmetry.svg's plot, one line per variant, written to path. */
MMX_API bool mmx_analyze_sweep_symmetry_svg(json_t *sweep, const char *path, GError **error);

/* The readable form of any of the three documents (checkpoint, run, sweep): per mixer,
 * the cosine, the coupling's symmetric / antisymmetric split; per matrix, the effective
 * and stable rank and the power-law exponent with its KS distance and tail size; for a run,
 * the symmetry series over its checkpoints; and the energy table when the document has an
 * "energy" member (mmx_analyze_energy's) and the memory table when it has a "memory"
 * member (mmx_analyze_memory's). Newly allocated. */
MMX_API char *mmx_analyze_text(json_t *doc);

/* SVG plots of any of the three documents into dir (created): spectra.svg (the singular
 * values of every matrix of a checkpoint, normalized by the largest, against their rank;
 * of a run: its last checkpoint), symmetry.svg (a run: cosine(V, K^T) per mixer over the
 * epochs; a sweep: the mean cosine per trial), and for a sweep spectra-<trial>.svg. *files
 * (may be NULL) gets the paths written (a new array of strings). */
MMX_API bool mmx_analyze_write_svg(json_t *doc, const char *dir, GPtrArray **files,
                                   GError **error);

G_END_DECLS

#endif /* MMX_ANALYZE_H */
