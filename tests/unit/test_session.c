/* Unit tests of the subscriber protocol (fcgi/session.c) as data: each file of
 * tests/unit/session/ is one scripted case (the format is in that folder's README),
 * played step by step against sessions of a small configuration, the bytes each step
 * appends checked exactly. This file only plays scripts; what is expected is the cases'. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "session.h"

#define T0 1000000LL /* the driver's clock when a case starts; case times are offsets */
#define ACTORS 8
#define WORDS 32
#define DEFS 64

/* Every session starts from this: pages of 3 fill fast, pings come every 10 s. */
static const struct config base_cfg = {
    .poll_max_events = 3,
    .sse_heartbeat = 10,
    .sse_retry = 2500,
    .sse_padding = 0,
};

static const char *const kind_names[FRAME_KINDS] = {"poll", "sse", "lines", "iframe", "sse-untyped", "ws"};

/* Named byte strings (the folder's defs file), raw: expanded where used. */
static struct {
    char *name, *text;
} defs[DEFS];
static size_t ndefs;

static char where[600]; /* "file:line" of the step being played, for failure messages */
static int ncases;

/* One session of a case and everything it appended. */
struct actor {
    char name[16];
    struct config cfg; /* borrowed by the session for its life */
    struct session *s;
    struct buf all; /* every byte it appended */
    size_t from;    /* where its last input step's bytes begin */
    int ended;      /* it answered SESSION_END */
};

struct play {
    struct actor actors[ACTORS];
    size_t nactors;
    struct actor *cur;      /* where input steps go */
    struct actor *last;     /* the one the last input step went to */
    enum session_next next; /* what that step answered */
    long long now;
    struct session_event ev; /* the live message, shared by every session as a driver does */
    struct buf env;          /* its envelope */
    int set_rc;
    struct buf want; /* the out lines after the last input step, not yet compared */
    int wanting;
    char want_where[sizeof where]; /* where the first of them is */
};

/* ---- bytes: envelopes, escapes, macros ---- */

/* Appends the envelope named ID[:TYPE][!VARIANT]:
 * {"id":"ID","channel":"ch","event":"TYPE","data":"ID"}; !nl puts a raw newline in the
 * data (no stream can frame it), !html markup and U+2028 to escape, !bad makes it no
 * envelope at all. Sets *id when not NULL. Returns 0, or -1 for a malformed name. */
static int envelope_make(const char *name, struct buf *out, struct cursor *id)
{
    size_t idlen = strcspn(name, ":!"), tlen;
    const char *type = "message", *variant = strchr(name, '!');
    struct cursor c;

    if (cursor_parse(name, idlen, &c) < 0)
        return -1;
    if (name[idlen] == ':') {
        type = name + idlen + 1;
        tlen = strcspn(type, "!");
    } else {
        tlen = strlen(type);
    }
    if (id)
        *id = c;
    buf_puts(out, variant && strcmp(variant, "!bad") == 0 ? "{\"event\":\"x\",\"id\":\"" : "{\"id\":\"");
    buf_append(out, name, idlen);
    buf_puts(out, "\",\"channel\":\"ch\",\"event\":\"");
    buf_append(out, type, tlen);
    buf_puts(out, "\",\"data\":\"");
    if (!variant || strcmp(variant, "!bad") == 0)
        buf_append(out, name, idlen);
    else if (strcmp(variant, "!nl") == 0)
        buf_puts(out, "a\nb");
    else if (strcmp(variant, "!html") == 0)
        buf_puts(out, "</script>\xe2\x80\xa8");
    else
        return -1;
    buf_puts(out, "\"}");
    return 0;
}

static int expand(const char *t, size_t len, struct buf *out, int depth);

