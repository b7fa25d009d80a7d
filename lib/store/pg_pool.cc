#include "lib/store/pg_pool.h"

#include <algorithm>
#include <pqxx/pqxx>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/common/log.h"
#include "lib/store/pg_connection.h"
#include "lib/store/pg_errors.h"

namespace webhooks::store {

void PgConnectionDeleter::operator()(PgConnection* connection) const {
  delete connection;
}

PgPool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      connection_(std::move(other.connection_)),
      broken_(other.broken_) {}

PgPool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->Return(std::move(connection_), broken_);
}

absl::StatusOr<std::unique_ptr<PgPool>> PgPool::Create(PgPoolOptions options) {
  if (options.size < 1)
    return absl::InvalidArgumentError("database pool size must be at least 1");
  return std::unique_ptr<PgPool>(new PgPool(std::move(options)));
}

PgPool::~PgPool() = default;

absl::StatusOr<PgPool::Lease> PgPool::Acquire(absl::Time deadline) {
  deadline = std::min(deadline, absl::Now() + options_.acquire_timeout);
  {
    common::MutexLock lock(&mu_);
    auto available = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || open_ < options_.size;
    };
    if (!mu_.AwaitWithDeadline(&available, deadline)) {
      return absl::ResourceExhaustedError(
          "all database connections are busy; try again later");
    }
    ++in_use_;
    if (!idle_.empty()) {
      PgConnectionPtr connection = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(connection));
    }
    ++open_;  // reserve a slot, then connect without holding the lock
  }
  absl::StatusOr<PgConnectionPtr> connection = Open();
  if (!connection.ok()) {
    common::MutexLock lock(&mu_);
    --in_use_;
    return connection.status();
  }
  return Lease(this, *std::move(connection));
}

absl::StatusOr<PgConnectionPtr> PgPool::Open() {
  std::vector<std::pair<std::string, std::string>> statements;
  std::vector<std::string> warm_ups;
  {
    common::MutexLock lock(&mu_);
    statements = statements_;
    warm_ups = warm_ups_;
  }
  try {
    PgConnectionPtr connection(new PgConnection(options_.database_url));
    connection->get().set_variable(
        "statement_timeout",
        absl::StrCat(absl::ToInt64Milliseconds(options_.statement_timeout)));
    for (const auto& [name, sql] : statements) {
      connection->EnsurePrepared(name, sql);
      try {
        connection->get().prepare_now(name);
      } catch (const pqxx::sql_error& e) {
        // Best effort: a statement the server refuses (a schema older than
        // this binary) fails its own calls, not the connection; it is
        // prepared again when first used.
        common::LogWarning("preparing ", name, ": ", e.what());
      }
    }
    for (const std::string& sql : warm_ups) {
      try {
        pqxx::work tx(connection->get());
        tx.exec(sql);
        tx.abort();
      } catch (const pqxx::sql_error& e) {
        common::LogWarning("warming a connection up: ", e.what());
      }
    }
    return connection;
  } catch (...) {
    absl::Status status = TranslateCurrentException("connect to database");
    common::MutexLock lock(&mu_);
    --open_;
    return status.code() == absl::StatusCode::kInternal
               ? absl::UnavailableError("cannot connect to the database")
               : status;
  }
}

void PgPool::Prepare(std::string name, std::string sql) {
  common::MutexLock lock(&mu_);
  statements_.emplace_back(std::move(name), std::move(sql));
}

void PgPool::WarmUp(std::string sql) {
  common::MutexLock lock(&mu_);
  warm_ups_.push_back(std::move(sql));
}

absl::Status PgPool::Warm(int connections, absl::Time deadline) {
  const int target = std::min(connections, options_.size);
  while (absl::Now() < deadline) {
    {
      common::MutexLock lock(&mu_);
      if (open_ >= target) return absl::OkStatus();
      ++open_;  // reserved, as in Acquire
    }
    absl::StatusOr<PgConnectionPtr> connection = Open();
    if (!connection.ok()) return connection.status();
    common::MutexLock lock(&mu_);
    idle_.push_back(*std::move(connection));
  }
  return absl::DeadlineExceededError("warming the database pool: out of time");
}

void PgPool::Return(PgConnectionPtr connection, bool broken) {
  // A connection whose socket died is useless even if nobody marked it.
  if (!broken && (connection == nullptr || !connection->get().is_open()))
    broken = true;
  common::MutexLock lock(&mu_);
  --in_use_;
  if (broken) {
    --open_;
    open_ -= static_cast<int>(idle_.size());
    // Closing pqxx connections is a quick socket close; fine under the lock.
    idle_.clear();
    connection.reset();
  } else {
    idle_.push_back(std::move(connection));
  }
}

int PgPool::InUse() const {
  common::MutexLock lock(&mu_);
  return in_use_;
}

}  // namespace webhooks::store
