/* sweep-run.c: the coordinator: runs a plan's trials as child processes and records what
 * became of them.
 *
 * Files of a sweep folder (docs/sweeps.md):
 *   sweep.json     the manifest: fingerprint, trial list, mmx version, git hash, machine;
 *                  written atomically (temporary file, fsync, rename, fsync of the folder)
 *   results.jsonl  append-only events (started, finished, failed, interrupted), one JSON
 *                  object per line, each line one write() followed by fsync(); a kill during
 *                  the write can leave a torn last line, which readers skip and the next
 *                  coordinator cuts off before it appends (the JSON Lines module, jsonl.c);
 *                  what became of each trial is its records folded by mmx__results, the
 *                  one fold the report reads too
 *   trials/<id>/   spec.json (the resolved spec), what `mmx train` writes there, train.log
 *                  (its output) and failure.json when the trial failed
 *   .lock          flock()ed by the coordinator: one writer per folder
 *
 * The trial folders are the truth: a trial is finished when its result.json says so.
 * results.jsonl is brought in line with them before anything runs (mmx_sweep_collect), so
 * a coordinator killed between a trial's end and its record loses nothing, and a finished
 * record is written only for a trial that has none: resuming duplicates nothing.
 *
 * Children: `mmx train trials/<id>/spec.json --out trials/<id> --seed S --threads T
 * --quiet`, in their own process group (a terminal's Ctrl-C reaches the coordinator only,
 * which then stops them with SIGTERM so they save a checkpoint), with PR_SET_PDEATHSIG so
 * that a coordinator killed with SIGKILL takes its trials with it rather than leaving
 * them running unsupervised.
 */
#include "sweep-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <glib/gstdio.h>

/* ---- files ---- */

static bool
io_error(GError **error, const char *what, const char *path, int err)
{
    g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_IO, "%s %s: %s", what, path,
                g_strerror(err));
    return false;
}

static bool
write_json_atomic(const char *path, const json_t *value, GError **error)
{
    g_autofree char *text = json_dumps(value, JSON_INDENT(2));
    g_autofree char *with_nl = g_strconcat(text, "\n", NULL);
    return mmx_file_write_atomic(path, with_nl, strlen(with_nl), error);
}

/* results.jsonl, open for appending (a torn last line cut off), with full-precision
 * numbers. */
static mmx_jsonl *
results_open(const char *dir, GError **error)
{
    g_autofree char *path = g_build_filename(dir, MMX_SWEEP_RESULTS, NULL);
    return mmx_jsonl_open(path, 0, error);
}

/* Appends one record (stolen): one write() of the whole line, then fsync(); and folds it
 * into what the caller knows of the trials, so the two never differ. */
static bool
results_append(mmx_jsonl *log, mmx__results *fold, json_t *record, GError **error)
{
    g_autoptr(json_t) r = record;
    if (!mmx_jsonl_write(log, r, error))
        return false;
    mmx__results_add(fold, r);
    return true;
}

json_t *
mmx_sweep_read_results(const char *out_dir, bool *torn, GError **error)
{
    g_autofree char *path = g_build_filename(out_dir, MMX_SWEEP_RESULTS, NULL);
    g_autoptr(GError) local = NULL;
    json_t *records = mmx_jsonl_read_all(path, torn, &local);
    if (records == NULL && g_error_matches(local, MMX_IO_ERROR, ENOENT))
        return json_array(); /* no trial has started yet */
    if (records == NULL)
        g_propagate_error(error, g_steal_pointer(&local));
    return records;
}

/* ---- the manifest ---- */

static char *
now_iso8601(void)
{
    g_autoptr(GDateTime) t = g_date_time_new_now_utc();
    return g_date_time_format(t, "%Y-%m-%dT%H:%M:%SZ");
}

static json_t *
machine_json(void)
{
    g_autofree char *cpu = mmx_cpu_model();
    return json_pack("{ss ss si ss}", "hostname", g_get_host_name(), "cpu", cpu, "cores",
                     (int)g_get_num_processors(), "isa", mmx_isa_name(mmx_cpu_isa()));
}

static json_t *
manifest_new(const mmx_sweep_plan *plan, bool prunes)
{
    g_autofree char *now = now_iso8601();
    json_t *m = json_pack("{si ss ss ss ss sO ss ss so ss ss so}", "mmx_sweep_manifest", 1, "name",
                     mmx_sweep_plan_name(plan), "sweep_path", mmx_sweep_plan_sweep_path(plan),
                     "base_path", mmx_sweep_plan_base_path(plan), "fingerprint",
                     mmx_sweep_plan_fingerprint(plan), "sweep", mmx__sweep_plan_json(plan),
                     "mmx_version", mmx_version(), "git", mmx_git_hash(), "machine", machine_json(),
                     "created", now, "updated", now, "trials", mmx_sweep_plan_to_json(plan));
    /* A pruned sweep: the epochs every trial trains, for the report's budget. */
    for (int i = 0; prunes && i < mmx_sweep_plan_size(plan); i++) {
        const mmx_trial *t = mmx_sweep_plan_trial(plan, i);
        if (t->state == MMX_TRIAL_RUN) {
            json_object_set_new(m, "prune_epochs", json_integer(mmx__spec_epochs(t->spec)));
            break;
        }
    }
    return m;
}

static json_t *
manifest_read(const char *out_dir, GError **error)
{
    g_autofree char *path = g_build_filename(out_dir, MMX_SWEEP_MANIFEST, NULL);
    if (!g_file_test(path, G_FILE_TEST_EXISTS))
        return NULL;
    json_t *m = mmx_json_read(path, error);
    if (m && !json_is_array(json_object_get(m, "trials"))) {
        g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_IO,
                    "%s: not a sweep manifest (no trial list)", path);
        json_decref(m);
        return NULL;
    }
    return m;
}

/* Writes sweep.json for the plan; with an existing manifest (resume), keeps its creation
 * time and, when extending, the trials of the earlier plan that the new one lacks. */
static bool
manifest_write(const mmx_sweep_plan *plan, const char *out_dir, json_t *old, bool prunes,
               GError **error)
{
    g_autoptr(json_t) m = manifest_new(plan, prunes);
    if (old) {
        json_object_set(m, "created", json_object_get(old, "created"));
        const char *oldfp = json_string_value(json_object_get(old, "fingerprint"));
        json_t *prev = json_deep_copy(json_object_get(old, "previous_fingerprints"));
        if (!json_is_array(prev)) {
            json_decref(prev);
            prev = json_array();
        }
        if (oldfp && strcmp(oldfp, mmx_sweep_plan_fingerprint(plan)) != 0) {
            json_array_append_new(prev, json_string(oldfp));
            /* Trials of the earlier spec stay listed (their results stay in the report). */
            json_t *trials = json_object_get(m, "trials");
            size_t i;
            json_t *t;
            json_array_foreach(json_object_get(old, "trials"), i, t)
            {
                const char *id = json_string_value(json_object_get(t, "id"));
                if (id && mmx_sweep_plan_find(plan, id) == NULL) {
                    json_t *c = json_deep_copy(t);
                    json_object_set_new(c, "index",
                                        json_integer((json_int_t)json_array_size(trials)));
                    json_object_set_new(c, "earlier_plan", json_true());
                    json_array_append_new(trials, c);
                }
            }
        }
        if (json_array_size(prev))
            json_object_set_new(m, "previous_fingerprints", prev);
        else
            json_decref(prev);
    }
    g_autofree char *path = g_build_filename(out_dir, MMX_SWEEP_MANIFEST, NULL);
    return write_json_atomic(path, m, error);
}

