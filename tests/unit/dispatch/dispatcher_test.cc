// The Dispatcher driven as the worker drives it, through DispatchSimulation:
// fake store, fake transport, fake clock, no threads.
#include "lib/dispatch/dispatcher.h"

#include <prometheus/registry.h>

#include <algorithm>
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

// One lease, made at once as the worker's shell would make it; the requests
// to send.
std::vector<delivery::HttpRequest> LeaseNow(DispatchSimulation& sim) {
  std::optional<store::LeaseRequest> request =
      sim.dispatcher().PlanLease(sim.now());
  EXPECT_TRUE(request.has_value());
  if (!request.has_value()) return {};
  return sim.dispatcher().OnLeased(sim.now(), *request,
                                   sim.store().Lease(*request, sim.now()));
}

// `request` answered 200 at once.
void AnswerOk(DispatchSimulation& sim, const delivery::HttpRequest& request) {
  delivery::HttpResult ok;
  ok.id = request.id;
  ok.error_class = domain::ErrorClass::kSuccess;
  ok.http_status = 200;
  sim.dispatcher().OnHttpResult(sim.now(), ok);
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

// A tenant whose four endpoints each take 30 s, with a backlog, and a second
// tenant whose one delivery arrives a second later, on a worker of 8 slots:
// with a bound of 4 per tenant the slow tenant never holds more than 4 and
// the other's delivery goes out at once; with no bound it waits for a slot.
struct TenantRun {
  int max_slow_in_flight = 0;
  absl::Duration fast_wait;
};
TenantRun RunSlowAndFastTenant(int max_in_flight_per_tenant) {
  DispatcherOptions options = Options();
  options.lease.max_in_flight = 8;
  options.lease.lease_batch = 8;
  options.max_in_flight_per_tenant = max_in_flight_per_tenant;
  DispatchSimulation sim(options);
  for (int i = 0; i < 4; ++i) {
    const std::string sub = "sub_slow_" + std::to_string(i);
    sim.AddSubscription(sub, 8, true, {}, "slow");
    for (int j = 0; j < 50; ++j) sim.store().AddDelivery(sub);
  }
  sim.AddSubscription("sub_fast", 8, true, {}, "fast");
  sim.SetResponder([](const SentRequest& r) {
    return RespondWith(200, r.subscription_id == "sub_fast"
                                ? absl::Milliseconds(10)
                                : absl::Seconds(30));
  });
  TenantRun run;
  auto sample = [&] {
    run.max_slow_in_flight = std::max(
        run.max_slow_in_flight, sim.dispatcher().tenant_in_flight("slow"));
    EXPECT_LE(sim.dispatcher().in_flight(), 8);
  };
  EXPECT_FALSE(sim.RunUntilCondition(
      [&] {
        sample();
        return false;
      },
      absl::Seconds(1)));
  const int64_t fast = sim.store().AddDelivery("sub_fast");
  const absl::Time added = sim.now();
  sim.dispatcher().OnNotify();
  EXPECT_TRUE(sim.RunUntilCondition(
      [&] {
        sample();
        return sim.store().Delivery(fast).state ==
               FakeDelivery::State::kDelivered;
      },
      absl::Minutes(5)));
  for (const SentRequest& sent : sim.sent()) {
    if (sent.delivery_id == fast) run.fast_wait = sent.at - added;
  }
  return run;
}

TEST(DispatcherTest, SlowTenantHoldsAtMostItsShareAndOthersGoOutAtOnce) {
  const TenantRun bounded = RunSlowAndFastTenant(4);
  EXPECT_EQ(bounded.max_slow_in_flight, 4);
  EXPECT_LE(bounded.fast_wait, Options().lease.min_lease_gap);
  // The same run without the bound: the slow tenant takes every slot and
  // the other tenant's delivery waits for one of its 30 s answers.
  const TenantRun unbounded = RunSlowAndFastTenant(0);
  EXPECT_EQ(unbounded.max_slow_in_flight, 8);
  EXPECT_GE(unbounded.fast_wait, absl::Seconds(20));
}

TEST(DispatcherTest, LeaseExcludesTenantsAtTheirBoundAndReleasesTheExcess) {
  prometheus::Registry registry;
  metrics::WorkerMetrics metrics(registry);
  DispatcherOptions options = Options();
  options.lease.lease_batch = 10;
  options.max_in_flight_per_tenant = 3;
  DispatchSimulation sim(options, &metrics);
  sim.AddSubscription("sub_a", 10, true, {}, "tenant_a");
  sim.AddSubscription("sub_b", 10, true, {}, "tenant_b");
  for (int i = 0; i < 10; ++i) sim.store().AddDelivery("sub_a");
  std::optional<store::LeaseRequest> request =
      sim.dispatcher().PlanLease(sim.now());
  ASSERT_TRUE(request.has_value());
  EXPECT_TRUE(request->excluded_tenants.empty());
  absl::StatusOr<std::vector<store::LeasedDelivery>> leased =
      sim.store().Lease(*request, sim.now());
  ASSERT_TRUE(leased.ok());
  ASSERT_EQ(leased->size(), 10u);
  // Three go out; the other seven go back untried.
  const std::vector<delivery::HttpRequest> requests =
      sim.dispatcher().OnLeased(sim.now(), *request, leased);
  EXPECT_EQ(requests.size(), 3u);
  EXPECT_EQ(sim.dispatcher().tenant_in_flight("tenant_a"), 3);
  EXPECT_EQ(sim.dispatcher().pending_writes(), 7u);
  EXPECT_EQ(Metric(registry, "webhooks_tenant_share_releases_total"), 7);
  std::optional<WriteBatch> batch = sim.dispatcher().NextWrite(sim.now());
  ASSERT_TRUE(batch.has_value());
  ASSERT_EQ(batch->kind, WriteBatch::Kind::kReleases);
  absl::StatusOr<int> released =
      sim.store().Release(batch->releases, sim.now());
  ASSERT_TRUE(released.ok());
  sim.dispatcher().OnWriteResult(sim.now(), *batch, absl::OkStatus(), {});
  EXPECT_EQ(sim.store().InFlight("sub_a"), 3);
  int untried = 0;
  for (int64_t id : sim.store().DeliveryIds()) {
    const FakeDelivery d = sim.store().Delivery(id);
    if (d.releases == 1 && !d.leased && d.attempts == 0) ++untried;
  }
  EXPECT_EQ(untried, 7);

  // tenant_a is at its bound: the next lease passes over it, and serves
  // tenant_b.
  sim.store().AddDelivery("sub_b");
  sim.dispatcher().OnNotify();
  request = sim.dispatcher().PlanLease(sim.now() + absl::Seconds(1));
  ASSERT_TRUE(request.has_value());
  EXPECT_THAT(request->excluded_tenants, ::testing::ElementsAre("tenant_a"));
  leased = sim.store().Lease(*request, sim.now());
  ASSERT_TRUE(leased.ok());
  ASSERT_EQ(leased->size(), 1u);
  EXPECT_EQ((*leased)[0].tenant_id, "tenant_b");
  EXPECT_EQ(sim.dispatcher().OnLeased(sim.now(), *request, leased).size(), 1u);

  // One of tenant_a's answers frees a slot: it is no longer excluded.
  AnswerOk(sim, requests[0]);
  EXPECT_EQ(sim.dispatcher().tenant_in_flight("tenant_a"), 2);
  request = sim.dispatcher().PlanLease(sim.now() + absl::Seconds(2));
  ASSERT_TRUE(request.has_value());
  EXPECT_TRUE(request->excluded_tenants.empty());
}

// A request outlives its lease, and the lease is taken over again by the
// same worker: the delivery is still one request of its tenant. (Counting it
// twice leaked a slot each time, until the tenant looked at its bound with
// nothing in flight and was never leased again.)
TEST(DispatcherTest, ALeaseTakenOverWhileItsRequestIsOutCountsOnce) {
  DispatcherOptions options = Options();
  options.lease_duration = absl::Seconds(1);
  options.max_in_flight_per_tenant = 3;  // below it: the lease takes them
  DispatchSimulation sim(options);
  sim.AddSubscription("sub_1", 4);
  sim.store().AddDelivery("sub_1");
  sim.store().AddDelivery("sub_1");
  ASSERT_EQ(LeaseNow(sim).size(), 2u);
  EXPECT_EQ(sim.dispatcher().tenant_in_flight("tenant"), 2);
  sim.clock().AdvanceTime(absl::Seconds(2));  // both leases expire
  sim.dispatcher().OnNotify();
  const std::vector<delivery::HttpRequest> again = LeaseNow(sim);
  ASSERT_EQ(again.size(), 2u);  // taken over, not released
  EXPECT_EQ(sim.dispatcher().in_flight(), 2);
  EXPECT_EQ(sim.dispatcher().tenant_in_flight("tenant"), 2);
  for (const delivery::HttpRequest& r : again) AnswerOk(sim, r);
  EXPECT_EQ(sim.dispatcher().tenant_in_flight("tenant"), 0);
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

// A write that was applied but whose answer was lost (the connection dropped
// after the commit) is written again; the store then reports those outcomes
// as applied, so every counter counts each of them once and none is called
// fenced. The slots that lost write handed off come back when their leases
// expire, and nothing is sent twice.
TEST(DispatcherTest, LostWriteAnswerCountsEachOutcomeOnce) {
  prometheus::Registry registry;
  metrics::WorkerMetrics metrics(registry);
  DispatchSimulation sim(Options(), &metrics);
  sim.AddSubscription("sub_1", 2);
  for (int i = 0; i < 6; ++i) sim.store().AddDelivery("sub_1");
  sim.store().LoseNextCompleteAnswers(1);
  ASSERT_TRUE(sim.RunUntilIdle(absl::Minutes(10)));
  EXPECT_EQ(sim.sent().size(), 6u);
  for (int64_t id : sim.store().DeliveryIds()) {
    const FakeDelivery d = sim.store().Delivery(id);
    EXPECT_EQ(d.state, FakeDelivery::State::kDelivered);
    EXPECT_EQ(d.attempt_log.size(), 1u);
  }
  EXPECT_EQ(
      Metric(registry, "webhooks_deliveries_total", "outcome", "delivered"), 6);
  EXPECT_EQ(Metric(registry, "webhooks_attempts_total", "class", "success"), 6);
  EXPECT_EQ(Metric(registry, "webhooks_delivery_latency_seconds"), 6);
  EXPECT_EQ(Metric(registry, "webhooks_outcomes_fenced_total"), 0);
  EXPECT_EQ(Metric(registry, "webhooks_outcome_write_failures_total"), 1);
}

TEST(DispatcherTest, CappedLaneCyclesThroughHandOffsNotLeases) {
  prometheus::Registry registry;
  metrics::WorkerMetrics metrics(registry);
  DispatchSimulation sim(Options(), &metrics);
  sim.AddSubscription("sub_1", 4);
  for (int i = 0; i < 40; ++i) sim.store().AddDelivery("sub_1");
  ASSERT_TRUE(sim.RunUntilIdle());
  EXPECT_EQ(sim.sent().size(), 40u);
  EXPECT_EQ(sim.MaxConcurrent("sub_1"), 4);
  for (int64_t id : sim.store().DeliveryIds()) {
    EXPECT_EQ(sim.store().Delivery(id).state, FakeDelivery::State::kDelivered);
  }
  // The first lease takes the cap (4 of the 100 asked: short); from then on
  // every write hands its freed slots straight back, and only the end of
  // the backlog (a write that hands back fewer than it freed) leases again.
  EXPECT_EQ(sim.handed_off(), 36);
  EXPECT_LE(sim.leases(), 3);
  EXPECT_EQ(Metric(registry, "webhooks_lease_handoffs_total"), 36);
  EXPECT_EQ(Metric(registry, "webhooks_lease_batch_size"), sim.leases());
  EXPECT_EQ(
      Metric(registry, "webhooks_deliveries_total", "outcome", "delivered"),
      40);
}

TEST(DispatcherTest, HandOffsLeaveRoomForALaneThatAppearsLater) {
  // Capacity 8 and leases of 4 (2 at least under load), and sub_a, whose
  // cap of 7 nearly fills the worker, cycling its slots through hand-offs:
  // sub_b, appearing later, still gets a slot at once.
  DispatcherOptions options = Options();
  options.lease.max_in_flight = 8;
  options.lease.lease_batch = 4;
  DispatchSimulation sim(options);
  sim.AddSubscription("sub_a", 7);
  for (int i = 0; i < 2000; ++i) sim.store().AddDelivery("sub_a");
  // Answers spread over time, as real ones are: the worker is never empty.
  sim.SetResponder([](const SentRequest& r) {
    return RespondWith(200, absl::Milliseconds(10 + r.delivery_id % 7));
  });
  sim.RunFor(absl::Milliseconds(100));
  ASSERT_GT(sim.handed_off(), 0);
  sim.AddSubscription("sub_b", 7);
  const int64_t late = sim.store().AddDelivery("sub_b");
  const absl::Time added = sim.now();
  sim.dispatcher().OnNotify();
  ASSERT_TRUE(sim.RunUntilCondition(
      [&] {
        return sim.store().Delivery(late).state ==
               FakeDelivery::State::kDelivered;
      },
      absl::Seconds(10)));
  EXPECT_LE(sim.now() - added, absl::Milliseconds(50));
  EXPECT_EQ(sim.MaxConcurrent("sub_a"), 7);
}

TEST(DispatcherTest, NoHandOffAfterAFullLeaseOrWhenStopping) {
  DispatcherOptions options = Options();
  options.lease.lease_batch = 2;
  DispatchSimulation sim(options);
  sim.AddSubscription("sub_1", 100);
  for (int i = 0; i < 2; ++i) sim.store().AddDelivery("sub_1");
  // The lease comes back full (2 of 2): lanes may be waiting for this
  // worker, so the write leases nothing back.
  std::vector<delivery::HttpRequest> requests = LeaseNow(sim);
  ASSERT_EQ(requests.size(), 2u);
  AnswerOk(sim, requests[0]);
  std::optional<WriteBatch> batch = sim.dispatcher().NextWrite(sim.now());
  ASSERT_TRUE(batch.has_value());
  EXPECT_TRUE(batch->first_try);
  EXPECT_EQ(batch->hand_off.limit, 0);
  sim.dispatcher().OnWriteResult(sim.now(), *batch, absl::OkStatus(),
                                 {batch->outcomes[0].delivery_id});

  sim.dispatcher().BeginShutdown();
  AnswerOk(sim, requests[1]);
  batch = sim.dispatcher().NextWrite(sim.now());
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->hand_off.limit, 0);
  sim.dispatcher().OnWriteResult(sim.now(), *batch, absl::OkStatus(),
                                 {batch->outcomes[0].delivery_id});
}

TEST(DispatcherTest, HandOffThatReturnsAfterShutdownBeganIsReleased) {
  DispatchSimulation sim(Options());
  sim.AddSubscription("sub_1", 3);
  for (int i = 0; i < 10; ++i) sim.store().AddDelivery("sub_1");
  std::vector<delivery::HttpRequest> requests = LeaseNow(sim);
  ASSERT_EQ(requests.size(), 3u);  // short: the cap
  for (const delivery::HttpRequest& r : requests) AnswerOk(sim, r);
  std::optional<WriteBatch> batch = sim.dispatcher().NextWrite(sim.now());
  ASSERT_TRUE(batch.has_value());
  ASSERT_EQ(batch->hand_off.limit, 3);
  absl::StatusOr<store::CompleteResult> written =
      sim.store().CompleteAndHandOff(batch->outcomes, batch->hand_off,
                                     sim.now());
  ASSERT_TRUE(written.ok());
  ASSERT_EQ(written->handed_off.size(), 3u);
  // Shutdown begins while the write is out: what it handed off is not sent.
  sim.dispatcher().BeginShutdown();
  EXPECT_TRUE(sim.dispatcher()
                  .OnWriteResult(sim.now(), *batch, absl::OkStatus(),
                                 written->applied, written->handed_off)
                  .empty());
  EXPECT_EQ(sim.dispatcher().in_flight(), 0);
  const DispatchSimulation::ShutdownResult result =
      sim.Shutdown(absl::Seconds(5));
  EXPECT_TRUE(result.drained);
  EXPECT_EQ(sim.store().InFlight("sub_1"), 0);
  for (const store::LeasedDelivery& d : written->handed_off) {
    const FakeDelivery released = sim.store().Delivery(d.id);
    EXPECT_FALSE(released.leased);
    EXPECT_EQ(released.releases, 1);
    EXPECT_EQ(released.attempts, 0);
  }
}

TEST(DispatcherTest, HandOffLimitCountsAsInFlightUntilTheWriteReturns) {
  DispatcherOptions options = Options();
  options.lease.max_in_flight = 10;
  options.lease.lease_batch = 4;  // 2 at least under load
  DispatchSimulation sim(options);
  sim.AddSubscription("sub_1", 6);
  for (int i = 0; i < 100; ++i) sim.store().AddDelivery("sub_1");
  std::vector<delivery::HttpRequest> requests = LeaseNow(sim);
  ASSERT_EQ(requests.size(), 4u);  // full: leases go on
  std::vector<delivery::HttpRequest> more = LeaseNow(sim);
  ASSERT_EQ(more.size(), 2u);  // the cap: short, so hand-offs from now on
  requests.insert(requests.end(), more.begin(), more.end());
  for (const delivery::HttpRequest& r : requests) AnswerOk(sim, r);
  std::optional<WriteBatch> batch = sim.dispatcher().NextWrite(sim.now());
  ASSERT_TRUE(batch.has_value());
  ASSERT_EQ(batch->outcomes.size(), 6u);
  EXPECT_EQ(batch->hand_off.limit, 6);
  EXPECT_EQ(batch->hand_off.owner, "test-worker");
  EXPECT_EQ(batch->hand_off.lease_duration, absl::Minutes(5));
  // While the write is out, its hand-off may fill 6 of the 10 slots: a
  // lease may take only the other 4 (once the gap after a short lease is
  // over).
  sim.dispatcher().OnNotify();
  const absl::Time later = sim.now() + options.lease.min_lease_gap;
  std::optional<store::LeaseRequest> request =
      sim.dispatcher().PlanLease(later);
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(request->limit, 4);
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
