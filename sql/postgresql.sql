-- comet-fcgi's event archive for PostgreSQL, schema version 1.
-- `comet-worker --archive-init` applies it (and does nothing when it is there); by hand:
-- psql URI -f sql/postgresql.sql. Every statement is safe to run again.
BEGIN;
-- The schema's version: one row per version applied (see README, "Archive (SQL)").
CREATE TABLE IF NOT EXISTS comet_schema (
    version integer NOT NULL PRIMARY KEY
);
-- One row per event. An event id belongs to one channel (a publish to several channels
-- stores one event, with its own id, per channel), so (channel, ms, seq) is the event's
-- key: inserting an event twice leaves one row. A channel's latest N, then paging back
-- by id, is one range of the primary key's index. "C": bytewise, as the server compares.
CREATE TABLE IF NOT EXISTS comet_events (
    channel text COLLATE "C" NOT NULL, -- the channel name (1 to 128 bytes of A-Z a-z 0-9 _ - . : / @)
    ms bigint NOT NULL,                -- the id's milliseconds: when the worker stored it (Unix ms)
    seq bigint NOT NULL,               -- the id's counter within that millisecond
    envelope text NOT NULL,            -- the event as subscribers get it (JSON, one line)
    PRIMARY KEY (channel, ms, seq)
);
-- Pruning by age (COMET_ARCHIVE_AGE) deletes the oldest first, in small batches.
CREATE INDEX IF NOT EXISTS comet_events_ms ON comet_events (ms);
INSERT INTO comet_schema (version) VALUES (1) ON CONFLICT DO NOTHING;
COMMIT;
