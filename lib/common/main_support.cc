#include "lib/common/main_support.h"

#include <pthread.h>

#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
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
