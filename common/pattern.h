/* pattern: channel and origin patterns from configuration: comma-separated, where
 * "*" matches any run of characters (including none) and everything else itself. */
#ifndef COMET_PATTERN_H
#define COMET_PATTERN_H

/* 1 when s matches one pattern of the comma-separated list (spaces around items are
 * ignored); 0 otherwise, and for an empty list. */
int pattern_list_match(const char *list, const char *s);

/* 1 when s matches the one pattern p (commas are ordinary characters here). */
int pattern_match(const char *p, const char *s);

#endif
