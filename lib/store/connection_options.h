// Client-side limits added to every PostgreSQL connection string, so that a
// database host that vanishes from the network (no FIN, no RST) fails calls in
// seconds instead of blocking them for the kernel's TCP timeouts (minutes).
#ifndef WEBHOOKS_LIB_STORE_CONNECTION_OPTIONS_H_
#define WEBHOOKS_LIB_STORE_CONNECTION_OPTIONS_H_

#include <string>

#include "absl/strings/string_view.h"

namespace webhooks::store {

// `database_url` (a postgres:// / postgresql:// URL or a "key=value" string)
// plus connect_timeout=5, keepalives=1, keepalives_idle=10,
// keepalives_interval=5, keepalives_count=3 and tcp_user_timeout=30000,
// each only when the caller did not set it.
std::string WithClientTimeouts(absl::string_view database_url);

}  // namespace webhooks::store

#endif  // WEBHOOKS_LIB_STORE_CONNECTION_OPTIONS_H_
