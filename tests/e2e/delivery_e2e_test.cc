// The whole pipeline with the real binaries: webhooks-api and
// webhooks-worker as child processes, PostgreSQL, and a TLS receiver.
// Covers throughput and exactness (1,000 events x 2 subscriptions), two
// workers at once, SIGKILL mid-batch and SIGTERM draining, and checks the
// worker's /metrics against what the receiver saw.
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <openssl/hmac.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/testing/pipeline.h"
#include "tests/testing/process.h"
#include "tests/testing/test_database.h"
#include "tests/testing/tls_receiver.h"
#include "webhooks/v1/event_service.grpc.pb.h"
#include "webhooks/v1/subscription_service.grpc.pb.h"

namespace webhooks {
namespace {

using testing::ChildProcess;
using testing::NumberAfter;
using testing::Pipeline;
using testing::PipelineOptions;
using testing::ReceivedRequest;
using testing::ReceiverResponse;
using testing::TestDatabase;
using testing::TlsReceiver;

constexpr const char* kToken = Pipeline::kToken;
constexpr const char* kTenant = Pipeline::kTenant;

std::vector<std::string> ExtraFlags() {
  std::vector<std::string> flags;
  if (const char* f = std::getenv("E2E_WORKER_FLAGS")) {
    for (absl::string_view s : absl::StrSplit(f, ' ', absl::SkipEmpty()))
      flags.emplace_back(s);
  }
  return flags;
}

// Recomputes a Standard Webhooks signature with OpenSSL directly (not with
// lib/delivery) and checks it is among those in the header.
bool SignatureVerifies(const ReceivedRequest& r, const std::string& secret) {
  std::string key;
  if (!absl::Base64Unescape(secret.substr(6), &key)) return false;
  const std::string signed_content = absl::StrCat(
      r.Header("webhook-id"), ".", r.Header("webhook-timestamp"), ".", r.body);
  unsigned char mac[32];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(signed_content.data()),
       signed_content.size(), mac, &mac_len);
  const std::string expected =
      absl::StrCat("v1,", absl::Base64Escape(absl::string_view(
                              reinterpret_cast<char*>(mac), mac_len)));
  for (absl::string_view s :
       absl::StrSplit(r.Header("webhook-signature"), ' ')) {
    if (s == expected) return true;
  }
  return false;
}

class DeliveryE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = TestDatabase::Create();
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    // A thread per connection the worker may open (--concurrency 256), so the
    // receiver is not what limits throughput.
    testing::TlsReceiverOptions receiver_options;
    receiver_options.threads = 300;
    auto receiver = TlsReceiver::Create(receiver_options);
    ASSERT_TRUE(receiver.ok()) << receiver.status();
    receiver_ = *std::move(receiver);

    PipelineOptions options;
    options.api_binary = WEBHOOKS_API_BINARY;
    options.worker_binary = WEBHOOKS_WORKER_BINARY;
    options.database_url = db_->url();
    options.ca_bundle = receiver_->ca_pem_path();
    options.dir = absl::StrCat(
        ::testing::TempDir(), "e2e-", getpid(), "-",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    auto pipeline = Pipeline::Start(options);
    ASSERT_TRUE(pipeline.ok()) << pipeline.status();
    pipeline_ = *std::move(pipeline);
    dir_ = pipeline_->dir();
    env_ = pipeline_->env();
    api_metrics_port_ = pipeline_->api_metrics_port();
  }

  void TearDown() override {
    pipeline_.reset();
    receiver_.reset();  // after the processes that talk to it
  }

  std::unique_ptr<grpc::ClientContext> Context() {
    return pipeline_->Context();
  }

  // Starts a worker; returns its index and its metrics port.
  std::pair<int, int> StartWorker(std::vector<std::string> extra_flags = {}) {
    absl::StatusOr<int> index = pipeline_->StartWorker(extra_flags);
    EXPECT_TRUE(index.ok()) << index.status();
    if (!index.ok()) return {0, 0};
    return {*index, pipeline_->worker_metrics_port(*index)};
  }

  // Creates a subscription to `path` on the receiver; returns its secret.
  std::string Subscribe(const std::string& path) {
    absl::StatusOr<testing::CreatedSubscription> created =
        pipeline_->Subscribe(path, receiver_->url(path));
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? created->signing_secret : "";
  }

