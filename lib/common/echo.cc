#include "lib/common/echo.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace webhooks::common {

std::string Echo(absl::string_view text) {
  if (text.size() <= kMaxEchoBytes) {
    return absl::StrCat("\"", absl::CEscape(text), "\"");
  }
  return absl::StrCat("\"", absl::CEscape(text.substr(0, kMaxEchoBytes)),
                      "...\"");
}

}  // namespace webhooks::common
