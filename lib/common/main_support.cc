#include "lib/common/main_support.h"

#include <pthread.h>

#include <cstdlib>
#include <string>

#include "absl/algorithm/container.h"
#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace webhooks::common {

void SetUpFlagsUsage(absl::string_view usage, absl::string_view main_file,
                     absl::string_view version_line) {
  absl::SetProgramUsageMessage(usage);
  absl::FlagsUsageConfig config;
  config.contains_help_flags =
      [file = std::string(main_file)](absl::string_view path) {
        return absl::EndsWith(path, file);
      };
  config.contains_helpshort_flags = config.contains_help_flags;
  config.version_string = [line = absl::StrCat(version_line, "\n")] {
    return line;
  };
  absl::SetFlagsUsageConfig(config);
}

std::string FlagEnvironmentName(absl::string_view flag_name) {
  return absl::StrCat("WEBHOOKS_", absl::AsciiStrToUpper(flag_name));
}

absl::Status SetFlagsFromEnvironment(
    absl::string_view main_file,
    absl::Span<const absl::string_view> secret_flags) {
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (!absl::EndsWith(flag->Filename(), main_file)) continue;
    if (absl::c_linear_search(secret_flags, name)) continue;
    const std::string variable = FlagEnvironmentName(name);
    const char* value = std::getenv(variable.c_str());
    if (value == nullptr) continue;
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat(variable, ": not a valid value for --", name));
    }
  }
  return absl::OkStatus();
}

TerminationSignals::TerminationSignals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGTERM);
  sigaddset(&set_, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
}

int TerminationSignals::Wait() {
  int signal_number = 0;
  sigwait(&set_, &signal_number);
  return signal_number;
}

}  // namespace webhooks::common
