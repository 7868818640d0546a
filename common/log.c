/* log: formats and writes log lines. Owns nothing but the program name and level;
 * callers decide what is worth a line. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static const char *log_name = "comet";
static enum log_level log_max = LOG_LEVEL_INFO;
static const char *const log_names[] = {"error", "warn", "info", "debug"};

void log_init(const char *progname, enum log_level level)
{
    log_name = progname;
    log_max = level;
}

int log_enabled(enum log_level level)
{
    return level <= log_max;
}

void log_write(enum log_level level, const char *func, const char *fmt, ...)
{
    int saved = errno;
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* One fprintf per line so concurrent processes sharing the log do not interleave. */
    fprintf(stderr, "%s[%d] %s %s: %s\n", log_name, (int)getpid(), log_names[level], func, msg);
    errno = saved;
}
