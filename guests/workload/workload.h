/* The integer workload, shared by the guest and its native oracle (workload/native.c). */
#ifndef WORKLOAD_H
#define WORKLOAD_H
unsigned long workload(unsigned long iterations);
#endif
