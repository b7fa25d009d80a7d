// The delivery worker end to end inside one process: a real Worker with a
// real CurlHttpTransport, PgDeliveryStore and DeliveryNotifier on a fresh
// PostgreSQL database, delivering to a real HTTPS receiver on loopback. Tests
// assert on what Postgres holds afterwards and on what the receiver saw.
// Leasing and fencing are also checked directly against the store.
#include "lib/dispatch/worker.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/common/clock.h"
#include "lib/common/ids.h"
#include "lib/common/mutex.h"
#include "lib/delivery/address_policy.h"
#include "lib/delivery/curl_http_transport.h"
#include "lib/domain/custom_headers.h"
#include "lib/domain/retry_policy.h"
#include "lib/metrics/worker_metrics.h"
#include "lib/security/sealed_fields.h"
#include "lib/security/sealer.h"
#include "lib/security/signing_secret.h"
#include "lib/store/delivery_notifier.h"
#include "lib/store/pg_pool.h"
#include "lib/store/pg_stores.h"
#include "tests/testing/expected_signature.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_database.h"
#include "tests/testing/tls_receiver.h"

namespace webhooks::dispatch {

namespace {

using ::testing::Ge;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Le;
using ::testing::Not;
using ::testing::SizeIs;
using ::webhooks::delivery::AddressPolicy;
using ::webhooks::delivery::CurlTransportOptions;
using ::webhooks::delivery::HttpRequest;
using ::webhooks::delivery::HttpResult;
using ::webhooks::delivery::HttpTransport;
using ::webhooks::delivery::NewCurlHttpTransport;
using ::webhooks::testing::ExpectedSignature;
using ::webhooks::testing::IsOk;
using ::webhooks::testing::IsOkAndHolds;
using ::webhooks::testing::ReceivedRequest;
using ::webhooks::testing::ReceiverResponse;
using ::webhooks::testing::TlsReceiver;

// Generous: these wait for things that normally take milliseconds.
constexpr absl::Duration kWait = absl::Seconds(15);
constexpr char kUserAgent[] = "webhooks-test/1.0";
constexpr char kEventType[] = "engagement_dispatched";

// Polls `condition` until it holds (true) or `timeout` passes (false).
bool Eventually(const std::function<bool()>& condition,
                absl::Duration timeout = kWait) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

std::string Micros(absl::string_view column) {
  return absl::StrCat("(extract(epoch from ", column, ") * 1000000)::bigint");
}

absl::Time ParseMicros(absl::string_view text) {
  int64_t us = 0;
  EXPECT_TRUE(absl::SimpleAtoi(text, &us)) << text;
  return absl::FromUnixMicros(us);
}

int64_t ParseInt(absl::string_view text) {
  int64_t value = 0;
  EXPECT_TRUE(absl::SimpleAtoi(text, &value)) << "'" << text << "'";
  return value;
}

// A deliveries row as stored.
struct DeliveryRow {
  int64_t id = 0;
  std::string state;
  int64_t attempts = 0;
  absl::Time next_attempt_at;
  std::string lease_owner;  // "" for NULL
  int64_t lease_token = 0;
  bool leased = false;      // leased_until IS NOT NULL
  std::string last_status;  // "" for NULL
  std::string last_error_class;
  bool completed = false;  // completed_at IS NOT NULL
  absl::Time db_now;       // the database's now() when read
};

// A delivery_attempts row as stored.
struct AttemptRow {
  int64_t attempt = 0;
  absl::Time started_at;
  absl::Duration duration;
  std::string status;  // "" for NULL
  std::string error_class;
  int64_t excerpt_bytes = 0;

  absl::Time end() const { return started_at + duration; }
};

// The value of webhooks_deliveries_total{outcome=...} as the registry
// exposes it; -1 when absent.
double DeliveriesTotal(prometheus::Registry& registry,
                       absl::string_view outcome) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != "webhooks_deliveries_total") continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      for (const prometheus::ClientMetric::Label& label : metric.label) {
        if (label.name == "outcome" && label.value == outcome) {
          return metric.counter.value;
        }
      }
    }
  }
  return -1;
}

// One database, pool and set of stores for the binary; a receiver, transport
// and worker for each test.
class WorkerTest : public ::testing::Test {
 protected:
  struct Shared {
    std::unique_ptr<testing::TestDatabase> db;
    std::unique_ptr<store::PgPool> pool;
    std::unique_ptr<store::SubscriptionStore> subscriptions;
    std::unique_ptr<store::EventStore> events;
    std::unique_ptr<store::DeliveryStore> deliveries;
    std::unique_ptr<security::Sealer> sealer;
  };

  struct Subscription {
    std::string id;
    std::string secret;
  };

  static void SetUpTestSuite() {
    shared_ = new Shared;
    absl::StatusOr<std::unique_ptr<testing::TestDatabase>> db =
        testing::TestDatabase::Create();
    ASSERT_THAT(db, IsOk());
    shared_->db = *std::move(db);
    absl::StatusOr<std::unique_ptr<store::PgPool>> pool =
        store::PgPool::Create({.database_url = shared_->db->url(), .size = 8});
    ASSERT_THAT(pool, IsOk());
    shared_->pool = *std::move(pool);
    shared_->subscriptions = store::NewPgSubscriptionStore(shared_->pool.get());
    shared_->events = store::NewPgEventStore(shared_->pool.get());
    shared_->deliveries = store::NewPgDeliveryStore(shared_->pool.get());
    absl::StatusOr<security::Sealer> sealer =
        security::Sealer::FromSpec(security::NewSealingKeySpec());
    ASSERT_THAT(sealer, IsOk());
    shared_->sealer = std::make_unique<security::Sealer>(*std::move(sealer));
  }

  static void TearDownTestSuite() {
    delete shared_;
    shared_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(shared_, nullptr);
    ASSERT_NE(shared_->sealer, nullptr) << "suite set-up failed";
    // Every test starts from empty tables: a worker leases any due delivery,
    // whichever test made it.
    db().Query(
        "TRUNCATE delivery_attempts, deliveries, events, delivery_lanes, "
        "subscriptions");
    tenant_ = testing::RandomTenant();
    absl::StatusOr<std::unique_ptr<TlsReceiver>> receiver =
        TlsReceiver::Create();
    ASSERT_THAT(receiver, IsOk());
    receiver_ = *std::move(receiver);
  }

  void TearDown() override {
    // Whatever holds connections to the receiver goes first.
    worker_.reset();
    notifier_.reset();
    transport_.reset();
    receiver_.reset();
    // The tests of this binary share one database: what a test left due (a
    // drain's released deliveries, say) would otherwise be delivered, and
    // waited for, by the next test's worker when they run in one process.
    db().Query("TRUNCATE events, subscriptions CASCADE");
  }

  static testing::TestDatabase& db() { return *shared_->db; }
  static store::PgPool& pool() { return *shared_->pool; }
  static store::DeliveryStore& deliveries() { return *shared_->deliveries; }
  static store::SubscriptionStore& subscriptions() {
    return *shared_->subscriptions;
  }

  // Fast polling, and retries far enough away not to happen unless a test
  // asks for them.
  static WorkerOptions FastOptions() {
    WorkerOptions options;
    options.dispatch.owner = "worker-test";
    options.dispatch.lease.poll_interval = absl::Milliseconds(50);
    options.dispatch.lease_duration = absl::Seconds(20);
    options.dispatch.retry.initial = absl::Hours(1);
    options.dispatch.seed = 42;
    options.db_timeout = absl::Seconds(5);
    options.stats_interval = absl::Seconds(1);
    return options;
  }

  // Trusts the receiver's CA and allows loopback.
  CurlTransportOptions TransportOptions() const {
    CurlTransportOptions options;
    options.ca_bundle = receiver_->ca_pem_path();
    options.user_agent = kUserAgent;
    options.connect_timeout = absl::Seconds(5);
    options.total_timeout = absl::Seconds(10);
    options.address_policy = AddressPolicy::Create("127.0.0.0/8").value();
    return options;
  }

  void StartWorker(WorkerOptions options) {
    StartWorker(std::move(options), TransportOptions());
  }

