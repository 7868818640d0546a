/* clock: the two clocks of both binaries. Deadlines inside a process run on the
 * monotonic one; what is shared through Redis (waiting sets, credential expiry, leases)
 * on the wall clock. */
#ifndef COMET_CLOCK_H
#define COMET_CLOCK_H

/* Monotonic milliseconds: the clock of every wait and timer in a process. */
long long clock_ms(void);

/* Wall-clock (Unix) milliseconds. */
long long clock_wall_ms(void);

#endif
