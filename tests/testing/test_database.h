// A fresh PostgreSQL database per test binary, migrated to the latest schema,
// on the server the "postgres" ctest fixture started (or the one
// WEBHOOKS_TEST_DATABASE_URL names). Dropped when destroyed.
#ifndef WEBHOOKS_TESTS_TESTING_TEST_DATABASE_H_
#define WEBHOOKS_TESTS_TESTING_TEST_DATABASE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace webhooks::testing {

class TestDatabase {
 public:
  // Creates the database. `migrate` false leaves it empty.
  static absl::StatusOr<std::unique_ptr<TestDatabase>> Create(
      bool migrate = true);
  ~TestDatabase();

  const std::string& url() const { return url_; }

  // Runs `sql` and returns the first column of each row as text ("" for NULL).
  // For assertions on what is stored; aborts the test binary on SQL errors.
  std::vector<std::string> Query(const std::string& sql) const;
  // The single value of a one-row, one-column query.
  std::string QueryValue(const std::string& sql) const;
  long long Count(const std::string& sql) const {
    return std::stoll(QueryValue(sql));
  }

 private:
  TestDatabase(std::string server_url, std::string name, std::string url)
      : server_url_(std::move(server_url)),
        name_(std::move(name)),
        url_(std::move(url)) {}

  std::string server_url_;
  std::string name_;
  std::string url_;
};

// A random tenant id, so tests sharing a database never see each other's rows.
std::string RandomTenant(const std::string& prefix = "tenant");

}  // namespace webhooks::testing

#endif  // WEBHOOKS_TESTS_TESTING_TEST_DATABASE_H_