  // Publishes `count` events in batches of up to 500.
  void Publish(int count, const std::string& prefix = "eng") {
    absl::StatusOr<std::vector<std::string>> ids =
        pipeline_->Publish(count, prefix);
    ASSERT_TRUE(ids.ok()) << ids.status();
  }

  // Waits until no delivery is pending (due or leased); false on timeout.
  bool WaitUntilNothingPending(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (db_->Count(
              "SELECT count(*) FROM deliveries WHERE state = 'pending'") == 0)
        return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  double Scrape(int port, const std::string& sample) {
    const double value = testing::ScrapeMetric(port, sample);
    EXPECT_GE(value, 0) << "no /metrics answer";
    return value;
  }

  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<TlsReceiver> receiver_;
  std::unique_ptr<Pipeline> pipeline_;
  std::string dir_;
  std::map<std::string, std::string> env_;
  int api_metrics_port_ = 0;
};

TEST_F(DeliveryE2eTest, DeliversAThousandEventsToTwoSubscriptionsExactly) {
  const std::map<std::string, std::string> secrets = {{"/a", Subscribe("/a")},
                                                      {"/b", Subscribe("/b")}};
  auto [worker, metrics_port] = StartWorker(ExtraFlags());

  const absl::Time start = absl::Now();
  Publish(1000);
  ASSERT_TRUE(receiver_->WaitForRequests(2000, absl::Seconds(120)))
      << "received " << receiver_->request_count();
  const absl::Duration elapsed = absl::Now() - start;
  ASSERT_TRUE(WaitUntilNothingPending(absl::Seconds(30)));

  std::set<std::pair<std::string, std::string>> distinct;
  int bad_signatures = 0;
  for (const ReceivedRequest& r : receiver_->requests()) {
    distinct.insert({r.Header("webhook-id"), r.path});
    if (!SignatureVerifies(r, secrets.at(r.path))) ++bad_signatures;
    EXPECT_EQ(r.Header("authorization"), "Bearer receiver-secret-0123456789");
  }
  const size_t received = receiver_->request_count();
  std::printf(
      "[ e2e ] 2000 deliveries (1000 events x 2 subscriptions) in %.2f s: "
      "%.0f/s "
      "(publish included); %zu requests received, %zu distinct\n",
      absl::ToDoubleSeconds(elapsed), 2000 / absl::ToDoubleSeconds(elapsed),
      received, distinct.size());
  EXPECT_EQ(distinct.size(), 2000u);
  EXPECT_EQ(received, 2000u)
      << "no failure happened, so no duplicate is expected";
  EXPECT_EQ(bad_signatures, 0);
  EXPECT_EQ(
      db_->Count("SELECT count(*) FROM deliveries WHERE state = 'delivered'"),
      2000);
  EXPECT_EQ(db_->Count("SELECT count(*) FROM delivery_attempts WHERE "
                       "error_class = 'success'"),
            2000);

  // The worker's own counters agree with what arrived.
  EXPECT_EQ(
      Scrape(metrics_port, "webhooks_deliveries_total{outcome=\"delivered\"}"),
      2000);
  EXPECT_EQ(Scrape(metrics_port, "webhooks_attempts_total{class=\"success\"}"),
            2000);
  EXPECT_EQ(Scrape(metrics_port, "webhooks_inflight_requests"), 0);
  EXPECT_EQ(Scrape(metrics_port, "webhooks_delivery_latency_seconds_count"),
            2000);

  pipeline_->worker(worker).Signal(SIGTERM);
  EXPECT_EQ(pipeline_->worker(worker).Wait(absl::Seconds(30)), 0);

  // The API counted its calls by method and code.
  EXPECT_EQ(Scrape(api_metrics_port_,
                   "webhooks_grpc_requests_total{code=\"OK\",method=\"/"
                   "webhooks.v1.SubscriptionService/CreateSubscription\"}"),
            2);
  EXPECT_EQ(Scrape(api_metrics_port_,
                   "webhooks_grpc_requests_total{code=\"OK\",method=\"/"
                   "webhooks.v1.EventService/PublishEvents\"}"),
            2);
  httplib::Client api_metrics("127.0.0.1", api_metrics_port_);
  auto ready = api_metrics.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
}

TEST_F(DeliveryE2eTest, TwoWorkersDeliverEachDeliveryOnce) {
  Subscribe("/only");
  const int port_a = StartWorker().second;
  const int port_b = StartWorker().second;
  Publish(600);
  ASSERT_TRUE(receiver_->WaitForRequests(600, absl::Seconds(60)));
  ASSERT_TRUE(WaitUntilNothingPending(absl::Seconds(30)));
  std::set<std::string> ids;
  for (const ReceivedRequest& r : receiver_->requests())
    ids.insert(r.Header("webhook-id"));
  EXPECT_EQ(ids.size(), 600u);
  EXPECT_EQ(receiver_->request_count(), 600u);
  // Each worker counted what it delivered; together, each delivery once.
  const double a =
      Scrape(port_a, "webhooks_deliveries_total{outcome=\"delivered\"}");
  const double b =
      Scrape(port_b, "webhooks_deliveries_total{outcome=\"delivered\"}");
  std::printf("[ e2e ] two workers delivered %.0f + %.0f\n", a, b);
  EXPECT_EQ(a + b, 600);
}

TEST_F(DeliveryE2eTest, SigkillMidBatchLosesNothing) {
  Subscribe("/slow");
  ReceiverResponse slow;
  slow.delay = absl::Milliseconds(100);
  receiver_->RespondWith(slow);
  auto [first, unused_port] = StartWorker(
      {"--lease_duration=3s", "--request_timeout=2s", "--concurrency=32"});
  Publish(300);
  ASSERT_TRUE(receiver_->WaitForRequests(50, absl::Seconds(60)));
  pipeline_->worker(first).Signal(SIGKILL);
  EXPECT_EQ(pipeline_->worker(first).Wait(absl::Seconds(10)), 128 + SIGKILL);
  const size_t before_restart = receiver_->request_count();

  StartWorker(
      {"--lease_duration=3s", "--request_timeout=2s", "--concurrency=32"});
  ASSERT_TRUE(WaitUntilNothingPending(absl::Seconds(90))) << db_->QueryValue(
      "SELECT count(*) FROM deliveries WHERE state = 'pending'");
  std::set<std::string> ids;
  for (const ReceivedRequest& r : receiver_->requests())
    ids.insert(r.Header("webhook-id"));
  const size_t received = receiver_->request_count();
  std::printf(
      "[ e2e ] SIGKILL after %zu arrivals: %zu requests in all, %zu distinct, "
      "%zu duplicates\n",
      before_restart, received, ids.size(), received - ids.size());
  EXPECT_EQ(ids.size(), 300u) << "every delivery arrived";
  EXPECT_EQ(
      db_->Count("SELECT count(*) FROM deliveries WHERE state = 'delivered'"),
      300);
}

TEST_F(DeliveryE2eTest, SigtermDrainsInFlightRequestsAndExitsZero) {
  Subscribe("/drain");
  ReceiverResponse slow;
  slow.delay = absl::Milliseconds(1500);
  receiver_->RespondWith(slow);
  auto [worker, metrics_port] = StartWorker({"--concurrency=8"});
  Publish(40);
  ASSERT_TRUE(receiver_->WaitForRequests(4, absl::Seconds(30)));
  httplib::Client probe("127.0.0.1", metrics_port);
  auto ready = probe.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200) << ready->body;
  pipeline_->worker(worker).Signal(SIGTERM);

