# comet-fcgi: one hand-written Makefile. `make run` starts the whole stack, `make test`
# runs every test; both install the missing Debian packages they need first (run: only
# what building and SERVER's stack need; test: everything, tests/deps.sh).
PREFIX ?= /usr/local
DESTDIR ?=
# Where the settings file is looked for by default: SYSCONFDIR/comet-fcgi/comet.env.
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
# The release, in one place (the binaries' -V, /stats; www/comet.js must agree, a test checks).
VERSION := $(shell cat VERSION)
CC ?= cc
PKGS = fcgi hiredis jansson
# Not linked into the binaries: fcgi/auth.c loads them by soname on the first credential
# to check (see there). Their headers are used everywhere, their libraries by tests only.
AUTH_PKGS = libjwt libcrypto
# The WebSocket transport (comet.fcgi -w, external mode only): wslay frames it; Debian ships
# no pkg-config file for it, and no static library, so make static leaves it out
# (fcgi/hub_ws_static.c stands in).
WS_LIBS = -lwslay
WS_SRC = fcgi/hub_ws.c fcgi/hub_ws_ops.c fcgi/ws_http.c
# $(call soname,PKG[,FILE]): the soname of pkg-config package PKG's library FILE (default PKG).
soname = $(shell objdump -p $$(pkg-config --variable=libdir $(1))/$(or $(2),$(1)).so 2>/dev/null | awk '/SONAME/ { print $$2 }')
AUTH_CFLAGS := $(shell pkg-config --cflags $(AUTH_PKGS) 2>/dev/null) \
	-DAUTH_LIBJWT='"$(call soname,libjwt)"' -DAUTH_LIBCRYPTO='"$(call soname,libcrypto)"'
# The SQL archive's client libraries: linked into comet-worker only (archive/), never into
# comet.fcgi, whose readers (fcgi/archive_read_*.c) load them by soname when a request
# first needs the archive; they see the headers only.
ARCHIVE_PKGS = sqlite3 libmariadb libpq
ARCHIVE_READ_CFLAGS := $(shell pkg-config --cflags sqlite3 libmariadb libpq 2>/dev/null) \
	-DARCHIVE_READ_SQLITE='"$(call soname,sqlite3,libsqlite3)"' \
	-DARCHIVE_READ_MYSQL='"$(call soname,libmariadb)"' -DARCHIVE_READ_POSTGRESQL='"$(call soname,libpq)"'
PORT ?= 8080
SERVER ?= apache

