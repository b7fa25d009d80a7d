// The fault suite (ctest -L faults): the real binaries, a real PostgreSQL and
// real TLS receivers, broken on purpose. Each case prints its figures (sent,
// received, duplicates, lost) and fails if anything accepted is lost.
//   - two workers, one killed with SIGKILL about every second, 20,000
//     deliveries;
//   - PostgreSQL stopped and restarted twice while events are published: the
//     API answers UNAVAILABLE in time while it is down, both processes
//     recover by themselves;
//   - receivers that fail half the time, hang, reset, trickle, answer 10 MB,
//     or present an expired, self-signed or wrong-host certificate: each
//     classified, retried on schedule, the worker's memory bounded, a healthy
//     subscription beside them unaffected.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/common/mutex.h"
#include "tests/testing/misbehaving_server.h"
#include "tests/testing/pipeline.h"
#include "tests/testing/process.h"
#include "tests/testing/test_database.h"
#include "tests/testing/tls_receiver.h"

namespace webhooks {
namespace {

using testing::ChildProcess;
using testing::MisbehavingServer;
using testing::Misbehaviour;
using testing::Pipeline;
using testing::PipelineOptions;
using testing::ReceivedRequest;
using testing::ReceiverResponse;
using testing::TestDatabase;
using testing::TlsReceiver;
using testing::TlsReceiverOptions;

// A folder of its own for one test's logs.
std::string TestDir() {
  return absl::StrCat(
      ::testing::TempDir(), "faults-", getpid(), "-",
      ::testing::UnitTest::GetInstance()->current_test_info()->name());
}

PipelineOptions Options(const std::string& database_url,
                        const std::string& ca_bundle) {
  PipelineOptions options;
  options.api_binary = WEBHOOKS_API_BINARY;
  options.worker_binary = WEBHOOKS_WORKER_BINARY;
  options.database_url = database_url;
  options.ca_bundle = ca_bundle;
  options.dir = TestDir();
  return options;
}

// One file trusting every CA in `paths`.
std::string Bundle(const std::vector<std::string>& paths) {
  std::filesystem::create_directories(TestDir());
  const std::string bundle = absl::StrCat(TestDir(), "/ca-bundle.pem");
  std::ofstream out(bundle, std::ios::trunc);
  for (const std::string& path : paths) {
    std::ifstream in(path);
    out << in.rdbuf();
  }
  return bundle;
}

// The distinct (webhook-id, path) pairs a receiver saw.
std::set<std::pair<std::string, std::string>> Distinct(
    const std::vector<ReceivedRequest>& requests) {
  std::set<std::pair<std::string, std::string>> distinct;
  for (const ReceivedRequest& r : requests) {
    distinct.insert({r.Header("webhook-id"), r.path});
  }
  return distinct;
}

// Polls `count_sql` (a count) on `url` until it is zero; false on timeout.
bool WaitForZero(const std::string& url, const std::string& count_sql,
                 absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    try {
      pqxx::connection c(url);
      pqxx::nontransaction tx(c);
      if (tx.exec1(count_sql)[0].as<long long>() == 0) return true;
    } catch (const std::exception&) {
      // The server is restarting: ask again.
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

constexpr char kNothingPending[] =
    "SELECT count(*) FROM deliveries WHERE state = 'pending'";

TEST(FaultTest, TwoWorkersOneKilledEverySecondLoseNothing) {
  constexpr int kEvents = 10000;  // x 2 subscriptions = 20,000 deliveries
  auto db = TestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  TlsReceiverOptions receiver_options;
  receiver_options.threads = 300;
  auto receiver = TlsReceiver::Create(receiver_options);
  ASSERT_TRUE(receiver.ok()) << receiver.status();
  auto pipeline = Pipeline::Start(
      Options((*db)->url(), Bundle({(*receiver)->ca_pem_path()})));
  ASSERT_TRUE(pipeline.ok()) << pipeline.status();
  Pipeline& p = **pipeline;
  ASSERT_TRUE(p.Subscribe("a", (*receiver)->url("/a")).ok());
  ASSERT_TRUE(p.Subscribe("b", (*receiver)->url("/b")).ok());
  // Short leases, so that what a killed worker held is due again soon.
  const std::vector<std::string> flags = {"--lease_duration=3s",
                                          "--request_timeout=2s"};
  ASSERT_TRUE(p.StartWorker(flags).ok());
  ASSERT_TRUE(p.StartWorker(flags).ok());

  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<std::string>> ids = p.Publish(kEvents);
  ASSERT_TRUE(ids.ok()) << ids.status();
  int kills = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(240);
  while (absl::Now() < deadline && (*db)->Count(kNothingPending) > 0) {
    // The fault's own cadence, not a wait for a condition.
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const int victim = kills % 2;
    p.worker(victim).Signal(SIGKILL);
    ASSERT_EQ(p.worker(victim).Wait(absl::Seconds(10)), 128 + SIGKILL);
    ++kills;
    ASSERT_TRUE(p.RestartWorker(victim).ok());
  }
  ASSERT_TRUE(WaitForZero((*db)->url(), kNothingPending, absl::Seconds(60)));
  const absl::Duration elapsed = absl::Now() - start;

  const size_t received = (*receiver)->request_count();
  const size_t distinct = Distinct((*receiver)->requests()).size();
  const size_t sent = 2 * ids->size();
  std::printf(
      "[ faults ] SIGKILL loop: %zu deliveries sent, %d kills in %.1f s; "
      "received %zu, distinct %zu, duplicates %zu, lost %zu\n",
      sent, kills, absl::ToDoubleSeconds(elapsed), received, distinct,
      received - distinct, sent - distinct);
  EXPECT_EQ(distinct, sent) << "lost deliveries";
  EXPECT_GE(kills, 3) << "the run ended before the fault had effect";
  EXPECT_EQ((*db)->Count("SELECT count(*) FROM deliveries WHERE state = "
                         "'delivered'"),
            static_cast<long long>(sent));
}

// A PostgreSQL of this test's own, since it is stopped and restarted.
class OwnPostgres {
 public:
  explicit OwnPostgres(std::string state) : state_(std::move(state)) {}
  ~OwnPostgres() { Run("stop"); }
  // Runs scripts/pg.sh `command`; its stdout, trimmed.
  std::string Run(const std::string& command) const {
    const std::string cmd = absl::StrCat(WEBHOOKS_SOURCE_DIR, "/scripts/pg.sh ",
                                         command, " ", state_, " 2>&1");
    std::string out;
    FILE* pipe = popen(cmd.c_str(), "r");
    if (pipe == nullptr) return out;
    char buffer[512];
    while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) out += buffer;
    last_exit_ = pclose(pipe);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) {
      out.pop_back();
    }
    return out;
  }
  int last_exit() const { return last_exit_; }

 private:
  std::string state_;
  mutable int last_exit_ = -1;
};

// One publish attempt and how it ended.
struct Attempt {
  grpc::StatusCode code;
  absl::Duration took;
  absl::Time at;
  std::string event_id;
};

TEST(FaultTest, PostgresRestartedTwiceTheApiAnswersUnavailableAndAllRecover) {
  OwnPostgres pg(absl::StrCat(TestDir(), "-pg"));
  const std::string url = pg.Run("start");
  ASSERT_EQ(pg.last_exit(), 0) << url;
  auto receiver = TlsReceiver::Create();
  ASSERT_TRUE(receiver.ok()) << receiver.status();
  PipelineOptions options = Options(url, (*receiver)->ca_pem_path());
  {
    auto migrate = ChildProcess::Start({WEBHOOKS_API_BINARY, "migrate"},
                                       {{"WEBHOOKS_DATABASE_URL", url}},
                                       absl::StrCat(TestDir(), "-migrate.log"));
    ASSERT_TRUE(migrate.ok()) << migrate.status();
    ASSERT_EQ(migrate->Wait(absl::Seconds(60)), 0) << migrate->Log();
  }
  options.api_flags = {"--db_acquire_timeout=1s"};
  auto pipeline = Pipeline::Start(options);
  ASSERT_TRUE(pipeline.ok()) << pipeline.status();
  Pipeline& p = **pipeline;
  ASSERT_TRUE(p.Subscribe("pg", (*receiver)->url("/pg")).ok());
  ASSERT_TRUE(p.StartWorker({"--db_timeout=2s"}).ok());

  // One publisher, one event at a time, each with a 3 s deadline.
  constexpr absl::Duration kDeadline = absl::Seconds(3);
  common::Mutex mu;
  std::vector<Attempt> attempts;
  std::atomic<bool> stop{false};
  std::thread publisher([&] {
    for (int i = 0; !stop.load(); ++i) {
      v1::PublishEventRequest request;
      request.set_tenant_id(Pipeline::kTenant);
      *request.mutable_event() = Pipeline::Event("pg", i);
      v1::PublishEventResponse response;
      const absl::Time begin = absl::Now();
      grpc::Status status = p.events().PublishEvent(p.Context(kDeadline).get(),
                                                    request, &response);
      {
        common::MutexLock lock(&mu);
        attempts.push_back({status.error_code(), absl::Now() - begin, begin,
                            response.event_id()});
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  // Waits until `n` more attempts after `from` ended with `code`.
  auto await = [&](size_t from, grpc::StatusCode code, int n) {
    auto enough = [&] {
      int seen = 0;
      for (size_t i = from; i < attempts.size(); ++i) {
        if (attempts[i].code == code) ++seen;
      }
      return seen >= n;
    };
    common::MutexLock lock(&mu);
    return mu.AwaitWithTimeout(&enough, absl::Seconds(60));
  };
  auto mark = [&] {
    common::MutexLock lock(&mu);
    return attempts.size();
  };

  ASSERT_TRUE(await(0, grpc::StatusCode::OK, 20));
  // First: stopped, probed while down, started again on the same port.
  pg.Run("down");
  ASSERT_EQ(pg.last_exit(), 0);
  const size_t down_from = mark();
  ASSERT_TRUE(await(down_from, grpc::StatusCode::UNAVAILABLE, 5));
  const size_t down_to = mark();
  const absl::Time up_at = absl::Now();
  pg.Run("up");
  ASSERT_EQ(pg.last_exit(), 0);
  ASSERT_TRUE(await(down_to, grpc::StatusCode::OK, 20));
  // Second: pg_ctl restart -m fast while the publisher goes on.
  const size_t restart_from = mark();
  pg.Run("restart");
  ASSERT_EQ(pg.last_exit(), 0);
  ASSERT_TRUE(await(mark(), grpc::StatusCode::OK, 20));
  stop = true;
  publisher.join();

  std::set<std::string> accepted;
  std::map<grpc::StatusCode, int> by_code;
  absl::Duration slowest;
  absl::Time first_ok_after_up = absl::InfiniteFuture();
  for (size_t i = 0; i < attempts.size(); ++i) {
    const Attempt& a = attempts[i];
    ++by_code[a.code];
    slowest = std::max(slowest, a.took);
    if (a.code == grpc::StatusCode::OK) accepted.insert(a.event_id);
    if (i >= down_from && i < down_to) {
      EXPECT_EQ(a.code, grpc::StatusCode::UNAVAILABLE)
          << "attempt " << i << " while the database was down";
    }
    if (i >= down_to && a.code == grpc::StatusCode::OK && a.at >= up_at) {
      first_ok_after_up = std::min(first_ok_after_up, a.at + a.took);
    }
    // Every call ends by itself in time: never a hang to the deadline.
    EXPECT_NE(a.code, grpc::StatusCode::DEADLINE_EXCEEDED) << "attempt " << i;
    EXPECT_TRUE(a.code == grpc::StatusCode::OK ||
                a.code == grpc::StatusCode::UNAVAILABLE ||
                a.code == grpc::StatusCode::RESOURCE_EXHAUSTED)
        << "attempt " << i << " ended " << a.code;
  }
  ASSERT_TRUE(WaitForZero(url, kNothingPending, absl::Seconds(60)))
      << "the worker did not reconnect";
  std::set<std::string> received;
  for (const ReceivedRequest& r : (*receiver)->requests()) {
    received.insert(r.Header("webhook-id"));
  }
  size_t lost = 0;
  for (const std::string& id : accepted) lost += received.count(id) == 0;
  std::printf(
      "[ faults ] PostgreSQL down/up and restart: %zu publishes, %zu "
      "accepted, %d UNAVAILABLE (%zu while down), %d RESOURCE_EXHAUSTED; "
      "slowest call %.0f ms; first accepted %.0f ms after start; restart "
      "attempts from #%zu; received %zu distinct (%zu requests), lost %zu\n",
      attempts.size(), accepted.size(), by_code[grpc::StatusCode::UNAVAILABLE],
      down_to - down_from, by_code[grpc::StatusCode::RESOURCE_EXHAUSTED],
      absl::ToDoubleMilliseconds(slowest),
      absl::ToDoubleMilliseconds(first_ok_after_up - up_at), restart_from,
      received.size(), (*receiver)->request_count(), lost);
  EXPECT_EQ(lost, 0u);
  EXPECT_LT(slowest, kDeadline);
  // Neither process crashed.
  EXPECT_EQ(p.api().Wait(absl::ZeroDuration()), std::nullopt);
  EXPECT_EQ(p.worker(0).Wait(absl::ZeroDuration()), std::nullopt);
}

// Attempts as stored: per subscription name, per delivery, in order.
struct StoredAttempt {
  int attempt;
  std::string error_class;
  absl::Time started_at;
  absl::Duration duration;
  long excerpt_bytes;
};
std::map<std::string, std::map<long long, std::vector<StoredAttempt>>>
StoredAttempts(const std::string& url) {
  std::map<std::string, std::map<long long, std::vector<StoredAttempt>>> out;
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  for (const pqxx::row& row :
       tx.exec("SELECT s.name, a.delivery_id, a.attempt, a.error_class, "
               "extract(epoch FROM a.started_at)::float8, a.duration_us, "
               "coalesce(length(a.response_excerpt), 0) "
               "FROM delivery_attempts a JOIN deliveries d ON d.id = "
               "a.delivery_id JOIN subscriptions s ON s.id = d.subscription_id "
               "ORDER BY a.delivery_id, a.attempt")) {
    out[row[0].as<std::string>()][row[1].as<long long>()].push_back(
        {row[2].as<int>(), row[3].as<std::string>(),
         absl::FromUnixMicros(static_cast<int64_t>(row[4].as<double>() * 1e6)),
         absl::Microseconds(row[5].as<long long>()), row[6].as<long>()});
  }
  return out;
}

TEST(FaultTest, MisbehavingReceiversAreClassifiedRetriedAndIsolated) {
  constexpr int kEvents = 20;
  constexpr int kMaxAttempts = 3;
  constexpr absl::Duration kRetry = absl::Seconds(1);
  // Generous enough for a TLS handshake under AddressSanitizer with 180
  // deliveries starting at once; the hanging receiver outlasts it.
  constexpr absl::Duration kRequestTimeout = absl::Seconds(4);
  // Under AddressSanitizer freed memory sits in a quarantine (256 MiB by
  // default) that would count as the worker's own; keep it small so that the
  // RSS bound below measures the worker. Other builds ignore the variable.
  const char* asan = std::getenv("ASAN_OPTIONS");
  ::setenv("ASAN_OPTIONS",
           absl::StrCat(asan == nullptr ? "" : asan,
                        asan == nullptr || *asan == '\0' ? "" : ":",
                        "quarantine_size_mb=4")
               .c_str(),
           1);  // before any thread of this test starts
  auto db = TestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();

  TlsReceiverOptions options;
  options.threads = 64;
  auto healthy = TlsReceiver::Create(options);
  auto flaky = TlsReceiver::Create(options);
  auto hanging = TlsReceiver::Create(options);
  auto huge = TlsReceiver::Create(options);
  TlsReceiverOptions expired_options = options;
  expired_options.certificate = testing::CertificateSpec{};
  expired_options.certificate->subject_alt_names = "DNS:localhost";
  expired_options.certificate->not_before = -absl::Hours(48);
  expired_options.certificate->not_after = -absl::Hours(24);
  auto expired = TlsReceiver::Create(expired_options);
  TlsReceiverOptions self_signed_options = options;
  self_signed_options.self_signed = true;
  self_signed_options.certificate = testing::CertificateSpec{};
  self_signed_options.certificate->subject_alt_names = "DNS:localhost";
  auto self_signed = TlsReceiver::Create(self_signed_options);
  TlsReceiverOptions wrong_host_options = options;
  wrong_host_options.certificate = testing::CertificateSpec{};
  wrong_host_options.certificate->common_name = "example.com";
  wrong_host_options.certificate->subject_alt_names = "DNS:example.com";
  auto wrong_host = TlsReceiver::Create(wrong_host_options);
  auto reset = MisbehavingServer::Create(Misbehaviour::kResetAfterRequest);
  auto trickle = MisbehavingServer::Create(Misbehaviour::kTrickleHeaders);
  for (auto* r : {&healthy, &flaky, &hanging, &huge, &expired, &self_signed,
                  &wrong_host}) {
    ASSERT_TRUE(r->ok()) << r->status();
  }
  ASSERT_TRUE(reset.ok()) << reset.status();
  ASSERT_TRUE(trickle.ok()) << trickle.status();

  // 500 on the first attempt of each event, 200 on the next.
  common::Mutex seen_mu;
  std::set<std::string> seen;
  (*flaky)->SetResponder([&](const ReceivedRequest& r) {
    common::MutexLock lock(&seen_mu);
    ReceiverResponse answer;
    if (seen.insert(r.Header("webhook-id")).second) answer.status = 500;
    return answer;
  });
  ReceiverResponse hang;
  hang.delay = 2 * kRequestTimeout;
  (*hanging)->RespondWith(hang);
  ReceiverResponse ten_mb;
  ten_mb.generated_body_bytes = 10 * 1024 * 1024;
  (*huge)->RespondWith(ten_mb);

  auto pipeline = Pipeline::Start(
      Options((*db)->url(),
              Bundle({(*healthy)->ca_pem_path(), (*flaky)->ca_pem_path(),
                      (*hanging)->ca_pem_path(), (*huge)->ca_pem_path(),
                      (*expired)->ca_pem_path(), (*self_signed)->ca_pem_path(),
                      (*wrong_host)->ca_pem_path(), (*reset)->ca_pem_path(),
                      (*trickle)->ca_pem_path()})));
  ASSERT_TRUE(pipeline.ok()) << pipeline.status();
  Pipeline& p = **pipeline;
  const std::map<std::string, std::string> targets = {
      {"healthy", (*healthy)->url("/healthy")},
      {"flaky", (*flaky)->url("/flaky")},
      {"hanging", (*hanging)->url("/hanging")},
      {"huge", (*huge)->url("/huge")},
      {"expired", (*expired)->url("/expired")},
      {"self_signed", (*self_signed)->url("/self_signed")},
      {"wrong_host", (*wrong_host)->url("/wrong_host")},
      {"reset", (*reset)->url("/reset")},
      {"trickle", (*trickle)->url("/trickle")}};
  for (const auto& [name, url] : targets) {
    ASSERT_TRUE(p.Subscribe(name, url).ok()) << name;
  }
  ASSERT_TRUE(
      p.StartWorker({absl::StrCat("--request_timeout=",
                                  absl::FormatDuration(kRequestTimeout)),
                     absl::StrCat("--connect_timeout=",
                                  absl::FormatDuration(kRequestTimeout)),
                     "--lease_duration=15s", "--retry_initial=1s",
                     "--retry_multiplier=1", "--retry_jitter=0",
                     absl::StrCat("--max_attempts=", kMaxAttempts)})
          .ok());
  const long rss_at_start = testing::PeakRssKib(p.worker(0).pid());

  const absl::Time published_at = absl::Now();
  ASSERT_TRUE(p.Publish(kEvents).ok());
  ASSERT_TRUE((*healthy)->WaitForRequests(kEvents, absl::Seconds(30)));
  absl::Duration healthy_slowest;
  for (const ReceivedRequest& r : (*healthy)->requests()) {
    healthy_slowest = std::max(healthy_slowest, r.received_at - published_at);
  }
  ASSERT_TRUE(WaitForZero((*db)->url(), kNothingPending, absl::Seconds(120)));
  const long rss_peak = testing::PeakRssKib(p.worker(0).pid());

  // What each subscription's attempts must have been.
  struct Expected {
    std::vector<std::string> classes;  // per attempt
    bool reaches_http;                 // a request head arrived
  };
  const std::vector<std::string> three_timeouts(kMaxAttempts, "timeout");
  const std::vector<std::string> three_tls(kMaxAttempts, "tls_error");
  const std::map<std::string, Expected> expected = {
      {"healthy", {{"success"}, true}},
      {"flaky", {{"http_5xx", "success"}, true}},
      {"hanging", {three_timeouts, true}},
      {"huge", {{"success"}, true}},
      {"expired", {three_tls, false}},
      {"self_signed", {three_tls, false}},
      {"wrong_host", {three_tls, false}},
      {"reset",
       {std::vector<std::string>(kMaxAttempts, "connect_error"), true}},
      {"trickle", {three_timeouts, true}}};
  const auto stored = StoredAttempts((*db)->url());
  for (const auto& [name, want] : expected) {
    SCOPED_TRACE(name);
    ASSERT_EQ(stored.count(name), 1u);
    const auto& deliveries = stored.at(name);
    EXPECT_EQ(deliveries.size(), static_cast<size_t>(kEvents));
    int classified = 0;
    int classified_wrongly = 0;
    absl::Duration shortest_gap = absl::InfiniteDuration();
    absl::Duration longest_gap;
    for (const auto& [id, attempts] : deliveries) {
      std::vector<std::string> classes;
      for (size_t i = 0; i < attempts.size(); ++i) {
        classes.push_back(attempts[i].error_class);
        EXPECT_LE(attempts[i].excerpt_bytes, 4096);
        if (i > 0) {
          const absl::Duration gap =
              attempts[i].started_at -
              (attempts[i - 1].started_at + attempts[i - 1].duration);
          shortest_gap = std::min(shortest_gap, gap);
          longest_gap = std::max(longest_gap, gap);
        }
      }
      if (classes == want.classes) {
        ++classified;
      } else if (classified_wrongly++ == 0) {
        std::printf("[ faults ] %-11s first unexpected attempts: %s\n",
                    name.c_str(), absl::StrJoin(classes, ", ").c_str());
      }
    }
    EXPECT_EQ(classified, kEvents);
    if (want.classes.size() > 1) {
      // Retried on schedule: no sooner than the backoff, not much later.
      EXPECT_GE(shortest_gap, kRetry - absl::Milliseconds(20));
      EXPECT_LE(longest_gap, kRetry + absl::Seconds(2));
    }
    std::printf(
        "[ faults ] %-11s %d deliveries classified as expected of %zu; "
        "retry gaps %.2f-%.2f s\n",
        name.c_str(), classified, deliveries.size(),
        want.classes.size() > 1 ? absl::ToDoubleSeconds(shortest_gap) : 0.0,
        absl::ToDoubleSeconds(longest_gap));
  }
  const std::string final_state =
      "SELECT count(*) FROM deliveries d JOIN subscriptions s ON s.id = "
      "d.subscription_id WHERE d.state = '";
  EXPECT_EQ((*db)->Count(final_state +
                         "delivered' AND s.name IN ('healthy', 'flaky', "
                         "'huge')"),
            3 * kEvents);
  EXPECT_EQ((*db)->Count(final_state + "failed'"), 6 * kEvents);
  // Handshakes that fail never reach HTTP.
  EXPECT_EQ((*expired)->request_count(), 0u);
  EXPECT_EQ((*self_signed)->request_count(), 0u);
  EXPECT_EQ((*wrong_host)->request_count(), 0u);
  EXPECT_GT((*expired)->connection_count(), 0);
  EXPECT_EQ((*reset)->request_count(), kEvents * kMaxAttempts);
  EXPECT_EQ((*trickle)->request_count(), kEvents * kMaxAttempts);
  EXPECT_EQ((*healthy)->request_count(), static_cast<size_t>(kEvents));

  std::printf(
      "[ faults ] healthy subscription: %d of %d delivered, slowest %.0f ms "
      "after publish; worker peak RSS %ld KiB at start, %ld KiB after %d "
      "responses of 10 MiB\n",
      static_cast<int>((*healthy)->request_count()), kEvents,
      absl::ToDoubleMilliseconds(healthy_slowest), rss_at_start, rss_peak,
      kEvents);
  // Beside hanging and failing endpoints, the healthy one waits for none of
  // them: every delivery within the request timeout of the publish (one
  // queued behind a hanging request would take at least that long).
  EXPECT_LT(healthy_slowest, kRequestTimeout);
  // 200 MiB of answers pass through; the worker keeps 4 KiB of each.
  EXPECT_LT(rss_peak - rss_at_start, 64 * 1024);
}

}  // namespace
}  // namespace webhooks