/* Appends what ${name} stands for: a def, "sp N" (N spaces) or an envelope. */
static int macro(const char *name, size_t len, struct buf *out, int depth)
{
    char tmp[128];

    if (len >= sizeof tmp)
        return -1;
    memcpy(tmp, name, len);
    tmp[len] = 0;
    for (size_t i = 0; i < ndefs; i++)
        if (strcmp(defs[i].name, tmp) == 0)
            return expand(defs[i].text, strlen(defs[i].text), out, depth + 1);
    if (strncmp(tmp, "sp ", 3) == 0) {
        for (long n = atol(tmp + 3); n > 0; n--)
            buf_puts(out, " ");
        return 0;
    }
    return envelope_make(tmp, out, NULL);
}

/* Appends one escape at t (\n \r \t \\ \$ \xHH; any other backslash stays as it is, so
 * JSON's \u003c reads as written). Returns how many bytes of t it used. */
static size_t unescape(const char *t, struct buf *out)
{
    static const char from[] = "nrt\\$", to[] = "\n\r\t\\$";
    const char *k = t[1] ? strchr(from, t[1]) : NULL;
    char hex[3] = {0}, c;

    if (k) {
        buf_append(out, &to[k - from], 1);
        return 2;
    }
    if (t[1] == 'x' && t[2] && t[3]) {
        memcpy(hex, t + 2, 2);
        c = (char)strtol(hex, NULL, 16);
        buf_append(out, &c, 1);
        return 4;
    }
    buf_append(out, t, 1);
    return 1;
}

/* Appends t[0..len) with its escapes and ${...} macros resolved. Returns 0 or -1. */
static int expand(const char *t, size_t len, struct buf *out, int depth)
{
    const char *end = t + len, *close;

    if (depth > 8)
        return -1;
    while (t < end) {
        if (*t == '\\') {
            t += unescape(t, out);
        } else if (t[0] == '$' && t + 1 < end && t[1] == '{') {
            if (!(close = memchr(t, '}', (size_t)(end - t))) || macro(t + 2, (size_t)(close - t - 2), out, depth) < 0)
                return -1;
            t = close + 1;
        } else {
            buf_append(out, t++, 1);
        }
    }
    return 0;
}

/* Appends s[0..len) as a case would write it, for failure messages. */
static void render(const char *s, size_t len, struct buf *out)
{
    char tmp[32];

    for (size_t i = 0; i < len; i++) {
        size_t run = 0;
        while (i + run < len && s[i + run] == ' ')
            run++;
        if (run >= 4) {
            snprintf(tmp, sizeof tmp, "${sp %zu}", run);
            buf_puts(out, tmp);
            i += run - 1;
        } else if (s[i] == '\n' || s[i] == '\r' || s[i] == '\t' || s[i] == '\\') {
            snprintf(tmp, sizeof tmp, "\\%c", s[i] == '\n' ? 'n' : s[i] == '\r' ? 'r' : s[i] == '\t' ? 't' : '\\');
            buf_puts(out, tmp);
        } else if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f) {
            snprintf(tmp, sizeof tmp, "\\x%02x", (unsigned char)s[i]);
            buf_puts(out, tmp);
        } else {
            buf_append(out, s + i, 1);
        }
    }
}

/* ---- the pieces of a step ---- */

/* Reads "+15s", "+1500ms" (the + may be left out) as the clock that long after T0. */
static int parse_time(const char *s, long long *ms)
{
    char *end;
    long long v;

    s += *s == '+';
    v = strtoll(s, &end, 10);
    if (end == s || v < 0)
        return -1;
    if (strcmp(end, "s") == 0)
        v *= 1000;
    else if (strcmp(end, "ms") != 0)
        return -1;
    *ms = T0 + v;
    return 0;
}

/* Reads the optional last word at=TIME of an input step into the clock. */
static int parse_at(struct play *p, char **w, int *n)
{
    if (*n > 1 && strncmp(w[*n - 1], "at=", 3) == 0) {
        (*n)--;
        return parse_time(w[*n] + 3, &p->now);
    }
    return 0;
}

static int parse_kind(const char *s, enum frame_kind *k)
{
    for (int i = 0; i < FRAME_KINDS; i++)
        if (strcmp(s, kind_names[i]) == 0) {
            *k = (enum frame_kind)i;
            return 0;
        }
    return -1;
}

