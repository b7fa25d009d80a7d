// Runs one of our binaries as a child process for end-to-end tests: its own
// environment, stdout and stderr into a log file, signals, and waiting for a
// log line or for exit.
#ifndef WEBHOOKS_TESTS_TESTING_PROCESS_H_
#define WEBHOOKS_TESTS_TESTING_PROCESS_H_

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace webhooks::testing {

class ChildProcess {
 public:
  // Starts `argv[0]` with `argv`, the current environment plus `env`.
  // stdout and stderr go to `log_path`.
  static absl::StatusOr<ChildProcess> Start(
      const std::vector<std::string>& argv,
      const std::map<std::string, std::string>& env,
      const std::string& log_path);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  // Kills (SIGKILL) and reaps the child if it is still running.
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  void Signal(int signal_number) const;

  // Waits for the child to exit; its exit code (128 + signal when killed), or
  // nullopt on timeout.
  std::optional<int> Wait(absl::Duration timeout);

  // Waits until the log holds a line containing `marker` and returns that
  // line. DEADLINE_EXCEEDED (with the log's tail) on timeout, or
  // FAILED_PRECONDITION if the child exits first.
  absl::StatusOr<std::string> WaitForLogLine(const std::string& marker,
                                             absl::Duration timeout);

  std::string Log() const;

 private:
  ChildProcess(pid_t pid, std::string log_path)
      : pid_(pid), log_path_(std::move(log_path)) {}
  pid_t pid_ = -1;
  std::string log_path_;
  std::optional<int> exit_code_;
};

// The number after `key` in `line` ("... (port 41234) ..." with key "port ").
std::optional<int> NumberAfter(const std::string& line, const std::string& key);

}  // namespace webhooks::testing

#endif  // WEBHOOKS_TESTS_TESTING_PROCESS_H_
