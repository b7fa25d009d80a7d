#include "lib/delivery/response_headers.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace webhooks::delivery {

void ObserveResponseHeaderLine(absl::string_view line,
                               std::string& retry_after) {
  constexpr absl::string_view kRetryAfter = "retry-after:";
  if (absl::StartsWith(line, "HTTP/")) {
    retry_after.clear();
  } else if (absl::StartsWithIgnoreCase(line, kRetryAfter)) {
    absl::string_view value =
        absl::StripAsciiWhitespace(line.substr(kRetryAfter.size()));
    value = value.substr(0, kMaxRetryAfterBytes);
    retry_after.assign(value.data(), value.size());
  }
}

}  // namespace webhooks::delivery
