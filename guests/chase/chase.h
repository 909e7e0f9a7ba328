/* The second speed guest, shared by the guest and its native oracle (chase/native.c). */
#ifndef CHASE_H
#define CHASE_H
unsigned long chase(unsigned long iterations);
#endif
