/* linear-avx512.c: linear's row maps (bias add, bias-gradient sums, partial sums) on 16
 * lanes. The GEMMs themselves are the host's; see linear.c. */
#include "../common/simd-vocab-avx512.h"
#include "linear-private.h"

#include "linear-simd.inc"