  // Readiness fails while the requests in flight are still being answered.
  int readiness = 200;
  for (const absl::Time deadline = absl::Now() + absl::Seconds(10);
       readiness == 200 && absl::Now() < deadline;) {
    auto answer = probe.Get("/readyz");
    readiness = answer ? answer->status : -1;
  }
  EXPECT_EQ(readiness, 503);
  EXPECT_LT(receiver_->request_count(), 40u);
  EXPECT_EQ(pipeline_->worker(worker).Wait(absl::Seconds(30)), 0)
      << pipeline_->worker(worker).Log();
  EXPECT_THAT(pipeline_->worker(worker).Log(), ::testing::HasSubstr("drained"));

  // Every request that arrived was answered and recorded; nothing is left
  // leased: what was not tried is due now.
  const long long delivered =
      db_->Count("SELECT count(*) FROM deliveries WHERE state = 'delivered'");
  EXPECT_EQ(delivered, static_cast<long long>(receiver_->request_count()));
  EXPECT_GT(delivered, 0);
  EXPECT_EQ(
      db_->Count("SELECT count(*) FROM deliveries WHERE state = 'pending' "
                 "AND (next_attempt_at > now() OR lease_owner IS NOT NULL)"),
      0);

  // A new worker finishes the rest.
  StartWorker();
  ASSERT_TRUE(WaitUntilNothingPending(absl::Seconds(60)));
  EXPECT_EQ(
      db_->Count("SELECT count(*) FROM deliveries WHERE state = 'delivered'"),
      40);
}

