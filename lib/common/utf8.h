// Text that must be UTF-8 (a protobuf string) from bytes that need not be
// (a receiver's response body).
#ifndef WEBHOOKS_LIB_COMMON_UTF8_H_
#define WEBHOOKS_LIB_COMMON_UTF8_H_

#include <string>

#include "absl/strings/string_view.h"

namespace webhooks::common {

// `bytes` with every well-formed UTF-8 sequence kept and every other byte
// replaced by U+FFFD (overlong forms, surrogates and code points past
// U+10FFFF are not well formed).
std::string ToValidUtf8(absl::string_view bytes);

}  // namespace webhooks::common

#endif  // WEBHOOKS_LIB_COMMON_UTF8_H_