  void StartWorker(WorkerOptions options,
                   CurlTransportOptions transport_options) {
    absl::StatusOr<std::unique_ptr<HttpTransport>> transport =
        NewCurlHttpTransport(std::move(transport_options));
    ASSERT_THAT(transport, IsOk());
    StartWorker(std::move(options), *std::move(transport));
  }

  void StartWorker(WorkerOptions options,
                   std::unique_ptr<HttpTransport> transport,
                   store::DeliveryStore* store = nullptr,
                   common::Clock* clock = common::Clock::Real()) {
    if (store == nullptr) store = shared_->deliveries.get();
    transport_ = std::move(transport);
    notifier_ = std::make_unique<store::DeliveryNotifier>(db().url());
    registry_ = std::make_unique<prometheus::Registry>();
    metrics_ = std::make_unique<metrics::WorkerMetrics>(*registry_);
    worker_ = std::make_unique<Worker>(
        std::move(options), WorkerDeps{.store = store,
                                       .stats_store = shared_->deliveries.get(),
                                       .notifier = notifier_.get(),
                                       .transport = transport_.get(),
                                       .sealer = shared_->sealer.get(),
                                       .clock = clock,
                                       .metrics = metrics_.get()});
    worker_->Start();
  }

  // A subscription of this test's tenant, its secrets sealed as the API
  // seals them.
  Subscription CreateSubscription(const std::string& url,
                                  const domain::HeaderMap& headers = {},
                                  int max_in_flight = 64) {
    Subscription subscription;
    subscription.id =
        common::NewId(common::kSubscriptionIdPrefix, absl::Now(), rng_);
    subscription.secret = security::NewSigningSecret();
    const std::string prefix =
        absl::StrCat("subscription/", subscription.id, "/");
    store::SubscriptionRecord record;
    record.id = subscription.id;
    record.tenant_id = tenant_;
    record.name = "worker test";
    record.target_url = url;
    record.event_types = {kEventType};
    record.max_in_flight = max_in_flight;
    record.custom_headers_sealed =
        shared_->sealer
            ->Seal(domain::EncodeHeaders(headers),
                   absl::StrCat(prefix, "custom_headers"))
            .value();
    record.signing_secret_sealed =
        shared_->sealer
            ->Seal(subscription.secret, absl::StrCat(prefix, "signing_secret"))
            .value();
    EXPECT_THAT(subscriptions().Create(record, absl::Now() + kWait), IsOk());
    return subscription;
  }

  // A body with non-ASCII text, so that "exactly the stored bytes" means
  // something.
  static std::string Body(absl::string_view event_id) {
    return absl::StrCat(
        R"({"event":"engagement_dispatched","event_id":")", event_id,
        R"(","occurred_at":"2026-11-26T14:03:11.512Z",)",
        R"("account":{"yess_id":"acc_8f2c","name":"Acmé Corp — “Ünïcode”"},)",
        R"("lead":{"yess_id":"lead_51aa","email":"dana@acme.com"},)",
        R"("engagement":{"yess_id":"eng_7c01","channel":"email",)",
        R"("action":"new_thread_email","status":"sent"}})");
  }

  store::NewEvent NewEvent() {
    store::NewEvent event;
    event.id = common::NewId(common::kEventIdPrefix, absl::Now(), rng_);
    event.type = kEventType;
    event.idempotency_key = event.id;
    event.body = Body(event.id);
    event.occurred_at = absl::Now();
    return event;
  }

  // Publishes one event to the tenant's subscriptions; returns its id.
  std::string Publish() {
    store::NewEvent event = NewEvent();
    absl::StatusOr<store::PublishResult> result =
        shared_->events->Publish(tenant_, event, absl::Now() + kWait);
    EXPECT_THAT(result, IsOk());
    return event.id;
  }

  // Publishes `n` events in one statement (one NOTIFY); returns their ids.
  std::vector<std::string> PublishBatch(int n) {
    std::vector<store::NewEvent> events;
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      events.push_back(NewEvent());
      ids.push_back(events.back().id);
    }
    EXPECT_THAT(
        shared_->events->PublishBatch(tenant_, events, absl::Now() + kWait),
        IsOk());
    return ids;
  }

  // The delivery of `event_id` (there is one subscription per test), if
  // `condition` (SQL on d) holds.
  static std::optional<DeliveryRow> FindDelivery(
      const std::string& event_id, const std::string& condition = "true") {
    std::vector<std::string> rows = db().Query(absl::StrCat(
        "SELECT concat_ws('|', d.id, d.state, d.attempts, ",
        Micros("d.next_attempt_at"),
        ", coalesce(d.lease_owner, ''), d.lease_token, "
        "d.leased_until IS NOT NULL, coalesce(d.last_status::text, ''), "
        "coalesce(d.last_error_class, ''), d.completed_at IS NOT NULL, ",
        Micros("now()"), ") FROM deliveries d WHERE d.event_id = '", event_id,
        "' AND (", condition, ")"));
    if (rows.empty()) return std::nullopt;
    EXPECT_THAT(rows, SizeIs(1));
    std::vector<std::string> f = absl::StrSplit(rows[0], '|');
    EXPECT_THAT(f, SizeIs(11)) << rows[0];
    if (f.size() != 11) return std::nullopt;
    DeliveryRow row;
    row.id = ParseInt(f[0]);
    row.state = f[1];
    row.attempts = ParseInt(f[2]);
    row.next_attempt_at = ParseMicros(f[3]);
    row.lease_owner = f[4];
    row.lease_token = ParseInt(f[5]);
    row.leased = f[6] == "true" || f[6] == "t";
    row.last_status = f[7];
    row.last_error_class = f[8];
    row.completed = f[9] == "true" || f[9] == "t";
    row.db_now = ParseMicros(f[10]);
    return row;
  }

  static DeliveryRow GetDelivery(const std::string& event_id) {
    std::optional<DeliveryRow> row = FindDelivery(event_id);
    EXPECT_TRUE(row.has_value()) << "no delivery of " << event_id;
    return row.value_or(DeliveryRow{});
  }

  // Waits until the delivery of `event_id` is in `state`.
  static bool AwaitState(const std::string& event_id,
                         const std::string& state) {
    return Eventually([&] {
      return FindDelivery(event_id, absl::StrCat("d.state = '", state, "'"))
          .has_value();
    });
  }

  static std::vector<AttemptRow> Attempts(const std::string& event_id) {
    std::vector<AttemptRow> out;
    for (const std::string& text : db().Query(absl::StrCat(
             "SELECT concat_ws('|', a.attempt, ", Micros("a.started_at"),
             ", a.duration_us, coalesce(a.status::text, ''), a.error_class, "
             "coalesce(octet_length(a.response_excerpt), 0)) "
             "FROM delivery_attempts a JOIN deliveries d ON d.id = "
             "a.delivery_id WHERE d.event_id = '",
             event_id, "' ORDER BY a.started_at, a.attempt"))) {
      std::vector<std::string> f = absl::StrSplit(text, '|');
      EXPECT_THAT(f, SizeIs(6)) << text;
      if (f.size() != 6) continue;
      AttemptRow row;
      row.attempt = ParseInt(f[0]);
      row.started_at = ParseMicros(f[1]);
      row.duration = absl::Microseconds(ParseInt(f[2]));
      row.status = f[3];
      row.error_class = f[4];
      row.excerpt_bytes = ParseInt(f[5]);
      out.push_back(row);
    }
    return out;
  }

  // Waits until `n` attempts of `event_id` are recorded.
  static bool AwaitAttempts(const std::string& event_id, size_t n) {
    return Eventually([&] { return Attempts(event_id).size() >= n; });
  }

  static std::string EventBody(const std::string& event_id) {
    return db().QueryValue(
        absl::StrCat("SELECT body FROM events WHERE id = '", event_id, "'"));
  }

  static Shared* shared_;
  absl::BitGen rng_;
  std::string tenant_;
  std::unique_ptr<TlsReceiver> receiver_;
  std::unique_ptr<HttpTransport> transport_;
  std::unique_ptr<store::DeliveryNotifier> notifier_;
  std::unique_ptr<prometheus::Registry> registry_;
  std::unique_ptr<metrics::WorkerMetrics> metrics_;
  std::unique_ptr<Worker> worker_;
};

