#ifndef MPI_H
#define MPI_H
unsigned long mpi(unsigned long iterations);
#endif
