/* fuzz-results.c: libFuzzer target for the JSON Lines reader and the fold of a sweep's
 * results.jsonl: the input is the log of a small fixed sweep folder (three trials of two
 * variants, one of them the baseline). It is read as a log (torn last line, bad lines,
 * duplicate keys), folded and turned into the report's statistics and every table; then
 * opened for append, which cuts off a torn last line, and read again: the repair must
 * not change what the reader sees.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gstdio.h>
#include <mmx/mmx.h>

static char *dir, *log_path, *manifest_path;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char manifest[] =
    "{\"mmx_sweep_manifest\": 1, \"name\": \"fuzz\", \"trials\": [\n"
    " {\"index\": 0, \"id\": \"a\", \"config\": \"c1\", \"variant\": \"base\", \"seed\": 0,\n"
    "  \"state\": \"run\", \"baseline\": true, \"params\": 10, \"flops\": 100},\n"
    " {\"index\": 1, \"id\": \"b\", \"config\": \"c1\", \"variant\": \"base\", \"seed\": 1,\n"
    "  \"state\": \"run\", \"baseline\": true},\n"
    " {\"index\": 2, \"id\": \"c\", \"config\": \"c2\", \"variant\": \"other\", \"seed\": 0,\n"
    "  \"state\": \"run\"}]}\n";

static void
cleanup(void)
{
    g_unlink(log_path);
    g_unlink(manifest_path);
    g_rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    dir = g_dir_make_tmp("mmx-fuzz-results-XXXXXX", NULL);
    if (dir == NULL)
        return 0;
    manifest_path = g_build_filename(dir, "sweep.json", NULL);
    g_file_set_contents(manifest_path, manifest, -1, NULL);
    log_path = g_build_filename(dir, "results.jsonl", NULL);
    atexit(cleanup);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (log_path == NULL || !g_file_set_contents(log_path, (const char *)data, (gssize)size, NULL))
        return 0;
    GError *error = NULL;
    bool torn = false;
    json_t *before = mmx_jsonl_read_all(log_path, &torn, &error);
    g_clear_error(&error);

    mmx_report *report = mmx_report_new(dir, &error);
    if (report) {
        char *md = mmx_report_markdown(report, "plots");
        char *csv = mmx_report_csv(report);
        json_t *j = mmx_report_to_json(report);
        free(md);
        free(csv);
        json_decref(j);
        mmx_report_free(report);
    }
    g_clear_error(&error);

    mmx_jsonl *log = mmx_jsonl_open(log_path, 0, &error);
    g_clear_error(&error);
    mmx_jsonl_free(log);
    bool torn_after = false;
    json_t *after = mmx_jsonl_read_all(log_path, &torn_after, &error);
    g_clear_error(&error);
    /* The repair cuts off only what the reader skips: a log that read before reads the
     * same records after it, and one that had no torn line still has none. */
    if (before && !(after && json_equal(before, after)))
        abort();
    if (before && !torn && torn_after)
        abort();
    json_decref(before);
    json_decref(after);
    return 0;
}
