// What every binary's main.cc does the same way: its --help/--version and
// its handling of SIGTERM/SIGINT. For services/*/main.cc only.
#ifndef WEBHOOKS_LIB_COMMON_MAIN_SUPPORT_H_
#define WEBHOOKS_LIB_COMMON_MAIN_SUPPORT_H_

#include <signal.h>

#include <string>

#include "absl/strings/string_view.h"

namespace webhooks::common {

// Sets the usage message; makes --help list only the flags defined in the
// file whose path ends in `main_file` ("services/api/main.cc"), not every
// library's; and makes --version print `version_line`. Call before
// absl::ParseCommandLine.
void SetUpFlagsUsage(absl::string_view usage, absl::string_view main_file,
                     absl::string_view version_line);

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
