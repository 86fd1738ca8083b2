/* demo.c - create the demo directory and its self-describing data file. */
#include "server/demo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void demo_record(unsigned i, char out[DEMO_RECORD_SIZE])
{
    char text[DEMO_RECORD_SIZE + 1];
    int n = snprintf(text, sizeof text, "record %08u of %08u offset %012llu ", i, DEMO_RECORDS,
                     (unsigned long long)i * DEMO_RECORD_SIZE);
    memcpy(out, text, (size_t)n);
    memset(out + n, '.', DEMO_RECORD_SIZE - 1 - (size_t)n);
    out[DEMO_RECORD_SIZE - 1] = '\n';
}

static bool make_dirs(const char *dir, char *err, size_t errlen)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
        snprintf(err, errlen, "demo directory path too long");
        return false;
    }
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST) {
                snprintf(err, errlen, "cannot create demo directory %s: %s", path,
                         strerror(errno));
                return false;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    return true;
}

typedef bool (*fill_fn)(FILE *f);

static bool fill_records(FILE *f)
{
    char rec[DEMO_RECORD_SIZE];
    for (unsigned i = 0; i < DEMO_RECORDS; i++) {
        demo_record(i, rec);
        if (fwrite(rec, 1, sizeof rec, f) != sizeof rec)
            return false;
    }
    return true;
}

static const char hello_text[] =
    "Hello from mmapd: this file is served out of a memory-mapped region.\n";

static bool fill_hello(FILE *f) { return fputs(hello_text, f) >= 0; }

/* Writes dir/name with fill() unless it exists with `size` bytes. */
static bool ensure_file(const char *dir, const char *name, off_t size, fill_fn fill,
                        bool *created, char *err, size_t errlen)
{
    char path[4200], tmp[4220];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == size)
        return true;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wbx");
    if (!f) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        return false;
    }
    bool ok = fill(f);
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return false;
    }
    *created = true;
    return true;
}

bool demo_prepare(const char *dir, bool *created, char *err, size_t errlen)
{
    *created = false;
    return make_dirs(dir, err, errlen) &&
           ensure_file(dir, "records.bin", (off_t)DEMO_RECORDS * DEMO_RECORD_SIZE, fill_records,
                       created, err, errlen) &&
           ensure_file(dir, "hello.txt", (off_t)sizeof hello_text - 1, fill_hello, created, err, errlen);
}
