// What every binary's main.cc does the same way: its --help/--version and
// its handling of SIGTERM/SIGINT. For services/*/main.cc only.
#ifndef WEBHOOKS_LIB_COMMON_MAIN_SUPPORT_H_
#define WEBHOOKS_LIB_COMMON_MAIN_SUPPORT_H_

#include <signal.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace webhooks::common {

// Sets the usage message; makes --help list only the flags defined in the
// file whose path ends in `main_file` ("services/api/main.cc"), not every
// library's; and makes --version print `version_line`. Call before
// absl::ParseCommandLine.
void SetUpFlagsUsage(absl::string_view usage, absl::string_view main_file,
                     absl::string_view version_line);

// Gives every flag defined in the file whose path ends in `main_file` an
// environment variable: WEBHOOKS_ and its name in capitals
// (--request_timeout: WEBHOOKS_REQUEST_TIMEOUT), so that a container is
// configured by environment alone. Call before absl::ParseCommandLine, which
// then overrides what the environment set: a flag on the command line wins,
// then the environment, then the default. INVALID_ARGUMENT naming the
// variable when a value does not parse (the value is not repeated: it could
// be anything).
//
// `secret_flags` are left alone: a value set from the environment becomes the
// flag's current value, which --help prints ("currently: ..."), so a flag
// whose value may carry a password (--database_url) reads its variable with
// FlagOrEnv instead.
absl::Status SetFlagsFromEnvironment(
    absl::string_view main_file,
    absl::Span<const absl::string_view> secret_flags = {});

// The environment variable SetFlagsFromEnvironment reads for `flag_name`.
std::string FlagEnvironmentName(absl::string_view flag_name);

// SIGTERM and SIGINT, blocked in the calling thread and every thread it
// starts afterwards, so that Wait() takes them synchronously rather than a
// handler interrupting whatever runs. Construct before starting any thread.
class TerminationSignals {
 public:
  TerminationSignals();
  // Blocks until SIGTERM or SIGINT arrives; returns its number.
  int Wait();

 private:
  sigset_t set_;
};

}  // namespace webhooks::common

#endif  // WEBHOOKS_LIB_COMMON_MAIN_SUPPORT_H_
