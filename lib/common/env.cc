#include "lib/common/env.h"

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace webhooks::common {

std::string FlagOrEnv(absl::string_view flag_value, const char* env_name,
                      absl::string_view fallback) {
  if (!flag_value.empty()) return std::string(flag_value);
  const char* env = std::getenv(env_name);
  if (env != nullptr && *env != '\0') return env;
  return std::string(fallback);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    if (err == ENOENT)
      return absl::NotFoundError(absl::StrCat("no such file: ", path));
    if (err == EACCES)
      return absl::PermissionDeniedError(absl::StrCat("cannot read: ", path));
    return absl::InternalError(absl::StrCat(
        "cannot open ", path, ": ", std::generic_category().message(err)));
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

absl::StatusOr<std::string> SecretFromEnvOrFile(const char* env_name,
                                                const char* file_env_name) {
  const char* env = std::getenv(env_name);
  if (env != nullptr && *env != '\0') return std::string(env);
  const char* file = std::getenv(file_env_name);
  if (file != nullptr && *file != '\0') {
    auto contents = ReadFile(file);
    if (!contents.ok()) return contents.status();
    return std::string(absl::StripTrailingAsciiWhitespace(*contents));
  }
  return absl::NotFoundError(
      absl::StrCat("set ", env_name, " or ", file_env_name));
}

}  // namespace webhooks::common
