/* cpu.c: which ISA level this CPU and OS run, and the MMX_ISA cap.
 *
 * A CPU flag alone is not enough: the OS must also save the wide registers on a context
 * switch (XCR0 via XGETBV), otherwise AVX code faults or corrupts state. Both are checked.
 */
#include "mmx-private.h"

#include <stdio.h>
#include <string.h>

/* MMX_OP_ERROR, the domain whose codes are mmx_status values, lives here because this is
 * the lowest module that raises it (a bad MMX_ISA): op.c, fuse.c and the conformance kit
 * raise it too, and they depend on this file, never the reverse. */
// clang-format off
G_DEFINE_QUARK(mmx-op-error-quark, mmx_op_error)
// clang-format on

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t
xgetbv0(void)
{
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

static mmx_isa
detect(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return MMX_ISA_SCALAR;
    bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28),
         f16c = c & (1u << 29);
    if (!osxsave || !avx)
        return MMX_ISA_SCALAR;
    uint64_t xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) /* SSE and AVX state */
        return MMX_ISA_SCALAR;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return MMX_ISA_SCALAR;
    bool avx2 = b & (1u << 5);
    if (!(avx2 && fma && f16c))
        return MMX_ISA_SCALAR;
    bool f = b & (1u << 16), dq = b & (1u << 17), cd = b & (1u << 28), bw = b & (1u << 30),
         vl = b & (1u << 31);
    if (f && dq && cd && bw && vl && (xcr0 & 0xE0) == 0xE0) /* opmask, ZMM_Hi256, Hi16_ZMM */
        return MMX_ISA_AVX512;
    return MMX_ISA_AVX2;
}
#else
static mmx_isa
detect(void)
{
    return MMX_ISA_SCALAR;
}
#endif

static const char *const isa_names[] = {
#define MMX__ISA_NAME(name, value, text) [value] = text,
    MMX_ISA_LIST(MMX__ISA_NAME)
#undef MMX__ISA_NAME
};

const char *
mmx_isa_name(mmx_isa isa)
{
    if ((unsigned)isa < G_N_ELEMENTS(isa_names))
        return isa_names[isa];
    return "unknown";
}

bool
mmx_isa_from_name(const char *name, mmx_isa *out)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(isa_names); i++)
        if (name && strcmp(name, isa_names[i]) == 0) {
            *out = (mmx_isa)i;
            return true;
        }
    return false;
}

mmx_isa
mmx_cpu_isa_detected(void)
{
    static gsize once;
    static mmx_isa detected;
    if (g_once_init_enter(&once)) {
        detected = detect();
        g_once_init_leave(&once, 1);
    }
    return detected;
}

static int isa_cap = -1; /* -1: not read yet */

void
mmx_set_isa_cap(mmx_isa cap)
{
    g_atomic_int_set(&isa_cap, (int)cap);
}

bool
mmx_isa_cap_from_env(GError **error)
{
    const char *env = g_getenv("MMX_ISA");
    if (env == NULL || *env == '\0') {
        mmx_set_isa_cap(MMX_ISA_AVX512);
        return true;
    }
    mmx_isa cap;
    if (!mmx_isa_from_name(env, &cap)) {
        g_set_error(error, MMX_OP_ERROR, MMX_ERR_INVALID,
                    "MMX_ISA=%s: expected one of scalar, avx2, avx512", env);
        return false;
    }
    mmx_set_isa_cap(cap);
    return true;
}

mmx_isa
mmx_cpu_isa(void)
{
    int cap = g_atomic_int_get(&isa_cap);
    if (cap < 0) {
        /* An invalid MMX_ISA here means no cap; the CLI rejects it up front. */
        if (!mmx_isa_cap_from_env(NULL))
            mmx_set_isa_cap(MMX_ISA_AVX512);
        cap = g_atomic_int_get(&isa_cap);
    }
    mmx_isa d = mmx_cpu_isa_detected();
    return (int)d < cap ? d : (mmx_isa)cap;
}

char *
mmx_cpu_model(void)
{
    g_autofree char *text = NULL;
    if (g_file_get_contents("/proc/cpuinfo", &text, NULL, NULL)) {
        for (char *line = text; line && *line;) {
            char *end = strchr(line, '\n');
            if (end)
                *end = '\0';
            if (g_str_has_prefix(line, "model name")) {
                char *colon = strchr(line, ':');
                if (colon)
                    return g_strstrip(g_strdup(colon + 1));
            }
            line = end ? end + 1 : NULL;
        }
    }
    return g_strdup("unknown CPU");
}
