/* tensor-avx2.c: the tensor primitives on 8 lanes (avx2). Same maths as the scalar
 * primitives in tensor.c; the body is tensor-simd.inc, shared with the other ISA file. */
#include "../common/simd-vocab-avx2.h"
#include "tensor-private.h"

#include "tensor-simd.inc"
