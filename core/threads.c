/* threads.c: the host thread pool behind host->parallel_for.
 *
 * One pool per process, created on first use with mmx_num_threads() - 1 workers; the
 * calling thread works too. A job is a range cut into fixed chunks of `grain` items;
 * threads claim chunks from an atomic counter. Chunk boundaries depend only on n and
 * grain, so results never depend on the thread count or the schedule.
 *
 * The caller never waits for a worker that is not running: on a loaded machine (a sweep
 * beside other jobs) a descheduled worker would otherwise stall every step. Jobs live in
 * a ring of slots; a worker that wakes up late joins a job only if the job is still the
 * one it saw announced (a per-slot generation, checked after announcing itself in the
 * slot's `active` count), and the caller reuses a slot only once nobody is active in it.
 * The caller waits just for the chunks that were actually claimed, doing the unclaimed
 * ones itself.
 *
 * Nested calls (a kernel calling sgemm, which is parallel itself) and calls from a second
 * application thread while a job runs execute inline: simple, deadlock-free, and still
 * deterministic. Workers spin briefly before sleeping, because training issues thousands
 * of small jobs per second and a futex wake-up costs microseconds.
 *
 * Check runs each test in a forked child, where the parent's workers do not exist: the
 * pool remembers the pid that created it and a child builds its own.
 */
#include "mmx-private.h"

#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

enum { SLOTS = 4, SPIN_WORKER = 20000, SPIN_CALLER = 2000 };

typedef struct slot {
    gint64 gen;   /* the job's number, -1 while the slot is being rewritten */
    gint active;  /* threads inside this slot's job */
    mmx_range_fn fn;
    void *arg;
    int64_t n, grain, n_chunks;
    gint64 next_chunk; /* claimed so far */
    gint64 done;       /* finished */
    gint64 fail_chunk; /* lowest failing chunk, -1 */
    int fail_status;
    GMutex fail_lock;
} slot;

typedef struct pool {
    pid_t pid;
    int n_threads; /* including the caller */
    GMutex lock;   /* held by the thread that owns the pool for a job */
    GMutex wake_lock;
    GCond wake;
    gint sleepers;
    gint64 announced; /* the latest job number, 0 = none yet */
    slot slots[SLOTS];
} pool;

static pool *the_pool;
static GSList *retired_pools; /* idle pools of another size: their workers still point at them */
static GMutex pool_create_lock;
static int requested_threads; /* 0: not set */
static __thread int in_job;    /* this thread is running a chunk */

