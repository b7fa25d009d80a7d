#include "lib/dispatch/outcome_mapper.h"

#include <optional>
#include <string>

#include "absl/random/bit_gen_ref.h"
#include "absl/time/time.h"
#include "lib/domain/custom_headers.h"

namespace webhooks::dispatch {
namespace {

using domain::ErrorClass;
using store::DeliveryOutcome;

DeliveryOutcome::State ToState(domain::Decision::Kind kind) {
  switch (kind) {
    case domain::Decision::Kind::kDelivered:
      return DeliveryOutcome::State::kDelivered;
    case domain::Decision::Kind::kRetry:
      return DeliveryOutcome::State::kRetry;
    case domain::Decision::Kind::kFailed:
      return DeliveryOutcome::State::kFailed;
  }
  return DeliveryOutcome::State::kFailed;
}

}  // namespace

DeliveryOutcome MapOutcome(const InFlightDelivery& delivery,
                           const delivery::HttpResult& result,
                           const domain::RetryPolicy& policy, absl::Time now,
                           absl::BitGenRef rng) {
  domain::AttemptResult attempt{result.error_class, result.http_status,
                                std::nullopt};
  if (result.http_status == 429 || result.http_status == 503) {
    attempt.retry_after = domain::ParseRetryAfter(result.retry_after, now);
  }
  const domain::Decision decision =
      domain::Decide(policy, attempt, delivery.attempt, now, rng);

  DeliveryOutcome outcome;
  outcome.delivery_id = delivery.delivery_id;
  outcome.lease_token = delivery.lease_token;
  outcome.subscription_id = delivery.subscription_id;
  outcome.state = ToState(decision.kind);
  outcome.next_attempt_at = decision.next_attempt_at;
  outcome.attempt = delivery.attempt;
  outcome.started_at = result.started_at;
  outcome.duration = result.duration;
  outcome.http_status = result.http_status;
  outcome.error_class = std::string(domain::ErrorClassName(result.error_class));
  // A receiver may echo our request headers in its error body: the
  // excerpt is stored in plaintext, the header values are secrets.
  outcome.response_excerpt = delivery.header_values.empty()
                                 ? result.response_excerpt
                                 : domain::RedactValues(result.response_excerpt,
                                                        delivery.header_values);
  outcome.disable_subscription = decision.disable_subscription;
  outcome.disable_reason = decision.disable_reason;
  return outcome;
}

DeliveryOutcome InternalOutcome(const DeliveryOutcome& unwritable,
                                const domain::RetryPolicy& policy,
                                absl::Time now, absl::BitGenRef rng) {
  DeliveryOutcome outcome;
  outcome.delivery_id = unwritable.delivery_id;
  outcome.lease_token = unwritable.lease_token;
  outcome.subscription_id = unwritable.subscription_id;
  outcome.attempt = unwritable.attempt;
  outcome.started_at = unwritable.started_at;
  outcome.duration = unwritable.duration;
  // The attempt it replaces may have been written after all (identified by
  // number and start, which it keeps).
  outcome.maybe_written = unwritable.maybe_written;
  outcome.http_status = 0;
  outcome.error_class =
      std::string(domain::ErrorClassName(ErrorClass::kInternal));
  if (unwritable.attempt >= policy.max_attempts) {
    outcome.state = DeliveryOutcome::State::kFailed;
  } else {
    outcome.state = DeliveryOutcome::State::kRetry;
    outcome.next_attempt_at =
        now + domain::BackoffDelay(policy, unwritable.attempt, rng);
  }
  return outcome;
}

}  // namespace webhooks::dispatch