WorkerTest::Shared* WorkerTest::shared_ = nullptr;

TEST_F(WorkerTest, DeliversSignedRequestAndRecordsSuccess) {
  const domain::HeaderMap headers = {
      {"Authorization", "Bearer abcdefghijklmnopqrstuvwxyz-key"},
      {"X-Webhook-Token", "tok_0123456789abcdefghijklmnop"}};
  const Subscription subscription =
      CreateSubscription(receiver_->url("/hooks/a"), headers);
  StartWorker(FastOptions());
  const std::string event_id = Publish();

  ASSERT_TRUE(AwaitState(event_id, "delivered"));
  ASSERT_EQ(receiver_->request_count(), 1u);
  const ReceivedRequest request = receiver_->requests()[0];
  const std::string body = EventBody(event_id);
  EXPECT_EQ(body, Body(event_id));
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.path, "/hooks/a");
  EXPECT_EQ(request.body, body);
  EXPECT_EQ(request.Header("Content-Type"), "application/json");
  EXPECT_EQ(request.Header("webhook-id"), event_id);
  const std::string timestamp = request.Header("webhook-timestamp");
  int64_t seconds = 0;
  ASSERT_TRUE(absl::SimpleAtoi(timestamp, &seconds)) << timestamp;
  EXPECT_LE(std::abs(seconds - absl::ToUnixSeconds(request.received_at)), 5);
  EXPECT_EQ(request.Header("webhook-signature"),
            ExpectedSignature(subscription.secret, event_id, timestamp, body));
  EXPECT_EQ(request.Header("webhook-event"), kEventType);
  EXPECT_EQ(request.Header("webhook-attempt"), "1");
  EXPECT_EQ(request.Header("User-Agent"), kUserAgent);
  // Unmasked: the subscriber authenticates us with these.
  EXPECT_EQ(request.Header("Authorization"),
            "Bearer abcdefghijklmnopqrstuvwxyz-key");
  EXPECT_EQ(request.Header("X-Webhook-Token"),
            "tok_0123456789abcdefghijklmnop");

  const DeliveryRow delivery = GetDelivery(event_id);
  EXPECT_EQ(delivery.state, "delivered");
  EXPECT_EQ(delivery.attempts, 1);
  EXPECT_EQ(delivery.last_status, "200");
  EXPECT_EQ(delivery.last_error_class, "success");
  EXPECT_TRUE(delivery.completed);
  EXPECT_FALSE(delivery.leased);
  EXPECT_EQ(delivery.lease_owner, "");
  const std::vector<AttemptRow> attempts = Attempts(event_id);
  ASSERT_THAT(attempts, SizeIs(1));
  EXPECT_EQ(attempts[0].attempt, 1);
  EXPECT_EQ(attempts[0].status, "200");
  EXPECT_EQ(attempts[0].error_class, "success");
  EXPECT_EQ(attempts[0].excerpt_bytes, 2);  // "ok"
  EXPECT_GE(attempts[0].duration, absl::ZeroDuration());

  EXPECT_EQ(metrics_->delivered.Value(), 1);
  EXPECT_EQ(DeliveriesTotal(*registry_, "delivered"), 1);
  EXPECT_EQ(DeliveriesTotal(*registry_, "retry"), 0);
  EXPECT_EQ(DeliveriesTotal(*registry_, "failed"), 0);
  EXPECT_EQ(metrics_->Attempts("success").Value(), 1);
}

// A receiver that echoes our request headers in its error body: the stored
// excerpt (plaintext) must not hold the custom header values, the secrets
// the subscriber authenticates us with.
TEST_F(WorkerTest, EchoedHeaderValuesAreRedactedFromTheStoredExcerpt) {
  const std::string token = "Bearer s3cr3t-0123456789-abcdefghij";
  const std::string key = "k-9f8e7d6c5b4a39281706";
  CreateSubscription(receiver_->url("/echo"),
                     {{"Authorization", token}, {"X-Api-Key", key}});
  receiver_->SetResponder([](const ReceivedRequest& request) {
    std::string echo = "rejected; you sent:";
    for (const auto& [name, value] : request.headers) {
      absl::StrAppend(&echo, " ", name, "=", value);
    }
    return ReceiverResponse{.status = 500, .body = echo};
  });
  StartWorker(FastOptions());
  const std::string event_id = Publish();

  ASSERT_TRUE(Eventually([&] { return Attempts(event_id).size() == 1u; }));
  const std::string excerpt = db().QueryValue(absl::StrCat(
      "SELECT convert_from(a.response_excerpt, 'UTF8') FROM delivery_attempts "
      "a JOIN deliveries d ON d.id = a.delivery_id WHERE d.event_id = '",
      event_id, "'"));
  // The receiver did echo them, and what it echoed arrived.
  EXPECT_THAT(excerpt, HasSubstr("rejected; you sent:"));
  EXPECT_THAT(excerpt, HasSubstr("[redacted]"));
  EXPECT_THAT(excerpt, HasSubstr("webhook-event=" + std::string(kEventType)));
  EXPECT_THAT(excerpt, Not(HasSubstr("s3cr3t")));
  EXPECT_THAT(excerpt, Not(HasSubstr("9f8e7d6c5b4a")));
}

TEST_F(WorkerTest, CountsEveryDeliveryMadeInTheDeliveredMetric) {
  CreateSubscription(receiver_->url("/hooks/a"));
  CreateSubscription(receiver_->url("/hooks/b"));
  StartWorker(FastOptions());
  PublishBatch(3);

  // The metric counts a delivery once its outcome's write has returned,
  // which is just after the database shows it.
  ASSERT_TRUE(Eventually([this] {
    return db().Count(
               "SELECT count(*) FROM deliveries WHERE state = "
               "'delivered'") == 6 &&
           metrics_->delivered.Value() == 6;
  }));
  EXPECT_EQ(receiver_->request_count(), 6u);
  EXPECT_EQ(DeliveriesTotal(*registry_, "delivered"), 6);
}

TEST_F(WorkerTest, RetriesAfterServerErrorWithBackoff) {
  CreateSubscription(receiver_->url("/hooks/a"));
  std::atomic<int> served{0};
  receiver_->SetResponder([&served](const ReceivedRequest&) {
    return ReceiverResponse{.status = served.fetch_add(1) == 0 ? 500 : 200};
  });
  WorkerOptions options = FastOptions();
  options.dispatch.lease.poll_interval = absl::Milliseconds(20);
  options.dispatch.retry.initial = absl::Milliseconds(300);
  options.dispatch.retry.jitter = 0.2;
  const absl::Duration initial = options.dispatch.retry.initial;
  StartWorker(options);
  const std::string event_id = Publish();

  // The retry as scheduled after the first failure: written, not yet leased
  // again (leasing moves next_attempt_at to the lease expiry).
  std::optional<DeliveryRow> scheduled;
  ASSERT_TRUE(Eventually([&] {
    scheduled = FindDelivery(event_id,
                             "d.attempts = 1 AND d.state = 'pending' AND "
                             "d.leased_until IS NULL");
    return scheduled.has_value() ||
           FindDelivery(event_id, "d.attempts >= 2").has_value();
  }));
  ASSERT_TRUE(scheduled.has_value())
      << "retried before the scheduled retry was seen";
  EXPECT_EQ(scheduled->last_status, "500");
  EXPECT_EQ(scheduled->last_error_class, "http_5xx");

  ASSERT_TRUE(AwaitState(event_id, "delivered"));
  const DeliveryRow delivery = GetDelivery(event_id);
  EXPECT_EQ(delivery.attempts, 2);
  EXPECT_EQ(delivery.last_status, "200");
  const std::vector<AttemptRow> attempts = Attempts(event_id);
  ASSERT_THAT(attempts, SizeIs(2));
  EXPECT_EQ(attempts[0].attempt, 1);
  EXPECT_EQ(attempts[0].status, "500");
  EXPECT_EQ(attempts[0].error_class, "http_5xx");
  EXPECT_EQ(attempts[1].attempt, 2);
  EXPECT_EQ(attempts[1].status, "200");
  EXPECT_EQ(attempts[1].error_class, "success");

  // Backoff with ±20% jitter from the end of the first attempt. The decision
  // is taken a moment after the end is measured, hence a little slack above.
  const absl::Time first_end = attempts[0].end();
  EXPECT_THAT(scheduled->next_attempt_at - first_end, Ge(0.8 * initial));
  EXPECT_THAT(scheduled->next_attempt_at - first_end,
              Le(1.2 * initial + absl::Milliseconds(20)));
  EXPECT_GE(attempts[1].started_at, first_end + 0.8 * initial);
  EXPECT_GE(attempts[1].started_at, scheduled->next_attempt_at);

  const std::vector<ReceivedRequest> requests = receiver_->requests();
  ASSERT_THAT(requests, SizeIs(2));
  EXPECT_EQ(requests[0].Header("webhook-attempt"), "1");
  EXPECT_EQ(requests[1].Header("webhook-attempt"), "2");
  EXPECT_EQ(requests[0].Header("webhook-id"), event_id);
  EXPECT_EQ(requests[1].Header("webhook-id"), event_id);
  EXPECT_EQ(requests[1].body, requests[0].body);
  EXPECT_EQ(metrics_->retried.Value(), 1);
  EXPECT_EQ(metrics_->delivered.Value(), 1);
}

