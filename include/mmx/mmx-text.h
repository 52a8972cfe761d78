/* mmx-text.h: text corpora for causal language modeling, byte-level tokens.
 *
 *     g_autoptr(mmx_corpus) c = mmx_corpus_load("jargon", 0.1, 129, &error);
 *
 * The tokenizer is the identity on bytes: a token is one byte of the UTF-8 text (vocab
 * 256), so bits per token are bits per byte. A corpus is a UTF-8 text file (plain or
 * gzip), a folder of such files (*.txt, *.txt.gz, read in name order), the named corpus
 * "jargon" (the Jargon File of Debian's jargon-text package) or the generated
 * "synthetic-text[:BYTES]" (a deterministic, learnable corpus for tests). Its documents
 * are the files of a folder, or the paragraphs (separated by blank lines) of a single
 * file. The split is by document and needs no seed: with D documents and a validation
 * fraction f, round(f*D) documents (at least 1) are held out, spread evenly: document i
 * is held out when floor((i+1)*V/D) > floor(i*V/D). Each split is its documents joined
 * with a blank line ("\n\n"). Bad input (a missing, empty or binary file, invalid UTF-8,
 * too few documents, a split smaller than min_tokens) is an error naming the file.
 */
#ifndef MMX_TEXT_H
#define MMX_TEXT_H

#include <mmx/mmx-data.h>

G_BEGIN_DECLS

#define MMX_TEXT_VOCAB 256

typedef struct mmx_corpus mmx_corpus;

/* Loads a corpus (see above) and splits it; both splits must hold at least min_tokens
 * tokens (a context plus its next-token target). */
MMX_API mmx_corpus *mmx_corpus_load(const char *source, double val_fraction,
                                    int64_t min_tokens, GError **error);
MMX_API void mmx_corpus_free(mmx_corpus *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(mmx_corpus, mmx_corpus_free)

MMX_API const char *mmx_corpus_name(const mmx_corpus *c);
/* The file or folder read ("synthetic-text" for the generated corpus). */
MMX_API const char *mmx_corpus_path(const mmx_corpus *c);
/* The tokens of the training (val = false) or validation split (borrowed), and their count. */
MMX_API const uint8_t *mmx_corpus_tokens(const mmx_corpus *c, bool val, int64_t *n);
MMX_API int64_t mmx_corpus_documents(const mmx_corpus *c, bool val);

/* The unigram baseline: the cross-entropy in bits per byte of the validation split under
 * the byte frequencies of the training split (add-one smoothed over the 256 bytes). */
MMX_API double mmx_corpus_unigram_bpb(const mmx_corpus *c);

/* Byte-level tokenizer: token i = byte i of text (len tokens). */
MMX_API void mmx_text_encode(const char *text, size_t len, int32_t *tokens);

/* Writes n windows of `context` tokens: inputs[b][t] = tokens[start_b + t] (as floats, the
 * model's input) and targets[b][t] = tokens[start_b + t + 1]. */
MMX_API void mmx_text_windows(const uint8_t *tokens, const int64_t *starts, int64_t n,
                              int64_t context, float *inputs, int32_t *targets);

/* The start of training window `index` of an epoch: uniform over [0, n_tokens - context - 1]
 * from Philox keyed by key, counter index. */
MMX_API int64_t mmx_text_window_start(uint64_t key, int64_t index, int64_t n_tokens,
                                      int64_t context);

G_END_DECLS

#endif
