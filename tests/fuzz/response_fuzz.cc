// libFuzzer target: what the worker makes of a subscriber's response: header
// lines (status lines, Retry-After), Retry-After parsing, the status code's
// class, and the outcome written for the attempt.
//
// Input:
//   "<now, Unix seconds> <attempt> <error class>"  (each optional; an error
//                          class name replaces the one the status gives)
//   header values sent, tab-separated (redacted from the excerpt); each one
//                          that is a valid C escape sequence is unescaped
//   the response head, as libcurl hands it over line by line: status line,
//                          headers, blank line, and again after a 1xx
//   the body (its first 4 KiB are the excerpt)
// Properties checked, besides ASan and UBSan:
// - the transport keeps the last Retry-After value of the final response,
//   stripped, at most 64 bytes, and none once a later status line starts;
// - ParseRetryAfter never returns a negative delay; digits always parse, to
//   their value saturated at 2^31 s; anything else it accepts is a date;
// - ClassifyHttpStatus is total and agrees with the status ranges;
// - MapOutcome keeps the attempt's record, delivers on success, fails and
//   disables on 410, else retries no earlier than now and no later than the
//   policy allows (or fails after the last attempt); Retry-After counts only
//   on 429 and 503 and then at least as long as asked (capped); the stored
//   excerpt holds none of the header values sent.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/random/bit_gen_ref.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lib/delivery/http_transport.h"
#include "lib/delivery/response_headers.h"
#include "lib/dispatch/outcome_mapper.h"
#include "lib/domain/custom_headers.h"
#include "lib/domain/retry_policy.h"

