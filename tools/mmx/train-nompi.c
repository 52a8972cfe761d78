/* train-nompi.c: `mmx train --executor mpi` in a build without MPI: it says so. */
#include "train-mpi.h"

bool
mmx_cli_mpi_train_begin(mmx_train_comm *comm, GError **error)
{
    (void)comm;
    g_set_error(error, MMX_TRAIN_ERROR, MMX_TRAIN_ERROR_INVALID,
                "this mmx was built without MPI; install Open MPI (Debian: openmpi-bin "
                "libopenmpi-dev) and reconfigure with: meson setup --reconfigure -Dmpi=enabled "
                "build, or train without --executor mpi");
    return false;
}

void
mmx_cli_mpi_train_end(const mmx_train_comm *comm, bool together, int exit_code)
{
    (void)comm, (void)together, (void)exit_code;
}
