// The PostgreSQL implementations of the store interfaces.
#ifndef WEBHOOKS_LIB_STORE_PG_STORES_H_
#define WEBHOOKS_LIB_STORE_PG_STORES_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "lib/store/delivery_log_store.h"
#include "lib/store/delivery_store.h"
#include "lib/store/event_store.h"
#include "lib/store/pg_pool.h"
#include "lib/store/subscription_store.h"

namespace webhooks::store {

struct PgSubscriptionStoreOptions {
  // Create answers RESOURCE_EXHAUSTED once a tenant has this many
  // subscriptions (each publish of theirs fans out to all of them); 0 = no
  // limit.
  int64_t max_per_tenant = 0;
};

// `pool` must outlive the returned stores.
std::unique_ptr<SubscriptionStore> NewPgSubscriptionStore(
    PgPool* pool, PgSubscriptionStoreOptions options = {});
std::unique_ptr<EventStore> NewPgEventStore(PgPool* pool);
std::unique_ptr<DeliveryLogStore> NewPgDeliveryLogStore(PgPool* pool);
struct PgDeliveryStoreOptions {
  // How long an outcome write waits for a row lock (an API call or another
  // worker holding the subscription or lane) before failing with
  // DEADLINE_EXCEEDED, so that one contended row cannot stall every write.
  absl::Duration lock_timeout = absl::Seconds(2);
};
std::unique_ptr<DeliveryStore> NewPgDeliveryStore(
    PgPool* pool, PgDeliveryStoreOptions options = {});

// The statement of an outcome write (CompleteAndHandOff), which runs with a
// generic plan: for tests that check the plan reaches every table through an
// index.
std::string PgCompleteStatementForTesting();

}  // namespace webhooks::store

#endif  // WEBHOOKS_LIB_STORE_PG_STORES_H_