TEST_F(WorkerTest, GoneFailsAtOnceDisablesAndHoldsTheRest) {
  const Subscription subscription =
      CreateSubscription(receiver_->url("/hooks/a"));
  receiver_->RespondWith({.status = 410, .body = "gone"});
  const std::vector<std::string> ids = PublishBatch(2);
  const std::string& gone = ids[0];
  const std::string& later = ids[1];
  // The other delivery is a retry scheduled for later: pending, not leased.
  db().Query(absl::StrCat(
      "UPDATE deliveries SET next_attempt_at = now() + interval '1 hour' "
      "WHERE event_id = '",
      later, "' RETURNING 1"));
  StartWorker(FastOptions());

  ASSERT_TRUE(AwaitState(gone, "failed"));
  const DeliveryRow failed = GetDelivery(gone);
  EXPECT_EQ(failed.attempts, 1);
  EXPECT_EQ(failed.last_status, "410");
  EXPECT_EQ(failed.last_error_class, "http_410");
  EXPECT_TRUE(failed.completed);
  const std::vector<AttemptRow> attempts = Attempts(gone);
  ASSERT_THAT(attempts, SizeIs(1));
  EXPECT_EQ(attempts[0].status, "410");
  EXPECT_EQ(attempts[0].error_class, "http_410");
  EXPECT_EQ(db().QueryValue(
                absl::StrCat("SELECT enabled FROM subscriptions WHERE id = '",
                             subscription.id, "'")),
            "f");
  EXPECT_THAT(db().QueryValue(absl::StrCat(
                  "SELECT disabled_reason FROM subscriptions WHERE id = '",
                  subscription.id, "'")),
              HasSubstr("410"));
  // Held: still pending, and no lease takes it while the subscription is
  // disabled.
  const DeliveryRow held = GetDelivery(later);
  EXPECT_EQ(held.state, "pending");
  EXPECT_EQ(held.attempts, 0);
  EXPECT_FALSE(held.leased);
  EXPECT_EQ(receiver_->request_count(), 1u);
  EXPECT_EQ(metrics_->failed.Value(), 1);

  // Enabled again, the held delivery is pending again and goes out when due.
  receiver_->RespondWith({});
  store::SubscriptionUpdate update;
  update.tenant_id = tenant_;
  update.id = subscription.id;
  update.enabled = true;
  absl::StatusOr<store::SubscriptionRecord> enabled =
      subscriptions().Update(update, absl::Now() + kWait);
  ASSERT_THAT(enabled, IsOk());
  EXPECT_TRUE(enabled->enabled);
  EXPECT_EQ(enabled->disabled_reason, "");
  // Its scheduled retry comes due.
  // (As a retry's time comes: its lane knows when that is.)
  db().Query(absl::StrCat(
      "UPDATE deliveries SET next_attempt_at = now() WHERE event_id = '", later,
      "' RETURNING 1"));
  db().Query(absl::StrCat(
      "UPDATE delivery_lanes SET next_due_at = now() WHERE subscription_id = '",
      subscription.id, "' RETURNING 1"));
  ASSERT_TRUE(AwaitState(later, "delivered"));
  ASSERT_EQ(receiver_->request_count(), 2u);
  EXPECT_EQ(receiver_->requests()[1].Header("webhook-id"), later);
  EXPECT_EQ(GetDelivery(gone).state, "failed");
}

// "Held, not dropped" holds for events published while a subscription is
// disabled too: they get their deliveries, which wait, and go out once it is
// enabled. (Before, a disabled subscription got no delivery at all, so one
// transient 410 lost every event until someone re-enabled it.)
TEST_F(WorkerTest, EventsPublishedWhileDisabledAreHeldAndGoOutOnEnable) {
  const Subscription held = CreateSubscription(receiver_->url("/hooks/held"));
  const Subscription open = CreateSubscription(receiver_->url("/hooks/open"));
  store::SubscriptionUpdate update;
  update.tenant_id = tenant_;
  update.id = held.id;
  update.enabled = false;
  update.disabled_reason = "test";
  ASSERT_THAT(subscriptions().Update(update, absl::Now() + kWait), IsOk());
  StartWorker(FastOptions());
  PublishBatch(3);
  auto count = [](const Subscription& s, absl::string_view where) {
    return db().Count(absl::StrCat(
        "SELECT count(*) FROM deliveries WHERE subscription_id = '", s.id,
        "' AND ", where));
  };
  // The worker has leased and delivered what was published with them.
  ASSERT_TRUE(
      Eventually([&] { return count(open, "state = 'delivered'") == 3; }));
  EXPECT_EQ(count(held,
                  "state = 'pending' AND attempts = 0 AND "
                  "leased_until IS NULL"),
            3);
  EXPECT_EQ(receiver_->request_count(), 3u);

  update.enabled = true;
  ASSERT_THAT(subscriptions().Update(update, absl::Now() + kWait), IsOk());
  ASSERT_TRUE(
      Eventually([&] { return count(held, "state = 'delivered'") == 3; }));
  size_t to_held = 0;
  for (const ReceivedRequest& r : receiver_->requests()) {
    if (r.path == "/hooks/held") ++to_held;
  }
  EXPECT_EQ(to_held, 3u);
}

// A retry by hand gives a failed delivery a new budget: the worker sends it
// again as attempt 1 (the webhook-attempt header too), and the earlier
// attempts stay on record beside the new one.
TEST_F(WorkerTest, RetryByHandSendsAFailedDeliveryAgainAsAttemptOne) {
  CreateSubscription(receiver_->url("/hooks/a"));
  std::atomic<bool> fail{true};
  receiver_->SetResponder([&fail](const ReceivedRequest&) {
    return ReceiverResponse{.status = fail ? 500 : 200};
  });
  WorkerOptions options = FastOptions();
  options.dispatch.retry.max_attempts = 2;
  options.dispatch.retry.initial = absl::Milliseconds(10);
  options.dispatch.retry.max_delay = absl::Milliseconds(10);
  StartWorker(options);
  const std::string event_id = Publish();
  ASSERT_TRUE(AwaitState(event_id, "failed"));
  ASSERT_EQ(receiver_->request_count(), 2u);

  fail = false;
  std::unique_ptr<store::DeliveryLogStore> log =
      store::NewPgDeliveryLogStore(&pool());
  absl::StatusOr<store::DeliveryRecord> retried =
      log->Retry(tenant_, GetDelivery(event_id).id, absl::Now() + kWait);
  ASSERT_THAT(retried, IsOk());
  EXPECT_EQ(retried->attempts, 0);
  ASSERT_TRUE(AwaitState(event_id, "delivered"));
  ASSERT_EQ(receiver_->request_count(), 3u);
  EXPECT_EQ(receiver_->requests()[1].Header("webhook-attempt"), "2");
  EXPECT_EQ(receiver_->requests()[2].Header("webhook-attempt"), "1");
  EXPECT_EQ(GetDelivery(event_id).attempts, 1);
  const std::vector<AttemptRow> attempts = Attempts(event_id);
  ASSERT_THAT(attempts, SizeIs(3));
  EXPECT_EQ(attempts[2].status, "200");
  EXPECT_EQ(attempts[2].attempt, 1);
}