namespace {

namespace domain = webhooks::domain;
using domain::ErrorClass;
using webhooks::store::DeliveryOutcome;

constexpr int64_t kMaxRetryAfterSeconds = int64_t{1} << 31;
constexpr std::size_t kMaxExcerptBytes = 4096;
constexpr absl::string_view kRedacted = "[redacted]";

constexpr ErrorClass kAllClasses[] = {
    ErrorClass::kSuccess,  ErrorClass::kHttp3xx,  ErrorClass::kHttp4xx,
    ErrorClass::kHttp410,  ErrorClass::kTooLarge, ErrorClass::kHttp429,
    ErrorClass::kHttp5xx,  ErrorClass::kTimeout,  ErrorClass::kConnectError,
    ErrorClass::kDnsError, ErrorClass::kTlsError, ErrorClass::kBlockedAddress,
    ErrorClass::kInternal, ErrorClass::kAborted};

[[noreturn]] void Fail(absl::string_view property, absl::string_view detail) {
  std::fprintf(stderr, "PROPERTY VIOLATED: %.*s\n  %s\n",
               static_cast<int>(property.size()), property.data(),
               absl::CEscape(detail).c_str());
  __builtin_trap();
}

std::optional<ErrorClass> ClassNamed(absl::string_view name) {
  for (ErrorClass c : kAllClasses) {
    if (domain::ErrorClassName(c) == name) return c;
  }
  return std::nullopt;
}

void CheckRetryAfter(absl::string_view value, absl::Time now) {
  const std::optional<absl::Duration> delay =
      domain::ParseRetryAfter(value, now);
  if (delay.has_value() && *delay < absl::ZeroDuration()) {
    Fail("Retry-After is never a negative delay", value);
  }
  const absl::string_view stripped = absl::StripAsciiWhitespace(value);
  const bool digits =
      !stripped.empty() &&
      stripped.find_first_not_of("0123456789") == absl::string_view::npos;
  if (digits) {
    absl::string_view significant = stripped;
    significant.remove_prefix(
        std::min(significant.find_first_not_of('0'), significant.size()));
    int64_t seconds = kMaxRetryAfterSeconds;
    if (significant.size() <= 10) {
      seconds = 0;
      for (char c : significant) seconds = seconds * 10 + (c - '0');
      seconds = std::min(seconds, kMaxRetryAfterSeconds);
    }
    if (delay != absl::Seconds(seconds)) {
      Fail("delta-seconds parse to their value, saturated at 2^31", value);
    }
  } else if (delay.has_value() &&
             (!absl::ascii_isalpha(static_cast<unsigned char>(stripped[0])) ||
              stripped.find_first_of("0123456789") ==
                  absl::string_view::npos)) {
    // Every HTTP-date form starts with the day's name and holds digits.
    Fail("a Retry-After that is not digits is accepted only as an HTTP-date",
         value);
  }
}

void CheckClassification(int status) {
  const ErrorClass c = domain::ClassifyHttpStatus(status);
  const absl::string_view name = domain::ErrorClassName(c);
  ErrorClass expected = ErrorClass::kHttp5xx;
  if (status >= 200 && status <= 299) {
    expected = ErrorClass::kSuccess;
  } else if (status >= 300 && status <= 399) {
    expected = ErrorClass::kHttp3xx;
  } else if (status == 410) {
    expected = ErrorClass::kHttp410;
  } else if (status == 413) {
    expected = ErrorClass::kTooLarge;
  } else if (status == 429) {
    expected = ErrorClass::kHttp429;
  } else if (status >= 400 && status <= 499) {
    expected = ErrorClass::kHttp4xx;
  }
  if (c != expected || name == "unknown" || name.empty()) {
    Fail("ClassifyHttpStatus is total and follows the status ranges",
         absl::StrCat(status, " -> ", name));
  }
}

// Feeds the head to the transport's header handling, checking it against
// its contract line by line. Returns the status of the last status line (0
// for none) and leaves the kept Retry-After in `retry_after`.
int FeedHead(const std::vector<absl::string_view>& head, absl::Time now,
             std::string& retry_after) {
  int status = 0;
  for (absl::string_view line : head) {
    const std::string before = retry_after;
    webhooks::delivery::ObserveResponseHeaderLine(line, retry_after);
    if (absl::StartsWith(line, "HTTP/")) {
      if (!retry_after.empty()) {
        Fail("a status line forgets the previous response's Retry-After", line);
      }
      // "HTTP/1.1 503 Service Unavailable": the code after the first space.
      status = 0;
      const std::size_t space = line.find(' ');
      if (space != absl::string_view::npos &&
          !absl::SimpleAtoi(line.substr(space + 1, 3), &status)) {
        status = 0;
      }
    } else if (absl::StartsWithIgnoreCase(line, "retry-after:")) {
      const absl::string_view raw = line.substr(12);
      CheckRetryAfter(raw, now);
      const absl::string_view expected = absl::StripAsciiWhitespace(raw).substr(
          0, webhooks::delivery::kMaxRetryAfterBytes);
      if (retry_after != expected) {
        Fail("Retry-After is kept stripped and cut to 64 bytes", line);
      }
    } else if (retry_after != before) {
      Fail("other header lines leave Retry-After alone", line);
    }
    if (retry_after.size() > webhooks::delivery::kMaxRetryAfterBytes) {
      Fail("at most 64 bytes of Retry-After are kept", retry_after);
    }
  }
  return status;
}

void CheckRedacted(const std::string& excerpt,
                   const std::vector<std::string>& values) {
  for (const std::string& v : values) {
    // Shorter values are left alone by design; a value sharing a character
    // with the marker could be re-formed across one, which is no leak.
    if (v.size() < domain::kMinRedactedBytes ||
        absl::string_view(v).find_first_of(kRedacted) !=
            absl::string_view::npos) {
      continue;
    }
    if (absl::StrContains(excerpt, v)) {
      Fail("the excerpt holds no header value",
           absl::StrCat(v, " in ", excerpt));
    }
    for (std::size_t n = domain::kMinRedactedBytes;
         n < v.size() && n <= excerpt.size(); ++n) {
      if (absl::EndsWith(excerpt, absl::string_view(v).substr(0, n))) {
        Fail("the excerpt does not end in a header value's beginning",
             absl::StrCat(v, " at the end of ", excerpt));
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  auto next_line = [&input]() {
    const std::size_t end = input.find('\n');
    const absl::string_view line = input.substr(0, end);
    input.remove_prefix(end == absl::string_view::npos ? input.size()
                                                       : end + 1);
    return line;
  };

  // Parameters.
  const std::vector<absl::string_view> params =
      absl::StrSplit(next_line(), ' ', absl::SkipEmpty());
  int64_t now_seconds = 1764165791;  // 2025-11-26T14:03:11Z
  int attempt = 1;
  std::optional<ErrorClass> named_class;
  if (params.size() > 0) (void)absl::SimpleAtoi(params[0], &now_seconds);
  if (params.size() > 1) (void)absl::SimpleAtoi(params[1], &attempt);
  if (params.size() > 2) named_class = ClassNamed(params[2]);
  // Any time absl and cctz handle; attempts as the dispatcher numbers them.
  now_seconds =
      std::clamp<int64_t>(now_seconds, -(int64_t{1} << 40), int64_t{1} << 40);
  attempt = std::clamp(attempt, 1, 1000);
  const absl::Time now = absl::FromUnixSeconds(now_seconds);
  CheckClassification(static_cast<int>(now_seconds));

  std::vector<std::string> values;
  for (absl::string_view raw : absl::StrSplit(next_line(), '\t')) {
    std::string value;
    if (!absl::CUnescape(raw, &value)) value = std::string(raw);
    values.push_back(std::move(value));
  }

  // The head: lines with their '\n', up to a blank line that no status line
  // follows.
  std::vector<absl::string_view> head;
  while (!input.empty()) {
    const std::size_t end = input.find('\n');
    const std::size_t length =
        end == absl::string_view::npos ? input.size() : end + 1;
    const absl::string_view line = input.substr(0, length);
    head.push_back(line);
    input.remove_prefix(length);
    if ((line == "\r\n" || line == "\n") && !absl::StartsWith(input, "HTTP/")) {
      break;
    }
  }
  std::string retry_after;
  const int status = FeedHead(head, now, retry_after);
  CheckRetryAfter(retry_after, now);
  CheckClassification(status);

  webhooks::delivery::HttpResult result;
  result.id = 7;
  result.http_status = status;
  result.error_class =
      named_class.value_or(status != 0 ? domain::ClassifyHttpStatus(status)
                                       : ErrorClass::kConnectError);
  // Not an outcome: the dispatcher releases the delivery instead.
  if (result.error_class == ErrorClass::kAborted) return 0;
  result.started_at = now - absl::Milliseconds(1250);
  result.duration = absl::Milliseconds(1250);
  result.response_excerpt = std::string(input.substr(0, kMaxExcerptBytes));
  result.retry_after = retry_after;

  webhooks::dispatch::InFlightDelivery delivery;
  delivery.delivery_id = 123;
  delivery.lease_token = 9;
  delivery.attempt = attempt;
  delivery.subscription_id = "sub_01M8TQF7PD2DAEM3W5XN65KQNP";
  delivery.header_values = values;

  const domain::RetryPolicy policy;
  std::mt19937_64 rng(static_cast<uint64_t>(size));
  const DeliveryOutcome outcome = webhooks::dispatch::MapOutcome(
      delivery, result, policy, now, absl::BitGenRef(rng));

  if (outcome.delivery_id != delivery.delivery_id ||
      outcome.lease_token != delivery.lease_token ||
      outcome.attempt != attempt ||
      outcome.subscription_id != delivery.subscription_id ||
      outcome.http_status != status ||
      outcome.started_at != result.started_at ||
      outcome.duration != result.duration ||
      outcome.error_class != domain::ErrorClassName(result.error_class)) {
    Fail("the outcome keeps the attempt's record", outcome.error_class);
  }
  const bool last = attempt >= policy.max_attempts;
  switch (result.error_class) {
    case ErrorClass::kSuccess:
      if (outcome.state != DeliveryOutcome::State::kDelivered ||
          outcome.disable_subscription) {
        Fail("success is delivered", outcome.error_class);
      }
      break;
    case ErrorClass::kHttp410:
      if (outcome.state != DeliveryOutcome::State::kFailed ||
          !outcome.disable_subscription || outcome.disable_reason.empty()) {
        Fail("410 fails and disables the subscription", outcome.error_class);
      }
      break;
    default:
      if (outcome.disable_subscription) {
        Fail("only 410 disables the subscription", outcome.error_class);
      }
      if (last) {
        if (outcome.state != DeliveryOutcome::State::kFailed) {
          Fail("the last attempt's failure fails the delivery",
               outcome.error_class);
        }
        break;
      }
      if (outcome.state != DeliveryOutcome::State::kRetry) {
        Fail("a failure before the last attempt is retried",
             outcome.error_class);
      }
      const absl::Duration wait = outcome.next_attempt_at - now;
      if (wait < absl::ZeroDuration() ||
          wait > std::max(policy.max_delay, policy.max_retry_after)) {
        Fail("the retry is due between now and the policy's longest wait",
             absl::FormatDuration(wait));
      }
      if (status == 429 || status == 503) {
        const std::optional<absl::Duration> asked =
            domain::ParseRetryAfter(retry_after, now);
        if (asked.has_value() &&
            wait < std::min(*asked, policy.max_retry_after)) {
          Fail("a 429 or 503 is retried no sooner than its Retry-After asks",
               absl::StrCat(retry_after, " -> ", absl::FormatDuration(wait)));
        }
      }
      break;
  }

  // Retry-After counts only on 429 and 503: without it, the same outcome.
  if (status != 429 && status != 503) {
    webhooks::delivery::HttpResult without = result;
    without.retry_after.clear();
    std::mt19937_64 same_rng(static_cast<uint64_t>(size));
    const DeliveryOutcome other = webhooks::dispatch::MapOutcome(
        delivery, without, policy, now, absl::BitGenRef(same_rng));
    if (other.state != outcome.state ||
        other.next_attempt_at != outcome.next_attempt_at) {
      Fail("Retry-After counts only on 429 and 503", retry_after);
    }
  }

  if (!values.empty()) CheckRedacted(outcome.response_excerpt, values);
  return 0;
}
