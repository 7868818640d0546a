-- comet-fcgi's event archive for SQLite, schema version 1.
-- `comet-worker --archive-init` applies it (and does nothing when it is there); by hand:
-- sqlite3 FILE < sql/sqlite.sql. Every statement is safe to run again.
BEGIN;
-- The schema's version: one row per version applied (see README, "Archive (SQL)").
CREATE TABLE IF NOT EXISTS comet_schema (
    version INTEGER NOT NULL PRIMARY KEY
);
-- One row per event. An event id belongs to one channel (a publish to several channels
-- stores one event, with its own id, per channel), so (channel, ms, seq) is the event's
-- key: inserting an event twice leaves one row. Its order is the read side's: a channel's
-- latest N, then paging back by id, is one range of the unique index.
-- A rowid table rather than WITHOUT ROWID: envelopes may be kilobytes, and SQLite keeps
-- WITHOUT ROWID tables for rows well under a page.
CREATE TABLE IF NOT EXISTS comet_events (
    channel TEXT NOT NULL,         -- the channel name (1 to 128 bytes of A-Z a-z 0-9 _ - . : / @)
    ms INTEGER NOT NULL,           -- the id's milliseconds: when the worker stored it (Unix ms)
    seq INTEGER NOT NULL,          -- the id's counter within that millisecond
    envelope TEXT NOT NULL,        -- the event as subscribers get it (JSON, one line)
    UNIQUE (channel, ms, seq)
);
-- Pruning by age (COMET_ARCHIVE_AGE) deletes the oldest first, in small batches.
CREATE INDEX IF NOT EXISTS comet_events_ms ON comet_events (ms);
INSERT OR IGNORE INTO comet_schema (version) VALUES (1);
COMMIT;