static int
default_threads(void)
{
    const char *env = g_getenv("MMX_THREADS");
    if (env && *env) {
        int n = atoi(env);
        if (n >= 1 && n <= 1024)
            return n;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores >= 1 ? (int)cores : 1;
}

int
mmx_num_threads(void)
{
    int n = g_atomic_int_get(&requested_threads);
    return n > 0 ? n : default_threads();
}

void
mmx_set_num_threads(int n)
{
    if (n < 1)
        n = 1;
    g_mutex_lock(&pool_create_lock);
    g_atomic_int_set(&requested_threads, n);
    if (the_pool && the_pool->n_threads != n) {
        retired_pools = g_slist_prepend(retired_pools, the_pool);
        the_pool = NULL;
    }
    g_mutex_unlock(&pool_create_lock);
}

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Claims and runs chunks of s until none is left. */
static void
run_chunks(slot *s)
{
    for (;;) {
        gint64 c = __atomic_fetch_add(&s->next_chunk, 1, __ATOMIC_SEQ_CST);
        if (c >= s->n_chunks)
            break;
        int64_t begin = c * s->grain;
        int64_t end = begin + s->grain < s->n ? begin + s->grain : s->n;
        in_job = 1;
        int st = s->fn(s->arg, begin, end);
        in_job = 0;
        if (st != MMX_OK) {
            g_mutex_lock(&s->fail_lock);
            if (s->fail_chunk < 0 || c < s->fail_chunk) {
                s->fail_chunk = c;
                s->fail_status = st;
            }
            g_mutex_unlock(&s->fail_lock);
        }
        __atomic_fetch_add(&s->done, 1, __ATOMIC_SEQ_CST);
    }
}

static gpointer
worker_main(gpointer data)
{
    pool *p = data;
    gint64 seen = 0;
    for (;;) {
        gint64 job;
        int spins = 0;
        while ((job = __atomic_load_n(&p->announced, __ATOMIC_SEQ_CST)) == seen &&
               spins < SPIN_WORKER) {
            cpu_relax();
            spins++;
        }
        if (job == seen) {
            g_mutex_lock(&p->wake_lock);
            g_atomic_int_inc(&p->sleepers);
            while ((job = __atomic_load_n(&p->announced, __ATOMIC_SEQ_CST)) == seen)
                g_cond_wait(&p->wake, &p->wake_lock);
            g_atomic_int_add(&p->sleepers, -1);
            g_mutex_unlock(&p->wake_lock);
        }
        seen = job;
        slot *s = &p->slots[job % SLOTS];
        __atomic_fetch_add(&s->active, 1, __ATOMIC_SEQ_CST);
        /* Still the job we were told about? If the caller has moved on and is rewriting
         * this slot, its generation no longer matches: stay out. */
        if (__atomic_load_n(&s->gen, __ATOMIC_SEQ_CST) == job)
            run_chunks(s);
        __atomic_fetch_sub(&s->active, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static pool *
get_pool(void)
{
    pid_t pid = getpid();
    pool *p = g_atomic_pointer_get(&the_pool);
    if (p && p->pid == pid)
        return p;
    g_mutex_lock(&pool_create_lock);
    p = the_pool;
    if (p == NULL || p->pid != pid) {
        /* After fork the old pool (if any) has no workers; leave it, build ours. */
        p = g_new0(pool, 1);
        p->pid = pid;
        p->n_threads = mmx_num_threads();
        g_mutex_init(&p->lock);
        g_mutex_init(&p->wake_lock);
        g_cond_init(&p->wake);
        for (int i = 0; i < SLOTS; i++) {
            p->slots[i].gen = -1;
            g_mutex_init(&p->slots[i].fail_lock);
        }
        for (int i = 1; i < p->n_threads; i++) {
            GThread *t = g_thread_new("mmx-worker", worker_main, p);
            g_thread_unref(t);
        }
        g_atomic_pointer_set(&the_pool, p);
    }
    g_mutex_unlock(&pool_create_lock);
    return p;
}

bool
mmx__in_parallel_job(void)
{
    return in_job != 0;
}

static int
run_inline(int64_t n, int64_t grain, mmx_range_fn fn, void *arg)
{
    int first = MMX_OK;
    for (int64_t begin = 0; begin < n; begin += grain) {
        int64_t end = begin + grain < n ? begin + grain : n;
        int st = fn(arg, begin, end);
        if (st != MMX_OK && first == MMX_OK)
            first = st;
    }
    return first;
}

int
mmx__parallel_for(int64_t n, int64_t grain, mmx_range_fn fn, void *arg)
{
    if (n <= 0)
        return MMX_OK;
    if (grain < 1)
        grain = 1;
    int64_t n_chunks = (n + grain - 1) / grain;
    if (n_chunks == 1 || in_job)
        return run_inline(n, grain, fn, arg);
    pool *p = get_pool();
    if (p->n_threads == 1 || !g_mutex_trylock(&p->lock))
        return run_inline(n, grain, fn, arg);

    gint64 job = p->announced + 1;
    slot *s = &p->slots[job % SLOTS];
    /* Close the slot to latecomers of its previous job, then wait until none is inside. */
    __atomic_store_n(&s->gen, -1, __ATOMIC_SEQ_CST);
    for (int spins = 0; __atomic_load_n(&s->active, __ATOMIC_SEQ_CST) > 0; spins++)
        if (spins > SPIN_CALLER)
            sched_yield();
    s->fn = fn;
    s->arg = arg;
    s->n = n;
    s->grain = grain;
    s->n_chunks = n_chunks;
    s->fail_chunk = -1;
    s->fail_status = MMX_OK;
    __atomic_store_n(&s->done, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&s->next_chunk, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&s->gen, job, __ATOMIC_SEQ_CST);
    __atomic_store_n(&p->announced, job, __ATOMIC_SEQ_CST);
    if (g_atomic_int_get(&p->sleepers) > 0) {
        g_mutex_lock(&p->wake_lock);
        g_cond_broadcast(&p->wake);
        g_mutex_unlock(&p->wake_lock);
    }

    run_chunks(s);
    /* Only chunks that a worker claimed can still be running. */
    for (int spins = 0; __atomic_load_n(&s->done, __ATOMIC_SEQ_CST) < n_chunks; spins++)
        if (spins > SPIN_CALLER)
            sched_yield();
        else
            cpu_relax();
    int st = s->fail_status;
    g_mutex_unlock(&p->lock);
    return st;
}
