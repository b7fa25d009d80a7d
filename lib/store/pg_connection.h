// A pooled libpqxx connection with its prepared statements (private to
// lib/store: pqxx never appears in public headers).
#ifndef WEBHOOKS_LIB_STORE_PG_CONNECTION_H_
#define WEBHOOKS_LIB_STORE_PG_CONNECTION_H_

#include <memory>
#include <pqxx/pqxx>
#include <string>

#include "absl/container/flat_hash_map.h"
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

  // Records `value` as the session's `name` setting; true when that differs
  // from what was recorded last (or nothing was), i.e. when the caller must
  // SET it. Several stores with different options may share one pool, so a
  // setting is kept per value, not made once.
  bool SettingChanged(const std::string& name, const std::string& value) {
    auto [it, added] = settings_.try_emplace(name, value);
    if (added) return true;
    if (it->second == value) return false;
    it->second = value;
    return true;
  }

 private:
  pqxx::connection connection_;
  absl::flat_hash_set<std::string> prepared_;
  absl::flat_hash_map<std::string, std::string> settings_;
};

}  // namespace webhooks::store

#endif  // WEBHOOKS_LIB_STORE_PG_CONNECTION_H_
