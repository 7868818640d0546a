/* Unit tests of the settings file's syntax (envfile_next): each case is a file's text
 * and what it must give, as "KEY=VALUE|KEY=VALUE", or "!LINE" for a refused line. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "envfile.h"

static const struct {
    const char *text, *want;
} cases[] = {
    {"", ""},
    {"\n\n   \n\t\n", ""},
    {"# a comment\n; another\n  # indented\n", ""},
    {"COMET_A=1", "COMET_A=1"},
    {"COMET_A=1\nCOMET_B=two words\n", "COMET_A=1|COMET_B=two words"},
    {"COMET_A=\n", "COMET_A="},
    {"  COMET_A = spaced  \n", "COMET_A=spaced"},
    {"COMET_A=1\r\nCOMET_B=2\r\n", "COMET_A=1|COMET_B=2"},
    {"COMET_A='single # not a comment'\n", "COMET_A=single # not a comment"},
    {"COMET_A=\"double $HOME `x`\"\n", "COMET_A=double $HOME `x`"},
    {"COMET_A=\"\"\n", "COMET_A="},
    {"COMET_A=\"it's\"\n", "COMET_A=it's"},
    {"COMET_A='  kept  '  \n", "COMET_A=  kept  "},
    {"COMET_A=a=b:c|d,e\n", "COMET_A=a=b:c|d,e"},
    {"COMET_A=x # stays\n", "COMET_A=x # stays"},
    {"COMET_A=mid\"quote\n", "COMET_A=mid\"quote"},
    {"_x9=1\n", "_x9=1"},
    {"COMET_A=1\n\n# c\nCOMET_A=2\n", "COMET_A=1|COMET_A=2"},
    {"no equals\n", "!1"},
    {"COMET_A=1\nexport COMET_B=2\n", "COMET_A=1|!2"},
    {"9A=1\n", "!1"},
    {"=1\n", "!1"},
    {"COMET-A=1\n", "!1"},
    {"COMET_A=\"open\n", "!1"},
    {"COMET_A='open\n", "!1"},
    {"COMET_A=\"a\"b\n", "!1"},
    {"COMET_A='a' 'b'\n", "!1"},
    {"# c\nCOMET_A=back\\slash\n", "!2"},
    {"COMET_A=\"esc\\\"\"\n", "!1"},
    {"COMET_A=continued \\\nmore\n", "!1"},
};

/* What text gives, in the cases' notation, into out. */
static void run(const char *text, size_t len, char *out, size_t outlen)
{
    struct envfile f = {0};
    struct envfile_entry e;
    size_t used = 0;
    int rc;

    out[0] = 0;
    while ((rc = envfile_next(&f, text, len, &e)) == 1 && used < outlen)
        used += (size_t)snprintf(out + used, outlen - used, "%s%.*s=%.*s", used ? "|" : "", (int)e.keylen, e.key,
                                 (int)e.valuelen, e.value);
    if (rc < 0 && used < outlen)
        snprintf(out + used, outlen - used, "%s!%d", used ? "|" : "", f.line);
    if (rc < 0)
        CHECK(f.errstr && *f.errstr, "\"%s\": no reason given", text);
}

int main(void)
{
    char got[512];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run(cases[i].text, strlen(cases[i].text), got, sizeof got);
        CHECK(strcmp(got, cases[i].want) == 0, "\"%s\": got \"%s\", want \"%s\"", cases[i].text, got, cases[i].want);
    }
    /* len bounds the text: nothing past it is read, and a NUL inside is refused. */
    run("COMET_A=12345", 9, got, sizeof got);
    CHECK(strcmp(got, "COMET_A=1") == 0, "len limits the value: %s", got);
    run("COMET_A=1\0x\n", 12, got, sizeof got);
    CHECK(strcmp(got, "!1") == 0, "a NUL byte: %s", got);
    return check_done("envfile");
}