// Kubernetes' order of shutdown for the API: on SIGTERM health turns
// NOT_SERVING and /readyz fails at once while calls are still served
// (--shutdown_delay: the pod leaves its Service meanwhile); then new calls are
// refused, the call in flight finishes, and the process exits 0.
TEST_F(DeliveryE2eTest,
       ApiSigtermFailsReadinessFirstThenFinishesCallsInFlight) {
  auto started = ChildProcess::Start(
      {WEBHOOKS_API_BINARY, "serve", "--grpc_addr=127.0.0.1:0",
       "--metrics_addr=127.0.0.1:0", "--shutdown_delay=3s",
       "--shutdown_grace=20s"},
      env_, absl::StrCat(dir_, "/api-drain.log"));
  ASSERT_TRUE(started.ok()) << started.status();
  ChildProcess api = *std::move(started);
  auto line = api.WaitForLogLine("serving gRPC", absl::Seconds(30));
  ASSERT_TRUE(line.ok()) << line.status();
  const int port = NumberAfter(*line, "(port ").value_or(0);
  const int metrics_port =
      NumberAfter(line->substr(line->find("metrics on")), "(port ").value_or(0);
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                     grpc::InsecureChannelCredentials());
  auto subscriptions = v1::SubscriptionService::NewStub(channel);
  auto health = grpc::health::v1::Health::NewStub(channel);
  auto health_status = [&health](const std::string& service = "") {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = health->Check(&context, request, &response);
    return status.ok() ? static_cast<int>(response.status()) : -1;
  };
  ASSERT_EQ(health_status(), grpc::health::v1::HealthCheckResponse::SERVING);

  v1::CreateSubscriptionRequest create;
  create.set_tenant_id(kTenant);
  create.mutable_subscription()->set_name("drain");
  create.mutable_subscription()->set_target_url(receiver_->url("/slow"));
  create.mutable_subscription()->add_event_types("engagement_dispatched");
  v1::CreateSubscriptionResponse created;
  ASSERT_TRUE(
      subscriptions->CreateSubscription(Context().get(), create, &created)
          .ok());
  ReceiverResponse slow;
  slow.delay = absl::Seconds(4);
  receiver_->RespondWith(slow);

  // A call that takes longer than the delay: in flight when the drain begins.
  grpc::Status in_flight_status;
  v1::SendTestEventResponse in_flight;
  // jthread: joined however the test ends (an ASSERT below returns early).
  std::jthread caller([&] {
    v1::SendTestEventRequest request;
    request.set_tenant_id(kTenant);
    request.set_id(created.subscription().id());
    in_flight_status =
        subscriptions->SendTestEvent(Context().get(), request, &in_flight);
  });
  ASSERT_TRUE(receiver_->WaitForRequests(1, absl::Seconds(30)));
  api.Signal(SIGTERM);

  int serving = grpc::health::v1::HealthCheckResponse::SERVING;
  for (const absl::Time deadline = absl::Now() + absl::Seconds(3);
       serving == grpc::health::v1::HealthCheckResponse::SERVING &&
       absl::Now() < deadline;) {
    serving = health_status();
  }
  EXPECT_EQ(serving, grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  // Draining is not wedged: liveness must not restart the pod meanwhile.
  EXPECT_EQ(health_status("liveness"),
            grpc::health::v1::HealthCheckResponse::SERVING);
  httplib::Client probe("127.0.0.1", metrics_port);
  auto ready = probe.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  // Still inside the delay: a new call is served.
  v1::GetSubscriptionRequest get;
  get.set_tenant_id(kTenant);
  get.set_id(created.subscription().id());
  v1::Subscription got;
  EXPECT_TRUE(subscriptions->GetSubscription(Context().get(), get, &got).ok());

  caller.join();
  EXPECT_TRUE(in_flight_status.ok()) << in_flight_status.error_message();
  EXPECT_EQ(in_flight.status_code(), 200);
  EXPECT_EQ(api.Wait(absl::Seconds(30)), 0) << api.Log();
  EXPECT_THAT(api.Log(), ::testing::HasSubstr("refusing new calls"));
}

