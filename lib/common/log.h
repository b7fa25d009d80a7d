// A thin logging facade (this Abseil has no absl/log): one line per record on
// stderr, "2026-11-26T14:03:11.512Z INFO message". Thread-safe.
//
// Never pass secrets (header values, signing secrets, tokens, keys) to it.
#ifndef WEBHOOKS_LIB_COMMON_LOG_H_
#define WEBHOOKS_LIB_COMMON_LOG_H_

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace webhooks::common {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// Records below `level` are dropped. Default kInfo.
void SetMinLogLevel(LogLevel level);
void LogLine(LogLevel level, absl::string_view message);

template <typename... Args>
void LogInfo(const Args&... args) {
  LogLine(LogLevel::kInfo, absl::StrCat(args...));
}
template <typename... Args>
void LogWarning(const Args&... args) {
  LogLine(LogLevel::kWarning, absl::StrCat(args...));
}
template <typename... Args>
void LogError(const Args&... args) {
  LogLine(LogLevel::kError, absl::StrCat(args...));
}

}  // namespace webhooks::common

#endif  // WEBHOOKS_LIB_COMMON_LOG_H_
