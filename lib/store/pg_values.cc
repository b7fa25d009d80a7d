#include "lib/store/pg_values.h"

#include <cstdint>
#include <utility>

namespace webhooks::store {

std::string ToTextArrayLiteral(const std::vector<std::string>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('"');
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

std::vector<std::string> FromTextArray(const pqxx::field& field) {
  std::vector<std::string> out;
  pqxx::array_parser parser = field.as_array();
  for (auto [juncture, value] = parser.get_next();
       juncture != pqxx::array_parser::done;
       std::tie(juncture, value) = parser.get_next()) {
    if (juncture == pqxx::array_parser::string_value)
      out.push_back(std::move(value));
  }
  return out;
}

std::string ToTimestampText(absl::Time time) {
  if (time == absl::InfiniteFuture()) return "infinity";
  if (time == absl::InfinitePast()) return "-infinity";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", time, absl::UTCTimeZone());
}

absl::Time FromEpochMicros(const pqxx::field& field) {
  return absl::FromUnixMicros(field.as<int64_t>());
}

// Here rather than in pg_pool.cc, which knows nothing of statements.
absl::Status PgPool::Ping(absl::Time deadline) {
  return WithConnection<bool>(*this, deadline, "ping database",
                              [](PgConnection& c) {
                                pqxx::nontransaction tx(c.get());
                                tx.exec("SELECT 1");
                                return true;
                              })
      .status();
}

}  // namespace webhooks::store
