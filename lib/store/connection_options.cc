#include "lib/store/connection_options.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace webhooks::store {

std::string WithClientTimeouts(absl::string_view database_url) {
  static constexpr std::pair<absl::string_view, absl::string_view> kDefaults[] =
      {
          {"connect_timeout", "5"},  {"keepalives", "1"},
          {"keepalives_idle", "10"}, {"keepalives_interval", "5"},
          {"keepalives_count", "3"}, {"tcp_user_timeout", "30000"},
      };
  const bool is_url = absl::StartsWith(database_url, "postgresql://") ||
                      absl::StartsWith(database_url, "postgres://");
  std::string out(database_url);
  bool has_query = is_url && absl::StrContains(database_url, '?');
  for (const auto& [key, value] : kDefaults) {
    // A key the caller set wins ("keepalives_idle=" also contains
    // "keepalives", so match the key followed by '=').
    const std::string setting = absl::StrCat(key, "=");
    const bool present =
        is_url
            ? absl::StrContains(database_url, absl::StrCat("?", setting)) ||
                  absl::StrContains(database_url, absl::StrCat("&", setting))
            : absl::StartsWith(database_url, setting) ||
                  absl::StrContains(database_url, absl::StrCat(" ", setting));
    if (present) continue;
    if (is_url) {
      absl::StrAppend(&out, has_query ? "&" : "?", setting, value);
      has_query = true;
    } else {
      absl::StrAppend(&out, out.empty() ? "" : " ", setting, value);
    }
  }
  return out;
}

}  // namespace webhooks::store
