// webhooksctl against the real webhooks-api, both as child processes, on a
// real PostgreSQL: JSON in and out for each kind of call, --body_only, and the
// exit codes of a missing token (1, UNAUTHENTICATED) and of bad JSON (2).
#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/security/sealer.h"
#include "tests/testing/process.h"
#include "tests/testing/test_database.h"
#include "tests/testing/test_pki.h"
#include "webhooks/v1/delivery_service.pb.h"
#include "webhooks/v1/event_service.pb.h"
#include "webhooks/v1/subscription_service.pb.h"

namespace webhooks {
namespace {

using testing::ChildProcess;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::NumberAfter;
using ::testing::StartsWith;
using testing::TestDatabase;

constexpr char kToken[] = "ctl-e2e-token-0123456789abcdefghij";
constexpr char kTenant[] = "ctl-tenant";

// What one webhooksctl run left: its exit code and its stdout and stderr
// together.
struct CtlRun {
  int exit_code = -1;
  std::string output;
};

class CtlE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Prepare();
    if (HasFatalFailure()) return;
    StartApi({});
  }

  // The database, the test's directory and the token files.
  void Prepare() {
    auto db = TestDatabase::Create();
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    dir_ = absl::StrCat(
        ::testing::TempDir(), "ctl-e2e-", getpid(), "-",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_EQ(std::system(absl::StrCat("mkdir -p ", dir_).c_str()), 0);
    WriteFile("tokens", absl::StrCat("ctl ", kToken, " *\n"));
    token_file_ = WriteFile("token", absl::StrCat(kToken, "\n"));
  }

  // What webhooks-api needs besides flags: the database, key and tokens.
  std::map<std::string, std::string> ApiEnv() const {
    return {{"WEBHOOKS_DATABASE_URL", db_->url()},
            {"WEBHOOKS_SEALING_KEY", sealing_key_},
            {"WEBHOOKS_API_TOKENS_FILE", absl::StrCat(dir_, "/tokens")}};
  }

  // Starts `webhooks-api serve` with `flags` besides the addresses, waits
  // until it serves, and points env_ at it.
  void StartApi(const std::vector<std::string>& flags) {
    std::vector<std::string> argv = {WEBHOOKS_API_BINARY, "serve",
                                     "--grpc_addr=127.0.0.1:0",
                                     "--metrics_addr=127.0.0.1:0"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto api =
        ChildProcess::Start(argv, ApiEnv(), absl::StrCat(dir_, "/api.log"));
    ASSERT_TRUE(api.ok()) << api.status();
    api_ = std::make_unique<ChildProcess>(*std::move(api));
    auto line = api_->WaitForLogLine("serving gRPC", absl::Seconds(30));
    ASSERT_TRUE(line.ok()) << line.status();
    api_line_ = *line;
    const std::optional<int> port = NumberAfter(*line, "(port ");
    ASSERT_TRUE(port.has_value()) << *line;
    // The test runner's own environment may name a token; these override it
    // (webhooksctl treats empty as unset).
    env_ = {{"WEBHOOKS_API_ADDR", absl::StrCat("127.0.0.1:", *port)},
            {"WEBHOOKS_API_TOKEN", kToken},
            {"WEBHOOKS_API_TOKEN_FILE", ""}};
  }

  std::string WriteFile(const std::string& name, const std::string& contents) {
    const std::string path = absl::StrCat(dir_, "/", name);
    FILE* f = std::fopen(path.c_str(), "w");
    EXPECT_NE(f, nullptr) << path;
    if (f != nullptr) {
      std::fputs(contents.c_str(), f);
      std::fclose(f);
    }
    return path;
  }

  // Runs webhooksctl with `args` and the environment `env` (env_ by default)
  // and waits for it to exit.
  CtlRun Ctl(std::vector<std::string> args,
             std::optional<std::map<std::string, std::string>> env = {}) {
    args.insert(args.begin(), WEBHOOKS_CTL_BINARY);
    auto child = ChildProcess::Start(
        args, env.value_or(env_), absl::StrCat(dir_, "/ctl-", ++runs_, ".log"));
    EXPECT_TRUE(child.ok()) << child.status();
    if (!child.ok()) return {};
    const std::optional<int> exit_code = child->Wait(absl::Seconds(30));
    EXPECT_TRUE(exit_code.has_value()) << "still running:\n" << child->Log();
    return {exit_code.value_or(-1), child->Log()};
  }

  // The output of a successful run, parsed as the JSON of `Message`.
  template <typename Message>
  Message Parse(const CtlRun& run) {
    EXPECT_EQ(run.exit_code, 0) << run.output;
    Message message;
    const auto status =
        google::protobuf::util::JsonStringToMessage(run.output, &message);
    EXPECT_TRUE(status.ok()) << std::string(status.message()) << "\n"
                             << run.output;
    return message;
  }

  v1::CreateSubscriptionResponse CreateSubscription() {
    return Parse<v1::CreateSubscriptionResponse>(
        Ctl({"CreateSubscription",
             absl::StrCat(R"({"tenant_id": ")", kTenant, R"(", "subscription": {
             "name": "ctl", "target_url": "https://example.com/hook",
             "event_types": ["engagement_dispatched"],
             "custom_headers": {"Authorization": "Bearer receiver-key-0123"}}})")}));
  }

  std::unique_ptr<TestDatabase> db_;
  std::string dir_;
  std::string token_file_;
  // The API's key ring: one key, id k1.
  const std::string sealing_key_ = security::NewSealingKeySpec();
  std::unique_ptr<ChildProcess> api_;
  // The API's "serving gRPC ..." log line.
  std::string api_line_;
  std::map<std::string, std::string> env_;
  int runs_ = 0;
};

TEST_F(CtlE2eTest, CreatesListsUpdatesAndDeletesSubscriptions) {
  const v1::CreateSubscriptionResponse created = CreateSubscription();
  const std::string id = created.subscription().id();
  EXPECT_THAT(id, StartsWith("sub_"));
  EXPECT_THAT(created.signing_secret(), StartsWith("whsec_"));
  EXPECT_EQ(created.subscription().tenant_id(), kTenant);

  // lowerCamel names, the full method name, and the token from a file.
  std::map<std::string, std::string> file_env = env_;
  file_env["WEBHOOKS_API_TOKEN"] = "";
  file_env["WEBHOOKS_API_TOKEN_FILE"] = token_file_;
  const auto listed = Parse<v1::ListSubscriptionsResponse>(
      Ctl({"webhooks.v1.SubscriptionService/ListSubscriptions",
           absl::StrCat(R"({"tenantId": ")", kTenant, R"(", "pageSize": 10})")},
          file_env));
  ASSERT_EQ(listed.subscriptions_size(), 1);
  EXPECT_EQ(listed.subscriptions(0).id(), id);
  EXPECT_THAT(listed.subscriptions(0).custom_headers().at("Authorization"),
              Not(HasSubstr("receiver-key")))
      << "masked";

  const auto updated = Parse<v1::Subscription>(
      Ctl({"UpdateSubscription",
           absl::StrCat(R"({"tenant_id": ")", kTenant,
                        R"(", "subscription": {"id": ")", id,
                        R"(", "name": "renamed"}, "update_mask": "name"})")}));
  EXPECT_EQ(updated.name(), "renamed");

  const std::string get =
      absl::StrCat(R"({"tenant_id": ")", kTenant, R"(", "id": ")", id, R"("})");
  EXPECT_EQ(Parse<v1::Subscription>(Ctl({"GetSubscription", get})).name(),
            "renamed");
  const CtlRun deleted = Ctl({"DeleteSubscription", get});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.output;
  EXPECT_EQ(deleted.output, "{}\n");
  const CtlRun gone = Ctl({"GetSubscription", get});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_THAT(gone.output, StartsWith("NOT_FOUND: "));
}

TEST_F(CtlE2eTest, PublishesAndPrintsTheStoredBody) {
  CreateSubscription();
  const auto published = Parse<v1::PublishEventResponse>(
      Ctl({"PublishEvent",
           absl::StrCat(R"({"tenant_id": ")", kTenant, R"(", "event": {
           "type": "engagement_dispatched",
           "occurred_at": "2026-11-26T14:03:11.512Z",
           "engagement": {"yess_id": "eng_1", "channel": "email",
                          "action": "new_thread_email",
                          "email": {"subject": "Hello"}}}})")}));
  EXPECT_THAT(published.event_id(), StartsWith("evt_"));
  EXPECT_EQ(published.deliveries_created(), 1);

  const auto batch = Parse<v1::PublishEventsResponse>(
      Ctl({"PublishEvents",
           absl::StrCat(R"({"tenant_id": ")", kTenant, R"(", "items": [
           {"event": {"type": "engagement_dispatched",
                      "occurred_at": "2026-11-26T14:03:12Z",
                      "engagement": {"yess_id": "eng_2", "channel": "email",
                                     "action": "new_thread_email"}}},
           {"event": {"type": "engagement_dispatched"}}]})")}));
  ASSERT_EQ(batch.results_size(), 2);
  EXPECT_EQ(batch.results(0).code(), 0) << batch.results(0).message();
  EXPECT_EQ(batch.results(1).code(), 3);

  const std::string get_event =
      absl::StrCat(R"({"tenant_id": ")", kTenant, R"(", "event_id": ")",
                   published.event_id(), R"("})");
  const std::string stored = db_->QueryValue(absl::StrCat(
      "SELECT body FROM events WHERE id = '", published.event_id(), "'"));
  ASSERT_THAT(stored, HasSubstr(R"("subject":"Hello")"));
  const auto event = Parse<v1::StoredEvent>(Ctl({"GetEvent", get_event}));
  EXPECT_EQ(event.body(), stored);
  EXPECT_EQ(event.type(), "engagement_dispatched");

  const CtlRun body = Ctl({"GetEvent", "--body_only", get_event});
  EXPECT_EQ(body.exit_code, 0) << body.output;
  EXPECT_EQ(body.output, stored) << "the exact bytes, nothing added";
}

// The delivery log through webhooksctl: find the delivery of an event,
// read it, retry it once it failed, recover and discard; and one error.
TEST_F(CtlE2eTest, ListsGetsRetriesRecoversAndDiscardsDeliveries) {
  const auto created = CreateSubscription();
  const std::string sub = created.subscription().id();
  const auto published = Parse<v1::PublishEventResponse>(
      Ctl({"PublishEvent",
           absl::StrCat(R"({"tenant_id": ")", kTenant, R"(", "event": {
           "type": "engagement_dispatched",
           "occurred_at": "2026-11-26T14:03:11.512Z",
           "engagement": {"yess_id": "eng_1", "channel": "email",
                          "action": "new_thread_email"}}})")}));
  const auto listed = Parse<v1::ListDeliveriesResponse>(
      Ctl({"ListDeliveries",
           absl::StrCat(R"({"tenant_id": ")", kTenant, R"(", "event_id": ")",
                        published.event_id(), R"("})")}));
  ASSERT_EQ(listed.deliveries_size(), 1);
  const std::string id = listed.deliveries(0).id();
  EXPECT_EQ(listed.deliveries(0).state(), v1::DELIVERY_STATE_PENDING);
  // As the worker leaves it after the last attempt.
  db_->Query(absl::StrCat(
      "UPDATE deliveries SET state = 'failed', attempts = 10, completed_at = "
      "now() WHERE id = ",
      id.substr(4), " RETURNING 1"));
  const std::string by_id =
      absl::StrCat(R"({"tenant_id": ")", kTenant, R"(", "id": ")", id, R"("})");
  EXPECT_EQ(Parse<v1::Delivery>(Ctl({"GetDelivery", by_id})).state(),
            v1::DELIVERY_STATE_FAILED);
  const auto retried = Parse<v1::Delivery>(Ctl({"RetryDelivery", by_id}));
  EXPECT_EQ(retried.state(), v1::DELIVERY_STATE_PENDING);
  EXPECT_EQ(retried.attempt_count(), 0);

  db_->Query(absl::StrCat(
      "UPDATE deliveries SET state = 'failed', completed_at = now() WHERE id "
      "= ",
      id.substr(4), " RETURNING 1"));
  const std::string since = absl::FormatTime(
      "%Y-%m-%dT%H:%M:%SZ", absl::Now() - absl::Hours(1), absl::UTCTimeZone());
  const auto recovered = Parse<v1::RecoverFailedDeliveriesResponse>(Ctl(
      {"RecoverFailedDeliveries",
       absl::StrCat(R"({"tenant_id": ")", kTenant, R"(", "subscription_id": ")",
                    sub, R"(", "since": ")", since, R"("})")}));
  EXPECT_EQ(recovered.recovered(), 1);

  // Discarding needs the subscription disabled: the error, then success.
  const std::string discard =
      absl::StrCat(R"({"tenant_id": ")", kTenant, R"(", "subscription_id": ")",
                   sub, R"("})");
  const CtlRun refused = Ctl({"DiscardHeldDeliveries", discard});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.output, HasSubstr("FAILED_PRECONDITION"));
  Parse<v1::Subscription>(
      Ctl({"UpdateSubscription",
           absl::StrCat(
               R"({"tenant_id": ")", kTenant, R"(", "subscription": {"id": ")",
               sub, R"(", "enabled": false}, "update_mask": "enabled"})")}));
  const auto discarded = Parse<v1::DiscardHeldDeliveriesResponse>(
      Ctl({"DiscardHeldDeliveries", discard}));
  EXPECT_EQ(discarded.discarded(), 1);
}

// `webhooks-api cleanup`, as a CronJob runs it: deletes what is old enough,
// keeps the rest, says how much, exits 0.
TEST_F(CtlE2eTest, ApiCleanupDeletesWhatIsOldAndExitsZero) {
  CreateSubscription();
  for (const char* yess : {"eng_old", "eng_new"}) {
    Parse<v1::PublishEventResponse>(
        Ctl({"PublishEvent",
             absl::StrCat(R"({"tenant_id": ")", kTenant, R"(", "event": {
           "type": "engagement_dispatched",
           "occurred_at": "2026-11-26T14:03:11.512Z",
           "engagement": {"yess_id": ")",
                          yess, R"(", "channel": "email",
                          "action": "new_thread_email"}}})")}));
  }
  db_->Query(
      "UPDATE deliveries d SET state = 'delivered', completed_at = now(), "
      "created_at = now() - interval '3 days' FROM events e WHERE e.id = "
      "d.event_id AND e.idempotency_key LIKE '%eng_old%' RETURNING 1");
  auto cleanup = ChildProcess::Start(
      {WEBHOOKS_API_BINARY, "cleanup", "--retention_delivered=48h"},
      {{"WEBHOOKS_DATABASE_URL", db_->url()}},
      absl::StrCat(dir_, "/cleanup.log"));
  ASSERT_TRUE(cleanup.ok()) << cleanup.status();
  EXPECT_EQ(cleanup->Wait(absl::Seconds(60)), std::optional<int>(0))
      << cleanup->Log();
  EXPECT_THAT(cleanup->Log(), HasSubstr("cleanup: deleted 1 deliveries"));
  EXPECT_EQ(db_->Count("SELECT count(*) FROM deliveries"), 1);
  // Both events are younger than 48 h: kept.
  EXPECT_EQ(db_->Count("SELECT count(*) FROM events"), 2);

  auto bad = ChildProcess::Start(
      {WEBHOOKS_API_BINARY, "cleanup", "--retention_failed=1m"},
      {{"WEBHOOKS_DATABASE_URL", db_->url()}},
      absl::StrCat(dir_, "/cleanup-bad.log"));
  ASSERT_TRUE(bad.ok()) << bad.status();
  EXPECT_EQ(bad->Wait(absl::Seconds(60)), std::optional<int>(1));
  EXPECT_THAT(bad->Log(), HasSubstr("--retention_failed"));
}

// Key rotation end to end: `webhooks-api reseal` under "k2:NEW,k1:OLD" leaves
// every secret under k2; then a pass with k2 alone succeeds with nothing to
// do (a value still under k1 would stop it: FAILED_PRECONDITION). That the
// values open under k2 unchanged is store/reseal_test.cc's.
TEST_F(CtlE2eTest, ApiResealMovesEverySecretToTheNewKey) {
  const v1::CreateSubscriptionResponse created = CreateSubscription();
  const std::string new_key = security::NewSealingKeySpec();
  const std::string ring = absl::StrCat("k2:", new_key, ",k1:", sealing_key_);
  auto reseal = ChildProcess::Start(
      {WEBHOOKS_API_BINARY, "reseal"},
      {{"WEBHOOKS_DATABASE_URL", db_->url()}, {"WEBHOOKS_SEALING_KEY", ring}},
      absl::StrCat(dir_, "/reseal.log"));
  ASSERT_TRUE(reseal.ok()) << reseal.status();
  EXPECT_EQ(reseal->Wait(absl::Seconds(60)), std::optional<int>(0))
      << reseal->Log();
  EXPECT_THAT(reseal->Log(),
              HasSubstr("reseal: 2 secrets of 1 subscriptions sealed again "
                        "under k2"));
  EXPECT_EQ(db_->Count("SELECT count(*) FROM subscriptions WHERE "
                       "custom_headers_sealed LIKE 'k2:%' AND "
                       "signing_secret_sealed LIKE 'k2:%'"),
            1);
  EXPECT_THAT(reseal->Log(), Not(HasSubstr(new_key)));

  // k1 retired.
  auto again = ChildProcess::Start(
      {WEBHOOKS_API_BINARY, "reseal"},
      {{"WEBHOOKS_DATABASE_URL", db_->url()},
       {"WEBHOOKS_SEALING_KEY", absl::StrCat("k2:", new_key)}},
      absl::StrCat(dir_, "/reseal-again.log"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->Wait(absl::Seconds(60)), std::optional<int>(0))
      << again->Log();
  EXPECT_THAT(again->Log(), HasSubstr("reseal: 0 secrets of 1 subscriptions"));
  EXPECT_NE(created.subscription().id(), "");
}

// The noun-verb subcommands, one happy path each, as an operator types them:
// requests from flags, tables out (--json where a value is parsed).
TEST_F(CtlE2eTest, SubcommandsDriveEveryMethodAndPrintTables) {
  auto ctl = [&](std::vector<std::string> args) {
    args.push_back(absl::StrCat("--tenant=", kTenant));
    return Ctl(std::move(args));
  };
  const std::string headers = WriteFile(
      "headers", "# secrets\nAuthorization: Bearer e2e-secret-0123456789\n");
  CtlRun r = ctl({"subscriptions", "create", "--url=https://example.com/hook",
                  "--types=engagement_dispatched", "--name=ops",
                  absl::StrCat("--headers_file=", headers)});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("signing_secret: whsec_"));
  EXPECT_THAT(r.output, HasSubstr("Authorization: Bear…56789"));
  EXPECT_THAT(r.output, Not(HasSubstr("e2e-secret")));
  const std::string sub =
      db_->QueryValue("SELECT id FROM subscriptions WHERE name = 'ops'");

  r = ctl({"subscriptions", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("id "));  // a table's header
  EXPECT_THAT(r.output, HasSubstr(sub));
  r = ctl({"subscriptions", "get", sub});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("name: ops"));
  r = ctl({"subscriptions", "update", sub, "--name=ops2", "--max_in_flight=5"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("max_in_flight: 5"));
  r = ctl({"subscriptions", "rotate-secret", sub, "--grace=2h"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("previous_secret_expire_time: "));
  r = ctl({"subscriptions", "test", sub});
  EXPECT_EQ(r.exit_code, 0) << r.output;  // the endpoint is unreachable here
  EXPECT_THAT(r.output, HasSubstr("error_class: "));

  const std::string event = WriteFile("event.json", R"({
    "type": "engagement_dispatched", "occurred_at": "2026-11-26T14:03:11.512Z",
    "engagement": {"yess_id": "eng_9", "channel": "email",
                   "action": "new_thread_email"}})");
  r = ctl({"events", "publish", absl::StrCat("--file=", event), "--key=k-9"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("deliveries_created: 1"));
  const std::string event_id =
      db_->QueryValue("SELECT id FROM events WHERE idempotency_key = 'k-9'");
  r = ctl({"events", "get", event_id});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("idempotency_key: k-9"));

  r = ctl({"deliveries", "list", absl::StrCat("--subscription=", sub),
           "--state=pending"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string dlv = absl::StrCat(
      "dlv_",
      db_->QueryValue(absl::StrCat(
          "SELECT id FROM deliveries WHERE event_id = '", event_id, "'")));
  EXPECT_THAT(r.output, HasSubstr(dlv));
  db_->Query(absl::StrCat(
      "UPDATE deliveries SET state = 'failed', completed_at = now() WHERE id "
      "= ",
      dlv.substr(4), " RETURNING 1"));
  r = ctl({"deliveries", "get", dlv});
  EXPECT_THAT(r.output, HasSubstr("state: failed"));
  r = ctl({"deliveries", "retry", dlv});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("state: pending"));
  r = ctl({"deliveries", "recover", absl::StrCat("--subscription=", sub),
           "--since=2026-01-01T00:00:00Z", "--until=2026-01-10T00:00:00Z"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("recovered: 0"));
  r = ctl({"subscriptions", "update", sub, "--enabled=false"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = ctl({"deliveries", "discard", absl::StrCat("--subscription=", sub)});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("discarded: 1"));
  r = ctl({"subscriptions", "stats", sub});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("enabled: false"));
  r = ctl({"subscriptions", "delete", sub});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(db_->Count("SELECT count(*) FROM subscriptions"), 0);

  // Errors: the call's (exit 1, the gRPC code), and the command line's (2).
  r = ctl({"deliveries", "get", "dlv_999999"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("NOT_FOUND"));
  r = Ctl({"deliveries", "list"});  // no --tenant
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("--tenant"));
  r = ctl({"subscriptions", "frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  r = Ctl({"deliveries", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("webhooksctl deliveries recover"));
}

TEST_F(CtlE2eTest, MissingTokenIsUnauthenticatedAndExitsOne) {
  std::map<std::string, std::string> no_token = env_;
  no_token["WEBHOOKS_API_TOKEN"] = "";
  const CtlRun run = Ctl({"ListSubscriptions",
                          absl::StrCat(R"({"tenant_id": ")", kTenant, R"("})")},
                         no_token);
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.output, StartsWith("UNAUTHENTICATED: "));
}

TEST_F(CtlE2eTest, BadJsonOrUnknownMethodExitsTwo) {
  const CtlRun bad_json = Ctl({"ListSubscriptions", R"({"tenant_id": )"});
  EXPECT_EQ(bad_json.exit_code, 2);
  EXPECT_THAT(bad_json.output, HasSubstr("bad request JSON"));

  const CtlRun unknown_field = Ctl({"ListSubscriptions", R"({"tenant": "x"})"});
  EXPECT_EQ(unknown_field.exit_code, 2);
  EXPECT_THAT(unknown_field.output, HasSubstr("tenant"));

  const CtlRun unknown_method = Ctl({"listSubscriptions", "{}"});
  EXPECT_EQ(unknown_method.exit_code, 2);
  EXPECT_THAT(unknown_method.output, HasSubstr("ListSubscriptions"));
  EXPECT_THAT(unknown_method.output, HasSubstr("GetEvent"));
}

// The API over mutual TLS, started with its three --tls_* flags, and
// webhooksctl with a client certificate. Certificates are made per test
// (tests/testing/test_pki.h).
class CtlTlsE2eTest : public CtlE2eTest {
 protected:
  void SetUp() override {
    Prepare();
    if (HasFatalFailure()) return;
    auto server_ca = testing::TestCa::Create("e2e server CA");
    ASSERT_TRUE(server_ca.ok()) << server_ca.status();
    auto client_ca = testing::TestCa::Create("e2e client CA");
    ASSERT_TRUE(client_ca.ok()) << client_ca.status();
    testing::CertificateSpec server_spec;
    server_spec.subject_alt_names = "DNS:localhost,IP:127.0.0.1";
    auto server = server_ca->Issue(server_spec);
    ASSERT_TRUE(server.ok()) << server.status();
    testing::CertificateSpec client_spec;
    client_spec.common_name = "operator";
    client_spec.extended_key_usage = "clientAuth";
    auto client = client_ca->Issue(client_spec);
    ASSERT_TRUE(client.ok()) << client.status();
    server_key_pem_ = server->key_pem;
    server_ca_file_ = WriteFile("server-ca.pem", server_ca->cert_pem());
    server_cert_file_ = WriteFile("server.pem", server->cert_pem);
    server_key_file_ = WriteFile("server-key.pem", server->key_pem);
    client_ca_file_ = WriteFile("client-ca.pem", client_ca->cert_pem());
    client_cert_file_ = WriteFile("client.pem", client->cert_pem);
    client_key_file_ = WriteFile("client-key.pem", client->key_pem);
  }

  // Runs `webhooks-api serve` with `flags` and `env` besides ApiEnv(),
  // expecting it to refuse to start: its exit code and output.
  CtlRun ApiRefusal(const std::vector<std::string>& flags,
                    const std::map<std::string, std::string>& env = {}) {
    std::vector<std::string> argv = {WEBHOOKS_API_BINARY, "serve",
                                     "--grpc_addr=127.0.0.1:0",
                                     "--metrics_addr=127.0.0.1:0"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    std::map<std::string, std::string> all_env = ApiEnv();
    all_env.insert(env.begin(), env.end());
    auto api = ChildProcess::Start(
        argv, all_env, absl::StrCat(dir_, "/api-refused-", ++runs_, ".log"));
    EXPECT_TRUE(api.ok()) << api.status();
    if (!api.ok()) return {};
    // Refusing is immediate; a server that did not refuse would serve until
    // killed, and fail this wait.
    const std::optional<int> exit_code = api->Wait(absl::Seconds(30));
    EXPECT_TRUE(exit_code.has_value()) << "still running:\n" << api->Log();
    return {exit_code.value_or(-1), api->Log()};
  }

  std::string ListRequest() const {
    return absl::StrCat(R"({"tenant_id": ")", kTenant, R"("})");
  }

  std::string server_key_pem_;
  std::string server_ca_file_;
  std::string server_cert_file_;
  std::string server_key_file_;
  std::string client_ca_file_;
  std::string client_cert_file_;
  std::string client_key_file_;
};

TEST_F(CtlTlsE2eTest, CtlCallsTheApiOverMutualTls) {
  StartApi({absl::StrCat("--tls_cert_file=", server_cert_file_),
            absl::StrCat("--tls_key_file=", server_key_file_),
            absl::StrCat("--tls_client_ca_file=", client_ca_file_)});
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_THAT(api_line_, HasSubstr("over mutual TLS"));
  EXPECT_THAT(api_->Log(), Not(HasSubstr("PRIVATE KEY")));

  const CtlRun created =
      Ctl({"--tls", absl::StrCat("--ca_file=", server_ca_file_),
           absl::StrCat("--cert_file=", client_cert_file_),
           absl::StrCat("--key_file=", client_key_file_), "CreateSubscription",
           absl::StrCat(R"({"tenant_id": ")", kTenant, R"(", "subscription": {
       "name": "tls", "target_url": "https://example.com/hook",
       "event_types": ["engagement_dispatched"]}})")});
  const auto response = Parse<v1::CreateSubscriptionResponse>(created);
  EXPECT_THAT(response.subscription().id(), StartsWith("sub_"));
  EXPECT_EQ(db_->QueryValue(absl::StrCat(
                "SELECT count(*) FROM subscriptions WHERE tenant_id = '",
                kTenant, "'")),
            "1");

  // Without its certificate, or without TLS, the same call cannot connect.
  const CtlRun no_certificate =
      Ctl({"--tls", absl::StrCat("--ca_file=", server_ca_file_),
           "ListSubscriptions", ListRequest()});
  EXPECT_EQ(no_certificate.exit_code, 1) << no_certificate.output;
  EXPECT_THAT(no_certificate.output, StartsWith("UNAVAILABLE: "));
  const CtlRun plaintext = Ctl({"ListSubscriptions", ListRequest()});
  EXPECT_EQ(plaintext.exit_code, 1) << plaintext.output;
  EXPECT_THAT(plaintext.output, StartsWith("UNAVAILABLE: "));
}

TEST_F(CtlTlsE2eTest, CtlRefusesClientCertificateFlagsThatDoNotGoTogether) {
  // Refused before any connection is tried: no API is running.
  CtlRun r = Ctl({absl::StrCat("--cert_file=", client_cert_file_),
                  absl::StrCat("--key_file=", client_key_file_),
                  "ListSubscriptions", ListRequest()});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("--cert_file needs --tls"));
  r = Ctl({"--tls", absl::StrCat("--cert_file=", client_cert_file_),
           "ListSubscriptions", ListRequest()});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("--cert_file needs --key_file"));
  r = Ctl({"--tls", absl::StrCat("--cert_file=", client_cert_file_),
           absl::StrCat("--key_file=", dir_, "/no-such-key.pem"),
           "ListSubscriptions", ListRequest()});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr(absl::StrCat("--key_file: no such file: ",
                                               dir_, "/no-such-key.pem")));
}

TEST_F(CtlTlsE2eTest, ApiRefusesToStartWithIncompleteOrUnreadableTlsFiles) {
  CtlRun r = ApiRefusal({absl::StrCat("--tls_cert_file=", server_cert_file_)});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("--tls_key_file: required"));

  // The environment variable is the flag.
  r = ApiRefusal({}, {{"WEBHOOKS_TLS_KEY_FILE", server_key_file_}});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("--tls_cert_file: required"));
  EXPECT_THAT(r.output, Not(HasSubstr("PRIVATE KEY")));

  r = ApiRefusal({absl::StrCat("--tls_client_ca_file=", client_ca_file_)});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("--tls_client_ca_file: needs"));

  const std::string missing = absl::StrCat(dir_, "/no-such-key.pem");
  r = ApiRefusal({absl::StrCat("--tls_cert_file=", server_cert_file_),
                  absl::StrCat("--tls_key_file=", missing)});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr(absl::StrCat("--tls_key_file: no such file: ",
                                               missing)));

  // The files swapped: refused naming the file, and the key never printed.
  r = ApiRefusal({absl::StrCat("--tls_cert_file=", server_key_file_),
                  absl::StrCat("--tls_key_file=", server_cert_file_)});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output,
              HasSubstr(absl::StrCat("--tls_cert_file: ", server_key_file_,
                                     ": no PEM certificate")));
  EXPECT_THAT(r.output, Not(HasSubstr("PRIVATE KEY")));
  EXPECT_THAT(r.output, Not(HasSubstr(server_key_pem_.substr(40, 40))));
}

}  // namespace
}  // namespace webhooks