bool
mmx_sweep_write_manifest(const mmx_sweep_plan *plan, const char *out_dir, bool extend,
                         GError **error)
{
    if (g_mkdir_with_parents(out_dir, 0755) != 0)
        return io_error(error, "cannot create", out_dir, errno);
    g_autoptr(GError) local = NULL;
    g_autoptr(json_t) old = manifest_read(out_dir, &local);
    if (local) {
        g_propagate_error(error, g_steal_pointer(&local));
        return false;
    }
    const char *oldfp = json_string_value(json_object_get(old, "fingerprint"));
    if (old && !extend && g_strcmp0(oldfp, mmx_sweep_plan_fingerprint(plan)) != 0) {
        g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_CHANGED,
                    "%s holds a sweep made from a different sweep or base spec (fingerprint "
                    "%.12s, now %.12s); add --extend to run the new trials in the same "
                    "folder, or choose another --out",
                    out_dir, oldfp ? oldfp : "?", mmx_sweep_plan_fingerprint(plan));
        return false;
    }
    return manifest_write(plan, out_dir, old, false, error);
}

/* ---- trial folders ---- */

static char *
trial_dir(const char *out_dir, const char *id)
{
    return g_build_filename(out_dir, MMX_SWEEP_TRIALS, id, NULL);
}

/* result.json of a trial folder when it says finished (new reference), else NULL. */
static json_t *
finished_result(const char *dir)
{
    g_autofree char *path = g_build_filename(dir, "result.json", NULL);
    json_t *r = mmx_json_read(path, NULL);
    if (r && g_strcmp0(json_string_value(json_object_get(r, "status")), "finished") == 0)
        return r;
    json_decref(r);
    return NULL;
}

/* The metric at epochs 1..upto of a trial folder's metrics.jsonl (new reference: an array
 * of numbers), and that last epoch's line when asked; NULL with the reason when an epoch or
 * the metric is missing. */
static json_t *
trial_values(const char *dir, const char *metric, int upto, json_t **last, GError **error)
{
    g_autofree char *path = g_build_filename(dir, "metrics.jsonl", NULL);
    g_autoptr(GError) local = NULL;
    g_autoptr(json_t) lines = mmx_jsonl_read_all(path, NULL, &local);
    if (lines == NULL) {
        g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_FAILED, "cannot read %s: %s", path,
                    local->message);
        return NULL;
    }
    g_autoptr(json_t) by_epoch = json_array();
    for (int e = 0; e < upto; e++)
        json_array_append_new(by_epoch, json_null());
    size_t i;
    json_t *line;
    json_array_foreach(lines, i, line)
    {
        json_int_t e = json_integer_value(json_object_get(line, "epoch"));
        if (e >= 1 && e <= upto)
            json_array_set(by_epoch, (size_t)e - 1, line);
    }
    json_t *values = json_array();
    for (int e = 0; e < upto; e++) {
        json_t *v = json_object_get(json_array_get(by_epoch, (size_t)e), metric);
        if (!json_is_number(v)) {
            g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_FAILED,
                        "%s has no number '%s' at epoch %d (the metric /prune compares)", path,
                        metric, e + 1);
            json_decref(values);
            return NULL;
        }
        json_array_append_new(values, json_real(json_number_value(v)));
    }
    if (last)
        *last = json_incref(json_array_get(by_epoch, (size_t)upto - 1));
    return values;
}

bool
mmx_sweep_prepare_trial(const mmx_sweep_plan *plan, const mmx_trial *trial, const char *out_dir,
                        GError **error)
{
    g_autofree char *dir = trial_dir(out_dir, trial->id);
    if (g_mkdir_with_parents(dir, 0755) != 0)
        return io_error(error, "cannot create", dir, errno);
    /* An earlier attempt's files go: a trial restarts from nothing. */
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d)) != NULL) {
        g_autofree char *p = g_build_filename(dir, name, NULL);
        if (g_file_test(p, G_FILE_TEST_IS_REGULAR) && g_unlink(p) != 0)
            return io_error(error, "cannot remove", p, errno);
    }
    g_autoptr(json_t) spec = mmx_sweep_trial_spec_for_file(plan, trial);
    g_autofree char *path = g_build_filename(dir, "spec.json", NULL);
    return write_json_atomic(path, spec, error);
}

/* ---- outcomes ---- */

void
mmx_sweep_outcome_clear(mmx_sweep_outcome *o)
{
    g_clear_pointer(&o->reason, g_free);
    if (o->result)
        json_decref(o->result);
    o->result = NULL;
}

static const char *const outcome_names[] = {"finished", "failed", "interrupted", "paused"};

char *
mmx_sweep_outcome_to_string(const mmx_sweep_outcome *o)
{
    json_t *j = json_pack("{si ss sf}", "index", o->index, "status", outcome_names[o->status],
                          "seconds", o->seconds);
    if (o->reason)
        json_object_set_new(j, "reason", json_string(o->reason));
    if (o->result)
        json_object_set(j, "result", o->result);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

bool
mmx_sweep_outcome_from_string(const char *text, mmx_sweep_outcome *o, GError **error)
{
    memset(o, 0, sizeof *o);
    g_autoptr(json_t) j = json_loads(text, 0, NULL);
    const char *status = json_string_value(json_object_get(j, "status"));
    int k = -1;
    for (int i = 0; status && i < (int)G_N_ELEMENTS(outcome_names); i++)
        if (strcmp(status, outcome_names[i]) == 0)
            k = i;
    if (k < 0 || !json_is_integer(json_object_get(j, "index"))) {
        g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_IO, "not a trial outcome: %.80s", text);
        return false;
    }
    o->index = (int)json_integer_value(json_object_get(j, "index"));
    o->status = (mmx_sweep_outcome_status)k;
    o->seconds = json_number_value(json_object_get(j, "seconds"));
    const char *reason = json_string_value(json_object_get(j, "reason"));
    o->reason = reason ? g_strdup(reason) : NULL;
    o->result = json_incref(json_object_get(j, "result"));
    return true;
}

/* The last non-empty line of the trial's log, for failure reasons. */
static char *
log_tail(const char *dir)
{
    g_autofree char *path = g_build_filename(dir, "train.log", NULL);
    g_autofree char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return NULL;
    g_strchomp(text);
    char *nl = strrchr(text, '\n');
    const char *last = nl ? nl + 1 : text;
    if (*last == '\0')
        return NULL;
    /* A progress bar rewrites its line with \r: keep what was written last. */
    const char *cr = strrchr(last, '\r');
    return g_strndup(cr ? cr + 1 : last, 300);
}

/* ---- signals ---- */

static volatile sig_atomic_t stop_level;

static void
on_stop_signal(int sig)
{
    (void)sig;
    if (stop_level < 2)
        stop_level++;
}

void
mmx_sweep_install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: sleeps end when a signal comes */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int
mmx_sweep_stop_requested(void)
{
    return (int)stop_level;
}

/* ---- the local executor: child processes ---- */

