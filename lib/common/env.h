// Reading configuration from the environment, for services' main.cc only.
#ifndef WEBHOOKS_LIB_COMMON_ENV_H_
#define WEBHOOKS_LIB_COMMON_ENV_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace webhooks::common {

// `flag_value` when non-empty, else the environment variable `env_name` when
// set and non-empty, else `fallback`.
std::string FlagOrEnv(absl::string_view flag_value, const char* env_name,
                      absl::string_view fallback);

// Reads a secret from environment variable `env_name`, or else from the file
// named by `file_env_name` (trailing whitespace trimmed). NOT_FOUND when
// neither is set; the error never contains the secret.
absl::StatusOr<std::string> SecretFromEnvOrFile(const char* env_name,
                                                const char* file_env_name);

// Reads a whole file. NOT_FOUND / PERMISSION_DENIED / INTERNAL with the path.
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace webhooks::common

#endif  // WEBHOOKS_LIB_COMMON_ENV_H_