static int parse_cursor(const char *s, struct cursor *c)
{
    return cursor_parse(s, strlen(s), c);
}

static const char *next_name(enum session_next n)
{
    return n == SESSION_READ      ? "READ"
           : n == SESSION_ARCHIVE ? "ARCHIVE"
           : n == SESSION_WAIT    ? "WAIT"
                                  : "END";
}

/* How many heads a response holds. */
static int heads(const struct buf *b)
{
    int n = 0;

    for (const char *s = b->s; s && (s = strstr(s, "Status: ")); s++)
        n++;
    return n;
}

/* An input step to the current session begins: its bytes start here. */
static struct actor *input_begin(struct play *p)
{
    struct actor *a = p->cur;

    a->from = a->all.len;
    p->last = a;
    return a;
}

/* An input step answered next: checks what holds after any step (nothing follows the
 * end; one head at most), and keeps the answer for expect next=. */
static void input_end(struct play *p, struct actor *a, enum session_next next, int was_ended)
{
    p->next = next;
    if (was_ended)
        CHECK(next == SESSION_END && a->all.len == a->from, "%s: nothing after the end (%s, %zu bytes)", where,
              next_name(next), a->all.len - a->from);
    CHECK(heads(&a->all) <= 1, "%s: %d heads", where, heads(&a->all));
    a->ended |= next == SESSION_END;
}

/* ---- steps ---- */

/* kind KIND [name=N] [since=C] [callback=CB] [cors] [expiring] [deadline=T] [padding=N] */
static int step_kind(struct play *p, char **w, int n)
{
    struct session_start st = {.deadline = T0 + 60000};
    struct actor *a = &p->actors[p->nactors];
    struct cursor since;
    struct buf cors = {0};
    int rc = 0;

    if (n < 2 || p->nactors == ACTORS || parse_kind(w[1], &st.kind) < 0)
        return -1;
    a->cfg = base_cfg;
    snprintf(a->name, sizeof a->name, "s%zu", p->nactors + 1);
    for (int i = 2; i < n && rc == 0; i++) {
        if (strncmp(w[i], "since=", 6) == 0) {
            rc = parse_cursor(w[i] + 6, &since);
            st.since = &since;
        } else if (strncmp(w[i], "name=", 5) == 0)
            snprintf(a->name, sizeof a->name, "%s", w[i] + 5);
        else if (strncmp(w[i], "callback=", 9) == 0)
            st.callback = w[i] + 9;
        else if (strcmp(w[i], "cors") == 0)
            rc = macro("CORS", 4, &cors, 0);
        else if (strcmp(w[i], "expiring") == 0)
            st.expiring = 1;
        else if (strcmp(w[i], "archived") == 0)
            st.archived = 1;
        else if (strncmp(w[i], "deadline=", 9) == 0)
            rc = parse_time(w[i] + 9, &st.deadline);
        else if (strncmp(w[i], "padding=", 8) == 0)
            a->cfg.sse_padding = atoi(w[i] + 8);
        else
            rc = -1;
    }
    st.cors = cors.s;
    if (rc == 0) {
        a->s = session_new(&a->cfg, &st);
        p->cur = a;
        p->nactors++;
    }
    buf_free(&cors);
    return rc;
}

/* with NAME: later steps go to that session. */
static int step_with(struct play *p, char **w, int n)
{
    for (size_t i = 0; n == 2 && i < p->nactors; i++)
        if (strcmp(p->actors[i].name, w[1]) == 0) {
            p->cur = &p->actors[i];
            return 0;
        }
    return -1;
}

/* Reads the events among w[from..n) into events (their envelopes into env); other
 * words go to opt, which returns 0 when it took one. Returns how many, or -1. */
static int parse_events(char **w, int from, int n, struct store_event *events, struct buf *env,
                        int (*opt)(const char *word, void *arg), void *arg)
{
    int k = 0;

    for (int i = from; i < n; i++) {
        if (opt(w[i], arg) == 0)
            continue;
        if (envelope_make(w[i], &env[k], &events[k].id) < 0)
            return -1;
        events[k].env = env[k].s;
        events[k].len = env[k].len;
        k++;
    }
    return k;
}

