// Client-supplied text (ids, field paths, names) quoted into an error
// message: escaped, so that the message stays one readable line whatever the
// client sent, and shortened, so that a 16 MiB id does not come back in a
// 16 MiB message or fill the logs that record it.
#ifndef WEBHOOKS_LIB_COMMON_ECHO_H_
#define WEBHOOKS_LIB_COMMON_ECHO_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace webhooks::common {

// Most bytes of client text an error message repeats.
inline constexpr std::size_t kMaxEchoBytes = 64;

// `text` in double quotes, C-escaped, cut after kMaxEchoBytes bytes with
// "..." before the closing quote: Echo("a\nb") is "\"a\\nb\"".
std::string Echo(absl::string_view text);

}  // namespace webhooks::common

#endif  // WEBHOOKS_LIB_COMMON_ECHO_H_
