// A pooled libpqxx connection with its prepared statements (private to
// lib/store: pqxx never appears in public headers).
#ifndef WEBHOOKS_LIB_STORE_PG_CONNECTION_H_
#define WEBHOOKS_LIB_STORE_PG_CONNECTION_H_

#include <memory>
#include <pqxx/pqxx>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "lib/store/connection_options.h"

namespace webhooks::store {

class PgConnection {
 public:
  explicit PgConnection(const std::string& url)
      : connection_(WithClientTimeouts(url)) {}
  pqxx::connection& get() { return connection_; }

  // Prepares `sql` under `name` once per connection.
  void EnsurePrepared(const std::string& name, const std::string& sql) {
    if (prepared_.insert(name).second) connection_.prepare(name, sql);
  }

  // True the first time it is asked with `key` on this connection (for
  // session settings made once).
  bool FirstUse(const std::string& key) { return once_.insert(key).second; }

 private:
  pqxx::connection connection_;
  absl::flat_hash_set<std::string> prepared_;
  absl::flat_hash_set<std::string> once_;
};

}  // namespace webhooks::store

#endif  // WEBHOOKS_LIB_STORE_PG_CONNECTION_H_
