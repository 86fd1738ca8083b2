/* config_load.h - gather settings from the JSON file, the environment and the command line.
 *
 * config_load() starts from the defaults and applies, in order, the config file (--config or
 * MMAPD_CONFIG), the MMAPD_* variables of `envp`, and the flags, so a flag beats a variable
 * beats the file beats the default. --advice may repeat (each sets one class); other options
 * keep their last value; --check-config takes no value and is no config file key. Unknown
 * flags and unknown JSON keys are errors; other MMAPD_* variables are ignored (Kubernetes
 * sets MMAPD_SERVICE_HOST and the like for a service named mmapd). On CONFIG_ERROR `err` holds one line naming the problem.
 */
#ifndef MMAPD_CONFIG_LOAD_H
#define MMAPD_CONFIG_LOAD_H

#include "server/config.h"

/* CONFIG_CHECK: all is well and --check-config (or MMAPD_CHECK_CONFIG=1) asks for a check
 * only. */
enum config_result { CONFIG_RUN, CONFIG_HELP, CONFIG_VERSION, CONFIG_ERROR, CONFIG_CHECK };

enum config_result config_load(struct mmapd_config *c, int argc, char *const argv[],
                               char *const envp[], char *err, size_t errlen);

/* Applies a JSON object text (the content of a config file) on top of `c`; `name` labels
 * errors. Exposed for tests. */
bool config_load_json(struct mmapd_config *c, const char *text, const char *name, char *err,
                       size_t errlen);

#endif