typedef struct child {
    int index;
    char *dir;
    pid_t pid;
    gint64 started;   /* monotonic microseconds */
    double timeout;   /* seconds, 0 none */
    gint64 term_sent; /* when SIGTERM went, 0 if not */
    int pause_after;  /* the epoch it was asked to pause at, 0 none */
    bool timed_out;
    bool stopped; /* stopped by the coordinator */
} child;

typedef struct local_exec {
    GPtrArray *children; /* child * */
} local_exec;

static void
child_free(gpointer p)
{
    child *c = p;
    g_free(c->dir);
    g_free(c);
}

/* Seconds between SIGTERM and SIGKILL: time enough to write a checkpoint. */
#define MMX_SWEEP_KILL_GRACE 20.0

static bool
local_start(void *self, const mmx_sweep_job *job, GError **error)
{
    local_exec *ex = self;
    g_autofree char *spec = g_build_filename(job->trial_dir, "spec.json", NULL);
    g_autofree char *logp = g_build_filename(job->trial_dir, "train.log", NULL);
    g_autofree char *seed = g_strdup_printf("%" G_GINT64_FORMAT, job->seed);
    g_autofree char *threads = g_strdup_printf("%d", job->threads > 0 ? job->threads : 1);
    g_autofree char *pause = g_strdup_printf("%d", job->pause_after);
    const char *argv[] = {job->trainer, "train", spec,      "--out", job->trial_dir, "--seed", seed,
                          "--threads",  threads, "--quiet", NULL, NULL, NULL};
    /* A pruned sweep's trial: continued from its checkpoint (the run's own config.json
     * has its spec and seed), and paused at its next rung or decision epoch. */
    const char *resumed[] = {job->trainer, "train", "--resume", job->trial_dir, "--threads",
                             threads,      "--quiet", NULL,     NULL,           NULL};
    const char **args = job->resume ? resumed : argv;
    if (job->pause_after > 0) {
        int at = job->resume ? 7 : 10;
        args[at] = "--pause-after";
        args[at + 1] = pause;
    }
    int logfd = open(logp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (logfd < 0)
        return io_error(error, "cannot create", logp, errno);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(logfd);
        return io_error(error, "cannot start a trial for", job->trial_dir, e);
    }
    if (pid == 0) {
        /* The child: only async-signal-safe calls until exec. */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        execv(job->trainer, (char *const *)args);
        static const char msg[] = "mmx sweep: cannot run the trainer\n";
        ssize_t ignored = write(2, msg, sizeof msg - 1);
        (void)ignored;
        _exit(127);
    }
    close(logfd);
    child *c = g_new0(child, 1);
    c->index = job->index;
    c->dir = g_strdup(job->trial_dir);
    c->pid = pid;
    c->started = g_get_monotonic_time();
    c->timeout = job->timeout;
    c->pause_after = job->pause_after;
    g_ptr_array_add(ex->children, c);
    return true;
}

static const char *
signal_name(int sig)
{
    switch (sig) {
    case SIGSEGV:
        return "SIGSEGV";
    case SIGABRT:
        return "SIGABRT";
    case SIGBUS:
        return "SIGBUS";
    case SIGFPE:
        return "SIGFPE";
    case SIGILL:
        return "SIGILL";
    case SIGKILL:
        return "SIGKILL";
    case SIGTERM:
        return "SIGTERM";
    case SIGINT:
        return "SIGINT";
    default:
        return "a signal";
    }
}

/* What a child's end means. */
static void
classify(const child *c, int status, mmx_sweep_outcome *o)
{
    memset(o, 0, sizeof *o);
    o->index = c->index;
    o->seconds = (double)(g_get_monotonic_time() - c->started) / 1e6;
    g_autofree char *rpath = g_build_filename(c->dir, "result.json", NULL);
    g_autoptr(json_t) result = mmx_json_read(rpath, NULL);
    const char *rstatus = json_string_value(json_object_get(result, "status"));
    const char *rreason = json_string_value(json_object_get(result, "reason"));
    g_autofree char *tail = log_tail(c->dir);
    bool exited = WIFEXITED(status);
    int code = exited ? WEXITSTATUS(status) : -1;
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;

    if (exited && code == 0 && g_strcmp0(rstatus, "finished") == 0) {
        o->status = MMX_SWEEP_OUTCOME_FINISHED;
        o->result = json_incref(result);
        return;
    }
    /* Paused where it was asked to (the coordinator removes an earlier pause's result.json
     * before it resumes a trial, so this one is this attempt's). */
    if (c->pause_after > 0 && g_strcmp0(rstatus, "paused") == 0 &&
        json_integer_value(json_object_get(result, "epochs")) == c->pause_after) {
        o->status = MMX_SWEEP_OUTCOME_PAUSED;
        o->result = json_incref(result);
        return;
    }
    if (c->timed_out) {
        o->status = MMX_SWEEP_OUTCOME_FAILED;
        o->reason = g_strdup_printf("timeout after %g s", c->timeout);
        return;
    }
    if (c->stopped || g_strcmp0(rstatus, "interrupted") == 0 || sig == SIGKILL || sig == SIGTERM ||
        sig == SIGINT) {
        /* Stopped, by the sweep or from outside: not a property of the trial, so it
         * runs again on resume. */
        o->status = MMX_SWEEP_OUTCOME_INTERRUPTED;
        o->reason =
            sig ? g_strdup_printf("killed by %s", signal_name(sig)) : g_strdup("interrupted");
        return;
    }
    o->status = MMX_SWEEP_OUTCOME_FAILED;
    if (rstatus && strcmp(rstatus, "finished") != 0) {
        o->reason = g_strdup_printf("%s%s%s", rstatus, rreason ? ": " : "", rreason ? rreason : "");
        o->result = json_incref(result);
    } else if (sig) {
        o->reason = g_strdup_printf("crashed: killed by %s (signal %d)%s%s", signal_name(sig), sig,
                                    tail ? "; last output: " : "", tail ? tail : "");
    } else if (code == 0) {
        o->reason = g_strdup("the trainer exited with status 0 but wrote no finished "
                             "result.json");
    } else {
        o->reason =
            g_strdup_printf("exit status %d%s%s%s", code, code == 2 ? " (invalid input)" : "",
                            tail ? ": " : "", tail ? tail : "");
    }
}

static void
local_check_timeouts(local_exec *ex)
{
    gint64 now = g_get_monotonic_time();
    for (guint i = 0; i < ex->children->len; i++) {
        child *c = g_ptr_array_index(ex->children, i);
        double age = (double)(now - c->started) / 1e6;
        if (c->timeout > 0 && age > c->timeout && !c->timed_out && !c->stopped) {
            c->timed_out = true;
            c->term_sent = now;
            kill(c->pid, SIGTERM);
        }
        if (c->term_sent && (double)(now - c->term_sent) / 1e6 > MMX_SWEEP_KILL_GRACE)
            kill(c->pid, SIGKILL);
    }
}

