// Sending HTTP requests: the interface the dispatch loop uses, so that its
// logic can be tested with a fake; CurlHttpTransport is the real one.
#ifndef WEBHOOKS_LIB_DELIVERY_HTTP_TRANSPORT_H_
#define WEBHOOKS_LIB_DELIVERY_HTTP_TRANSPORT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "lib/domain/retry_policy.h"

namespace webhooks::delivery {

struct HttpRequest {
  uint64_t id = 0;  // the caller's, echoed in the result
  std::string url;  // https:// only
  // "Name: value" lines, sent as given (the caller adds Content-Type).
  std::vector<std::string> headers;
  // Shared so that many deliveries of one event send one copy of the body.
  std::shared_ptr<const std::string> body;
};

struct HttpResult {
  uint64_t id = 0;
  domain::ErrorClass error_class = domain::ErrorClass::kInternal;
  int http_status = 0;  // 0 when no response arrived
  absl::Time started_at;
  absl::Duration duration;
  // At most the first max_excerpt_bytes of the response body; the rest is
  // read and dropped without being kept.
  std::string response_excerpt;
  // The Retry-After response header, raw, when present.
  std::string retry_after;
  // For logs: curl's error text. Never contains header values or the body.
  std::string error_detail;
};

class HttpTransport {
 public:
  using Callback = std::function<void(HttpResult)>;
  virtual ~HttpTransport() = default;

  // Thread-safe. Starts the request as soon as possible; `done` runs exactly
  // once, on the transport's own thread, when it finishes (or is aborted by
  // Shutdown with kAborted). `done` may call Submit, and must not throw.
  // Must not be called after Shutdown; a request submitted once Shutdown has
  // begun (say, from a callback) is not sent and ends in kAborted.
  virtual void Submit(HttpRequest request, Callback done) = 0;

  // Requests submitted whose callback has not started. Thread-safe.
  virtual int InFlight() const = 0;

  // Stops taking requests, lets in-flight ones run until `deadline`, then
  // aborts the rest (their callbacks get kAborted) and returns once every
  // callback has run. Destroying the transport without it is
  // Shutdown(absl::InfinitePast()). Called from a callback, it only begins
  // the shutdown and returns at once.
  virtual void Shutdown(absl::Time deadline) = 0;
};

}  // namespace webhooks::delivery

#endif  // WEBHOOKS_LIB_DELIVERY_HTTP_TRANSPORT_H_
