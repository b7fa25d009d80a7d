// Waiting for NOTIFY on kDeliveriesChannel, so that workers start on a new
// delivery at once instead of at their next poll.
#ifndef WEBHOOKS_LIB_STORE_DELIVERY_NOTIFIER_H_
#define WEBHOOKS_LIB_STORE_DELIVERY_NOTIFIER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace webhooks::store {

class DeliveryNotifier {
 public:
  // Owns one dedicated connection that LISTENs. Connects lazily.
  explicit DeliveryNotifier(std::string database_url);
  ~DeliveryNotifier();

  // Blocks until a notification arrives (OK) or `timeout` passes
  // (DEADLINE_EXCEEDED). UNAVAILABLE when the connection is lost: the next
  // call reconnects (notifications sent meanwhile are missed, which the
  // worker's poll interval covers). Not thread-safe: one waiting thread.
  absl::Status Wait(absl::Duration timeout);

 private:
  struct State;
  std::string database_url_;
  std::unique_ptr<State> state_;
};

}  // namespace webhooks::store

#endif  // WEBHOOKS_LIB_STORE_DELIVERY_NOTIFIER_H_