static bool
local_poll(void *self, int timeout_ms, mmx_sweep_outcome *out)
{
    local_exec *ex = self;
    gint64 until = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    for (;;) {
        for (guint i = 0; i < ex->children->len; i++) {
            child *c = g_ptr_array_index(ex->children, i);
            int status;
            pid_t r = waitpid(c->pid, &status, WNOHANG);
            if (r == c->pid) {
                classify(c, status, out);
                g_ptr_array_remove_index(ex->children, i);
                return true;
            }
        }
        local_check_timeouts(ex);
        if (g_get_monotonic_time() >= until)
            return false;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void
local_stop(void *self, bool hard)
{
    local_exec *ex = self;
    gint64 now = g_get_monotonic_time();
    for (guint i = 0; i < ex->children->len; i++) {
        child *c = g_ptr_array_index(ex->children, i);
        c->stopped = true;
        if (!c->term_sent)
            c->term_sent = now;
        kill(c->pid, hard ? SIGKILL : SIGTERM);
    }
}

static int
default_should_stop(void *user)
{
    (void)user;
    return (int)stop_level;
}

char *
mmx_sweep_job_to_string(const mmx_sweep_job *job)
{
    json_t *j = json_pack("{si ss sI ss ss si sf si sb}", "index", job->index, "id", job->id,
                          "seed", (json_int_t)job->seed, "trial_dir", job->trial_dir, "trainer",
                          job->trainer, "threads", job->threads, "timeout", job->timeout,
                          "pause_after", job->pause_after, "resume", job->resume);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

bool
mmx_sweep_job_from_string(const char *text, mmx_sweep_job *job, json_t **storage, GError **error)
{
    json_t *j = json_loads(text, 0, NULL);
    json_int_t seed = 0;
    double timeout = 0;
    int resume = 0;
    memset(job, 0, sizeof *job);
    if (!j || json_unpack(j, "{si ss sI ss ss si sF s?i s?b}", "index", &job->index, "id",
                          &job->id, "seed", &seed, "trial_dir", &job->trial_dir, "trainer",
                          &job->trainer, "threads", &job->threads, "timeout", &timeout,
                          "pause_after", &job->pause_after, "resume", &resume) != 0) {
        json_decref(j);
        g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_IO, "not a trial job: %.80s", text);
        return false;
    }
    job->seed = seed;
    job->timeout = timeout;
    job->resume = resume != 0;
    *storage = j;
    return true;
}

void
mmx_sweep_job_run(const mmx_sweep_job *job, mmx_sweep_outcome *outcome,
                  int (*should_stop)(void *user), void *user)
{
    if (should_stop == NULL)
        should_stop = default_should_stop;
    local_exec ex = {g_ptr_array_new_with_free_func(child_free)};
    g_autoptr(GError) error = NULL;
    memset(outcome, 0, sizeof *outcome);
    outcome->index = job->index;
    if (!local_start(&ex, job, &error)) {
        outcome->status = MMX_SWEEP_OUTCOME_FAILED;
        outcome->reason = g_strdup(error->message);
        g_ptr_array_unref(ex.children);
        return;
    }
    int stopped = 0;
    while (!local_poll(&ex, 200, outcome)) {
        int level = should_stop(user);
        if (level > stopped) {
            stopped = level;
            local_stop(&ex, stopped >= 2);
        }
    }
    g_ptr_array_unref(ex.children);
}

/* ---- what became of each trial: the fold of results.jsonl ---- */

typedef struct fold_entry {
    mmx__trial_status status;
    json_t *record;   /* the finished, failed, paused or pruned record that decided it */
    json_t *progress; /* the last record with "values" */
    int until;        /* of the last started record */
} fold_entry;

struct mmx__results {
    GHashTable *trials; /* id -> fold_entry */
};

static void
fold_entry_free(gpointer p)
{
    fold_entry *e = p;
    json_decref(e->record);
    json_decref(e->progress);
    g_free(e);
}

mmx__results *
mmx__results_new(const json_t *records)
{
    mmx__results *r = g_new0(mmx__results, 1);
    r->trials = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, fold_entry_free);
    size_t i;
    json_t *rec;
    json_array_foreach((json_t *)records, i, rec) { mmx__results_add(r, rec); }
    return r;
}

void
mmx__results_add(mmx__results *r, const json_t *record)
{
    const char *ev = json_string_value(json_object_get(record, "event"));
    const char *id = json_string_value(json_object_get(record, "id"));
    if (!ev || !id)
        return;
    fold_entry *e = g_hash_table_lookup(r->trials, id);
    if (e == NULL) {
        e = g_new0(fold_entry, 1);
        g_hash_table_insert(r->trials, g_strdup(id), e);
    }
    bool finish = strcmp(ev, "finished") == 0 && json_is_object(json_object_get(record, "result"));
    if (e->status == MMX__TRIAL_PRUNED || (e->status == MMX__TRIAL_FINISHED && !finish))
        return; /* a result is final: nothing after it undoes it */
    bool paused = strcmp(ev, "paused") == 0, pruned = strcmp(ev, "pruned") == 0;
    if (finish || paused || pruned || strcmp(ev, "failed") == 0) {
        e->status = finish   ? MMX__TRIAL_FINISHED
                    : paused ? MMX__TRIAL_PAUSED
                    : pruned ? MMX__TRIAL_PRUNED
                             : MMX__TRIAL_FAILED;
        json_decref(e->record);
        e->record = json_incref((json_t *)record);
    } else if (strcmp(ev, "started") == 0 || strcmp(ev, "interrupted") == 0) {
        /* An attempt without an end yet (running, stopped, or its coordinator killed).
         * After a failure this is --retry-failed: the failure is no longer the last
         * word, and the trial runs again on resume. */
        e->status = MMX__TRIAL_PENDING;
        g_clear_pointer(&e->record, json_decref);
        if (strcmp(ev, "started") == 0)
            e->until = (int)json_integer_value(json_object_get(record, "until"));
    }
    if (json_is_array(json_object_get(record, "values"))) {
        json_decref(e->progress);
        e->progress = json_incref((json_t *)record);
    }
}

mmx__trial_status
mmx__results_status(const mmx__results *r, const char *id)
{
    const fold_entry *e = g_hash_table_lookup(r->trials, id);
    return e ? e->status : MMX__TRIAL_NOT_STARTED;
}

const json_t *
mmx__results_record(const mmx__results *r, const char *id)
{
    const fold_entry *e = g_hash_table_lookup(r->trials, id);
    return e ? e->record : NULL;
}

const json_t *
mmx__results_progress(const mmx__results *r, const char *id)
{
    const fold_entry *e = g_hash_table_lookup(r->trials, id);
    return e ? e->progress : NULL;
}

int
mmx__results_until(const mmx__results *r, const char *id)
{
    const fold_entry *e = g_hash_table_lookup(r->trials, id);
    return e ? e->until : 0;
}

void
mmx__results_free(mmx__results *r)
{
    if (r == NULL)
        return;
    g_hash_table_unref(r->trials);
    g_free(r);
}

/* ---- reconciling results.jsonl with the trial folders ---- */

static json_t *
record_new(const char *event, json_t *trial)
{
    g_autofree char *now = now_iso8601();
    return json_pack("{ss sO sO sO sO ss}", "event", event, "id", json_object_get(trial, "id"),
                     "index", json_object_get(trial, "index"), "seed",
                     json_object_get(trial, "seed"), "variant", json_object_get(trial, "variant"),
                     "time", now);
}

/* Appends the records the trial folders call for, folding them into st. */
static bool
reconcile(const char *out_dir, json_t *manifest, mmx_jsonl *res, mmx__results *st, int *added,
          GError **error)
{
    /* A pruned sweep's records carry the metric's values (the pruner's input). */
    const json_t *prune = json_object_get(json_object_get(manifest, "sweep"), "prune");
    const char *metric = json_string_value(json_object_get(prune, "metric"));
    int epochs = (int)json_integer_value(json_object_get(manifest, "prune_epochs"));
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(manifest, "trials"), i, t)
    {
        const char *id = json_string_value(json_object_get(t, "id"));
        if (!id || g_strcmp0(json_string_value(json_object_get(t, "state")), "run") != 0 ||
            mmx__results_status(st, id) == MMX__TRIAL_FINISHED ||
            mmx__results_status(st, id) == MMX__TRIAL_PRUNED)
            continue;
        g_autofree char *dir = trial_dir(out_dir, id);
        json_t *result = finished_result(dir);
        if (result) {
            json_t *rec = record_new("finished", t);
            json_object_set_new(rec, "result", result);
            json_object_set_new(rec, "collected", json_true());
            json_t *values = metric ? trial_values(dir, metric, epochs, NULL, NULL) : NULL;
            if (values)
                json_object_set_new(rec, "values", values);
            if (!results_append(res, st, rec, error))
                return false;
            (*added)++;
            continue;
        }
        if (metric && mmx__results_status(st, id) == MMX__TRIAL_PENDING) {
            /* Paused where its last start asked, and not recorded (the coordinator was
             * killed in between): the pause counts. */
            g_autofree char *rpath = g_build_filename(dir, "result.json", NULL);
            g_autoptr(json_t) r = mmx_json_read(rpath, NULL);
            int at = (int)json_integer_value(json_object_get(r, "epochs"));
            json_t *values = NULL;
            if (g_strcmp0(json_string_value(json_object_get(r, "status")), "paused") == 0 &&
                at > 0 && at == mmx__results_until(st, id) &&
                (values = trial_values(dir, metric, at, NULL, NULL)) != NULL) {
                json_t *rec = record_new("paused", t);
                json_object_set_new(rec, "epoch", json_integer(at));
                json_object_set_new(rec, "values", values);
                json_object_set_new(rec, "collected", json_true());
                if (!results_append(res, st, rec, error))
                    return false;
                (*added)++;
                continue;
            }
        }
        if (mmx__results_status(st, id) == MMX__TRIAL_FAILED)
            continue;
        g_autofree char *fpath = g_build_filename(dir, MMX_SWEEP_FAILURE, NULL);
        g_autoptr(json_t) failure = mmx_json_read(fpath, NULL);
        const char *why = json_string_value(json_object_get(failure, "reason"));
        if (why) {
            json_t *rec = record_new("failed", t);
            json_object_set_new(rec, "reason", json_string(why));
            json_object_set_new(rec, "collected", json_true());
            if (!results_append(res, st, rec, error))
                return false;
            (*added)++;
        }
    }
    return true;
}