struct page_words {
    struct store_page page;
    int has_last;
};

/* last=C, truncated (a trim up to last), trimmed=CUT, lost=CUT */
static int page_option(const char *word, void *arg)
{
    struct page_words *pw = arg;
    struct store_page *page = &pw->page;

    if (strncmp(word, "last=", 5) == 0) {
        pw->has_last = 1;
        return parse_cursor(word + 5, &page->last) == 0 ? 0 : -2;
    }
    if (strcmp(word, "truncated") == 0) {
        page->gap = STORE_TRIMMED;
        page->cut = page->last;
        return 0;
    }
    if (strncmp(word, "trimmed=", 8) == 0 || strncmp(word, "lost=", 5) == 0) {
        page->gap = word[0] == 't' ? STORE_TRIMMED : STORE_LOST;
        return parse_cursor(strchr(word, '=') + 1, &page->cut) == 0 ? 0 : -2;
    }
    return -1;
}

/* page last=C [truncated | trimmed=CUT | lost=CUT] EVENT... [at=T] */
static int step_page(struct play *p, char **w, int n)
{
    struct store_event events[WORDS];
    struct buf env[WORDS] = {{0}};
    struct page_words pw = {.page = {.events = events}};
    struct actor *a;
    int k, was_ended;

    if (!p->cur || parse_at(p, w, &n) < 0)
        return -1;
    k = parse_events(w, 1, n, events, env, page_option, &pw);
    if (k >= 0 && pw.has_last) {
        pw.page.n = (size_t)k;
        was_ended = (a = input_begin(p))->ended;
        input_end(p, a, session_page(a->s, &pw.page, p->now, &a->all), was_ended);
    }
    for (size_t i = 0; i < WORDS; i++)
        buf_free(&env[i]);
    return k >= 0 && pw.has_last ? 0 : -1;
}

/* uncovered */
static int fill_option(const char *word, void *arg)
{
    if (strcmp(word, "uncovered") != 0)
        return -1;
    ((struct session_fill *)arg)->covered = 0;
    return 0;
}

/* fill [uncovered] EVENT...: session_archive with the archive's answer */
static int step_fill(struct play *p, char **w, int n)
{
    struct store_event events[WORDS];
    struct buf env[WORDS] = {{0}};
    struct session_fill f = {.covered = 1, .events = events};
    struct actor *a;
    int k, was_ended;

    if (!p->cur)
        return -1;
    k = parse_events(w, 1, n, events, env, fill_option, &f);
    if (k >= 0) {
        f.n = (size_t)k;
        was_ended = (a = input_begin(p))->ended;
        input_end(p, a, session_archive(a->s, &f, &a->all), was_ended);
    }
    for (size_t i = 0; i < WORDS; i++)
        buf_free(&env[i]);
    return k >= 0 ? 0 : -1;
}

/* deliver [at=T]: the live message already set goes to the current session. */
static int step_deliver(struct play *p, char **w, int n)
{
    struct actor *a;
    int was_ended;

    if (!p->cur || parse_at(p, w, &n) < 0 || n != 1 || !p->env.s)
        return -1;
    was_ended = (a = input_begin(p))->ended;
    input_end(p, a, session_message(a->s, &p->ev, p->now, &a->all), was_ended);
    return 0;
}

/* message EVENT [at=T]: sets the live message, then delivers it unless it is no
 * envelope (drivers pass those on to no session). */
static int step_message(struct play *p, char **w, int n)
{
    if (!p->cur || parse_at(p, w, &n) < 0 || n != 2)
        return -1;
    buf_reset(&p->env);
    if (envelope_make(w[1], &p->env, NULL) < 0)
        return -1;
    p->set_rc = session_event_set(&p->ev, p->env.s, p->env.len);
    if (p->set_rc == 0)
        return step_deliver(p, w, 1);
    input_begin(p);
    return 0;
}

