// Persistence of events, with the fan-out to deliveries that publishing makes.
#ifndef WEBHOOKS_LIB_STORE_EVENT_STORE_H_
#define WEBHOOKS_LIB_STORE_EVENT_STORE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace webhooks::store {

// The PostgreSQL channel on which workers are woken when deliveries are made.
inline constexpr absl::string_view kDeliveriesChannel = "webhooks_deliveries";

// A validated event, its body rendered, ready to store.
struct NewEvent {
  std::string id;  // "evt_..."
  std::string type;
  std::string idempotency_key;
  std::string body;  // the exact bytes that will be POSTed
  absl::Time occurred_at;
};

struct PublishResult {
  std::string event_id;  // the first event's id when duplicate
  bool duplicate = false;
  int deliveries_created = 0;
};

struct EventRecord {
  std::string id;
  std::string tenant_id;
  std::string type;
  std::string idempotency_key;
  std::string body;
  absl::Time occurred_at;
  absl::Time create_time;
};

// Thread-safe. Errors as in SubscriptionStore.
class EventStore {
 public:
  virtual ~EventStore() = default;

  // In one statement: stores the event unless (tenant, idempotency_key) exists,
  // creates one pending delivery per subscription of the tenant whose
  // event_types include the type, enabled or not (a disabled subscription's
  // deliveries are held by its lane, not dropped); when it made any, the
  // workers are then woken (a NOTIFY on kDeliveriesChannel after the commit,
  // coalesced with other publishes': DeliveryWaker). A repeated key, also when
  // racing, returns the first event's id with duplicate = true and creates
  // nothing.
  virtual absl::StatusOr<PublishResult> Publish(absl::string_view tenant_id,
                                                const NewEvent& event,
                                                absl::Time deadline) = 0;

  // The same for many events of one tenant, atomically, in one statement.
  // Results are in input order; an item whose key repeats an earlier item or a
  // stored event is a duplicate.
  virtual absl::StatusOr<std::vector<PublishResult>> PublishBatch(
      absl::string_view tenant_id, const std::vector<NewEvent>& events,
      absl::Time deadline) = 0;

  // NOT_FOUND unless the event exists for this tenant.
  virtual absl::StatusOr<EventRecord> Get(absl::string_view tenant_id,
                                          absl::string_view event_id,
                                          absl::Time deadline) = 0;
};

}  // namespace webhooks::store

#endif  // WEBHOOKS_LIB_STORE_EVENT_STORE_H_
