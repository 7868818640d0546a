/* log: one line per message, on stderr (Apache's error log under mod_fcgid) in logfmt
 * with an RFC 3339 timestamp, or to syslog (COMET_LOG=syslog). A message names the
 * operation ("queueing a publish: ..."), not the C function. The level is checked
 * before any formatting, and errno is preserved across a call. */
#ifndef COMET_LOG_H
#define COMET_LOG_H

#include <stddef.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Set once at start: the name on each line (borrowed, must outlive the process's
 * logging), the most verbose level kept, and syslog (1) or stderr (0). */
void log_init(const char *progname, enum log_level level, int use_syslog);
int log_enabled(enum log_level level);
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Formats one stderr line into out (size n, always terminated):
 *   ts=2026-11-30T14:54:25.123Z level=warn prog=comet.fcgi pid=123 msg="..."
 * with " and \ escaped and control bytes as \n, \t or \xHH. Pure; for log_write and tests. */
void log_format(char *out, size_t n, long long wall_ms, enum log_level level, const char *prog, int pid,
                const char *msg);

#define log_at(lvl, ...) \
    do { if (log_enabled(lvl)) log_write(lvl, __VA_ARGS__); } while (0)
#define log_error(...) log_at(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_at(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_at(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
