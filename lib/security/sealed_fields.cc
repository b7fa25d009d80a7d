#include "lib/security/sealed_fields.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace webhooks::security {

std::string SubscriptionFieldAad(absl::string_view subscription_id,
                                 absl::string_view field) {
  return absl::StrCat("subscription/", subscription_id, "/", field);
}

}  // namespace webhooks::security
