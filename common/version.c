/* version: holds the release named by the top-level VERSION file, which the Makefile
 * passes to this file alone as COMET_VERSION. */
#include "version.h"

const char comet_version[] = COMET_VERSION;
