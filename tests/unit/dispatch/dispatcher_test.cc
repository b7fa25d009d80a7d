// The Dispatcher driven as the worker drives it, through DispatchSimulation:
// fake store, fake transport, fake clock, no threads.
#include "lib/dispatch/dispatcher.h"

#include <prometheus/registry.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/domain/retry_policy.h"
#include "lib/metrics/worker_metrics.h"
#include "tests/testing/dispatch_simulation.h"

namespace webhooks::dispatch {
namespace {

using ::testing::Each;
using ::testing::Field;
using webhooks::testing::DispatchSimulation;
using webhooks::testing::FakeDelivery;
using webhooks::testing::RespondWith;
using webhooks::testing::SentRequest;
using webhooks::testing::SimulatedResponse;

constexpr int kForever = 1000000;

DispatcherOptions Options() {
  DispatcherOptions options;
  options.owner = "test-worker";
  options.lease_duration = absl::Minutes(5);
  options.seed = 7;
  return options;
}

// The value of a counter or gauge in `registry` (a histogram's sample
// count), -1 when absent.
double Metric(prometheus::Registry& registry, absl::string_view name,
              absl::string_view label = "", absl::string_view value = "") {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      bool match = label.empty();
      for (const prometheus::ClientMetric::Label& l : metric.label) {
        if (l.name == label && l.value == value) match = true;
      }
      if (!match) continue;
      switch (family.type) {
        case prometheus::MetricType::Counter:
          return metric.counter.value;
        case prometheus::MetricType::Gauge:
          return metric.gauge.value;
        case prometheus::MetricType::Histogram:
          return static_cast<double>(metric.histogram.sample_count);
        default:
          return -1;
      }
    }
  }
  return -1;
}

TEST(DispatcherTest, PerSubscriptionCapsHold) {
  DispatchSimulation sim(Options());
  sim.AddSubscription("sub_a", 4);
  sim.AddSubscription("sub_b", 2);
  for (int i = 0; i < 50; ++i) sim.store().AddDelivery("sub_a");
  for (int i = 0; i < 20; ++i) sim.store().AddDelivery("sub_b");
  sim.SetResponder(
      [](const SentRequest&) { return RespondWith(200, absl::Seconds(1)); });
  ASSERT_TRUE(sim.RunUntilIdle());
  EXPECT_EQ(sim.MaxConcurrent("sub_a"), 4);
  EXPECT_EQ(sim.MaxConcurrent("sub_b"), 2);
  EXPECT_EQ(sim.sent().size(), 70u);
  for (int64_t id : sim.store().DeliveryIds()) {
    EXPECT_EQ(sim.store().Delivery(id).state, FakeDelivery::State::kDelivered);
  }
  EXPECT_EQ(sim.dispatcher().in_flight(), 0);
  EXPECT_TRUE(sim.dispatcher().Drained());
}