/* tick T */
static int step_tick(struct play *p, char **w, int n)
{
    struct actor *a;
    int was_ended;

    if (!p->cur || n != 2 || parse_time(w[1], &p->now) < 0)
        return -1;
    was_ended = (a = input_begin(p))->ended;
    input_end(p, a, session_tick(a->s, p->now, &a->all), was_ended);
    return 0;
}

/* stop | fail */
static int step_end(struct play *p, char **w, int n)
{
    struct actor *a;
    int was_ended;

    if (!p->cur || n != 1)
        return -1;
    was_ended = (a = input_begin(p))->ended;
    if (strcmp(w[0], "stop") == 0)
        input_end(p, a, session_stop(a->s, &a->all), was_ended);
    else
        input_end(p, a, session_fail(a->s, &a->all), was_ended);
    return 0;
}

/* poke KIND TEXT: replaces the frame the live message keeps for KIND, so that a
 * session reusing it shows it. */
static int step_poke(struct play *p, char **w, int n)
{
    const char *text = w[1] + strcspn(w[1], " ");
    char kind[16];
    enum frame_kind k;

    if (n != 2 || (size_t)(text - w[1]) >= sizeof kind)
        return -1;
    memcpy(kind, w[1], (size_t)(text - w[1]));
    kind[text - w[1]] = 0;
    if (parse_kind(kind, &k) < 0)
        return -1;
    buf_reset(&p->ev.framed[k]);
    return expand(text + (*text == ' '), strlen(text + (*text == ' ')), &p->ev.framed[k], 0);
}

/* The bytes of the last input step. */
static const char *step_bytes(const struct play *p, size_t *len)
{
    *len = p->last->all.len - p->last->from;
    return p->last->all.s ? p->last->all.s + p->last->from : "";
}

/* out TEXT: the last input step appended exactly the out lines after it, joined. */
static int step_out(struct play *p, char **w, int n)
{
    (void)n;
    if (!p->last)
        return -1;
    if (!p->wanting)
        memcpy(p->want_where, where, sizeof where);
    p->wanting = 1;
    return expand(w[1], strlen(w[1]), &p->want, 0);
}

static void out_compare(struct play *p)
{
    struct buf got = {0}, want = {0};
    size_t len;
    const char *s = step_bytes(p, &len);
    int same = len == p->want.len && memcmp(s, p->want.s ? p->want.s : "", len) == 0;

    if (!same) {
        render(s, len, &got);
        render(p->want.s, p->want.len, &want);
    }
    CHECK(same, "%s: out\n  want %s\n  got  %s", p->want_where, want.s ? want.s : "(nothing)",
          got.s ? got.s : "(nothing)");
    buf_free(&got);
    buf_free(&want);
    buf_reset(&p->want);
    p->wanting = 0;
}

/* has TEXT / lacks TEXT: the last input step's bytes hold TEXT, or do not. */
static int step_has(struct play *p, char **w, int n)
{
    struct buf text = {0}, got = {0};
    size_t len;
    const char *s;
    int found, rc;

    (void)n;
    if (!p->last || (rc = expand(w[1], strlen(w[1]), &text, 0)) < 0) {
        buf_free(&text);
        return -1;
    }
    s = step_bytes(p, &len);
    found = text.len && memmem(s, len, text.s, text.len) != NULL;
    render(s, len, &got);
    CHECK(found == (w[0][0] == 'h'), "%s: %s %s\n  got %s", where, w[0], w[1], got.s ? got.s : "(nothing)");
    buf_free(&got);
    buf_free(&text);
    return 0;
}

/* ---- expectations: expect key=value... ---- */

static int expect_next(struct play *p, const char *key, const char *v)
{
    (void)key;
    if (!p->last)
        return -1;
    CHECK(strcmp(next_name(p->next), v) == 0, "%s: next %s, want %s", where, next_name(p->next), v);
    return 0;
}

