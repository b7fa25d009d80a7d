#include "lib/store/delivery_waker.h"

#include <pqxx/pqxx>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/store/event_store.h"
#include "lib/store/pg_connection.h"
#include "lib/store/pg_pool.h"
#include "lib/store/pg_values.h"

namespace webhooks::store {

DeliveryWaker::DeliveryWaker(std::function<absl::Status()> notify)
    : notify_(std::move(notify)), thread_([this] { Loop(); }) {}

DeliveryWaker::~DeliveryWaker() {
  {
    common::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void DeliveryWaker::Wake() {
  common::MutexLock lock(&mu_);
  requested_ = true;
}

int64_t DeliveryWaker::sent() const {
  common::MutexLock lock(&mu_);
  return sent_;
}

int64_t DeliveryWaker::failed() const {
  common::MutexLock lock(&mu_);
  return failed_;
}

void DeliveryWaker::Loop() {
  while (true) {
    {
      common::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return requested_ || stopping_;
      };
      mu_.Await(&ready);
      if (stopping_) return;
      // Wakes from now on are for publishes this notification may come too
      // early for: they ask for the next one.
      requested_ = false;
    }
    const absl::Status status = notify_();
    common::MutexLock lock(&mu_);
    ++sent_;
    if (!status.ok()) ++failed_;
  }
}

std::unique_ptr<DeliveryWaker> NewPgDeliveryWaker(PgPool* pool) {
  const std::string sql = absl::StrCat(
      "SELECT set_config('synchronous_commit', 'off', true), pg_notify('",
      kDeliveriesChannel, "', '')");
  return std::make_unique<DeliveryWaker>([pool, sql]() -> absl::Status {
    return WithConnection<bool>(*pool, absl::Now() + absl::Seconds(5),
                                "wake workers",
                                [&](PgConnection& c) {
                                  c.EnsurePrepared("delivery_wake", sql);
                                  pqxx::nontransaction tx(c.get());
                                  tx.exec_prepared("delivery_wake");
                                  return true;
                                })
        .status();
  });
}

}  // namespace webhooks::store
