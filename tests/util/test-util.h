/* test-util.h: helpers shared by the Check suites. */
#ifndef MMX_TEST_UTIL_H
#define MMX_TEST_UTIL_H

#include <check.h>
#include <mmx/mmx.h>

/* Runs the suite with TAP output on stdout (meson counts each test) and returns the
 * process exit status. Check's fork mode stays on: each test has its own process, so a
 * crash fails one test and ASan reports leaks per test. */
int mmx_test_run(Suite *suite);

/* A registry with the build tree's plugins (MMX_PLUGIN_PATH set by tests/meson.build). */
mmx_registry *mmx_test_registry(void);

/* build/tests/fixtures/<name>.so, newly allocated. */
char *mmx_test_fixture(const char *name);
/* A path under the source tree or tests/data, newly allocated. */
char *mmx_test_source_path(const char *relative);
char *mmx_test_data_path(const char *relative);

/* A fresh temporary directory (removed with its contents at exit of the test process). */
char *mmx_test_tmpdir(void);

/* Runs the mmx binary with argv (NULL-terminated, without "mmx"), optional stdin text;
 * returns its exit status and its output (newly allocated). */
int mmx_test_run_mmx(const char *const *args, char **out, char **err);

/* Starts the mmx binary with argv (NULL-terminated, without "mmx") without waiting:
 * stdout goes to /dev/null, stderr to a pipe (*errfd) for mmx_test_wait_mmx. */
GPid mmx_test_spawn_mmx(const char *const *args, int *errfd);
/* Waits for pid; returns its exit status (128 + signal when killed); *err gets what it
 * wrote to errfd (newly allocated), which is closed. */
int mmx_test_wait_mmx(GPid pid, int errfd, char **err);

/* Asserts that haystack contains needle, printing both otherwise. */
#define ck_assert_contains(haystack, needle)                                                       \
    ck_assert_msg((haystack) != NULL && strstr((haystack), (needle)) != NULL,                     \
                  "expected to find \"%s\" in:\n%s", (needle), (haystack) ? (haystack) : "(null)")

/* Fails the test with the conformance kit's whole report when a check failed. Check caps
 * assertion messages at 4 KB and a report is longer; the cap is raised for this one
 * message only, because a large cap slows every assertion down. */
#define mmx_test_assert_check_passed(report)                                                       \
    do {                                                                                           \
        const mmx_check_report *report_ = (report);                                                \
        if (!mmx_check_report_passed(report_)) {                                                   \
            char *text_ = mmx_check_report_text(report_);                                          \
            check_set_max_msg_size(strlen(text_) + 4096);                                          \
            ck_abort_msg("%s", text_);                                                             \
        }                                                                                          \
    } while (0)

/* A model spec under tests/data (relative path) loaded with the build tree's plugins,
 * and its graph; the test fails with the message when either is refused. */
typedef struct mmx_test_model {
    mmx_registry *reg;
    mmx_spec *spec;
    mmx_graph *graph;
} mmx_test_model;
void mmx_test_model_load(mmx_test_model *m, const char *relative);
void mmx_test_model_clear(mmx_test_model *m);

/* Fills with a deterministic non-uniform pattern: magnitudes in [0.1, 1], random signs. */
void mmx_test_fill(float *x, int64_t n, uint64_t seed);

#endif