// A signing-secret rotation as the API makes it (security::RotateSigningSecret
// and the store's write): during the grace period a real receiver gets two
// signatures, by the new secret and by the old, each verifying; once the
// grace period is over only the new one. "Over" comes from the rotation's
// injected time (a rotation made two days ago with a day of grace), not from
// waiting.
TEST_F(WorkerTest, RotationSignsWithBothSecretsDuringTheGracePeriodOnly) {
  const Subscription subscription = CreateSubscription(receiver_->url("/r"));
  StartWorker(FastOptions());
  auto rotate = [&](absl::Time now) {
    absl::StatusOr<store::SubscriptionRecord> current =
        subscriptions().Get(tenant_, subscription.id, absl::Now() + kWait);
    EXPECT_THAT(current, IsOk());
    absl::StatusOr<security::SecretRotation> rotation =
        security::RotateSigningSecret(*shared_->sealer, subscription.id,
                                      current->signing_secret_sealed, now,
                                      absl::Hours(24));
    EXPECT_THAT(rotation, IsOk());
    EXPECT_THAT(subscriptions().RotateSigningSecret(
                    {.tenant_id = tenant_,
                     .id = subscription.id,
                     .secret_sealed = rotation->secret_sealed,
                     .previous_sealed = rotation->previous_sealed,
                     .previous_expires_at = rotation->previous_expires_at,
                     .expected_version = current->version},
                    absl::Now() + kWait),
                IsOk());
    return rotation->secret;
  };
  auto signature_of = [&](size_t n) {
    const ReceivedRequest r = receiver_->requests()[n];
    return std::make_pair(
        r.Header("webhook-signature"),
        std::make_pair(r.Header("webhook-id"), r.Header("webhook-timestamp")));
  };

  const std::string second = rotate(absl::Now());
  const std::string during = Publish();
  ASSERT_TRUE(AwaitState(during, "delivered"));
  auto [both, id_ts] = signature_of(0);
  const std::string body = EventBody(during);
  EXPECT_EQ(both,
            absl::StrCat(
                ExpectedSignature(second, id_ts.first, id_ts.second, body), " ",
                ExpectedSignature(subscription.secret, id_ts.first,
                                  id_ts.second, body)));

  // Rotated again, two days ago with a day of grace: `second` no longer
  // signs, and the first secret is gone for good.
  const std::string third = rotate(absl::Now() - absl::Hours(48));
  const std::string after = Publish();
  ASSERT_TRUE(AwaitState(after, "delivered"));
  auto [one, id_ts2] = signature_of(1);
  EXPECT_EQ(one, ExpectedSignature(third, id_ts2.first, id_ts2.second,
                                   EventBody(after)));
}

// The contract's auto-disable, with a threshold of 3: after three
// deliveries in a row failed the subscription is disabled with a reason, the
// metric counts it, and what is published next is held; enabled again, it
// goes out.
TEST_F(WorkerTest, KeepsFailingThenAutoDisabledAndLaterDeliveriesHeld) {
  const Subscription subscription = CreateSubscription(receiver_->url("/f"));
  std::atomic<bool> fail{true};
  receiver_->SetResponder([&fail](const ReceivedRequest&) {
    return ReceiverResponse{.status = fail ? 500 : 200};
  });
  WorkerOptions options = FastOptions();
  options.dispatch.retry.max_attempts = 1;
  options.auto_disable.failed_in_a_row = 3;
  StartWorker(options);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(AwaitState(Publish(), "failed"));
  auto value = [&](const std::string& column) {
    return db().QueryValue(absl::StrCat("SELECT ", column,
                                        " FROM subscriptions WHERE id = '",
                                        subscription.id, "'"));
  };
  // (The metric counts once the disabling statement has returned.)
  ASSERT_TRUE(Eventually([&] {
    return value("enabled") == "f" && metrics_->auto_disabled.Value() == 1;
  }));
  EXPECT_EQ(value("disabled_reason"),
            "disabled automatically: 3 deliveries in a row failed");
  EXPECT_EQ(receiver_->request_count(), 3u);

  // Held: published after, not sent while disabled.
  fail = false;
  Publish();
  const std::string control_sub =
      CreateSubscription(receiver_->url("/control")).id;
  Publish();  // to both: the control subscription's goes out
  ASSERT_TRUE(Eventually([&] {
    return db().Count(absl::StrCat(
               "SELECT count(*) FROM deliveries WHERE subscription_id = '",
               control_sub, "' AND state = 'delivered'")) == 1;
  }));
  EXPECT_EQ(db().Count(absl::StrCat(
                "SELECT count(*) FROM deliveries WHERE subscription_id = '",
                subscription.id, "' AND state = 'pending' AND attempts = 0")),
            2);
  store::SubscriptionUpdate enable;
  enable.tenant_id = tenant_;
  enable.id = subscription.id;
  enable.enabled = true;
  ASSERT_THAT(subscriptions().Update(enable, absl::Now() + kWait), IsOk());
  ASSERT_TRUE(Eventually([&] {
    return db().Count(absl::StrCat(
               "SELECT count(*) FROM deliveries WHERE subscription_id = '",
               subscription.id, "' AND state = 'delivered'")) == 2;
  }));
}

TEST_F(WorkerTest, TimeoutIsRecordedAndRetriedLater) {
  CreateSubscription(receiver_->url("/hooks/a"));
  receiver_->RespondWith({.delay = absl::Seconds(2)});
  CurlTransportOptions transport_options = TransportOptions();
  transport_options.total_timeout = absl::Milliseconds(300);
  StartWorker(FastOptions(), transport_options);
  const std::string event_id = Publish();

  ASSERT_TRUE(AwaitAttempts(event_id, 1));
  ASSERT_TRUE(Eventually([&] {
    return FindDelivery(event_id, "d.leased_until IS NULL").has_value();
  }));
  const std::vector<AttemptRow> attempts = Attempts(event_id);
  ASSERT_THAT(attempts, SizeIs(1));
  EXPECT_EQ(attempts[0].error_class, "timeout");
  EXPECT_EQ(attempts[0].status, "");
  EXPECT_GE(attempts[0].duration, absl::Milliseconds(250));
  EXPECT_LT(attempts[0].duration, absl::Seconds(2));
  const DeliveryRow delivery = GetDelivery(event_id);
  EXPECT_EQ(delivery.state, "pending");
  EXPECT_EQ(delivery.attempts, 1);
  EXPECT_EQ(delivery.last_error_class, "timeout");
  EXPECT_EQ(delivery.last_status, "");
  EXPECT_GT(delivery.next_attempt_at, delivery.db_now + absl::Minutes(30));
  EXPECT_EQ(receiver_->request_count(), 1u);
}

// One tenant's endpoint hangs with a backlog; the worker has 4 slots and a
// tenant may hold half of them. Another tenant's delivery goes out while the
// hanging requests are still open, and the hanging tenant never has more
// than its 2 open. (With no bound it takes all 4, and the other tenant's
// delivery waits until they time out.)
TEST_F(WorkerTest, ATenantWithAHangingEndpointLeavesTheOtherSlotsToOthers) {
  // Owned by the responder too: a handler may still be leaving its wait
  // when the test body ends.
  struct Slow {
    common::Notification release;
    std::atomic<int> open{0};
    std::atomic<int> most_open{0};
  };
  auto slow = std::make_shared<Slow>();
  receiver_->SetResponder([slow](const ReceivedRequest& request) {
    if (request.path == "/slow") {
      const int open = ++slow->open;
      int most = slow->most_open.load();
      while (open > most &&
             !slow->most_open.compare_exchange_weak(most, open)) {
      }
      slow->release.WaitForNotificationWithTimeout(absl::Seconds(60));
      --slow->open;
    }
    return ReceiverResponse{};
  });
  CreateSubscription(receiver_->url("/slow"));
  WorkerOptions options = FastOptions();
  options.dispatch.lease.max_in_flight = 4;
  options.max_tenant_share = 0.5;
  StartWorker(options);
  const std::vector<std::string> slow_events = PublishBatch(10);
  ASSERT_TRUE(receiver_->WaitForRequests(2, kWait));

  tenant_ = testing::RandomTenant();
  CreateSubscription(receiver_->url("/fast"));
  const std::string fast = Publish();
  EXPECT_TRUE(AwaitState(fast, "delivered"));
  // ... while the hanging requests are still open: not one of them has
  // ended, even in a timeout.
  EXPECT_EQ(slow->open.load(), 2);
  for (const std::string& event_id : slow_events) {
    EXPECT_THAT(Attempts(event_id), IsEmpty()) << event_id;
  }

  slow->release.Notify();
  for (const std::string& event_id : slow_events) {
    EXPECT_TRUE(AwaitState(event_id, "delivered")) << event_id;
  }
  EXPECT_EQ(slow->most_open.load(), 2);
}

