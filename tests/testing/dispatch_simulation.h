// Runs a dispatch::Dispatcher against FakeDeliveryStore and FakeHttpTransport
// on a FakeClock, exactly as the worker's threads would (lease when PlanLease
// says, submit what OnLeased returns, write when NextWrite says), but
// synchronously: no threads and no sleeps. Simulated time jumps to the next
// deadline (the earliest of NextLeaseCheck, NextWriteAt and the scheduled
// HTTP completions).
#ifndef WEBHOOKS_TESTS_TESTING_DISPATCH_SIMULATION_H_
#define WEBHOOKS_TESTS_TESTING_DISPATCH_SIMULATION_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "lib/delivery/http_transport.h"
#include "lib/dispatch/dispatcher.h"
#include "lib/metrics/worker_metrics.h"
#include "lib/security/sealer.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_delivery_store.h"
#include "tests/testing/fake_http_transport.h"

namespace webhooks::testing {

// How a simulated endpoint answers one request: `result` (its id, started_at
// and duration are filled in) after `latency`.
struct SimulatedResponse {
  delivery::HttpResult result;
  absl::Duration latency = absl::Milliseconds(10);
};
// A 2xx answer, or one of `status` classified as the transport would.
SimulatedResponse RespondWith(int status,
                              absl::Duration latency = absl::Milliseconds(10),
                              std::string retry_after = "");

// One request as the simulated endpoint saw it.
struct SentRequest {
  absl::Time at;
  int64_t delivery_id = 0;
  std::string subscription_id;
  delivery::HttpRequest request;
};

// Not thread-safe: single-threaded by design.
class DispatchSimulation {
 public:
  // Decides the answer to each request; nullopt leaves the request open for
  // the test to finish through transport().Finish.
  using Responder = std::function<std::optional<SimulatedResponse>(
      const SentRequest& request)>;

  // `metrics` may be null. Every request is answered 200 after 10 ms unless
  // SetResponder says otherwise.
  explicit DispatchSimulation(dispatch::DispatcherOptions options,
                              metrics::WorkerMetrics* metrics = nullptr);
  // Aborts what is still open while the dispatcher can take the results.
  ~DispatchSimulation();

  FakeClock& clock() { return clock_; }
  FakeDeliveryStore& store() { return store_; }
  FakeHttpTransport& transport() { return transport_; }
  dispatch::Dispatcher& dispatcher() { return *dispatcher_; }
  const security::Sealer& sealer() const { return *sealer_; }
  absl::Time now() const { return clock_.Now(); }

  // A subscription whose fields are sealed with sealer() (no custom headers
  // unless given; signing secret kSigningSecret), of `tenant_id`.
  void AddSubscription(const std::string& id, int max_in_flight,
                       bool enabled = true,
                       const std::map<std::string, std::string>& headers = {},
                       const std::string& tenant_id = "tenant");
  static constexpr absl::string_view kSigningSecret =
      "whsec_UHqai+PRRahtqpZEsov0Ko3Acg2LrqvfBAbDk2kr8II=";

  void SetResponder(Responder responder) { responder_ = std::move(responder); }

  // Runs every step due at the current time, then jumps to the next deadline,
  // until simulated time would pass `end` (the clock then stands at `end`).
  void RunUntil(absl::Time end);
  void RunFor(absl::Duration d) { RunUntil(now() + d); }
  // Runs until nothing is in flight or to write and no delivery is due for
  // the dispatcher to lease, or until `limit` of simulated time has passed.
  // True when it got there.
  bool RunUntilIdle(absl::Duration limit = absl::Hours(48));
  // Runs until `done()` holds (checked after every step), or `limit` passes.
  bool RunUntilCondition(const std::function<bool()>& done,
                         absl::Duration limit);

  // The worker's shutdown with `grace`: no more leases; requests may finish
  // until the grace ends (or all have), then the rest are aborted (released);
  // writes go on until drained or the grace ends, then what is left is
  // abandoned.
  struct ShutdownResult {
    int aborted = 0;       // requests cut short by the transport
    size_t abandoned = 0;  // Dispatcher::Abandon's count
    bool drained = false;  // everything was written within the grace
  };
  ShutdownResult Shutdown(absl::Duration grace);

  // Every request sent, in order.
  const std::vector<SentRequest>& sent() const { return sent_; }
  // The most requests of the subscription open at once.
  int MaxConcurrent(const std::string& subscription_id) const;
  int leases() const { return leases_; }
  int writes() const { return writes_; }
  // Deliveries the store handed off in outcome writes.
  int handed_off() const { return handed_off_; }

 private:
  // Performs everything due now. True when anything was done.
  bool Step();
  absl::Time NextDeadline() const;
  void Submit(delivery::HttpRequest request);

  FakeClock clock_;
  FakeDeliveryStore store_{&clock_};
  FakeHttpTransport transport_;
  std::unique_ptr<security::Sealer> sealer_;
  std::unique_ptr<dispatch::Dispatcher> dispatcher_;
  Responder responder_;
  // Scheduled completions: time -> (delivery id, result), in time order.
  std::multimap<absl::Time, delivery::HttpResult> completions_;
  std::vector<SentRequest> sent_;
  absl::flat_hash_map<std::string, int> open_;
  absl::flat_hash_map<std::string, int> max_open_;
  absl::flat_hash_map<int64_t, std::string> subscription_of_;
  int leases_ = 0;
  int writes_ = 0;
  int handed_off_ = 0;
};

}  // namespace webhooks::testing

#endif  // WEBHOOKS_TESTS_TESTING_DISPATCH_SIMULATION_H_