// After a run with retries against a receiver that echoes every request
// header in its error body, neither a dump of the whole database nor any
// line the API or the worker logged holds a secret in plaintext: the custom
// header value, the signing secret, the API token or the sealing key.
TEST_F(DeliveryE2eTest, NoSecretInTheDatabaseDumpOrAnyLog) {
  const std::string signing_secret = Subscribe("/echo");
  receiver_->SetResponder([](const ReceivedRequest& request) {
    std::string echo = "rejected; you sent:";
    for (const auto& [name, value] : request.headers) {
      absl::StrAppend(&echo, " ", name, "=", value);
    }
    return ReceiverResponse{.status = 500, .body = echo};
  });
  auto [worker, unused_port] =
      StartWorker({"--retry_initial=50ms", "--max_attempts=3"});
  Publish(10);
  ASSERT_TRUE(receiver_->WaitForRequests(30, absl::Seconds(60)))
      << "received " << receiver_->request_count();
  ASSERT_TRUE(WaitUntilNothingPending(absl::Seconds(30)));

  const std::string dump_path = absl::StrCat(dir_, "/dump.sql");
  ASSERT_EQ(std::system(absl::StrCat("pg_dump --data-only '", db_->url(),
                                     "' > ", dump_path)
                            .c_str()),
            0);
  std::ifstream in(dump_path);
  const std::string dump((std::istreambuf_iterator<char>(in)),
                         std::istreambuf_iterator<char>());
  // The dump is whole: the attempts are in it, their excerpts redacted.
  ASSERT_THAT(dump, ::testing::HasSubstr("delivery_attempts"));
  const std::string sealing_key = env_.at("WEBHOOKS_SEALING_KEY");
  const std::vector<std::pair<std::string, std::string>> secrets = {
      {"custom header value", "receiver-secret-0123456789"},
      {"signing secret", signing_secret.substr(std::string("whsec_").size())},
      {"API token", kToken},
      {"sealing key", sealing_key}};
  const std::vector<std::pair<std::string, std::string>> places = {
      {"database dump", dump},
      {"API log", pipeline_->api().Log()},
      {"worker log", pipeline_->worker(worker).Log()}};
  for (const auto& [place, text] : places) {
    for (const auto& [what, secret] : secrets) {
      ASSERT_GE(secret.size(), 16u) << what;
      EXPECT_THAT(text, ::testing::Not(::testing::HasSubstr(secret)))
          << what << " in the " << place;
      // bytea columns (excerpts) dump as hex.
      EXPECT_THAT(
          text,
          ::testing::Not(::testing::HasSubstr(absl::BytesToHexString(secret))))
          << what << " (hex) in the " << place;
    }
  }
  // The excerpts were stored (hex-escaped bytea in the dump): the receiver's
  // answers reached the database, with the header value gone.
  EXPECT_EQ(db_->Count("SELECT count(*) FROM delivery_attempts WHERE "
                       "position('[redacted]'::bytea in response_excerpt) > 0"),
            30);
}

// A setting that would spin or deliver nothing stops the worker at start-up
// with a message naming the flag, before it touches the database.
TEST_F(DeliveryE2eTest, RefusesToStartWithAFlagThatWouldDeliverNothing) {
  for (const std::string flag :
       {"--lease_batch=0", "--concurrency=0", "--poll_interval=0s",
        "--db_pool_size=1", "--lease_duration=10s"}) {
    auto worker = ChildProcess::Start(
        {WEBHOOKS_WORKER_BINARY, "--metrics_addr=127.0.0.1:0", flag}, env_,
        absl::StrCat(dir_, "/refused.log"));
    ASSERT_TRUE(worker.ok()) << worker.status();
    EXPECT_EQ(worker->Wait(absl::Seconds(30)), 1) << flag;
    const std::string name = flag.substr(0, flag.find('='));
    EXPECT_THAT(worker->Log(), ::testing::HasSubstr(name + ":")) << flag;
    EXPECT_THAT(worker->Log(),
                ::testing::Not(::testing::HasSubstr("delivering")))
        << flag;
  }
}

}  // namespace
}  // namespace webhooks
