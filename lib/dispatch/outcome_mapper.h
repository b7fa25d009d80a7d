// What an HTTP attempt's result means for its delivery: the outcome to write
// back. Pure: time and randomness come from the caller.
#ifndef WEBHOOKS_LIB_DISPATCH_OUTCOME_MAPPER_H_
#define WEBHOOKS_LIB_DISPATCH_OUTCOME_MAPPER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/random/bit_gen_ref.h"
#include "absl/time/time.h"
#include "lib/delivery/http_transport.h"
#include "lib/domain/retry_policy.h"
#include "lib/store/delivery_store.h"

namespace webhooks::dispatch {

// What the dispatcher keeps of a leased delivery while its request is out.
struct InFlightDelivery {
  int64_t delivery_id = 0;
  int64_t lease_token = 0;
  int attempt = 0;  // the number of the attempt being made (1-based)
  std::string subscription_id;
  std::string tenant_id;
  absl::Time event_created_at;
  // The custom header values sent: redacted from the response excerpt.
  std::vector<std::string> header_values;
};

// The outcome of `delivery`'s attempt that ended in `result`, decided by
// domain::Decide at `now` (jitter drawn from `rng`). The Retry-After header
// counts only on a 429 or 503 response. The attempt's record (started_at,
// duration, http_status, error class name, excerpt) is copied from `result`,
// the excerpt without the delivery's header values (domain::RedactValues);
// delivery id, token, attempt and subscription from `delivery`.
// `result.error_class` must not be kAborted (that is a release, not an
// outcome); if it is, Decide's answer (a retry at `now`) is returned.
store::DeliveryOutcome MapOutcome(const InFlightDelivery& delivery,
                                  const delivery::HttpResult& result,
                                  const domain::RetryPolicy& policy,
                                  absl::Time now, absl::BitGenRef rng);

// What is written instead of `unwritable`, an outcome whose write keeps
// failing (something in it the database refuses): the same delivery, lease
// token, attempt, subscription, started_at and duration, with error class
// "internal", http_status 0, no excerpt, and no subscription disable; a retry
// at now + the policy's backoff for that attempt, or kFailed when attempt >=
// policy.max_attempts.
store::DeliveryOutcome InternalOutcome(const store::DeliveryOutcome& unwritable,
                                       const domain::RetryPolicy& policy,
                                       absl::Time now, absl::BitGenRef rng);

}  // namespace webhooks::dispatch

#endif  // WEBHOOKS_LIB_DISPATCH_OUTCOME_MAPPER_H_
