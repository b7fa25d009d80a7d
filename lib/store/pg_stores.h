// The PostgreSQL implementations of the store interfaces.
#ifndef WEBHOOKS_LIB_STORE_PG_STORES_H_
#define WEBHOOKS_LIB_STORE_PG_STORES_H_

#include <memory>

#include "lib/store/delivery_store.h"
#include "lib/store/event_store.h"
#include "lib/store/pg_pool.h"
#include "lib/store/subscription_store.h"

namespace webhooks::store {

// `pool` must outlive the returned stores.
std::unique_ptr<SubscriptionStore> NewPgSubscriptionStore(PgPool* pool);
std::unique_ptr<EventStore> NewPgEventStore(PgPool* pool);
std::unique_ptr<DeliveryStore> NewPgDeliveryStore(PgPool* pool);

}  // namespace webhooks::store

#endif  // WEBHOOKS_LIB_STORE_PG_STORES_H_