TEST(DispatcherTest, BacklogDoesNotDelayAnotherSubscription) {
  DispatchSimulation sim(Options());
  sim.AddSubscription("sub_big", 16);
  sim.AddSubscription("sub_small", 16);
  for (int i = 0; i < 10000; ++i) sim.store().AddDelivery("sub_big");
  const int64_t small = sim.store().AddDelivery("sub_small");
  const absl::Time start = sim.now();
  sim.RunFor(absl::Milliseconds(1));
  ASSERT_EQ(sim.leases(), 1);  // the first lease, at once
  bool found = false;
  for (const SentRequest& sent : sim.sent()) {
    if (sent.delivery_id == small) {
      found = true;
      EXPECT_EQ(sent.at, start);
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(sim.MaxConcurrent("sub_big"), 16);
}

TEST(DispatcherTest, RetriesAtExactlyTheBackoffTimes) {
  DispatcherOptions options = Options();
  DispatchSimulation sim(options);
  sim.AddSubscription("sub_1", 4);
  const int64_t id = sim.store().AddDelivery("sub_1");
  sim.SetResponder([](const SentRequest&) { return RespondWith(500); });
  ASSERT_TRUE(sim.RunUntilIdle(absl::Hours(100)));

  const FakeDelivery d = sim.store().Delivery(id);
  EXPECT_EQ(d.state, FakeDelivery::State::kFailed);
  ASSERT_EQ(d.attempt_log.size(), 10u);
  ASSERT_EQ(sim.sent().size(), 10u);
  // The same seed gives the same jitter: the Dispatcher draws one delay per
  // failed attempt from std::mt19937_64(seed).
  std::mt19937_64 rng(options.seed);
  for (int k = 0; k < 9; ++k) {
    SCOPED_TRACE(k + 1);
    const store::DeliveryOutcome& o = d.attempt_log[k];
    EXPECT_EQ(o.attempt, k + 1);
    EXPECT_EQ(o.error_class, "http_5xx");
    EXPECT_EQ(o.state, store::DeliveryOutcome::State::kRetry);
    const absl::Time finished = o.started_at + o.duration;
    const absl::Time due =
        finished + domain::BackoffDelay(options.retry, k + 1, rng);
    EXPECT_EQ(o.next_attempt_at, due);
    // Sent at the first lease once due: within one poll interval.
    EXPECT_GE(sim.sent()[k + 1].at, due);
    EXPECT_LE(sim.sent()[k + 1].at, due + options.lease.poll_interval);
    EXPECT_EQ(sim.sent()[k + 1].request.headers[5],
              absl::StrCat("webhook-attempt: ", k + 2));
  }
  EXPECT_EQ(d.attempt_log[9].state, store::DeliveryOutcome::State::kFailed);
}

TEST(DispatcherTest, GoneDisablesAndHoldsTheRestUntilEnabled) {
  DispatchSimulation sim(Options());
  sim.AddSubscription("sub_1", 1);
  const int64_t first = sim.store().AddDelivery("sub_1");
  for (int i = 0; i < 4; ++i) sim.store().AddDelivery("sub_1");
  sim.SetResponder([first](const SentRequest& r) {
    return RespondWith(r.delivery_id == first ? 410 : 200);
  });
  sim.RunFor(absl::Minutes(10));
  EXPECT_EQ(sim.sent().size(), 1u);
  EXPECT_FALSE(sim.store().Enabled("sub_1"));
  EXPECT_EQ(sim.store().DisabledReason("sub_1"), "endpoint answered 410 Gone");
  EXPECT_EQ(sim.store().Delivery(first).state, FakeDelivery::State::kFailed);
  for (int64_t id : sim.store().DeliveryIds()) {
    if (id == first) continue;
    const FakeDelivery d = sim.store().Delivery(id);
    EXPECT_EQ(d.state, FakeDelivery::State::kPending);  // held, not dropped
    EXPECT_EQ(d.attempts, 0);
  }

  sim.store().SetEnabled("sub_1", true);
  ASSERT_TRUE(sim.RunUntilIdle());
  EXPECT_EQ(sim.sent().size(), 5u);
  for (int64_t id : sim.store().DeliveryIds()) {
    if (id == first) continue;
    EXPECT_EQ(sim.store().Delivery(id).state, FakeDelivery::State::kDelivered);
  }
}

TEST(DispatcherTest, ShutdownReleasesWhatIsInFlight) {
  prometheus::Registry registry;
  metrics::WorkerMetrics metrics(registry);
  DispatchSimulation sim(Options(), &metrics);
  sim.AddSubscription("sub_1", 10);
  for (int i = 0; i < 10; ++i) sim.store().AddDelivery("sub_1");
  sim.SetResponder(
      [](const SentRequest&) { return RespondWith(200, absl::Seconds(30)); });
  sim.RunFor(absl::Seconds(1));
  ASSERT_EQ(sim.dispatcher().in_flight(), 10);

  const DispatchSimulation::ShutdownResult result =
      sim.Shutdown(absl::Seconds(5));
  EXPECT_EQ(result.aborted, 10);
  EXPECT_TRUE(result.drained);
  EXPECT_EQ(result.abandoned, 0u);
  for (int64_t id : sim.store().DeliveryIds()) {
    const FakeDelivery d = sim.store().Delivery(id);
    EXPECT_EQ(d.state, FakeDelivery::State::kPending);
    EXPECT_FALSE(d.leased);
    EXPECT_EQ(d.releases, 1);
    EXPECT_EQ(d.attempts, 0);  // a release is not an attempt
  }
  EXPECT_EQ(Metric(registry, "webhooks_lease_releases_total"), 10);
  EXPECT_EQ(Metric(registry, "webhooks_inflight_requests"), 0);
  // No more leases once stopping.
  EXPECT_EQ(sim.dispatcher().PlanLease(sim.now()), std::nullopt);
}

TEST(DispatcherTest, ShutdownRetriesWritesUntilTheGraceEndsThenAbandons) {
  prometheus::Registry registry;
  metrics::WorkerMetrics metrics(registry);
  DispatchSimulation sim(Options(), &metrics);
  sim.AddSubscription("sub_1", 10);
  std::vector<int64_t> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(sim.store().AddDelivery("sub_1"));
  sim.SetResponder(
      [](const SentRequest&) { return RespondWith(200, absl::Seconds(2)); });
  sim.RunFor(absl::Seconds(1));
  ASSERT_EQ(sim.dispatcher().in_flight(), 10);
  sim.store().FailNextCompletes(kForever,
                                absl::UnavailableError("connection lost"));
  const int completes_before = sim.store().complete_calls();

  const DispatchSimulation::ShutdownResult result =
      sim.Shutdown(absl::Seconds(10));
  EXPECT_EQ(result.aborted, 0);  // all answered within the grace
  EXPECT_FALSE(result.drained);
  EXPECT_EQ(result.abandoned, 10u);
  // Retried with backoff for the rest of the grace (9 s: 100 ms doubling).
  EXPECT_GE(sim.store().complete_calls() - completes_before, 6);
  EXPECT_LE(sim.store().complete_calls() - completes_before, 10);
  for (int64_t id : ids) {
    const FakeDelivery d = sim.store().Delivery(id);
    // Unwritten: still leased; made again when the lease expires.
    EXPECT_EQ(d.state, FakeDelivery::State::kPending);
    EXPECT_TRUE(d.leased);
    EXPECT_EQ(d.attempts, 0);
  }
  EXPECT_EQ(Metric(registry, "webhooks_outcomes_abandoned_total"), 10);
  EXPECT_EQ(
      Metric(registry, "webhooks_deliveries_total", "outcome", "delivered"), 0);
  EXPECT_GE(Metric(registry, "webhooks_outcome_write_failures_total"), 6);
  EXPECT_EQ(sim.dispatcher().pending_writes(), 0u);
  EXPECT_TRUE(sim.dispatcher().Drained());
}

TEST(DispatcherTest, DatabaseAwayForAMinuteLosesNothing) {
  prometheus::Registry registry;
  metrics::WorkerMetrics metrics(registry);
  DispatchSimulation sim(Options(), &metrics);
  sim.AddSubscription("sub_1", 20);
  for (int i = 0; i < 20; ++i) sim.store().AddDelivery("sub_1");
  sim.RunFor(absl::Milliseconds(5));  // leased and sent
  ASSERT_EQ(sim.dispatcher().in_flight(), 20);

  const absl::Status away = absl::UnavailableError("connection refused");
  sim.store().FailNextLeases(kForever, away);
  sim.store().FailNextCompletes(kForever, away);
  sim.store().FailNextReleases(kForever, away);
  const int leases_before = sim.store().lease_calls();
  const int completes_before = sim.store().complete_calls();
  sim.RunFor(absl::Minutes(1));
  EXPECT_EQ(sim.dispatcher().in_flight(), 0);
  EXPECT_EQ(sim.dispatcher().pending_writes(), 20u);
  // Backing off (100 ms doubling to 5 s): about 17 tries a minute each, not
  // one per poll or per millisecond.
  EXPECT_LE(sim.store().lease_calls() - leases_before, 20);
  EXPECT_LE(sim.store().complete_calls() - completes_before, 20);
  EXPECT_GE(sim.store().complete_calls() - completes_before, 10);
  EXPECT_EQ(
      Metric(registry, "webhooks_deliveries_total", "outcome", "delivered"), 0);

  sim.store().FailNextLeases(0, absl::OkStatus());
  sim.store().FailNextCompletes(0, absl::OkStatus());
  sim.store().FailNextReleases(0, absl::OkStatus());
  ASSERT_TRUE(sim.RunUntilIdle(absl::Minutes(1)));
  EXPECT_EQ(sim.sent().size(), 20u);  // nothing sent twice
  for (int64_t id : sim.store().DeliveryIds()) {
    const FakeDelivery d = sim.store().Delivery(id);
    EXPECT_EQ(d.state, FakeDelivery::State::kDelivered);
    EXPECT_EQ(d.attempt_log.size(), 1u);
  }
  EXPECT_EQ(
      Metric(registry, "webhooks_deliveries_total", "outcome", "delivered"),
      20);
  EXPECT_GT(Metric(registry, "webhooks_db_errors_total"), 10);
}

TEST(DispatcherTest, PoisonOutcomeIsIsolatedAndWrittenAsInternal) {
  prometheus::Registry registry;
  metrics::WorkerMetrics metrics(registry);
  DispatchSimulation sim(Options(), &metrics);
  sim.AddSubscription("sub_1", 8);
  std::vector<int64_t> ids;
  for (int i = 0; i < 8; ++i) ids.push_back(sim.store().AddDelivery("sub_1"));
  const int64_t poison = ids[5];
  // The first outcome of `poison` is refused; its internal replacement and
  // the next attempt are not.
  sim.store().SetPoison([poison](const store::DeliveryOutcome& o) {
    return o.delivery_id == poison && o.attempt == 1 &&
           o.error_class != "internal";
  });
  ASSERT_TRUE(sim.RunUntilIdle());
  for (int64_t id : ids) {
    const FakeDelivery d = sim.store().Delivery(id);
    EXPECT_EQ(d.state, FakeDelivery::State::kDelivered);
    if (id == poison) {
      ASSERT_EQ(d.attempt_log.size(), 2u);
      EXPECT_EQ(d.attempt_log[0].error_class, "internal");
      EXPECT_EQ(d.attempt_log[0].attempt, 1);
      EXPECT_EQ(d.attempt_log[1].error_class, "success");
      EXPECT_EQ(d.attempt_log[1].attempt, 2);
    } else {
      ASSERT_EQ(d.attempt_log.size(), 1u);
      EXPECT_EQ(d.attempt_log[0].error_class, "success");
    }
  }
  EXPECT_EQ(Metric(registry, "webhooks_outcomes_replaced_total"), 1);
  EXPECT_EQ(Metric(registry, "webhooks_attempts_total", "class", "internal"),
            1);
  EXPECT_EQ(Metric(registry, "webhooks_attempts_total", "class", "success"), 8);
  EXPECT_EQ(Metric(registry, "webhooks_deliveries_total", "outcome", "retry"),
            1);
  EXPECT_EQ(
      Metric(registry, "webhooks_deliveries_total", "outcome", "delivered"), 8);
}

TEST(DispatcherTest, MetricsCountOnlyWrittenOutcomes) {
  prometheus::Registry registry;
  metrics::WorkerMetrics metrics(registry);
  DispatchSimulation sim(Options(), &metrics);
  sim.AddSubscription("sub_1", 8);
  for (int i = 0; i < 3; ++i) sim.store().AddDelivery("sub_1");
  sim.store().FailNextCompletes(kForever, absl::UnavailableError("away"));
  sim.RunFor(absl::Seconds(10));
  EXPECT_EQ(sim.dispatcher().pending_writes(), 3u);
  EXPECT_EQ(
      Metric(registry, "webhooks_deliveries_total", "outcome", "delivered"), 0);
  EXPECT_EQ(Metric(registry, "webhooks_attempts_total", "class", "success"),
            -1);  // never created
  EXPECT_EQ(Metric(registry, "webhooks_attempt_duration_seconds"), 0);
  EXPECT_EQ(Metric(registry, "webhooks_delivery_latency_seconds"), 0);
  EXPECT_GT(Metric(registry, "webhooks_outcome_write_failures_total"), 0);
  EXPECT_EQ(Metric(registry, "webhooks_lease_batch_size"), sim.leases());

  sim.store().FailNextCompletes(0, absl::OkStatus());
  ASSERT_TRUE(sim.RunUntilIdle());
  EXPECT_EQ(
      Metric(registry, "webhooks_deliveries_total", "outcome", "delivered"), 3);
  EXPECT_EQ(Metric(registry, "webhooks_attempts_total", "class", "success"), 3);
  EXPECT_EQ(Metric(registry, "webhooks_attempt_duration_seconds"), 3);
  EXPECT_EQ(Metric(registry, "webhooks_delivery_latency_seconds"), 3);
  EXPECT_EQ(Metric(registry, "webhooks_outcomes_fenced_total"), 0);
  EXPECT_EQ(Metric(registry, "webhooks_inflight_requests"), 0);
}

TEST(DispatcherTest, UnbuildableRequestGetsAnInternalOutcomeAtOnce) {
  DispatchSimulation sim(Options());
  webhooks::testing::FakeSubscriptionFields fields;
  fields.custom_headers_sealed = "k1:garbage";
  fields.signing_secret_sealed = "k1:garbage";
  sim.store().AddSubscription("sub_bad", 4, true, fields);
  const int64_t id = sim.store().AddDelivery("sub_bad");
  sim.RunFor(absl::Seconds(1));
  EXPECT_TRUE(sim.sent().empty());
  const FakeDelivery d = sim.store().Delivery(id);
  ASSERT_GE(d.attempt_log.size(), 1u);
  EXPECT_EQ(d.attempt_log[0].error_class, "internal");
  EXPECT_EQ(d.attempt_log[0].state, store::DeliveryOutcome::State::kRetry);
}

TEST(DispatcherTest, UnknownResultIsIgnored) {
  DispatchSimulation sim(Options());
  delivery::HttpResult result;
  result.id = 12345;
  result.error_class = domain::ErrorClass::kSuccess;
  sim.dispatcher().OnHttpResult(sim.now(), result);
  EXPECT_EQ(sim.dispatcher().pending_writes(), 0u);
  EXPECT_TRUE(sim.dispatcher().Drained());
}

}  // namespace
}  // namespace webhooks::dispatch
