/* log: one line per message on stderr (Apache's error log under mod_fcgid), with
 * the program name, pid, level and calling function. The level is checked before
 * any formatting, and errno is preserved across a call. */
#ifndef COMET_LOG_H
#define COMET_LOG_H

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Set once at start: the name printed on each line and the most verbose level kept. */
void log_init(const char *progname, enum log_level level);
int log_enabled(enum log_level level);
void log_write(enum log_level level, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_at(lvl, ...) \
    do { if (log_enabled(lvl)) log_write(lvl, __func__, __VA_ARGS__); } while (0)
#define log_error(...) log_at(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_at(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_at(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