TEST_F(WorkerTest, RedirectIsNotFollowed) {
  CreateSubscription(receiver_->url("/hooks/a"));
  const std::string elsewhere = receiver_->url("/hooks/elsewhere");
  receiver_->SetResponder([elsewhere](const ReceivedRequest& request) {
    if (request.path == "/hooks/elsewhere") return ReceiverResponse{};
    return ReceiverResponse{.status = 302,
                            .headers = {{"Location", elsewhere}}};
  });
  StartWorker(FastOptions());
  const std::string event_id = Publish();

  ASSERT_TRUE(AwaitAttempts(event_id, 1));
  const std::vector<AttemptRow> attempts = Attempts(event_id);
  ASSERT_THAT(attempts, SizeIs(1));
  EXPECT_EQ(attempts[0].status, "302");
  EXPECT_EQ(attempts[0].error_class, "http_3xx");
  // A followed redirect would have been made within the same attempt.
  ASSERT_EQ(receiver_->request_count(), 1u);
  EXPECT_EQ(receiver_->requests()[0].path, "/hooks/a");
  ASSERT_TRUE(AwaitState(event_id, "pending"));
  EXPECT_EQ(GetDelivery(event_id).last_error_class, "http_3xx");
}

TEST_F(WorkerTest, RetryAfterLongerThanBackoffIsHonoured) {
  CreateSubscription(receiver_->url("/hooks/a"));
  receiver_->RespondWith({.status = 503, .headers = {{"Retry-After", "3600"}}});
  WorkerOptions options = FastOptions();
  options.dispatch.retry.initial = absl::Seconds(1);
  StartWorker(options);
  const std::string event_id = Publish();

  ASSERT_TRUE(AwaitAttempts(event_id, 1));
  ASSERT_TRUE(Eventually([&] {
    return FindDelivery(event_id, "d.leased_until IS NULL").has_value();
  }));
  const std::vector<AttemptRow> attempts = Attempts(event_id);
  ASSERT_THAT(attempts, SizeIs(1));
  EXPECT_EQ(attempts[0].status, "503");
  EXPECT_EQ(attempts[0].error_class, "http_5xx");
  const DeliveryRow delivery = GetDelivery(event_id);
  EXPECT_EQ(delivery.state, "pending");
  EXPECT_EQ(delivery.attempts, 1);
  // now + 1 h, far beyond the ~1 s backoff.
  const absl::Duration after_end = delivery.next_attempt_at - attempts[0].end();
  EXPECT_THAT(after_end, Ge(absl::Hours(1)));
  EXPECT_THAT(after_end, Le(absl::Hours(1) + absl::Seconds(5)));
  EXPECT_THAT(delivery.next_attempt_at - delivery.db_now,
              Ge(absl::Hours(1) - absl::Seconds(10)));
  EXPECT_EQ(receiver_->request_count(), 1u);
}

TEST_F(WorkerTest, HugeResponseKeepsOnlyTheFirst4KiB) {
  CreateSubscription(receiver_->url("/hooks/a"));
  receiver_->RespondWith({.generated_body_bytes = 10 * 1024 * 1024});
  StartWorker(FastOptions());
  const std::string event_id = Publish();

  ASSERT_TRUE(AwaitState(event_id, "delivered"));
  const std::vector<AttemptRow> attempts = Attempts(event_id);
  ASSERT_THAT(attempts, SizeIs(1));
  EXPECT_EQ(attempts[0].status, "200");
  EXPECT_EQ(attempts[0].error_class, "success");
  EXPECT_EQ(attempts[0].excerpt_bytes, 4096);
  EXPECT_EQ(db().QueryValue(absl::StrCat(
                "SELECT a.response_excerpt = convert_to(repeat('x', 4096), "
                "'UTF8') FROM delivery_attempts a JOIN deliveries d ON d.id = "
                "a.delivery_id WHERE d.event_id = '",
                event_id, "'")),
            "t");
}

TEST_F(WorkerTest, BlockedAddressIsNeverContacted) {
  CreateSubscription(receiver_->url("/hooks/a"));  // https://localhost:<port>
  CurlTransportOptions transport_options = TransportOptions();
  transport_options.address_policy = AddressPolicy::Create("").value();
  StartWorker(FastOptions(), transport_options);
  const std::string event_id = Publish();

  ASSERT_TRUE(AwaitAttempts(event_id, 1));
  const std::vector<AttemptRow> attempts = Attempts(event_id);
  ASSERT_THAT(attempts, SizeIs(1));
  EXPECT_EQ(attempts[0].error_class, "blocked_address");
  EXPECT_EQ(attempts[0].status, "");
  EXPECT_EQ(receiver_->connection_count(), 0);
  EXPECT_EQ(receiver_->request_count(), 0u);
  ASSERT_TRUE(AwaitState(event_id, "pending"));
  EXPECT_EQ(GetDelivery(event_id).last_error_class, "blocked_address");
}

// The SSRF table: targets in every spelling of loopback, private, link-local,
// metadata, CGNAT and ULA space, as the API accepts them (addresses are
// judged when connecting, after DNS, so that a name resolving to one is
// caught the same way: "localhost" here), delivered by a worker that allows
// nothing private. The receiver on loopback counts connections: it must see
// none, and every attempt is recorded as blocked_address.
TEST_F(WorkerTest, SsrfTableEveryRefusedFormIsBlockedWithoutAConnection) {
  const std::string port = absl::StrCat(receiver_->port());
  const std::vector<std::string> hosts = {
      // Loopback, in every spelling libcurl's URL parser takes.
      "127.0.0.1", "127.1", "127.0.1", "2130706433", "0x7f000001", "0177.0.0.1",
      "0x7f.0.0.1", "017700000001", "127.255.255.254", "localhost", "LOCALHOST",
      "[::1]", "[0:0:0:0:0:0:0:1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]",
      // Unspecified: connecting to it reaches this host.
      "0.0.0.0", "0", "[::]",
      // RFC 1918, CGNAT, link-local and the cloud metadata address.
      "10.0.0.1", "10.255.255.254", "172.16.0.1", "172.31.255.254",
      "192.168.0.1", "192.168.255.254", "100.64.0.1", "100.127.255.254",
      "169.254.169.254", "169.254.0.1",
      // IPv6 unique-local and link-local, and IPv4 carried in IPv6.
      "[fc00::1]", "[fd12:3456::1]", "[fe80::1]", "[::ffff:10.0.0.1]",
      "[::ffff:169.254.169.254]", "[64:ff9b::7f00:1]", "[2002:7f00:1::]"};
  CurlTransportOptions transport_options = TransportOptions();
  transport_options.address_policy = AddressPolicy::Create("").value();
  for (const std::string& host : hosts) {
    CreateSubscription(absl::StrCat("https://", host, ":", port, "/ssrf"));
  }
  StartWorker(FastOptions(), transport_options);
  const std::string event_id = Publish();

  ASSERT_TRUE(Eventually([&] {
    return db().Count(absl::StrCat(
               "SELECT count(DISTINCT d.id) FROM delivery_attempts a JOIN "
               "deliveries d ON d.id = a.delivery_id WHERE d.event_id = '",
               event_id, "'")) == static_cast<int64_t>(hosts.size());
  }));
  const std::vector<std::string> classes = db().Query(absl::StrCat(
      "SELECT s.target_url || ' ' || a.error_class FROM delivery_attempts a "
      "JOIN deliveries d ON d.id = a.delivery_id JOIN subscriptions s ON s.id "
      "= d.subscription_id WHERE d.event_id = '",
      event_id, "' AND a.attempt = 1 ORDER BY s.target_url"));
  int blocked = 0;
  for (const std::string& row : classes) {
    EXPECT_THAT(row, ::testing::EndsWith(" blocked_address")) << row;
    if (absl::EndsWith(row, " blocked_address")) ++blocked;
  }
  EXPECT_EQ(receiver_->connection_count(), 0);
  EXPECT_EQ(receiver_->request_count(), 0u);
  std::printf(
      "[ ssrf ] %zu refused forms: %d recorded blocked_address, %d "
      "connections seen\n",
      hosts.size(), blocked, receiver_->connection_count());
}