/* The folder lock: one coordinator (or collector) at a time. A coordinator killed a
 * moment ago can still hold it for a while: a trial it forked shares the lock's open file
 * until its exec (O_CLOEXEC) or its exit, and on a loaded machine that child may not run
 * for tens of milliseconds. So a busy lock is retried for LOCK_WAIT_MS before it means
 * that another sweep is running (a live coordinator holds it for hours). */
#define LOCK_WAIT_MS 3000

static int
lock_dir(const char *out_dir, GError **error)
{
    g_autofree char *path = g_build_filename(out_dir, ".lock", NULL);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        io_error(error, "cannot create", path, errno);
        return -1;
    }
    int busy = flock(fd, LOCK_EX | LOCK_NB);
    for (int waited = 0; busy != 0 && errno == EWOULDBLOCK && waited < LOCK_WAIT_MS; waited += 20) {
        g_usleep(20000);
        busy = flock(fd, LOCK_EX | LOCK_NB);
    }
    if (busy != 0) {
        g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_LOCKED,
                    "another mmx sweep is running on %s (it holds %s)", out_dir, path);
        close(fd);
        return -1;
    }
    return fd;
}

bool
mmx_sweep_collect(const char *out_dir, int *added, GError **error)
{
    int n = 0;
    if (added)
        *added = 0;
    g_autoptr(GError) local = NULL;
    g_autoptr(json_t) manifest = manifest_read(out_dir, &local);
    if (manifest == NULL) {
        if (local)
            g_propagate_error(error, g_steal_pointer(&local));
        else
            g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_IO, "%s holds no sweep (no %s)",
                        out_dir, MMX_SWEEP_MANIFEST);
        return false;
    }
    int lock = lock_dir(out_dir, error);
    if (lock < 0)
        return false;
    g_autoptr(mmx_jsonl) res = results_open(out_dir, error);
    bool ok = res != NULL;
    g_autoptr(json_t) records = ok ? mmx_sweep_read_results(out_dir, NULL, error) : NULL;
    ok = records != NULL;
    if (ok) {
        g_autoptr(mmx__results) st = mmx__results_new(records);
        ok = reconcile(out_dir, manifest, res, st, &n, error);
    }
    close(lock);
    if (added)
        *added = n;
    return ok;
}

/* ---- the coordinator ---- */

mmx_sweep_run_options
mmx_sweep_run_options_default(void)
{
    mmx_sweep_run_options o;
    memset(&o, 0, sizeof o);
    o.workers = 1;
    o.log = stderr;
    return o;
}

