#include "tests/testing/test_database.h"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <pqxx/pqxx>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "lib/store/migrations.h"

namespace webhooks::testing {
namespace {

absl::StatusOr<std::string> ServerUrl() {
  if (const char* url = std::getenv("WEBHOOKS_TEST_DATABASE_URL");
      url != nullptr && *url) {
    return std::string(url);
  }
  const char* state = std::getenv("WEBHOOKS_TEST_PG_STATE");
  if (state == nullptr || *state == '\0') {
    return absl::FailedPreconditionError(
        "no test database: run through ctest (the postgres fixture), or set "
        "WEBHOOKS_TEST_DATABASE_URL");
  }
  std::ifstream in(absl::StrCat(state, "/url"));
  std::string url;
  if (!std::getline(in, url) || url.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no PostgreSQL running for ", state,
                     " (scripts/pg.sh start ", state, ")"));
  }
  return std::string(absl::StripAsciiWhitespace(url));
}

std::string RandomSuffix() {
  thread_local absl::BitGen rng;
  return absl::StrCat(
      absl::Hex(absl::Uniform<uint64_t>(rng), absl::kZeroPad16));
}

}  // namespace

absl::StatusOr<std::unique_ptr<TestDatabase>> TestDatabase::Create(
    bool migrate) {
  absl::StatusOr<std::string> server = ServerUrl();
  if (!server.ok()) return server.status();
  const std::string name = absl::StrCat("test_", RandomSuffix());
  try {
    pqxx::connection c(*server);
    pqxx::nontransaction tx(c);
    tx.exec(absl::StrCat("CREATE DATABASE ", name));
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("create test database: ", e.what()));
  }
  // Replace the database part of the URL (the path after the last '/').
  std::string url = server->substr(0, server->rfind('/') + 1) + name;
  std::unique_ptr<TestDatabase> db(new TestDatabase(*server, name, url));
  if (migrate) {
    absl::StatusOr<int> applied = store::Migrate(url);
    if (!applied.ok()) return applied.status();
  }
  return db;
}

TestDatabase::~TestDatabase() {
  try {
    pqxx::connection c(server_url_);
    pqxx::nontransaction tx(c);
    tx.exec(absl::StrCat("DROP DATABASE IF EXISTS ", name_, " WITH (FORCE)"));
  } catch (const std::exception& e) {
    std::cerr << "drop test database " << name_ << ": " << e.what() << "\n";
  }
}

std::vector<std::string> TestDatabase::Query(const std::string& sql) const {
  try {
    pqxx::connection c(url_);
    pqxx::nontransaction tx(c);
    std::vector<std::string> out;
    for (const pqxx::row& row : tx.exec(sql)) {
      out.push_back(row[0].is_null() ? "" : row[0].as<std::string>());
    }
    return out;
  } catch (const std::exception& e) {
    std::cerr << "test query failed: " << sql << ": " << e.what() << "\n";
    std::abort();
  }
}

std::string TestDatabase::QueryValue(const std::string& sql) const {
  std::vector<std::string> rows = Query(sql);
  if (rows.size() != 1) {
    std::cerr << "expected one row from: " << sql << ", got " << rows.size()
              << "\n";
    std::abort();
  }
  return rows[0];
}

std::string RandomTenant(const std::string& prefix) {
  return absl::StrCat(prefix, "-", RandomSuffix());
}

}  // namespace webhooks::testing
