-- comet-fcgi's event archive for MariaDB and MySQL (InnoDB), schema version 1.
-- `comet-worker --archive-init` applies it (and does nothing when it is there); by hand:
-- import it in phpMyAdmin, or mariadb DB < sql/mysql.sql. Every statement is safe to run again.

-- The schema's version: one row per version applied (see README, "Archive (SQL)").
CREATE TABLE IF NOT EXISTS comet_schema (
    version INT NOT NULL PRIMARY KEY
) ENGINE = InnoDB;

-- One row per event. An event id belongs to one channel (a publish to several channels
-- stores one event, with its own id, per channel), so (channel, ms, seq) is the event's
-- key, and InnoDB keeps the rows in its order: a channel's latest N, then paging back by
-- id, is one range of the primary key. Inserting an event twice leaves one row.
CREATE TABLE IF NOT EXISTS comet_events (
    channel VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, -- A-Z a-z 0-9 _ - . : / @
    ms BIGINT NOT NULL,         -- the id's milliseconds: when the worker stored it (Unix ms)
    seq BIGINT NOT NULL,        -- the id's counter within that millisecond
    envelope LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, -- as subscribers get it
    PRIMARY KEY (channel, ms, seq),
    KEY comet_events_ms (ms)    -- pruning by age (COMET_ARCHIVE_AGE), oldest first
) ENGINE = InnoDB;

INSERT IGNORE INTO comet_schema (version) VALUES (1);