static void G_GNUC_PRINTF(2, 3) say(const mmx_sweep_run_options *opt, const char *fmt, ...)
{
    if (opt->log == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(opt->log, fmt, ap);
    va_end(ap);
    fputc('\n', opt->log);
    fflush(opt->log);
}

static bool
write_failure(const char *dir, const mmx_sweep_outcome *o, GError **error)
{
    g_autofree char *path = g_build_filename(dir, MMX_SWEEP_FAILURE, NULL);
    g_autoptr(json_t) j =
        json_pack("{ss sf}", "reason", o->reason ? o->reason : "failed", "seconds", o->seconds);
    return write_json_atomic(path, j, error);
}

typedef struct coordinator {
    const mmx_sweep_plan *plan;
    const mmx_sweep_run_options *opt;
    json_t *manifest;
    mmx_jsonl *res;
    mmx__results *st; /* what became of each trial */
    mmx_sweep_summary *sum;
    GPtrArray *dirs;            /* index -> trial dir, for the running jobs */
    const mmx_pruner *pruner;   /* NULL: the sweep does not prune */
} coordinator;

/* Records an outcome; values (stolen, may be NULL): the metric per epoch, for a pruned
 * sweep's pruner. */
static bool
record_outcome(coordinator *co, mmx_sweep_outcome *o, json_t *values, GError **error)
{
    g_autoptr(json_t) vals = values;
    const mmx_trial *t = mmx_sweep_plan_trial(co->plan, o->index);
    json_t *trial = json_array_get(json_object_get(co->manifest, "trials"), (size_t)o->index);
    g_autofree char *dir = trial_dir(co->opt->out_dir, t->id);
    int done = co->sum->finished + co->sum->failed + co->sum->pruned + 1;
    const char *ev = outcome_names[o->status];
    if (o->status == MMX_SWEEP_OUTCOME_FAILED && !write_failure(dir, o, error))
        return false;
    if (o->status == MMX_SWEEP_OUTCOME_FINISHED && mmx__results_status(co->st, t->id) == MMX__TRIAL_FINISHED)
        return true; /* never a second finished record */
    json_t *rec = record_new(ev, trial);
    json_object_set_new(rec, "seconds", json_real(o->seconds));
    if (o->reason)
        json_object_set_new(rec, "reason", json_string(o->reason));
    if (o->status == MMX_SWEEP_OUTCOME_PAUSED) {
        json_object_del(rec, "reason");
        json_object_set_new(rec, "epoch", json_integer((json_int_t)json_array_size(vals)));
    } else if (o->result) {
        json_object_set(rec, "result", o->result);
    }
    if (vals)
        json_object_set(rec, "values", vals);
    if (!results_append(co->res, co->st, rec, error))
        return false;
    switch (o->status) {
    case MMX_SWEEP_OUTCOME_PAUSED: {
        size_t e = json_array_size(vals);
        say(co->opt, "paused %s (%s, seed %" G_GINT64_FORMAT ") after epoch %zu: %s %.4f", t->id,
            t->variant, t->seed, e, mmx_pruner_metric(co->pruner),
            json_number_value(json_array_get(vals, e - 1)));
        break;
    }
    case MMX_SWEEP_OUTCOME_FINISHED: {
        co->sum->finished++;
        /* A language model's figure is its validation bits per byte. */
        const char *key = json_object_get(o->result, "val_bpb") ? "val_bpb" : "test_acc";
        say(co->opt, "[%d/%d] finished %s (%s, seed %" G_GINT64_FORMAT "): %s %.4f, %.1f s",
            done, co->sum->planned, t->id, t->variant, t->seed, key,
            json_number_value(json_object_get(o->result, key)), o->seconds);
        break;
    }
    case MMX_SWEEP_OUTCOME_FAILED:
        co->sum->failed++;
        say(co->opt, "[%d/%d] FAILED %s (%s, seed %" G_GINT64_FORMAT "): %s", done,
            co->sum->planned, t->id, t->variant, t->seed, o->reason);
        break;
    case MMX_SWEEP_OUTCOME_INTERRUPTED:
        say(co->opt, "stopped %s (%s, seed %" G_GINT64_FORMAT "): %s", t->id, t->variant, t->seed,
            o->reason ? o->reason : "interrupted");
        break;
    }
    return true;
}

/* --threads of each trial: the option, or the cores shared among the executor's slots. */
static int
trial_threads(const mmx_sweep_run_options *opt, const mmx_sweep_executor *ex)
{
    int n = opt->threads_per_trial;
    if (n <= 0)
        n = (int)g_get_num_processors() / (ex->slots > 0 ? ex->slots : 1);
    return n < 1 ? 1 : n;
}

/* Passes a new stop request (Ctrl-C, SIGTERM) on to the running jobs: stop cleanly,
 * then kill. */
static void
pass_stop(const mmx_sweep_run_options *opt, mmx_sweep_executor *ex, int *stopped, int running)
{
    if (stop_level <= *stopped)
        return;
    *stopped = stop_level;
    if (*stopped == 1)
        say(opt, "stopping: asking %d running trial(s) to stop (again to kill them)", running);
    ex->stop(ex->self, *stopped >= 2);
}

/* After an I/O error: stops the running jobs and waits for them, leaving the folder
 * resumable. */
static void
drain(mmx_sweep_executor *ex, int running)
{
    if (running > 0)
        ex->stop(ex->self, false);
    while (running > 0) {
        mmx_sweep_outcome o;
        if (ex->poll(ex->self, 200, &o)) {
            running--;
            mmx_sweep_outcome_clear(&o);
        }
    }
}

static bool
coordinate(coordinator *co, mmx_sweep_executor *ex, GError **error)
{
    const mmx_sweep_run_options *opt = co->opt;
    const mmx_sweep_plan *plan = co->plan;
    GQueue pending = G_QUEUE_INIT;
    for (int i = 0; i < mmx_sweep_plan_size(plan); i++) {
        const mmx_trial *t = mmx_sweep_plan_trial(plan, i);
        if (t->state != MMX_TRIAL_RUN)
            continue;
        co->sum->planned++;
        mmx__trial_status status = mmx__results_status(co->st, t->id);
        if (status == MMX__TRIAL_FINISHED) {
            co->sum->finished++;
            continue;
        }
        if (status == MMX__TRIAL_PRUNED) { /* pruned by an earlier run: final (--no-prune) */
            co->sum->pruned++;
            continue;
        }
        if (status == MMX__TRIAL_FAILED && !opt->retry_failed) {
            co->sum->failed++;
            continue;
        }
        g_queue_push_tail(&pending, GINT_TO_POINTER(i));
    }
    int nthreads = trial_threads(opt, ex);
    say(opt, "sweep %s: %d trials, %d finished before, %d to run, %d at a time, %d threads each",
        mmx_sweep_plan_name(plan), co->sum->planned, co->sum->finished, pending.length, ex->slots,
        nthreads);

    int running = 0, stopped = 0;
    bool ok = true;
    while (ok && (running > 0 || (!g_queue_is_empty(&pending) && !stop_level))) {
        pass_stop(opt, ex, &stopped, running);
        while (!stop_level && running < ex->slots && !g_queue_is_empty(&pending)) {
            int i = GPOINTER_TO_INT(g_queue_pop_head(&pending));
            const mmx_trial *t = mmx_sweep_plan_trial(plan, i);
            g_autofree char *dir = trial_dir(opt->out_dir, t->id);
            json_t *trial = json_array_get(json_object_get(co->manifest, "trials"), (size_t)i);
            if (!mmx_sweep_prepare_trial(plan, t, opt->out_dir, error) ||
                !results_append(co->res, co->st, record_new("started", trial), error)) {
                ok = false;
                break;
            }
            mmx_sweep_job job = {i, t->id, t->seed, dir, opt->trainer, nthreads, opt->timeout, 0, false};
            if (!ex->start(ex->self, &job, error)) {
                ok = false;
                break;
            }
            running++;
            co->sum->ran++;
        }
        if (!ok)
            break;
        mmx_sweep_outcome o;
        if (running > 0 && ex->poll(ex->self, 200, &o)) {
            running--;
            ok = record_outcome(co, &o, NULL, error);
            mmx_sweep_outcome_clear(&o);
        }
    }
    if (!ok)
        drain(ex, running);
    g_queue_clear(&pending);
    co->sum->interrupted = stop_level > 0;
    return ok;
}

/* ---- the coordinator of a pruned sweep ---- */

/* The pruner's view of the runnable trials (runs[k] is the plan index of the k-th), from
 * the fold. The values live in *storage (g_free). */
static mmx_prune_trial *
prune_inputs(const coordinator *co, const int *runs, const int *units, int n, GHashTable *retry,
             double **storage)
{
    const int E = mmx_pruner_epochs(co->pruner);
    mmx_prune_trial *in = g_new0(mmx_prune_trial, n + 1);
    *storage = g_new0(double, (size_t)(n + 1) * (size_t)E);
    for (int k = 0; k < n; k++) {
        const mmx_trial *t = mmx_sweep_plan_trial(co->plan, runs[k]);
        double *vals = *storage + (size_t)k * (size_t)E;
        json_t *va = json_object_get(mmx__results_progress(co->st, t->id), "values");
        int done = (int)MIN(json_array_size(va), (size_t)E);
        for (int e = 0; e < done; e++)
            vals[e] = json_number_value(json_array_get(va, (size_t)e));
        mmx__trial_status st = mmx__results_status(co->st, t->id);
        in[k] = (mmx_prune_trial){units[k], done, vals,
                                  st == MMX__TRIAL_FINISHED,
                                  st == MMX__TRIAL_FAILED && !g_hash_table_contains(retry, t->id)};
    }
    return in;
}

/* Records a pruned trial: its reason, the epoch, its values and the metrics.jsonl line of
 * that epoch (its last metrics); its folder and checkpoint stay. */
static bool
record_pruned(coordinator *co, int index, const mmx_prune_decision *d, GError **error)
{
    const mmx_trial *t = mmx_sweep_plan_trial(co->plan, index);
    json_t *trial = json_array_get(json_object_get(co->manifest, "trials"), (size_t)index);
    g_autofree char *dir = trial_dir(co->opt->out_dir, t->id);
    json_t *last = NULL;
    g_autoptr(GError) why = NULL;
    json_t *values = trial_values(dir, mmx_pruner_metric(co->pruner), d->epoch, &last, &why);
    if (values == NULL) /* the folder lost what the records hold: take the records' values */
        values = json_deep_copy(json_object_get(mmx__results_progress(co->st, t->id), "values"));
    json_t *rec = record_new("pruned", trial);
    json_object_set_new(rec, "epoch", json_integer(d->epoch));
    json_object_set_new(rec, "reason", json_string(d->reason));
    json_object_set_new(rec, "values", values ? values : json_array());
    json_object_set_new(rec, "metrics", last ? last : json_null());
    if (!results_append(co->res, co->st, rec, error))
        return false;
    co->sum->pruned++;
    say(co->opt, "[%d/%d] pruned %s (%s, seed %" G_GINT64_FORMAT ") at epoch %d: %s",
        co->sum->finished + co->sum->failed + co->sum->pruned, co->sum->planned, t->id,
        t->variant, t->seed, d->epoch, d->reason);
    return true;
}

/* Starts a trial the pruner lets run until `until`: from nothing, or, when it has trained
 * some epochs already (paused, or stopped after a promotion), from its checkpoint. */
static bool
start_pruned(coordinator *co, mmx_sweep_executor *ex, int index, int until, int nthreads,
             GError **error)
{
    const mmx_trial *t = mmx_sweep_plan_trial(co->plan, index);
    const mmx_sweep_run_options *opt = co->opt;
    json_t *trial = json_array_get(json_object_get(co->manifest, "trials"), (size_t)index);
    g_autofree char *dir = trial_dir(opt->out_dir, t->id);
    int done = (int)json_array_size(json_object_get(mmx__results_progress(co->st, t->id), "values"));
    bool resume = done > 0 && mmx__results_status(co->st, t->id) != MMX__TRIAL_FAILED;
    if (resume) {
        /* The earlier pause's result.json goes, so that what the trial writes next is
         * never mistaken for an older pause. */
        g_autofree char *rpath = g_build_filename(dir, "result.json", NULL);
        if (g_unlink(rpath) != 0 && errno != ENOENT)
            return io_error(error, "cannot remove", rpath, errno);
    } else if (!mmx_sweep_prepare_trial(co->plan, t, opt->out_dir, error)) {
        return false;
    }
    json_t *rec = record_new("started", trial);
    json_object_set_new(rec, "epoch", json_integer(resume ? done : 0));
    json_object_set_new(rec, "until", json_integer(until));
    if (!results_append(co->res, co->st, rec, error))
        return false;
    int E = mmx_pruner_epochs(co->pruner);
    mmx_sweep_job job = {index, t->id, t->seed, dir, opt->trainer, nthreads, opt->timeout,
                         until < E ? until : 0, resume};
    if (!ex->start(ex->self, &job, error))
        return false;
    if (resume)
        say(opt, "resumed %s (%s, seed %" G_GINT64_FORMAT ") from epoch %d, until epoch %d",
            t->id, t->variant, t->seed, done, until);
    co->sum->ran++;
    return true;
}

/* Records what a job of a pruned sweep came to, with the metric's values when it paused
 * or finished. */
static bool
record_pruned_outcome(coordinator *co, mmx_sweep_outcome *o, GError **error)
{
    const mmx_trial *t = mmx_sweep_plan_trial(co->plan, o->index);
    g_autofree char *dir = trial_dir(co->opt->out_dir, t->id);
    json_t *values = NULL;
    if (o->status == MMX_SWEEP_OUTCOME_PAUSED || o->status == MMX_SWEEP_OUTCOME_FINISHED) {
        int upto = o->status == MMX_SWEEP_OUTCOME_PAUSED
                       ? (int)json_integer_value(json_object_get(o->result, "epochs"))
                       : mmx_pruner_epochs(co->pruner);
        g_autoptr(GError) why = NULL;
        values = trial_values(dir, mmx_pruner_metric(co->pruner), upto, NULL, &why);
        if (values == NULL && o->status == MMX_SWEEP_OUTCOME_PAUSED) {
            /* Without its values the trial cannot be compared: a failure of the trial. */
            o->status = MMX_SWEEP_OUTCOME_FAILED;
            g_free(o->reason);
            o->reason = g_strdup(why->message);
        }
    }
    return record_outcome(co, o, values, error);
}

static bool
coordinate_pruned(coordinator *co, mmx_sweep_executor *ex, GError **error)
{
    const mmx_sweep_run_options *opt = co->opt;
    const mmx_sweep_plan *plan = co->plan;
    int n = 0;
    g_autofree int *runs = NULL;
    g_autofree int *units = mmx_sweep_plan_units(plan, &n, &runs);
    g_autoptr(GHashTable) retry = g_hash_table_new(g_str_hash, g_str_equal);
    for (int k = 0; k < n; k++) {
        const mmx_trial *t = mmx_sweep_plan_trial(plan, runs[k]);
        co->sum->planned++;
        switch (mmx__results_status(co->st, t->id)) {
        case MMX__TRIAL_FINISHED:
            co->sum->finished++;
            break;
        case MMX__TRIAL_PRUNED:
            co->sum->pruned++;
            break;
        case MMX__TRIAL_FAILED:
            if (opt->retry_failed)
                g_hash_table_add(retry, (gpointer)t->id);
            else
                co->sum->failed++;
            break;
        default:
            break;
        }
    }
    int nthreads = trial_threads(opt, ex);
    const json_t *pj = json_object_get(mmx__sweep_plan_json(plan), "prune");
    say(opt,
        "sweep %s: %d trials, %d finished and %d pruned before, %d at a time, %d threads each; "
        "pruning: %s on %s, %d epochs",
        mmx_sweep_plan_name(plan), co->sum->planned, co->sum->finished, co->sum->pruned,
        ex->slots, nthreads, json_string_value(json_object_get(pj, "rule")),
        mmx_pruner_metric(co->pruner), mmx_pruner_epochs(co->pruner));

    g_autofree bool *busy = g_new0(bool, n + 1);
    g_autofree bool *blocked = g_new0(bool, n + 1); /* stopped from outside this session */
    g_autofree int *pos = g_new0(int, mmx_sweep_plan_size(plan) + 1); /* plan index -> k */
    for (int k = 0; k < n; k++)
        pos[runs[k]] = k;
    g_autofree mmx_prune_decision *d = g_new0(mmx_prune_decision, n + 1);
    int running = 0, stopped = 0;
    bool ok = true;
    while (ok) {
        pass_stop(opt, ex, &stopped, running);
        g_autofree double *storage = NULL;
        g_autofree mmx_prune_trial *in = prune_inputs(co, runs, units, n, retry, &storage);
        mmx_pruner_decide(co->pruner, in, n, d);
        for (int k = 0; ok && k < n; k++) {
            int i = runs[k];
            const mmx_trial *t = mmx_sweep_plan_trial(plan, i);
            if (d[k].action == MMX_PRUNE_PRUNED && !busy[k] &&
                mmx__results_status(co->st, t->id) != MMX__TRIAL_PRUNED)
                ok = record_pruned(co, i, &d[k], error);
            if (ok && d[k].action == MMX_PRUNE_RUN && !busy[k] && !blocked[k] && !stop_level &&
                running < ex->slots) {
                g_hash_table_remove(retry, t->id);
                ok = start_pruned(co, ex, i, d[k].until, nthreads, error);
                if (ok) {
                    busy[k] = true;
                    running++;
                }
            }
        }
        for (int k = 0; k < n; k++)
            mmx_prune_decision_clear(&d[k]);
        if (!ok || running == 0)
            break;
        mmx_sweep_outcome o;
        if (ex->poll(ex->self, 200, &o)) {
            running--;
            busy[pos[o.index]] = false;
            if (o.status == MMX_SWEEP_OUTCOME_INTERRUPTED)
                blocked[pos[o.index]] = true;
            ok = record_pruned_outcome(co, &o, error);
            mmx_sweep_outcome_clear(&o);
        }
    }
    if (!ok)
        drain(ex, running);
    co->sum->interrupted = stop_level > 0;
    return ok;
}

bool
mmx_sweep_run(const mmx_sweep_plan *plan, const mmx_sweep_run_options *opt,
              mmx_sweep_executor *executor, mmx_sweep_summary *summary, GError **error)
{
    g_return_val_if_fail(plan != NULL && opt != NULL && opt->out_dir != NULL, false);
    mmx_sweep_summary local_sum;
    mmx_sweep_summary *sum = summary ? summary : &local_sum;
    memset(sum, 0, sizeof *sum);
    sum->skipped = mmx_sweep_plan_size(plan) - mmx_sweep_plan_count(plan, MMX_TRIAL_RUN);

    if (g_mkdir_with_parents(opt->out_dir, 0755) != 0)
        return io_error(error, "cannot create", opt->out_dir, errno);
    int lock = lock_dir(opt->out_dir, error);
    if (lock < 0)
        return false;

    g_autoptr(GError) local = NULL;
    g_autoptr(json_t) old = manifest_read(opt->out_dir, &local);
    bool ok = local == NULL;
    if (!ok)
        g_propagate_error(error, g_steal_pointer(&local));
    if (ok && old && !opt->resume) {
        g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_EXISTS,
                    "%s already holds a sweep (%s); add --resume to continue it, or choose "
                    "another --out",
                    opt->out_dir, MMX_SWEEP_MANIFEST);
        ok = false;
    }
    const char *oldfp = json_string_value(json_object_get(old, "fingerprint"));
    if (ok && old && !opt->extend && g_strcmp0(oldfp, mmx_sweep_plan_fingerprint(plan)) != 0) {
        g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_CHANGED,
                    "the sweep spec or its base spec changed since %s was created (fingerprint "
                    "%.12s, now %.12s); add --extend to keep the results and run the new "
                    "trials, or choose another --out",
                    opt->out_dir, oldfp ? oldfp : "?", mmx_sweep_plan_fingerprint(plan));
        ok = false;
    }
    bool prunes = !opt->no_prune && json_object_get(mmx__sweep_plan_json(plan), "prune");
    ok = ok && manifest_write(plan, opt->out_dir, old, prunes, error);

    g_autoptr(mmx_pruner) pruner = NULL;
    if (ok && prunes)
        ok = (pruner = mmx_sweep_plan_pruner(plan, error)) != NULL;
    coordinator co = {plan, opt, NULL, NULL, NULL, sum, NULL, pruner};
    g_autoptr(json_t) records = NULL;
    if (ok)
        co.manifest = manifest_new(plan, prunes); /* the trial list of this plan, for records */
    ok = ok && (co.res = results_open(opt->out_dir, error)) != NULL;
    ok = ok && (records = mmx_sweep_read_results(opt->out_dir, NULL, error)) != NULL;
    if (ok) {
        co.st = mmx__results_new(records);
        int added = 0;
        ok = reconcile(opt->out_dir, co.manifest, co.res, co.st, &added, error);
        if (ok && added)
            say(opt, "recorded %d trial(s) that had ended without a record", added);
    }
    if (ok) {
        local_exec lx = {g_ptr_array_new_with_free_func(child_free)};
        mmx_sweep_executor lex = {opt->workers > 0 ? opt->workers : 1, local_start, local_poll,
                                  local_stop, &lx};
        ok = pruner ? coordinate_pruned(&co, executor ? executor : &lex, error)
                    : coordinate(&co, executor ? executor : &lex, error);
        g_ptr_array_unref(lx.children);
    }
    mmx__results_free(co.st);
    mmx_jsonl_free(co.res);
    json_decref(co.manifest);
    close(lock);
    int left = sum->planned - sum->finished - sum->failed - sum->pruned;
    if (ok && !sum->interrupted && left > 0) {
        /* Trials killed from outside (an administrator, the OOM killer): not failures of
         * the trial, so they are not recorded as such; --resume runs them. */
        g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_INTERRUPTED,
                    "%d trial(s) were stopped by a signal from outside the sweep; %d of %d "
                    "trials finished (%d failed)",
                    left, sum->finished, sum->planned, sum->failed);
        return false;
    }
    if (ok && sum->interrupted) {
        g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_INTERRUPTED,
                    "interrupted with %d of %d trials finished (%d failed); the folder is "
                    "consistent and resumable",
                    sum->finished, sum->planned, sum->failed);
        return false;
    }
    return ok;
}

bool
mmx_sweep_run_trial(const mmx_sweep_plan *plan, int index, const mmx_sweep_run_options *opt,
                    mmx_sweep_outcome *outcome, GError **error)
{
    const mmx_trial *t = mmx_sweep_plan_trial(plan, index);
    g_return_val_if_fail(t != NULL && t->state == MMX_TRIAL_RUN, false);
    memset(outcome, 0, sizeof *outcome);
    if (!mmx_sweep_prepare_trial(plan, t, opt->out_dir, error))
        return false;
    g_autofree char *dir = trial_dir(opt->out_dir, t->id);
    int threads = opt->threads_per_trial > 0 ? opt->threads_per_trial : (int)g_get_num_processors();
    mmx_sweep_job job = {index, t->id, t->seed, dir, opt->trainer, threads, opt->timeout, 0, false};
    mmx_sweep_job_run(&job, outcome, NULL, NULL);
    if (outcome->status == MMX_SWEEP_OUTCOME_FAILED)
        return write_failure(dir, outcome, error);
    return true;
}
