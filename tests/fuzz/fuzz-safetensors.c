/* fuzz-safetensors.c: libFuzzer target for the safetensors reader: the header length,
 * the JSON header, dtypes, shapes, data offsets (out of bounds, overlapping, not matching
 * the shape) and metadata. A file that is accepted is read back completely: every tensor
 * must have exactly its shape's worth of readable data.
 */
#include <string.h>

#include <mmx/mmx.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    GError *error = NULL;
    mmx_safetensors *st = mmx_safetensors_read_data(data, size, "fuzz.safetensors", &error);
    if (st == NULL) {
        g_error_free(error);
        return 0;
    }
    volatile float sink = 0;
    for (size_t i = 0; i < mmx_safetensors_count(st); i++) {
        const mmx_st_tensor *t = mmx_safetensors_tensor(st, i);
        int64_t n = 1;
        for (int d = 0; d < t->rank; d++)
            n *= t->dims[d];
        /* An accepted tensor's elements are all there (ASan checks every read). */
        for (int64_t k = 0; k < n; k++)
            sink += t->data[k];
        if (mmx_safetensors_find(st, t->name) != t)
            __builtin_trap();
    }
    (void)sink;
    (void)mmx_safetensors_metadata(st, "spec_name");
    mmx_safetensors_free(st);
    return 0;
}
