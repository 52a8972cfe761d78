/* test-abi.c: freezes the layout of the released plugin ABI (1.0, 1.1) on LP64.
 *
 * A plugin built against ABI 1.0 reads these offsets forever. If this test fails you
 * moved or resized a released field: append new fields at the end of the struct instead
 * (and bump MMX_PLUGIN_ABI_MINOR), never reorder or change released ones. Value types
 * (mmx_shape, mmx_attr_value, mmx_param_info) are frozen whole, sizes included.
 */
#include <stddef.h>

#include "test-util.h"

#define OFF(T, f, n) ck_assert_msg(offsetof(T, f) == (n), #T "." #f " moved: %zu, released at %d", \
                                   offsetof(T, f), (int)(n))
#define SIZE(T, n) ck_assert_msg(sizeof(T) == (n), "sizeof(" #T ") changed: %zu, released as %d", \
                                 sizeof(T), (int)(n))

START_TEST(test_released_layout)
{
    ck_assert_int_eq(sizeof(void *), 8);
    SIZE(mmx_shape, 48);
    OFF(mmx_shape, rank, 0);
    OFF(mmx_shape, height, 4);
    OFF(mmx_shape, width, 8);
    OFF(mmx_shape, dim, 16);
    SIZE(mmx_attr_value, 96);
    OFF(mmx_attr_value, is_set, 0);
    OFF(mmx_attr_value, count, 4);
    OFF(mmx_attr_value, i, 8);
    OFF(mmx_attr_value, f, 16);
    OFF(mmx_attr_value, s, 24);
    OFF(mmx_attr_value, ints, 32);
    SIZE(mmx_param_info, 88);
    OFF(mmx_param_info, shape, 0);
    OFF(mmx_param_info, init, 48);
    OFF(mmx_param_info, init_a, 56);
    OFF(mmx_param_info, init_b, 64);
    OFF(mmx_param_info, fan_in, 72);
    OFF(mmx_param_info, fan_out, 80);
    OFF(mmx_attr_desc, struct_size, 0);
    OFF(mmx_attr_desc, name, 8);
    OFF(mmx_attr_desc, type, 16);
    OFF(mmx_attr_desc, flags, 20);
    OFF(mmx_attr_desc, doc, 24);
    OFF(mmx_attr_desc, default_number, 32);
    OFF(mmx_attr_desc, default_string, 40);
    OFF(mmx_attr_desc, choices, 48);
    OFF(mmx_attr_desc, min, 56);
    OFF(mmx_attr_desc, max, 64);
    OFF(mmx_attr_desc, default_count, 72);
    OFF(mmx_attr_desc, default_ints, 80);
    OFF(mmx_param_desc, struct_size, 0);
    OFF(mmx_param_desc, name, 8);
    OFF(mmx_param_desc, flags, 16);
    OFF(mmx_param_desc, doc, 24);
    OFF(mmx_param_desc, init, 32);
    OFF(mmx_param_desc, init_a, 40);
    OFF(mmx_param_desc, init_b, 48);
    OFF(mmx_ctx, struct_size, 0);
    OFF(mmx_ctx, host, 8);
    OFF(mmx_ctx, host_data, 16);
    OFF(mmx_node, struct_size, 0);
    OFF(mmx_node, name, 8);
    OFF(mmx_node, attrs, 16);
    OFF(mmx_node, n_inputs, 24);
    OFF(mmx_node, inputs, 32);
    OFF(mmx_node, output, 40);
    OFF(mmx_node, n_params, 88);
    OFF(mmx_node, params, 96);
    OFF(mmx_kernel_args, struct_size, 0);
    OFF(mmx_kernel_args, node, 8);
    OFF(mmx_kernel_args, batch, 16);
    OFF(mmx_kernel_args, training, 24);
    OFF(mmx_kernel_args, rng_key, 32);
    OFF(mmx_kernel_args, in, 40);
    OFF(mmx_kernel_args, out, 48);
    OFF(mmx_kernel_args, param, 56);
    OFF(mmx_kernel_args, workspace, 64);
    OFF(mmx_kernel_args, saved, 72);
    OFF(mmx_kernel_args, grad_out, 80);
    OFF(mmx_kernel_args, grad_in, 88);
    OFF(mmx_kernel_args, grad_param, 96);
    OFF(mmx_host, struct_size, 0);
    OFF(mmx_host, abi_major, 4);
    OFF(mmx_host, abi_minor, 8);
    OFF(mmx_host, alloc, 16);
    OFF(mmx_host, free, 24);
    OFF(mmx_host, log, 32);
    OFF(mmx_host, error, 40);
    OFF(mmx_host, parallel_for, 48);
    OFF(mmx_host, sgemm, 56);
    OFF(mmx_host, sgemm_batched, 64);
    OFF(mmx_host, cpu_isa, 72);
    OFF(mmx_host, philox, 80);
    OFF(mmx_kernel_desc, struct_size, 0);
    OFF(mmx_kernel_desc, name, 8);
    OFF(mmx_kernel_desc, isa, 16);
    OFF(mmx_kernel_desc, forward, 24);
    OFF(mmx_kernel_desc, backward, 32);
    OFF(mmx_cost, struct_size, 0);
    OFF(mmx_cost, flops, 8);
    OFF(mmx_cost, bytes, 16);
    OFF(mmx_buffer_sizes, struct_size, 0);
    OFF(mmx_buffer_sizes, workspace, 8);
    OFF(mmx_buffer_sizes, saved, 16);
    OFF(mmx_op_desc, struct_size, 0);
    OFF(mmx_op_desc, name, 8);
    OFF(mmx_op_desc, op_version, 16);
    OFF(mmx_op_desc, doc, 24);
    OFF(mmx_op_desc, min_inputs, 32);
    OFF(mmx_op_desc, max_inputs, 36);
    OFF(mmx_op_desc, input_roles, 40);
    OFF(mmx_op_desc, n_attrs, 48);
    OFF(mmx_op_desc, attrs, 56);
    OFF(mmx_op_desc, n_params, 64);
    OFF(mmx_op_desc, params, 72);
    OFF(mmx_op_desc, infer, 80);
    OFF(mmx_op_desc, buffer_sizes, 88);
    OFF(mmx_op_desc, cost, 96);
    OFF(mmx_op_desc, n_kernels, 104);
    OFF(mmx_op_desc, kernels, 112);
    OFF(mmx_op_desc, examples, 120);
    OFF(mmx_plugin_desc, struct_size, 0);
    OFF(mmx_plugin_desc, abi_major, 4);
    OFF(mmx_plugin_desc, abi_minor, 8);
    OFF(mmx_plugin_desc, name, 16);
    OFF(mmx_plugin_desc, version, 24);
    OFF(mmx_plugin_desc, doc, 32);
    OFF(mmx_plugin_desc, n_ops, 40);
    OFF(mmx_plugin_desc, ops, 48);
}
END_TEST

