/* hub_archive: external mode's reads of the SQL archive, off the event loop. Internal to
 * the hub: jobs are given and their answers taken on the hub thread. */
#ifndef COMET_HUB_ARCHIVE_H
#define COMET_HUB_ARCHIVE_H

#include <sys/queue.h>

#include "archive_read.h"
#include "config.h"
#include "loop.h"

/* One read of a resume's gap (archive_read_gap); the caller owns it, and what q points
 * to, until done is called. */
struct hub_archive_job {
    struct archive_query q;
    int to_end;                              /* as archive_read_gap takes it */
    struct archive_page page;                /* the answer (archive_page_free); not covered
                                              * when the archive could not be read */
    void (*done)(struct hub_archive_job *j); /* on the hub thread, once the page is in */
    STAILQ_ENTRY(hub_archive_job) queue;
};

/* Starts the reading thread when cfg has an archive, its answers delivered through l.
 * Returns 0, or -1 after logging why. */
int hub_archive_start(const struct config *cfg, struct loop *l);

/* Queues j for the reading thread. */
void hub_archive_read(struct hub_archive_job *j);

/* Ends the reading thread after the read in progress; jobs still queued get no answer
 * (the process is stopping). */
void hub_archive_stop(void);

#endif
