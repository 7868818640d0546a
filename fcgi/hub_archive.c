/* hub_archive: one thread that runs the event loop's archive reads, in order, on its
 * own database connection, and hands each answer back through a pipe the loop watches.
 * A query takes milliseconds, or seconds while the database is down (its client's
 * timeouts): the loop, which holds every waiting request, must wait for neither. One
 * thread is enough: the archive is read only by resumes from beyond what Redis keeps,
 * and each such read is one indexed range per channel. What is read is archive_read.c's,
 * what it means the session's. */
#include "hub_archive.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"

static struct {
    const struct config *cfg;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    STAILQ_HEAD(, hub_archive_job) jobs;
    int running, stopping, pipe[2];
    struct loop_watch watch;
} ha = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .pipe = {-1, -1}};

/* The reading thread: each job read, then its pointer written to the pipe. */
static void *reader_main(void *arg)
{
    struct hub_archive_job *j;

    (void)arg;
    for (;;) {
        pthread_mutex_lock(&ha.lock);
        while (!ha.stopping && STAILQ_EMPTY(&ha.jobs))
            pthread_cond_wait(&ha.wake, &ha.lock);
        j = ha.stopping ? NULL : STAILQ_FIRST(&ha.jobs);
        if (j)
            STAILQ_REMOVE_HEAD(&ha.jobs, queue);
        pthread_mutex_unlock(&ha.lock);
        if (!j)
            return NULL;
        archive_read_gap(ha.cfg, &j->q, j->to_end, &j->page);
        if (write(ha.pipe[1], &j, sizeof j) != sizeof j)
            log_error("archive reader: lost an answer: %s", strerror(errno));
    }
}

/* Answers are in: each job's done, on the hub thread. */
static void answers(struct loop_watch *w, uint32_t events)
{
    struct hub_archive_job *done[64];
    ssize_t n;

    (void)w, (void)events;
    while ((n = read(ha.pipe[0], done, sizeof done)) > 0)
        for (ssize_t i = 0; i < n / (ssize_t)sizeof done[0]; i++)
            done[i]->done(done[i]);
}

int hub_archive_start(const struct config *cfg, struct loop *l)
{
    ha.cfg = cfg;
    STAILQ_INIT(&ha.jobs);
    if (!cfg->archive[0])
        return 0;
    /* Only the loop's end is non-blocking: the reader waits rather than lose an answer. */
    if (pipe2(ha.pipe, O_CLOEXEC) < 0 || fcntl(ha.pipe[0], F_SETFL, O_NONBLOCK) < 0 ||
        pthread_create(&ha.thread, NULL, reader_main, NULL) != 0) {
        log_error("archive reader: cannot start: %s", strerror(errno));
        return -1;
    }
    ha.watch = (struct loop_watch){ha.pipe[0], answers};
    ha.running = 1;
    return loop_add(l, &ha.watch, EPOLLIN);
}

void hub_archive_read(struct hub_archive_job *j)
{
    pthread_mutex_lock(&ha.lock);
    STAILQ_INSERT_TAIL(&ha.jobs, j, queue);
    pthread_cond_signal(&ha.wake);
    pthread_mutex_unlock(&ha.lock);
}

void hub_archive_stop(void)
{
    if (!ha.running)
        return;
    pthread_mutex_lock(&ha.lock);
    ha.stopping = 1;
    pthread_cond_signal(&ha.wake);
    pthread_mutex_unlock(&ha.lock);
    pthread_join(ha.thread, NULL);
    ha.running = 0;
}
