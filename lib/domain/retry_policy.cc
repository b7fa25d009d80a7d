#include "lib/domain/retry_policy.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/random/bit_gen_ref.h"
#include "absl/random/distributions.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace webhooks::domain {
namespace {

// Larger delta-seconds saturate here rather than being refused: a server that
// asks for "a very long time" still gets the longest wait max_retry_after
// allows. 2^31 is the value RFC 9111 (section 1.2.2) gives for delta-seconds
// too large to represent.
constexpr int64_t kMaxRetryAfterSeconds = int64_t{1} << 31;
// More digits than this cannot be below kMaxRetryAfterSeconds after leading
// zeros are removed; checking the length first keeps SimpleAtoi from
// overflowing.
constexpr std::size_t kMaxSignificantDigits = 10;

constexpr absl::string_view kGoneReason = "endpoint answered 410 Gone";

bool IsAllDigits(absl::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c));
  });
}

std::optional<absl::Duration> ParseDeltaSeconds(absl::string_view digits) {
  const std::size_t first_significant = digits.find_first_not_of('0');
  if (first_significant == absl::string_view::npos) return absl::ZeroDuration();
  digits.remove_prefix(first_significant);
  if (digits.size() > kMaxSignificantDigits) {
    return absl::Seconds(kMaxRetryAfterSeconds);
  }
  int64_t seconds = 0;
  if (!absl::SimpleAtoi(digits, &seconds)) return std::nullopt;
  return absl::Seconds(std::min(seconds, kMaxRetryAfterSeconds));
}

// cctz reads %y as 1969..2068; RFC 9110 (section 5.6.7) instead wants a
// two-digit year more than 50 years in the future read as the most recent
// past year with those digits, so the century is chosen relative to `now`.
absl::Time FixTwoDigitYear(absl::Time parsed, absl::Time now) {
  const absl::TimeZone utc = absl::UTCTimeZone();
  const absl::CivilSecond when = absl::ToCivilSecond(parsed, utc);
  const absl::civil_year_t now_year = absl::ToCivilYear(now, utc).year();
  absl::civil_year_t year = now_year - now_year % 100 + when.year() % 100;
  if (year > now_year + 50) year -= 100;
  return absl::FromCivil(
      absl::CivilSecond(year, when.month(), when.day(), when.hour(),
                        when.minute(), when.second()),
      utc);
}

// The three forms RFC 9110 (section 5.6.7) says recipients must accept.
// absl::ParseTime does not check the weekday against the date, and accepts
// names in any case; being lenient here only means honouring a server's
// slightly wrong date rather than ignoring it.
std::optional<absl::Time> ParseHttpDate(absl::string_view value,
                                        absl::Time now) {
  const absl::TimeZone utc = absl::UTCTimeZone();
  absl::Time parsed;
  std::string error;
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
  if (absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", value, utc, &parsed,
                      &error)) {
    return parsed;
  }
  // Obsolete RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT".
  if (absl::ParseTime("%A, %d-%b-%y %H:%M:%S GMT", value, utc, &parsed,
                      &error)) {
    return FixTwoDigitYear(parsed, now);
  }
  // Obsolete asctime: "Sun Nov  6 08:49:37 1994".
  if (absl::ParseTime("%a %b %e %H:%M:%S %Y", value, utc, &parsed, &error)) {
    return parsed;
  }
  return std::nullopt;
}

absl::Status OutOfRange(absl::string_view setting, absl::string_view rule,
                        absl::string_view got) {
  return absl::InvalidArgumentError(
      absl::StrCat(setting, " must be ", rule, ", got ", got));
}

}  // namespace

absl::Status ValidateRetryPolicy(const RetryPolicy& policy) {
  if (policy.initial <= absl::ZeroDuration()) {
    return OutOfRange("retry_initial", "positive",
                      absl::FormatDuration(policy.initial));
  }
  // Negated so that NaN is refused too.
  if (!(policy.multiplier >= 1.0) || std::isinf(policy.multiplier)) {
    return OutOfRange("retry_multiplier", "at least 1",
                      absl::StrCat(policy.multiplier));
  }
  if (policy.max_delay < policy.initial) {
    return OutOfRange("retry_max_delay",
                      absl::StrCat("at least retry_initial (",
                                   absl::FormatDuration(policy.initial), ")"),
                      absl::FormatDuration(policy.max_delay));
  }
  if (policy.max_attempts < 1 || policy.max_attempts > 100) {
    return OutOfRange("max_attempts", "between 1 and 100",
                      absl::StrCat(policy.max_attempts));
  }
  if (!(policy.jitter >= 0.0 && policy.jitter < 1.0)) {
    return OutOfRange("retry_jitter", "at least 0 and less than 1",
                      absl::StrCat(policy.jitter));
  }
  return absl::OkStatus();
}