/* 1.1: the op flags appended to mmx_op_desc, and the constants their contracts name (a
 * plugin compiled against 1.1 sums its bias gradient in chunks of MMX_ROW_GRAIN rows). */
START_TEST(test_released_layout_1_1)
{
    OFF(mmx_op_desc, flags, 128);
    OFF(mmx_op_desc, node_flags, 136);
    SIZE(mmx_op_desc, 144);
    ck_assert_int_eq(MMX_OP_ELEMENTWISE, 0x1);
    ck_assert_int_eq(MMX_OP_BIAS_EPILOGUE, 0x2);
    ck_assert_int_eq(MMX_OP_ROW_BIAS_EPILOGUE, 0x4);
    ck_assert_int_eq(MMX_OP_RESIDUAL_ADD, 0x8);
    ck_assert_int_eq(MMX_ROW_GRAIN, 256);
    ck_assert_int_eq(MMX_ELEMENTWISE_ALIGN, 16);
}
END_TEST

START_TEST(test_versions)
{
    ck_assert_int_eq(MMX_PLUGIN_ABI_MAJOR, 1);
    ck_assert_int_eq(MMX_PLUGIN_ABI_MINOR, 1);
    ck_assert_str_eq(MMX_PLUGIN_ENTRY_NAME, "mmx_plugin_entry_v1");
    const mmx_host *host = mmx_host_get();
    ck_assert_int_eq(host->struct_size, sizeof(mmx_host));
    ck_assert_int_eq(host->abi_major, MMX_PLUGIN_ABI_MAJOR);
    ck_assert_int_eq(host->abi_minor, MMX_PLUGIN_ABI_MINOR);
    /* Every service of ABI 1.0 is present. */
    ck_assert(host->alloc != NULL);
    ck_assert(host->free != NULL);
    ck_assert(host->log != NULL);
    ck_assert(host->error != NULL);
    ck_assert(host->parallel_for != NULL);
    ck_assert(host->sgemm != NULL);
    ck_assert(host->sgemm_batched != NULL);
    ck_assert(host->cpu_isa != NULL);
    ck_assert(host->philox != NULL);
}
END_TEST

START_TEST(test_status_and_isa_names)
{
    ck_assert_str_eq(mmx_status_text(MMX_OK), "ok");
    ck_assert_str_eq(mmx_status_text(MMX_ERR_NOMEM), "out of memory");
    ck_assert_str_eq(mmx_status_text(999), "unknown status");
    ck_assert_str_eq(mmx_isa_name(MMX_ISA_SCALAR), "scalar");
    ck_assert_str_eq(mmx_isa_name(MMX_ISA_AVX2), "avx2");
    ck_assert_str_eq(mmx_isa_name(MMX_ISA_AVX512), "avx512");
    mmx_isa isa;
    ck_assert(mmx_isa_from_name("avx2", &isa) && isa == MMX_ISA_AVX2);
    ck_assert(!mmx_isa_from_name("sse9", &isa));
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("abi");
    TCase *tc = tcase_create("layout");
    tcase_add_test(tc, test_released_layout);
    tcase_add_test(tc, test_released_layout_1_1);
    tcase_add_test(tc, test_versions);
    tcase_add_test(tc, test_status_and_isa_names);
    suite_add_tcase(s, tc);
    return mmx_test_run(s);
}
