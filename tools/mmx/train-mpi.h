/* train-mpi.h: data-parallel training over MPI for `mmx train --executor mpi`
 * (train-mpi.c, built when Open MPI is found; train-nompi.c says how to get it). */
#ifndef MMX_TRAIN_MPI_H
#define MMX_TRAIN_MPI_H

#include <mmx/mmx.h>

/* Joins the MPI job (MPI_Init) and fills comm with this rank, the number of ranks and
 * sums by MPI_Allreduce over MPI_COMM_WORLD. false with an error without MPI. */
bool mmx_cli_mpi_train_begin(mmx_train_comm *comm, GError **error);

/* Leaves the job. A run that ended the same way on every rank (finished, interrupted or
 * diverged: those endings are decided together) finalizes MPI; any other failure is one
 * rank's alone while the others may wait in a sum, so it aborts the whole job with
 * exit_code (mpirun then stops every rank). */
void mmx_cli_mpi_train_end(const mmx_train_comm *comm, bool together, int exit_code);

#endif
