# comet-fcgi: one hand-written Makefile. `make run` starts the whole stack, `make test`
# runs every test; both install missing Debian packages first.
PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
PKGS = fcgi hiredis jansson libjwt libcrypto
PORT ?= 8080
SERVER ?= apache

WARN = -Wall -Wextra -Werror -Wmissing-prototypes -Wshadow -Wstrict-prototypes -Wpointer-arith
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE -O2 -g $(WARN) -MMD -MP -Icommon -Ibuild
ifeq ($(SANITIZE),1)
BASE_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
BASE_LDFLAGS += -fsanitize=address,undefined
B = build/san
else
B = build
endif
ALL_CFLAGS = $(BASE_CFLAGS) $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(CFLAGS)
LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread
ALL_LDFLAGS = $(BASE_LDFLAGS) $(LDFLAGS)

COMMON = $(patsubst %.c,$(B)/%.o,$(wildcard common/*.c))
FCGI = $(patsubst %.c,$(B)/%.o,$(wildcard fcgi/*.c))
WORKER = $(patsubst %.c,$(B)/%.o,$(wildcard worker/*.c))
UNIT = $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/*.c))
# Objects with main() are left out of what unit tests link against.
FCGI_LIB = $(filter-out $(B)/fcgi/main.o,$(FCGI))

all: $(B)/comet.fcgi $(B)/comet-worker

$(B)/comet.fcgi: $(FCGI) $(COMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(B)/comet-worker: $(WORKER) $(COMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(B)/tests/%: tests/unit/%.c $(FCGI_LIB) $(COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ifcgi $(ALL_LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LIBS)

$(B)/%.o: %.c build/store_scripts.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The store's Lua scripts become C string constants.
build/store_scripts.h: common/store_write.lua common/store_read.lua
	@mkdir -p build
	for f in $^; do \
	  n=$$(basename $$f .lua); \
	  printf 'static const char %s_lua[] =\n' "$$n"; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$$/\\n"/' $$f; \
	  printf ';\n'; \
	done > $@

deps:
	@tests/deps.sh

unit: $(UNIT)

test: deps
	$(MAKE) all unit
	$(MAKE) SANITIZE=1 all unit
	tests/run.sh

run: deps all
	PORT=$(PORT) SERVER=$(SERVER) tests/stack.sh run

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/comet-fcgi
	install -m 755 $(B)/comet.fcgi $(B)/comet-worker $(DESTDIR)$(PREFIX)/bin
	cp -R www apache-conf lighttpd-conf $(DESTDIR)$(PREFIX)/share/comet-fcgi/

clean:
	rm -rf build

.PHONY: all deps unit test run install clean
-include $(shell find build -name '*.d' 2>/dev/null)
