/* version: the release both binaries report (-V, /stats), from the top-level VERSION
 * file; only version.c is compiled with it, so a new version rebuilds one object. */
#ifndef COMET_VERSION_H
#define COMET_VERSION_H

/* "0.9.0": static storage. */
extern const char comet_version[];

#endif
