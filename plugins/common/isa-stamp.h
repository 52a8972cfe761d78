/* isa-stamp.h: the macros that stamp one copy of a family's code per ISA.
 *
 * Two halves. The ISA files (<family>-avx2.c, -avx512.c) compile one body,
 * <family>-simd.inc, once per ISA against the vocabulary of simd-vocab-<isa>.h; the body
 * names what it exports with CAT(prefix, SUFFIX) and marks hot helpers INLINE. The
 * family's own file (<family>.c) then stamps the kernel descriptors over those per-ISA
 * tables with MMX_ISA_KERNELS.
 *
 * MMX_ISA_KERNELS lives here, not in the SDK header: it encodes the shipped plugins'
 * conventions (a table object <table><isa> per ISA for the three ISAs this build
 * compiles, drivers taking that table), which the ABI does not impose; a third-party
 * plugin with its own layout gains nothing from it, and the ABI header would freeze it.
 */
#ifndef MMX_ISA_STAMP_H
#define MMX_ISA_STAMP_H

#include <mmx/mmx-plugin.h>

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)

/* For the small helpers of a body that must not cost a call in an inner loop. */
#define INLINE static inline __attribute__((always_inline))

/* The ISA level of each suffix MMX_ISA_KERNELS stamps. */
#define MMX_STAMP_LEVEL_scalar MMX_ISA_SCALAR
#define MMX_STAMP_LEVEL_avx2 MMX_ISA_AVX2
#define MMX_STAMP_LEVEL_avx512 MMX_ISA_AVX512

#define MMX_STAMP_KERNEL(id, label, sfx, table, fwd, bwd)                                          \
    static int id##_fwd_##sfx(mmx_ctx *ctx, const mmx_kernel_args *a)                              \
    {                                                                                              \
        return fwd(ctx, a, &table##sfx);                                                           \
    }                                                                                              \
    static int id##_bwd_##sfx(mmx_ctx *ctx, const mmx_kernel_args *a)                              \
    {                                                                                              \
        return bwd(ctx, a, &table##sfx);                                                           \
    }                                                                                              \
    static const mmx_kernel_desc id##_kernel_##sfx = {.struct_size = sizeof(mmx_kernel_desc),      \
                                                      .name = label "_" #sfx,                      \
                                                      .isa = MMX_STAMP_LEVEL_##sfx,                \
                                                      .forward = id##_fwd_##sfx,                   \
                                                      .backward = id##_bwd_##sfx};

/* One kernel per ISA for an op and the array the op descriptor points at,
 * id_kernels[] = {scalar, avx2, avx512}: kernel "<label>_<isa>" runs
 * fwd(ctx, args, &<table><isa>) forward and bwd(ctx, args, &<table><isa>) backward. label
 * is a string literal; table the prefix of the per-ISA objects (tensor_ for tensor_scalar,
 * tensor_avx2, tensor_avx512). Adding an ISA? Add its level above and its line here. */
#define MMX_ISA_KERNELS(id, label, table, fwd, bwd)                                                \
    MMX_STAMP_KERNEL(id, label, scalar, table, fwd, bwd)                                           \
    MMX_STAMP_KERNEL(id, label, avx2, table, fwd, bwd)                                             \
    MMX_STAMP_KERNEL(id, label, avx512, table, fwd, bwd)                                           \
    static const mmx_kernel_desc *const id##_kernels[] = {&id##_kernel_scalar, &id##_kernel_avx2,  \
                                                          &id##_kernel_avx512};

#endif
