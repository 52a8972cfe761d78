/* tensor-avx512.c: the tensor primitives on 16 lanes (avx512). Same maths as the scalar
 * primitives in tensor.c; the body is tensor-simd.inc, shared with the other ISA file. */
#include "../common/simd-vocab-avx512.h"
#include "tensor-private.h"

#include "tensor-simd.inc"