absl::Duration BackoffDelay(const RetryPolicy& policy, int failed_attempt,
                            absl::BitGenRef rng) {
  const int exponent = std::max(failed_attempt, 1) - 1;
  double factor = std::pow(policy.multiplier, static_cast<double>(exponent));
  if (policy.jitter > 0.0) {
    factor *= absl::Uniform(absl::IntervalClosed, rng, 1.0 - policy.jitter,
                            1.0 + policy.jitter);
  }
  // Capping after jitter keeps max_delay a true maximum (deliveries that reach
  // it all wait exactly max_delay). Comparing factors rather than durations
  // means a late attempt with a large multiplier never builds an infinite or
  // overflowing Duration.
  if (factor >= absl::FDivDuration(policy.max_delay, policy.initial)) {
    return policy.max_delay;
  }
  return policy.initial * factor;
}

absl::string_view ErrorClassName(ErrorClass error_class) {
  switch (error_class) {
    case ErrorClass::kSuccess:
      return "success";
    case ErrorClass::kHttp3xx:
      return "http_3xx";
    case ErrorClass::kHttp4xx:
      return "http_4xx";
    case ErrorClass::kHttp410:
      return "http_410";
    case ErrorClass::kTooLarge:
      return "too_large";
    case ErrorClass::kHttp429:
      return "http_429";
    case ErrorClass::kHttp5xx:
      return "http_5xx";
    case ErrorClass::kTimeout:
      return "timeout";
    case ErrorClass::kConnectError:
      return "connect_error";
    case ErrorClass::kDnsError:
      return "dns_error";
    case ErrorClass::kTlsError:
      return "tls_error";
    case ErrorClass::kBlockedAddress:
      return "blocked_address";
    case ErrorClass::kInternal:
      return "internal";
    case ErrorClass::kAborted:
      return "aborted";
  }
  // Only a value cast from outside the enum gets here; the label set stays
  // closed.
  return "unknown";
}

ErrorClass ClassifyHttpStatus(int status) {
  if (status >= 200 && status <= 299) return ErrorClass::kSuccess;
  if (status >= 300 && status <= 399) return ErrorClass::kHttp3xx;
  if (status == 410) return ErrorClass::kHttp410;
  if (status == 413) return ErrorClass::kTooLarge;
  if (status == 429) return ErrorClass::kHttp429;
  if (status >= 400 && status <= 499) return ErrorClass::kHttp4xx;
  // 5xx, and statuses no server should send (1xx as a final answer, 6xx+):
  // all are the server's fault and worth trying again.
  return ErrorClass::kHttp5xx;
}

std::optional<absl::Duration> ParseRetryAfter(absl::string_view value,
                                              absl::Time now) {
  // Field values may carry optional whitespace around them (RFC 9110 5.5).
  value = absl::StripAsciiWhitespace(value);
  if (value.empty()) return std::nullopt;
  if (IsAllDigits(value)) return ParseDeltaSeconds(value);
  const std::optional<absl::Time> when = ParseHttpDate(value, now);
  // absl::ParseTime takes "infinite-future" and "infinite-past" whatever the
  // format: no HTTP-date.
  if (!when.has_value() || *when == absl::InfiniteFuture() ||
      *when == absl::InfinitePast()) {
    return std::nullopt;
  }
  return std::max(*when - now, absl::ZeroDuration());
}

Decision Decide(const RetryPolicy& policy, const AttemptResult& result,
                int attempt, absl::Time now, absl::BitGenRef rng) {
  Decision decision;
  switch (result.error_class) {
    case ErrorClass::kSuccess:
      decision.kind = Decision::Kind::kDelivered;
      return decision;
    case ErrorClass::kHttp410:
      decision.kind = Decision::Kind::kFailed;
      decision.disable_subscription = true;
      decision.disable_reason = std::string(kGoneReason);
      return decision;
    case ErrorClass::kAborted:
      // Not an attempt, so it must never use one up or fail the delivery:
      // the safe reading of a caller's mistake is "try again now".
      decision.kind = Decision::Kind::kRetry;
      decision.next_attempt_at = now;
      return decision;
    default:
      break;
  }
  if (attempt >= policy.max_attempts) {
    decision.kind = Decision::Kind::kFailed;
    return decision;
  }
  absl::Duration delay = BackoffDelay(policy, attempt, rng);
  // Only these two statuses define Retry-After as "come back later"; on a
  // redirect it would mean something else.
  if ((result.http_status == 429 || result.http_status == 503) &&
      result.retry_after.has_value()) {
    delay =
        std::max(delay, std::min(*result.retry_after, policy.max_retry_after));
  }
  decision.kind = Decision::Kind::kRetry;
  decision.next_attempt_at = now + delay;
  return decision;
}

}  // namespace webhooks::domain
