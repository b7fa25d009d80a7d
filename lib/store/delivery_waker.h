// Wakes the workers after publishing committed new deliveries: a NOTIFY on
// kDeliveriesChannel sent from a transaction of its own, after the commit,
// never inside the publishing transaction. (A transaction that has issued
// NOTIFY takes a database-wide lock at commit and holds it through its WAL
// flush, so publishes that notified committed one at a time instead of
// sharing flushes.)
//
// Wake() only records the request; one thread sends. Requests that arrive
// while a notification is on its way are coalesced into the next one: a
// burst of publishes costs one or two notifications, and a worker woken once
// leases everything that is due. A notification that fails is not retried:
// the workers' poll interval is the backstop.
#ifndef WEBHOOKS_LIB_STORE_DELIVERY_WAKER_H_
#define WEBHOOKS_LIB_STORE_DELIVERY_WAKER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "lib/common/mutex.h"

namespace webhooks::store {

class PgPool;

class DeliveryWaker {
 public:
  // `notify` sends one notification, blocking; it runs on the waker's own
  // thread only.
  explicit DeliveryWaker(std::function<absl::Status()> notify);
  // Stops the thread after the notification in progress, if any; a request
  // not yet sent is dropped (the poll covers it).
  ~DeliveryWaker();
  DeliveryWaker(const DeliveryWaker&) = delete;
  DeliveryWaker& operator=(const DeliveryWaker&) = delete;

  // Thread-safe and cheap: never waits for the database.
  void Wake();

  // Notifications attempted so far, and how many of them failed.
  int64_t sent() const;
  int64_t failed() const;

 private:
  void Loop();

  const std::function<absl::Status()> notify_;
  mutable common::Mutex mu_;
  bool requested_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t sent_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t failed_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

// A waker that notifies through `pool` (its own, usually of size 1, so that a
// notification never waits behind publishes for a connection), with
// synchronous_commit off for the notifying transaction: it writes nothing
// worth a flush, and a notification is delivered at its commit either way.
std::unique_ptr<DeliveryWaker> NewPgDeliveryWaker(PgPool* pool);

}  // namespace webhooks::store

#endif  // WEBHOOKS_LIB_STORE_DELIVERY_WAKER_H_