/* since=C, or since="" for no resume point */
static int expect_since(struct play *p, const char *key, const char *v)
{
    char got[CURSOR_MAX];

    (void)key;
    session_since(p->cur->s, got);
    CHECK(strcmp(got, strcmp(v, "\"\"") == 0 ? "" : v) == 0, "%s: since \"%s\", want %s", where, got, v);
    return 0;
}

/* range=A..B: session_archive_range */
static int expect_range(struct play *p, const char *key, const char *v)
{
    char a[CURSOR_MAX], b[CURSOR_MAX], got[2 * CURSOR_MAX + 2];
    struct cursor after, before;

    (void)key;
    session_archive_range(p->cur->s, &after, &before);
    cursor_format(after, a);
    cursor_format(before, b);
    snprintf(got, sizeof got, "%s..%s", a, b);
    CHECK(strcmp(got, v) == 0, "%s: range %s, want %s", where, got, v);
    return 0;
}

/* wake=T, or wake=never */
static int expect_wake(struct play *p, const char *key, const char *v)
{
    long long want = LLONG_MAX, got = session_wake_ms(p->cur->s);

    (void)key;
    if (strcmp(v, "never") != 0 && parse_time(v, &want) < 0)
        return -1;
    CHECK(got == want, "%s: wake %+lld ms, want %s", where, got == LLONG_MAX ? -1 : got - T0, v);
    return 0;
}

/* set=0|-1: what session_event_set answered for the last message */
static int expect_set(struct play *p, const char *key, const char *v)
{
    (void)key;
    CHECK(p->set_rc == atoi(v), "%s: session_event_set %d, want %s", where, p->set_rc, v);
    return 0;
}

/* built.KIND=1|0|-1: what the live message keeps for KIND */
static int expect_built(struct play *p, const char *key, const char *v)
{
    enum frame_kind k;

    if (parse_kind(key + 6, &k) < 0)
        return -1;
    CHECK(p->ev.built[k] == atoi(v), "%s: %s %d, want %s", where, key, p->ev.built[k], v);
    return 0;
}

static const struct {
    const char *key;
    int (*check)(struct play *p, const char *key, const char *value);
} expectations[] = {
    {"next", expect_next},
    {"since", expect_since},
    {"range", expect_range},
    {"wake", expect_wake},
    {"set", expect_set},
    {"built.poll", expect_built},
    {"built.sse", expect_built},
    {"built.lines", expect_built},
    {"built.iframe", expect_built},
};

static int step_expect(struct play *p, char **w, int n)
{
    for (int i = 1; i < n; i++) {
        size_t klen = strcspn(w[i], "=");
        size_t k = 0;
        while (k < sizeof expectations / sizeof expectations[0] &&
               !(strlen(expectations[k].key) == klen && strncmp(expectations[k].key, w[i], klen) == 0))
            k++;
        if (k == sizeof expectations / sizeof expectations[0] || !w[i][klen] || !p->cur)
            return -1;
        w[i][klen] = 0;
        if (expectations[k].check(p, w[i], w[i] + klen + 1) < 0)
            return -1;
    }
    return n > 1 ? 0 : -1;
}

static const struct {
    const char *name;
    int text; /* 1: takes the rest of the line as written, not words */
    int (*play)(struct play *p, char **w, int n);
} steps[] = {
    {"kind", 0, step_kind},       {"with", 0, step_with},   {"page", 0, step_page}, {"fill", 0, step_fill},
    {"message", 0, step_message},
    {"deliver", 0, step_deliver}, {"tick", 0, step_tick},   {"stop", 0, step_end},  {"fail", 0, step_end},
    {"expect", 0, step_expect},   {"poke", 1, step_poke},   {"out", 1, step_out},   {"has", 1, step_has},
    {"lacks", 1, step_has},
};