TEST_F(WorkerTest, PerSubscriptionCapBoundsConcurrentRequests) {
  CreateSubscription(receiver_->url("/hooks/a"), {}, /*max_in_flight=*/2);
  std::atomic<int> current{0};
  std::atomic<int> peak{0};
  receiver_->SetResponder([&current, &peak](const ReceivedRequest&) {
    const int now_in_flight = current.fetch_add(1) + 1;
    int seen = peak.load();
    while (now_in_flight > seen &&
           !peak.compare_exchange_weak(seen, now_in_flight)) {
    }
    // The endpoint is slow: the request stays in flight meanwhile.
    absl::SleepFor(absl::Milliseconds(300));
    current.fetch_sub(1);
    return ReceiverResponse{};
  });
  WorkerOptions options = FastOptions();
  options.dispatch.lease.poll_interval = absl::Milliseconds(20);
  StartWorker(options);
  const std::vector<std::string> ids = PublishBatch(10);

  ASSERT_TRUE(Eventually([] {
    return db().Count(
               "SELECT count(*) FROM deliveries WHERE state = "
               "'delivered'") == 10;
  }));
  EXPECT_EQ(peak.load(), 2);
  EXPECT_EQ(receiver_->request_count(), 10u);
  std::set<std::string> delivered;
  for (const ReceivedRequest& request : receiver_->requests()) {
    delivered.insert(request.Header("webhook-id"));
    EXPECT_EQ(request.Header("webhook-attempt"), "1");
  }
  EXPECT_EQ(delivered, std::set<std::string>(ids.begin(), ids.end()));
  EXPECT_EQ(db().Count("SELECT count(*) FROM deliveries WHERE attempts = 1"),
            10);
  EXPECT_EQ(db().Count("SELECT count(*) FROM delivery_attempts"), 10);
  // The cap is the lease's: nothing was leased beyond it to hand back.
  EXPECT_EQ(metrics_->releases.Value(), 0);
}

TEST_F(WorkerTest, ShutdownLetsInFlightRequestsFinishWithinGrace) {
  CreateSubscription(receiver_->url("/hooks/a"));
  receiver_->RespondWith({.delay = absl::Milliseconds(500)});
  StartWorker(FastOptions());
  const std::vector<std::string> ids = PublishBatch(5);
  ASSERT_TRUE(receiver_->WaitForRequests(5, kWait));

  const absl::Time start = absl::Now();
  worker_->Shutdown(absl::Seconds(5));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // Shutdown returns once every outcome is written.
  for (const std::string& id : ids) {
    const DeliveryRow delivery = GetDelivery(id);
    EXPECT_EQ(delivery.state, "delivered") << id;
    EXPECT_EQ(delivery.attempts, 1) << id;
    EXPECT_THAT(Attempts(id), SizeIs(1)) << id;
  }
  EXPECT_EQ(metrics_->delivered.Value(), 5);
  EXPECT_EQ(receiver_->request_count(), 5u);
}

TEST_F(WorkerTest, ShutdownWithoutGraceReleasesInFlightDeliveries) {
  CreateSubscription(receiver_->url("/hooks/a"));
  // Cut short when the receiver goes; the worker will not wait for it.
  receiver_->RespondWith({.delay = absl::Seconds(30)});
  StartWorker(FastOptions());
  const std::vector<std::string> ids = PublishBatch(5);
  ASSERT_TRUE(receiver_->WaitForRequests(5, kWait));

  const absl::Time start = absl::Now();
  worker_->Shutdown(absl::ZeroDuration());
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  for (const std::string& id : ids) {
    const DeliveryRow delivery = GetDelivery(id);
    EXPECT_EQ(delivery.state, "pending") << id;
    EXPECT_EQ(delivery.attempts, 0) << id;
    EXPECT_LE(delivery.next_attempt_at, delivery.db_now) << id;
    EXPECT_FALSE(delivery.leased) << id;
    EXPECT_EQ(delivery.lease_owner, "") << id;
    EXPECT_EQ(delivery.lease_token, 1) << id;  // leased once, then released
    EXPECT_THAT(Attempts(id), SizeIs(0)) << id;
  }
  EXPECT_EQ(metrics_->releases.Value(), 5);
  EXPECT_EQ(metrics_->delivered.Value(), 0);
}

// Records what the worker asks to send and answers 200 at once. (The test
// receiver cannot show this: cpp-httplib drops empty-valued headers.)
class CapturingTransport final : public HttpTransport {
 public:
  void Submit(HttpRequest request, Callback done) override {
    HttpResult result;
    result.id = request.id;
    result.error_class = domain::ErrorClass::kSuccess;
    result.http_status = 200;
    result.started_at = absl::Now();
    {
      common::MutexLock lock(&mu_);
      requests_.push_back(std::move(request));
    }
    done(std::move(result));
  }
  int InFlight() const override { return 0; }
  void Shutdown(absl::Time) override {}
  std::vector<HttpRequest> requests() const {
    common::MutexLock lock(&mu_);
    return requests_;
  }

 private:
  mutable common::Mutex mu_;
  std::vector<HttpRequest> requests_;
};

// curl leaves out a "Name: " line with no value; "Name;" makes it send the
// header with an empty value, as the subscriber configured it.
TEST_F(WorkerTest, SendsCustomHeadersWithEmptyValues) {
  CreateSubscription(receiver_->url("/hooks/a"),
                     {{"X-Empty", ""}, {"X-Full", "v"}});
  auto transport = std::make_unique<CapturingTransport>();
  CapturingTransport* captured = transport.get();
  StartWorker(FastOptions(), std::move(transport));
  const std::string event_id = Publish();
  ASSERT_TRUE(AwaitState(event_id, "delivered"));
  ASSERT_THAT(captured->requests(), SizeIs(1));
  EXPECT_THAT(captured->requests()[0].headers,
              ::testing::IsSupersetOf({"X-Empty;", "X-Full: v"}));
}

// Counts requests in flight at the receiver, and the most seen at once.
class ConcurrencyProbe {
 public:
  ReceiverResponse Handle(absl::Duration delay) {
    const int now_in_flight = current_.fetch_add(1) + 1;
    int seen = peak_.load();
    while (now_in_flight > seen &&
           !peak_.compare_exchange_weak(seen, now_in_flight)) {
    }
    absl::SleepFor(delay);  // the endpoint is slow: requests overlap
    current_.fetch_sub(1);
    return ReceiverResponse{};
  }
  int peak() const { return peak_.load(); }

 private:
  std::atomic<int> current_{0};
  std::atomic<int> peak_{0};
};

