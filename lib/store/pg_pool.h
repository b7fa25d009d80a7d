// A bounded pool of PostgreSQL connections.
//
// Callers never wait without bound: Acquire gives up at a deadline with
// RESOURCE_EXHAUSTED (every connection busy) or UNAVAILABLE (the database
// cannot be reached), so a gRPC handler fails fast instead of hanging when the
// database is slow or gone. Broken connections are discarded on return and
// replaced on demand, so the pool heals after a database restart.
#ifndef WEBHOOKS_LIB_STORE_PG_POOL_H_
#define WEBHOOKS_LIB_STORE_PG_POOL_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/common/mutex.h"

namespace webhooks::store {

// Defined in pg_connection.h, private to lib/store.
class PgConnection;
// Lets PgConnection stay incomplete here.
struct PgConnectionDeleter {
  void operator()(PgConnection* connection) const;
};
using PgConnectionPtr = std::unique_ptr<PgConnection, PgConnectionDeleter>;

struct PgPoolOptions {
  std::string database_url;
  int size = 8;
  // Acquire waits at most this long, or until the caller's deadline if sooner.
  absl::Duration acquire_timeout = absl::Seconds(5);
  // Server-side statement_timeout for every statement on these connections.
  absl::Duration statement_timeout = absl::Seconds(10);
};

class PgPool {
 public:
  // A connection on loan; returned to the pool when destroyed.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    PgConnection& connection() const { return *connection_; }
    // Discards the connection instead of returning it (after a connection
    // error), and with it every idle one: a lost connection usually means the
    // server restarted and killed them all.
    void MarkBroken() { broken_ = true; }

   private:
    friend class PgPool;
    Lease(PgPool* pool, PgConnectionPtr connection)
        : pool_(pool), connection_(std::move(connection)) {}
    PgPool* pool_;
    PgConnectionPtr connection_;
    bool broken_ = false;
  };

  // INVALID_ARGUMENT for a size below 1. Connects lazily: creating a pool
  // never fails because the database is down.
  static absl::StatusOr<std::unique_ptr<PgPool>> Create(PgPoolOptions options);
  ~PgPool();

  // Thread-safe. Waits until min(deadline, now + acquire_timeout).
  absl::StatusOr<Lease> Acquire(absl::Time deadline = absl::InfiniteFuture());

  // Runs "SELECT 1" on a pooled connection: OK when the database answers
  // (for readiness checks).
  absl::Status Ping(absl::Time deadline);

  // Registers a statement that every connection prepares as it opens, so that
  // the first call to use it on a connection pays no PREPARE round trip
  // (PgConnection::EnsurePrepared is then a no-op). For connections opened
  // from now on: register before Warm.
  void Prepare(std::string name, std::string sql);

  // Registers SQL that every connection runs once as it opens, after the
  // statements are prepared, in a transaction that is then rolled back
  // (best effort: an error is logged, not returned). Running a statement once
  // is what makes its backend load the catalog entries of the tables it
  // touches, plan it and compile its triggers' functions: measured at about
  // 2 ms on the first publish of a fresh connection against 0.2-0.3 ms after.
  // For connections opened from now on: register before Warm.
  void WarmUp(std::string sql);

  // Opens connections until at least min(connections, size) are open (idle
  // or lent out), each configured and with the registered statements
  // prepared, so that a server can do this before it reports ready instead
  // of on its first requests. Never waits for a busy connection: cheap when
  // the pool is already warm (a readiness check may call it each time, to
  // refill the pool after the database restarted). UNAVAILABLE when a
  // connection cannot be opened; stops at `deadline`.
  absl::Status Warm(int connections, absl::Time deadline);

  // Connections currently lent out (for tests and metrics).
  int InUse() const;
  const PgPoolOptions& options() const { return options_; }

 private:
  explicit PgPool(PgPoolOptions options) : options_(std::move(options)) {}
  void Return(PgConnectionPtr connection, bool broken);
  // Connects, configures and prepares the registered statements; the caller
  // has reserved the slot (open_).
  absl::StatusOr<PgConnectionPtr> Open();

  const PgPoolOptions options_;
  mutable common::Mutex mu_;
  std::vector<PgConnectionPtr> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // idle + lent out + being opened
  int in_use_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> warm_ups_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, std::string>> statements_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace webhooks::store

#endif  // WEBHOOKS_LIB_STORE_PG_POOL_H_