/* Plays one line of a case. Returns 0, or -1 when the line is not a step. */
static int play_line(struct play *p, char *line)
{
    char *w[WORDS], *rest;
    int n = 0;
    size_t k = 0, nlen = strcspn(line, " \t");

    while (k < sizeof steps / sizeof steps[0] &&
           !(strlen(steps[k].name) == nlen && strncmp(steps[k].name, line, nlen) == 0))
        k++;
    if (k == sizeof steps / sizeof steps[0])
        return -1;
    if (p->wanting && steps[k].play != step_out)
        out_compare(p);
    if (steps[k].text) {
        rest = line + nlen + (line[nlen] == ' ');
        line[nlen] = 0;
        w[0] = line;
        w[1] = rest;
        return steps[k].play(p, w, 2);
    }
    line[strcspn(line, "#")] = 0;
    for (char *t = strtok(line, " \t"); t && n < WORDS; t = strtok(NULL, " \t"))
        w[n++] = t;
    return steps[k].play(p, w, n);
}

static void play_free(struct play *p)
{
    for (size_t i = 0; i < p->nactors; i++) {
        session_free(p->actors[i].s);
        buf_free(&p->actors[i].all);
    }
    session_event_free(&p->ev);
    buf_free(&p->env);
    buf_free(&p->want);
}

/* Reads a file's lines, without comment lines, blank lines or trailing blanks, into fn. */
static int read_lines(const char *path, void (*fn)(void *ctx, char *line, int lineno), void *ctx)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0;

    if (!f)
        return -1;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && strchr("\r\n \t", line[len - 1]))
            line[--len] = 0;
        if (len && line[strspn(line, " \t")] != '#')
            fn(ctx, line + strspn(line, " \t"), lineno);
    }
    free(line);
    fclose(f);
    return 0;
}

struct case_file {
    const char *name;
    struct play *play;
};

static void case_line(void *ctx, char *line, int lineno)
{
    struct case_file *c = ctx;

    snprintf(where, sizeof where, "%s:%d", c->name, lineno);
    if (play_line(c->play, line) < 0)
        CHECK(0, "%s: not a step, or not one that can be played here", where);
}

static void play_case(const char *dir, const char *name)
{
    char path[800];
    struct play p = {.now = T0};
    struct case_file c = {name, &p};

    snprintf(path, sizeof path, "%s/%s", dir, name);
    CHECK(read_lines(path, case_line, &c) == 0, "cannot read %s", path);
    snprintf(where, sizeof where, "%s:end", name);
    if (p.wanting)
        out_compare(&p);
    play_free(&p);
    ncases++;
}

static void def_line(void *ctx, char *line, int lineno)
{
    size_t nlen = strcspn(line, " \t");

    (void)ctx;
    if (ndefs == DEFS || !line[nlen]) {
        CHECK(0, "defs:%d: not NAME TEXT", lineno);
        return;
    }
    line[nlen] = 0;
    defs[ndefs].name = strdup(line);
    defs[ndefs++].text = strdup(line + nlen + 1 + strspn(line + nlen + 1, " \t"));
}

static int is_case(const struct dirent *d)
{
    size_t len = strlen(d->d_name);

    return len > 5 && strcmp(d->d_name + len - 5, ".case") == 0;
}

int main(int argc, char **argv)
{
    char dir[512], path[600];
    struct dirent **names = NULL;
    int n;

    /* The cases sit beside this file; tests run from the top of the tree. */
    if (argc > 1)
        snprintf(dir, sizeof dir, "%s", argv[1]);
    else if (strrchr(__FILE__, '/'))
        snprintf(dir, sizeof dir, "%.*s/session", (int)(strrchr(__FILE__, '/') - __FILE__), __FILE__);
    else
        snprintf(dir, sizeof dir, "session");
    snprintf(path, sizeof path, "%s/defs", dir);
    CHECK(read_lines(path, def_line, NULL) == 0, "cannot read %s (run from the top of the tree)", path);
    n = scandir(dir, &names, is_case, alphasort);
    CHECK(n > 0, "no cases in %s", dir);
    for (int i = 0; i < n; i++) {
        play_case(dir, names[i]->d_name);
        free(names[i]);
    }
    free(names);
    for (size_t i = 0; i < ndefs; i++) {
        free(defs[i].name);
        free(defs[i].text);
    }
    printf("session: %d cases\n", ncases);
    return check_done("session");
}