// The cap is the subscription's, held in the database: two workers together
// never send more than max_in_flight to its endpoint.
TEST_F(WorkerTest, TwoWorkersTogetherNeverExceedTheSubscriptionsCap) {
  CreateSubscription(receiver_->url("/hooks/a"), {}, /*max_in_flight=*/3);
  ConcurrencyProbe probe;
  receiver_->SetResponder([&probe](const ReceivedRequest&) {
    return probe.Handle(absl::Milliseconds(50));
  });
  const std::vector<std::string> ids = PublishBatch(40);
  // Neither worker alone may send more than 2 at once, so reaching the cap of
  // 3 takes both, and going past it would take both ignoring it.
  WorkerOptions options = FastOptions();
  options.dispatch.lease.max_in_flight = 2;
  StartWorker(options);
  // A second worker with its own pool, transport and name.
  absl::StatusOr<std::unique_ptr<store::PgPool>> pool2 =
      store::PgPool::Create({.database_url = db().url(), .size = 4});
  ASSERT_THAT(pool2, IsOk());
  std::unique_ptr<store::DeliveryStore> store2 =
      store::NewPgDeliveryStore(pool2->get());
  absl::StatusOr<std::unique_ptr<HttpTransport>> transport2 =
      NewCurlHttpTransport(TransportOptions());
  ASSERT_THAT(transport2, IsOk());
  prometheus::Registry registry2;
  metrics::WorkerMetrics metrics2(registry2);
  WorkerOptions options2 = options;
  options2.dispatch.owner = "worker-test-2";
  Worker second(options2, {.store = store2.get(),
                           .transport = transport2->get(),
                           .sealer = shared_->sealer.get(),
                           .clock = common::Clock::Real(),
                           .metrics = &metrics2});
  second.Start();

  ASSERT_TRUE(Eventually([] {
    return db().Count(
               "SELECT count(*) FROM deliveries WHERE state = 'delivered'") ==
           40;
  }));
  second.Shutdown(absl::Seconds(5));
  EXPECT_LE(probe.peak(), 3);
  EXPECT_EQ(probe.peak(), 3) << "the workers never overlapped: nothing tested";
  // Nothing was leased only to be handed back.
  EXPECT_EQ(metrics_->delivered.Value() + metrics2.delivered.Value(), 40);
  EXPECT_EQ(metrics_->releases.Value() + metrics2.releases.Value(), 0);
  EXPECT_EQ(db().Count("SELECT count(*) FROM delivery_attempts"), 40);
}

// An outcome whose write cannot go through (its 410 must disable a
// subscription whose row another session keeps locked) is isolated by
// splitting the batch: every other outcome is written, and it is written as
// an internal failure of its attempt, so the attempt still counts.
TEST_F(WorkerTest, UnwritableOutcomeIsIsolatedAndCountedWhileTheRestIsWritten) {
  const Subscription gone = CreateSubscription(receiver_->url("/gone"));
  const Subscription fine = CreateSubscription(receiver_->url("/fine"));
  receiver_->SetResponder([](const ReceivedRequest& request) {
    // Slow enough that the outcomes of both land in one batch.
    absl::SleepFor(absl::Milliseconds(20));
    if (request.path == "/gone") return ReceiverResponse{.status = 410};
    return ReceiverResponse{};
  });
  // Another session holds the subscription row that the 410 must update.
  pqxx::connection locker(db().url());
  pqxx::work hold(locker);
  hold.exec("SELECT 1 FROM subscriptions WHERE id = '" + gone.id +
            "' FOR UPDATE");
  std::unique_ptr<store::DeliveryStore> impatient = store::NewPgDeliveryStore(
      &pool(), {.lock_timeout = absl::Milliseconds(200)});
  // The worker uses `impatient`: stop it before that goes, however this test
  // ends (TearDown would come too late).
  struct StopWorkerFirst {
    std::unique_ptr<Worker>& worker;
    ~StopWorkerFirst() { worker.reset(); }
  } stop_worker_first{worker_};
  WorkerOptions options = FastOptions();
  options.dispatch.write.initial_backoff = absl::Milliseconds(20);
  options.dispatch.write.max_backoff = absl::Milliseconds(100);
  const std::vector<std::string> ids = PublishBatch(6);  // to both
  StartWorker(options, NewCurlHttpTransport(TransportOptions()).value(),
              impatient.get());

  ASSERT_TRUE(Eventually([&] {
    return db().Count(absl::StrCat(
               "SELECT count(*) FROM deliveries WHERE subscription_id = '",
               fine.id, "' AND state = 'delivered'")) == 6;
  }));
  ASSERT_TRUE(Eventually([&] {
    return db().Count(absl::StrCat(
               "SELECT count(*) FROM deliveries WHERE subscription_id = '",
               gone.id, "' AND attempts = 1")) == 6;
  }));
  hold.abort();
  // Each 410 outcome was written as an internal failure: the attempt counts,
  // the delivery waits for its next attempt, and nothing could disable.
  EXPECT_EQ(
      db().Count(absl::StrCat(
          "SELECT count(*) FROM deliveries WHERE subscription_id = '", gone.id,
          "' AND state = 'pending' AND last_error_class = 'internal' "
          "AND leased_until IS NULL")),
      6);
  EXPECT_EQ(db().Count(absl::StrCat(
                "SELECT count(*) FROM delivery_attempts a JOIN deliveries d "
                "ON d.id = a.delivery_id WHERE d.subscription_id = '",
                gone.id, "' AND a.error_class = 'internal'")),
            6);
  EXPECT_EQ(metrics_->outcomes_replaced.Value(), 6);
  EXPECT_EQ(metrics_->delivered.Value(), 6);
  EXPECT_GT(metrics_->outcome_write_failures.Value(), 0);
  // Lanes free every slot they took.
  EXPECT_EQ(
      db().Count("SELECT coalesce(sum(in_flight), 0) FROM delivery_lanes"), 0);
}

// A store whose Lease blocks until released: a wedged lease loop.
class BlockingStore : public store::DeliveryStore {
 public:
  explicit BlockingStore(store::DeliveryStore* inner) : inner_(*inner) {}
  absl::StatusOr<std::vector<store::LeasedDelivery>> Lease(
      const store::LeaseRequest& request, absl::Time deadline) override {
    common::MutexLock lock(&mu_);
    entered_ = true;
    auto released = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !blocked_;
    };
    mu_.Await(&released);
    return inner_.Lease(request, deadline);
  }
  absl::StatusOr<store::CompleteResult> CompleteAndHandOff(
      const std::vector<store::DeliveryOutcome>& outcomes,
      const store::HandOff& hand_off, absl::Time deadline) override {
    return inner_.CompleteAndHandOff(outcomes, hand_off, deadline);
  }
  absl::StatusOr<int> Release(const std::vector<store::LeaseRelease>& r,
                              absl::Time deadline) override {
    return inner_.Release(r, deadline);
  }
  absl::StatusOr<store::QueueStats> Stats(absl::Time deadline) override {
    return inner_.Stats(deadline);
  }
  absl::StatusOr<std::vector<std::string>> DisableFailing(
      const std::vector<store::FailingSubscription>& failing,
      absl::Time deadline) override {
    return inner_.DisableFailing(failing, deadline);
  }
  void Block() {
    common::MutexLock lock(&mu_);
    blocked_ = true;
    entered_ = false;
  }
  bool AwaitEntered(absl::Duration timeout) {
    common::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(&entered_, timeout);
  }
  void Unblock() {
    common::MutexLock lock(&mu_);
    blocked_ = false;
  }

 private:
  store::DeliveryStore& inner_;
  common::Mutex mu_;
  bool blocked_ = false;
  bool entered_ = false;
};

TEST_F(WorkerTest, HealthFailsWhileTheLeaseLoopIsWedged) {
  BlockingStore store(shared_->deliveries.get());
  testing::FakeClock clock(absl::Now());
  WorkerOptions options = FastOptions();
  store.Block();
  StartWorker(options, NewCurlHttpTransport(TransportOptions()).value(), &store,
              &clock);
  ASSERT_TRUE(store.AwaitEntered(kWait));
  EXPECT_THAT(worker_->Alive(), IsOk());
  // Three poll intervals and a database timeout pass inside one lease call.
  clock.AdvanceTime(3 * options.dispatch.lease.poll_interval +
                    options.db_timeout + absl::Milliseconds(1));
  EXPECT_EQ(worker_->Alive().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(worker_->Ready().code(), absl::StatusCode::kUnavailable);
  store.Unblock();
  EXPECT_TRUE(Eventually([this] { return worker_->Alive().ok(); }));
  worker_.reset();  // before the store and clock it uses
}

}  // namespace
}  // namespace webhooks::dispatch
