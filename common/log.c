/* log: formats and writes log lines, to stderr as logfmt or to syslog. Owns nothing
 * but the program name, the level and the destination; callers decide what is worth
 * a line. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

static const char *log_name = "comet";
static enum log_level log_max = LOG_LEVEL_INFO;
static int log_syslog;
static const char *const log_names[] = {"error", "warn", "info", "debug"};
static const int log_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

void log_init(const char *progname, enum log_level level, int use_syslog)
{
    log_name = progname;
    log_max = level;
    log_syslog = use_syslog;
    if (use_syslog)
        openlog(progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

int log_enabled(enum log_level level)
{
    return level <= log_max;
}

/* Appends msg to out at *at (room n) as a logfmt quoted value's inside. */
static void log_escape(char *out, size_t n, size_t *at, const char *msg)
{
    for (const unsigned char *p = (const unsigned char *)msg; *p && *at + 5 < n; p++) {
        if (*p == '"' || *p == '\\')
            *at += (size_t)snprintf(out + *at, n - *at, "\\%c", *p);
        else if (*p == '\n')
            *at += (size_t)snprintf(out + *at, n - *at, "\\n");
        else if (*p == '\t')
            *at += (size_t)snprintf(out + *at, n - *at, "\\t");
        else if (*p < 0x20 || *p == 0x7f)
            *at += (size_t)snprintf(out + *at, n - *at, "\\x%02x", *p);
        else
            out[(*at)++] = (char)*p;
    }
    out[*at] = 0;
}

void log_format(char *out, size_t n, long long wall_ms, enum log_level level, const char *prog, int pid,
                const char *msg)
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    char stamp[32];
    size_t at;
    int k;

    gmtime_r(&secs, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    k = snprintf(out, n, "ts=%s.%03dZ level=%s prog=%s pid=%d msg=\"", stamp, (int)(wall_ms % 1000),
                 log_names[level], prog, pid);
    /* Room is kept for the closing quote: a line cut short stays a valid logfmt line. */
    at = k < 0 ? 0 : (size_t)k > n - 2 ? n - 2 : (size_t)k;
    log_escape(out, n - 1, &at, msg);
    snprintf(out + at, n - at, "\"");
}

void log_write(enum log_level level, const char *fmt, ...)
{
    int saved = errno;
    char msg[1024], line[2400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (log_syslog) {
        syslog(log_prio[level], "%s", msg);
    } else {
        log_format(line, sizeof line, clock_wall_ms(), level, log_name, (int)getpid(), msg);
        /* One fprintf per line so concurrent processes sharing the log do not interleave. */
        fprintf(stderr, "%s\n", line);
    }
    errno = saved;
}
