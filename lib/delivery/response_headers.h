// What the transport keeps of a response's header lines: the Retry-After
// value, reset by each new status line. Pure, so that it can be fuzzed.
#ifndef WEBHOOKS_LIB_DELIVERY_RESPONSE_HEADERS_H_
#define WEBHOOKS_LIB_DELIVERY_RESPONSE_HEADERS_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace webhooks::delivery {

// A Retry-After value is a number or an HTTP-date; anything longer is junk
// that we would otherwise store.
inline constexpr std::size_t kMaxRetryAfterBytes = 64;

// Takes one header line as libcurl hands it to CURLOPT_HEADERFUNCTION (line
// terminator included, any bytes) and updates `retry_after`, the raw
// Retry-After value of the final response so far:
// - a status line (starting "HTTP/") begins a new response (after a 1xx) and
//   clears it: an earlier response's headers do not count;
// - a "Retry-After:" line (name in any case) sets it to the value with ASCII
//   whitespace (the CRLF included) stripped from both ends, then cut to its
//   first kMaxRetryAfterBytes bytes; a later one replaces an earlier one;
// - any other line leaves it as it is.
void ObserveResponseHeaderLine(absl::string_view line,
                               std::string& retry_after);

}  // namespace webhooks::delivery

#endif  // WEBHOOKS_LIB_DELIVERY_RESPONSE_HEADERS_H_
