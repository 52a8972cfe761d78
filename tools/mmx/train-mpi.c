/* train-mpi.c: the sums of data-parallel training (mmx_train_comm) by MPI_Allreduce.
 *
 * `mpirun -n K mmx train SPEC --executor mpi --out DIR`: every rank runs the same command;
 * core/train.c cuts each global batch into K shards and calls these sums. MPI is called
 * from the main thread only, between the thread pool's parallel regions
 * (MPI_THREAD_FUNNELED). MPI_Allreduce with MPI_SUM gives every rank the same bits in
 * Open MPI (its reductions combine the ranks' buffers in one order for all); the trainer
 * still checks it after every epoch (ranks_agree in core/train.c).
 */
#include "train-mpi.h"

#include <limits.h>
#include <mpi.h>

/* MPI counts are int: long buffers go in pieces. */
static bool
allreduce(void *buf, int64_t n, MPI_Datatype type, size_t size, GError **error)
{
    char *p = buf;
    while (n > 0) {
        int count = n > INT_MAX ? INT_MAX : (int)n;
        int rc = MPI_Allreduce(MPI_IN_PLACE, p, count, type, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) {
            char text[MPI_MAX_ERROR_STRING];
            int len = 0;
            MPI_Error_string(rc, text, &len);
            g_set_error(error, MMX_TRAIN_ERROR, MMX_TRAIN_ERROR_FAILED,
                        "MPI_Allreduce of %d values failed: %.*s", count, len, text);
            return false;
        }
        p += (size_t)count * size;
        n -= count;
    }
    return true;
}

static bool
sum_f32(void *user, float *buf, int64_t n, GError **error)
{
    (void)user;
    return allreduce(buf, n, MPI_FLOAT, sizeof(float), error);
}

static bool
sum_f64(void *user, double *buf, int64_t n, GError **error)
{
    (void)user;
    return allreduce(buf, n, MPI_DOUBLE, sizeof(double), error);
}

bool
mmx_cli_mpi_train_begin(mmx_train_comm *comm, GError **error)
{
    (void)error;
    int provided = 0;
    MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    /* Errors come back as codes (with a message) instead of killing the process. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    *comm = (mmx_train_comm){.sum_f32 = sum_f32, .sum_f64 = sum_f64};
    MPI_Comm_rank(MPI_COMM_WORLD, &comm->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &comm->size);
    return true;
}

void
mmx_cli_mpi_train_end(const mmx_train_comm *comm, bool together, int exit_code)
{
    if (!together && comm->size > 1)
        MPI_Abort(MPI_COMM_WORLD, exit_code);
    MPI_Finalize();
}