WARN = -Wall -Wextra -Werror -Wmissing-prototypes -Wshadow -Wstrict-prototypes -Wpointer-arith
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE -O2 -g $(WARN) -MMD -MP -Icommon -Ibuild
ifeq ($(SANITIZE),1)
BASE_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
BASE_LDFLAGS += -fsanitize=address,undefined
B = build/san
else ifeq ($(STATIC),1)
# make static: nothing needed from the host's libraries. libjwt has no static library in
# Debian, so this build checks no credentials (fcgi/auth.c, AUTH_STATIC), and its
# comet.fcgi reads no archive (ARCHIVE_READ_STATIC: nothing to dlopen safely).
BASE_CFLAGS += -DAUTH_STATIC -DARCHIVE_READ_STATIC
BASE_LDFLAGS += -static
PKG_STATIC = --static
# Debian's static libpq needs PostgreSQL's internal libpgport/libpgcommon, which no -dev
# package ships: this build's archive writer takes SQLite and MariaDB/MySQL only.
BASE_CFLAGS += -DARCHIVE_NO_POSTGRESQL
ARCHIVE_PKGS = sqlite3 libmariadb
WS_LIBS =
FCGI_SRC = $(filter-out $(WS_SRC),$(wildcard fcgi/*.c))
B = build/static
else
B = build
endif
# := so that each pkg-config runs once per make, not once per use.
ALL_CFLAGS := $(BASE_CFLAGS) $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(AUTH_CFLAGS) $(CFLAGS)
ARCHIVE_CFLAGS := $(shell pkg-config --cflags $(ARCHIVE_PKGS) 2>/dev/null) -Iarchive
FCGI_SRC ?= $(filter-out fcgi/hub_ws_static.c,$(wildcard fcgi/*.c))
LIBS := $(shell pkg-config $(PKG_STATIC) --libs $(PKGS) 2>/dev/null) $(WS_LIBS) -lpthread
ARCHIVE_LIBS := $(shell pkg-config $(PKG_STATIC) --libs $(ARCHIVE_PKGS) 2>/dev/null)
# The webhook sender's HTTP client and HMAC: linked into comet-worker only (not into the
# static one, which has no sender).
WEBHOOK_PKGS = $(if $(filter 1,$(STATIC)),,libcurl libcrypto)
WEBHOOK_LIBS := $(if $(WEBHOOK_PKGS),$(shell pkg-config --libs $(WEBHOOK_PKGS) 2>/dev/null))
TEST_LIBS := $(LIBS) $(shell pkg-config --libs $(AUTH_PKGS) 2>/dev/null)
ALL_LDFLAGS = $(BASE_LDFLAGS) $(LDFLAGS)

LUA_H = $(patsubst common/%.lua,build/%_lua.h,$(wildcard common/*.lua))
SQL_H = $(patsubst sql/%.sql,build/%_sql.h,$(wildcard sql/*.sql))
COMMON = $(patsubst %.c,$(B)/%.o,$(wildcard common/*.c))
FCGI = $(patsubst %.c,$(B)/%.o,$(FCGI_SRC))
# The static build has no webhook sender (worker/webhook_none.c says why); the others no stub.
WORKER = $(patsubst %.c,$(B)/%.o,$(filter-out $(if $(filter 1,$(STATIC)),worker/webhook.c,worker/webhook_none.c),$(wildcard worker/*.c)))
ARCHIVE = $(patsubst %.c,$(B)/%.o,$(filter-out $(if $(filter 1,$(STATIC)),archive/archive_postgresql.c),$(wildcard archive/*.c)))
UNIT = $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/*.c))
# Objects with main() are left out of what unit tests link against.
FCGI_LIB = $(filter-out $(B)/fcgi/main.o,$(FCGI))

# libFuzzer targets (tests/fuzz/*.c) over the real parsers: every object recompiled by
# clang with the fuzzer's coverage and ASan/UBSan into build/fuzz/, linked with $(LIBS).
CLANG ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -O1 -g $(WARN) -MMD -MP -Icommon -Ifcgi -Ibuild \
	-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
	$(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(AUTH_CFLAGS) $(ARCHIVE_READ_CFLAGS)
FUZZ = $(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/*.c))
FUZZ_LIB = $(patsubst %.c,build/fuzz/%.o,$(filter-out fcgi/main.c fcgi/hub_ws_static.c,$(wildcard fcgi/*.c)) \
	$(wildcard common/*.c))

all: $(B)/comet.fcgi $(B)/comet-worker

$(B)/comet.fcgi: $(FCGI) $(COMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(B)/comet-worker: $(WORKER) $(ARCHIVE) $(COMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(ARCHIVE_LIBS) $(WEBHOOK_LIBS)

$(B)/tests/%: tests/unit/%.c $(FCGI_LIB) $(COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ifcgi $(ALL_LDFLAGS) -o $@ $(filter %.c %.o,$^) $(TEST_LIBS)

# Only version.c is compiled with the version, so a new VERSION rebuilds one object.
$(B)/common/version.o build/fuzz/common/version.o: VERSION
$(B)/common/version.o: ALL_CFLAGS += -DCOMET_VERSION='"$(VERSION)"'
build/fuzz/common/version.o: FUZZ_CFLAGS += -DCOMET_VERSION='"$(VERSION)"'
$(B)/common/config.o build/fuzz/common/config.o $(B)/fcgi/main.o $(B)/worker/main.o: build/paths.h

# The default settings file's path, rewritten only when it changes (PREFIX, SYSCONFDIR),
# so that config.o is rebuilt exactly then.
build/paths.h: FORCE
	@mkdir -p build
	@printf '#define CONFIG_DEFAULT_FILE "%s/comet-fcgi/comet.env"\n' '$(SYSCONFDIR)' > $@.tmp
	@if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi

$(B)/%.o: %.c $(LUA_H) $(SQL_H)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The worker and the archive see the archive's headers; of comet.fcgi's objects, only its
# archive readers do (for the prototypes of what they load).
$(B)/archive/%.o $(B)/worker/%.o: ALL_CFLAGS += $(ARCHIVE_CFLAGS)
$(B)/fcgi/archive_read%.o: ALL_CFLAGS += $(ARCHIVE_READ_CFLAGS)

build/fuzz/%.o: %.c $(LUA_H)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -c -o $@ $<

build/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $(filter %.c %.o,$^) $(TEST_LIBS)

# The store's Lua scripts and the archive's schemas become C string constants, one header each.
# A script's "-- uses: FILE" lines name the helpers of common/lua/ put before it, so each
# helper is written once and a script carries only those it calls. Comment lines are left out:
# a script goes to Redis whole with every call (EVAL), and the waiting one twice per request.
build/%_lua.h: common/%.lua $(wildcard common/lua/*.lua)
	@mkdir -p build
	cat $$(sed -n 's|^-- uses: |common/lua/|p' $<) $< | sed '/^[[:space:]]*--/d' > $@.lua
	{ printf 'static const char %s_lua[] =\n' "$*"; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$$/\\n"/' $@.lua; \
	  printf ';\n'; } > $@
	@rm -f $@.lua

build/%_sql.h: sql/%.sql
	@mkdir -p build
	{ printf 'static const char %s_sql[] =\n' "$*"; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$$/\\n"/' $<; \
	  printf ';\n'; } > $@

# The status page (fcgi/status_page.c) is compiled into comet.fcgi: www/status.html with
# each `<!-- include FILE -->` line replaced by FILE: www/status.js, and uPlot's script and
# stylesheet from node_modules (the "uplot" of package-lock.json: make deps, npm ci, or npm ci
# --omit=dev for it alone). Without them the page says it has no charts and shows the numbers.
# Rewritten only when it changes (npm gives node_modules' files a 1985 mtime, so make could not
# tell when uPlot arrives), so status_page.o is rebuilt exactly then.
build/status_page_html.h: FORCE
	@mkdir -p build
	@{ printf 'static const char status_page_html[] =\n'; \
	  awk '/^ *<!-- include [^ ]+ -->$$/ { f = $$3; while ((getline l < f) > 0) print l; close(f); next } { print }' \
	    www/status.html | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' -e 's/^/    "/' -e 's/$$/\\n"/'; \
	  printf ';\n'; } > $@.tmp
	@if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi
$(B)/fcgi/status_page.o build/fuzz/fcgi/status_page.o: build/status_page_html.h

deps:
	@tests/deps.sh test

run-deps:
	@tests/deps.sh run $(SERVER)

unit: $(UNIT)

# Statically linked binaries in build/static/ for a host that has none of the libraries.
static:
	$(MAKE) STATIC=1 all

fuzz-build: $(FUZZ)
# Kept between builds: make would delete them as intermediates of the chained rules.
.SECONDARY: $(FUZZ_LIB)

# Each target for FUZZ_SECONDS on a copy of its committed corpus.
fuzz: fuzz-build
	tests/fuzz/run.sh $(FUZZ_SECONDS)

test: deps
	$(MAKE) all unit
	$(MAKE) SANITIZE=1 all unit
	$(MAKE) static
	$(MAKE) fuzz-build
	tests/run.sh

run: run-deps all
	PORT=$(PORT) SERVER=$(SERVER) tests/stack.sh run

# Side by side with Nchan; not part of test (BENCH_SCALE=small for a quick pass).
bench: deps
	bench/run.sh

# Fault injection (tests/chaos/chaos.mjs) behind Apache + mod_fcgid and lighttpd, each a
# bounded run of about two minutes; CHAOS_FAULT_SECONDS and CHAOS_RATE tune it.
chaos: deps
	$(MAKE) all
	for s in apache lighttpd; do COMET_IT_SERVER=$$s COMET_BIN_DIR=build node tests/chaos/chaos.mjs || exit 1; done

# The browser client's npm package (www/package.json; `cd www && npm pack` runs this first):
# comet.js minified with its source map into www/dist/, and the licence npm takes from the
# package's folder. esbuild and the rest come from package-lock.json (make deps, or npm ci).
ESBUILD = node_modules/.bin/esbuild
client: www/dist/comet.min.js www/LICENSE

www/dist/comet.min.js: www/comet.js
	@test -x $(ESBUILD) || { echo "$(ESBUILD) is missing: run make deps (or npm ci)" >&2; exit 1; }
	$(ESBUILD) $< --minify --target=es5 --sourcemap --legal-comments=inline --log-level=warning --outfile=$@

www/LICENSE: LICENSE
	cp $< $@

# make install: PREFIX (/usr/local), DESTDIR, SYSCONFDIR (above), UNITDIR, WEBGROUP (the web
# server's group, given the external-mode socket), STRIP (-s; empty keeps the symbols, for
# packagers that strip themselves).
UNITDIR ?= $(PREFIX)/lib/systemd/system
WEBGROUP ?= www-data
STRIP ?= -s
BINDIR = $(PREFIX)/bin
DATADIR = $(PREFIX)/share/comet-fcgi
DOCDIR = $(PREFIX)/share/doc/comet-fcgi
MAN1DIR = $(PREFIX)/share/man/man1
CONFDIR = $(SYSCONFDIR)/comet-fcgi
SETTINGS = $(CONFDIR)/comet.env
# systemd makes it (RuntimeDirectory=comet-fcgi in systemd/comet-fcgi.service).
SOCKET = /run/comet-fcgi/comet.sock
WS_SOCKET = /run/comet-fcgi/ws.sock
# Debian's lighttpd keeps its backends' sockets there (writable by its user).
LIGHTTPD_RUN ?= /run/lighttpd

# What install writes with this prefix's paths, each through dist/subst.sh (the generator the
# test stacks use too), into build/dist/ and from there to its place; rewritten every time,
# since PREFIX may change between two runs.
CONFS = apache-fcgid.conf apache-fcgid-server.conf apache-proxy-fcgi.conf nginx.conf lighttpd.conf
UNITS = comet-worker.service comet-fcgi.service comet-archive.service
MANS = comet.fcgi.1 comet-worker.1
GEN = $(addprefix build/dist/,$(CONFS) $(UNITS) $(MANS) comet-cron)
WWW_FILES = www/comet.js www/comet.mjs www/comet.d.ts www/index.html
DOCS = README.md LICENSE CHANGELOG.md
SUBST = BIN='$(BINDIR)' WWW='$(DATADIR)/www' SOCKET='$(SOCKET)' WS_SOCKET='$(WS_SOCKET)' RUN='$(LIGHTTPD_RUN)' \
	SETTINGS='$(SETTINGS)' WEBGROUP='$(WEBGROUP)' VERSION='$(VERSION)' \
	DATA='$(DATADIR)' DOC='$(DOCDIR)' SYSCONFDIR='$(SYSCONFDIR)' UNITDIR='$(UNITDIR)'
build/dist/apache-fcgid.conf: apache-conf/comet.conf
build/dist/apache-fcgid.conf: ENV = FcgidInitialEnv COMET_CONFIG "$(SETTINGS)"
build/dist/apache-fcgid-server.conf: apache-conf/comet-server.conf
build/dist/apache-proxy-fcgi.conf: apache-conf/proxy-fcgi.conf
build/dist/nginx.conf: nginx-conf/comet.conf
build/dist/lighttpd.conf: lighttpd-conf/comet.conf
build/dist/lighttpd.conf: ENV = "COMET_CONFIG" => "$(SETTINGS)"
build/dist/comet-worker.service: systemd/comet-worker.service
build/dist/comet-fcgi.service: systemd/comet-fcgi.service
build/dist/comet-archive.service: systemd/comet-archive.service
build/dist/comet.fcgi.1: man/comet.fcgi.1
build/dist/comet-worker.1: man/comet-worker.1
build/dist/comet-cron: dist/comet-cron
$(GEN): FORCE
	@mkdir -p build/dist
	dist/subst.sh $(filter-out FORCE,$^) $(SUBST) ENV='$(ENV)' > $@

# The settings file is created from the example only when there is none, mode 600: it holds
# the secrets.
install: all $(GEN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(CONFDIR) $(DESTDIR)$(DATADIR)/www/errors \
		$(DESTDIR)$(DATADIR)/sql $(DESTDIR)$(DOCDIR) $(DESTDIR)$(MAN1DIR) $(DESTDIR)$(UNITDIR)
	install -m 755 $(STRIP) $(B)/comet.fcgi $(B)/comet-worker $(DESTDIR)$(BINDIR)
	install -m 755 build/dist/comet-cron $(DESTDIR)$(BINDIR)
	install -m 644 $(addprefix build/dist/,$(CONFS)) $(DESTDIR)$(CONFDIR)
	install -m 644 $(addprefix build/dist/,$(UNITS)) $(DESTDIR)$(UNITDIR)
	install -m 644 $(addprefix build/dist/,$(MANS)) $(DESTDIR)$(MAN1DIR)
	install -m 644 $(WWW_FILES) $(DESTDIR)$(DATADIR)/www
	install -m 644 www/errors/413.json $(DESTDIR)$(DATADIR)/www/errors
	install -m 644 sql/*.sql $(DESTDIR)$(DATADIR)/sql
	install -m 644 comet.env.example apache-conf/htaccess.example $(DESTDIR)$(DATADIR)
	install -m 644 $(DOCS) $(DESTDIR)$(DOCDIR)
	test -e $(DESTDIR)$(SETTINGS) || install -m 600 comet.env.example $(DESTDIR)$(SETTINGS)

# Removes what install put, and the settings file only while it is still the example: an
# edited one holds the site's secrets and stays (said on stdout). Folders others share (bin,
# man1, the unit folder) stay.
uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,comet.fcgi comet-worker comet-cron) \
		$(addprefix $(DESTDIR)$(CONFDIR)/,$(CONFS)) $(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS)) \
		$(addprefix $(DESTDIR)$(MAN1DIR)/,$(MANS))
	if cmp -s $(DESTDIR)$(DATADIR)/comet.env.example $(DESTDIR)$(SETTINGS); then \
		rm -f $(DESTDIR)$(SETTINGS); \
	elif test -e $(DESTDIR)$(SETTINGS); then echo "kept $(DESTDIR)$(SETTINGS): it was edited"; fi
	rm -rf $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR)
	rmdir --ignore-fail-on-non-empty $(DESTDIR)$(CONFDIR)

clean:
	rm -rf build www/dist www/LICENSE

.PHONY: FORCE all deps run-deps static unit fuzz-build fuzz test run bench chaos client install uninstall clean
-include $(shell find build -name '*.d' 2>/dev/null)
