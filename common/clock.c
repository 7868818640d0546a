/* clock: clock_gettime, in milliseconds. */
#include "clock.h"

#include <time.h>

static long long clock_read(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long clock_ms(void)
{
    return clock_read(CLOCK_MONOTONIC);
}

long long clock_wall_ms(void)
{
    return clock_read(CLOCK_REALTIME);
}
