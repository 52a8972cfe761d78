/* allreduce-bench.c: what one MPI_Allreduce (MPI_SUM, float, in place over
 * MPI_COMM_WORLD) costs, the sum data-parallel training does once per step.
 *
 *     mpirun -n K allreduce-bench [BYTES...]
 *
 * For each size (default: 24 bytes, then 64 KiB to 64 MiB by 4x), after a barrier and
 * three warm-up sums, the median of 21 timed sums, each between two barriers so that no
 * rank's lateness is counted. Rank 0 prints one JSON object per line: bytes, median
 * seconds, and the bandwidth bytes / seconds. Built when Open MPI is found; used by
 * tools/bench/dp-scaling. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define REPEATS 21

static int
compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void
measure(long bytes, int rank)
{
    long n = bytes / (long)sizeof(float);
    if (n < 1)
        n = 1;
    float *buf = calloc((size_t)n, sizeof(float));
    double t[REPEATS];
    if (buf == NULL) {
        fprintf(stderr, "allreduce-bench: out of memory for %ld bytes\n", bytes);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (int i = 0; i < 3; i++)
        MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    for (int i = 0; i < REPEATS; i++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        t[i] = MPI_Wtime() - t0;
    }
    double mine = 0;
    qsort(t, REPEATS, sizeof t[0], compare);
    /* The slowest rank's median: the sum ends for the step when it ends everywhere. */
    MPI_Reduce(&t[REPEATS / 2], &mine, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    if (rank == 0)
        printf("{\"bytes\": %ld, \"seconds\": %.9g, \"bandwidth\": %.6g}\n", n * 4L, mine,
               (double)(n * 4L) / mine);
    free(buf);
}

int
main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (argc > 1)
        for (int i = 1; i < argc; i++)
            measure(atol(argv[i]), rank);
    else {
        measure(24, rank);
        for (long b = 64L << 10; b <= 64L << 20; b *= 4)
            measure(b, rank);
    }
    MPI_Finalize();
    return 0;
}
