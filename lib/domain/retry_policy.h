// When to try a delivery again, and what an attempt's result means for it.
// Pure: time and randomness come from the caller.
#ifndef WEBHOOKS_LIB_DOMAIN_RETRY_POLICY_H_
#define WEBHOOKS_LIB_DOMAIN_RETRY_POLICY_H_

#include <optional>
#include <string>

#include "absl/random/bit_gen_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace webhooks::domain {

// The contract's defaults: about 5 s, 20 s, 80 s, 5 min, 21 min, 85 min,
// 5.7 h, 22.7 h, 24 h between 10 attempts.
struct RetryPolicy {
  absl::Duration initial = absl::Seconds(5);
  double multiplier = 4.0;
  absl::Duration max_delay = absl::Hours(24);
  int max_attempts = 10;
  // Each delay is multiplied by a factor drawn uniformly from
  // [1 - jitter, 1 + jitter].
  double jitter = 0.2;
  // Retry-After is honoured up to this long.
  absl::Duration max_retry_after = absl::Hours(24);
};

// INVALID_ARGUMENT naming the setting ("retry_initial", "retry_multiplier",
// "retry_max_delay", "max_attempts", "retry_jitter") when out of range:
// initial > 0, multiplier >= 1, max_delay >= initial, 1 <= max_attempts <= 100,
// 0 <= jitter < 1.
absl::Status ValidateRetryPolicy(const RetryPolicy& policy);

// The delay after attempt number `failed_attempt` (1-based) failed:
// initial * multiplier^(failed_attempt - 1), times the jitter factor, capped at
// max_delay (after jitter).
absl::Duration BackoffDelay(const RetryPolicy& policy, int failed_attempt,
                            absl::BitGenRef rng);

// What an attempt ended in. Names (ErrorClassName) are stored in
// delivery_attempts.error_class and used as the metric label.
enum class ErrorClass {
  kSuccess,         // 2xx
  kHttp3xx,         // redirects are never followed: a failure
  kHttp4xx,         // other 4xx
  kHttp410,         // Gone: fail now and disable the subscription
  kTooLarge,        // 413: the endpoint refuses our body size
  kHttp429,         // Too Many Requests
  kHttp5xx,         // 5xx and other non-2xx statuses
  kTimeout,         // connect (10 s) or total (30 s) timeout
  kConnectError,    // refused, reset, unreachable
  kDnsError,        // the host did not resolve
  kTlsError,        // handshake or certificate verification failed
  kBlockedAddress,  // every address the host resolved to is refused (SSRF
                    // guard)
  kInternal,        // anything else on our side
  kAborted,         // cut short by shutdown: not an attempt, never stored
};
absl::string_view ErrorClassName(ErrorClass error_class);

// success | http_3xx | http_4xx | http_410 | too_large | http_429 | http_5xx
// for an HTTP status code.
ErrorClass ClassifyHttpStatus(int status);

// The seconds or HTTP-date form of a Retry-After value, as a delay from `now`
// (a date in the past is zero). nullopt when absent or malformed. Seconds are
// digits only and saturate at 2^31; dates may be IMF-fixdate ("Sun, 06 Nov
// 1994 08:49:37 GMT") or the obsolete RFC 850 and asctime forms RFC 9110
// requires recipients to accept. Surrounding whitespace is ignored.
std::optional<absl::Duration> ParseRetryAfter(absl::string_view value,
                                              absl::Time now);

struct AttemptResult {
  ErrorClass error_class = ErrorClass::kInternal;
  int http_status = 0;  // 0 when no response arrived
  // Parsed Retry-After of a 429 or 503 response.
  std::optional<absl::Duration> retry_after;
};

struct Decision {
  enum class Kind { kDelivered, kRetry, kFailed };
  Kind kind = Kind::kFailed;
  absl::Time next_attempt_at;  // for kRetry
  bool disable_subscription = false;
  std::string disable_reason;  // when disable_subscription
};

// The outcome of attempt number `attempt` (1-based) that ended in `result`:
// success -> delivered; 410 -> failed and disable ("endpoint answered 410
// Gone"); otherwise retry at now + backoff, or the Retry-After delay when
// longer (capped at max_retry_after) -- unless this was the last attempt,
// then failed. Retry-After counts only when http_status is 429 or 503.
// kAborted must not be passed (it is not an attempt); if it is, the answer is
// a retry at `now`, never kFailed.
Decision Decide(const RetryPolicy& policy, const AttemptResult& result,
                int attempt, absl::Time now, absl::BitGenRef rng);

}  // namespace webhooks::domain

#endif  // WEBHOOKS_LIB_DOMAIN_RETRY_POLICY_H_
