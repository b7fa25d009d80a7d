#include "tests/integration/api/api_fixture.h"

#include "absl/strings/str_cat.h"
#include "lib/common/clock.h"

namespace webhooks::api {
namespace {

struct Shared {
  std::unique_ptr<testing::TestDatabase> db;
  std::unique_ptr<store::PgPool> pool;
  std::unique_ptr<store::SubscriptionStore> subscriptions;
  std::unique_ptr<store::EventStore> events;
  std::unique_ptr<store::DeliveryLogStore> deliveries;
  std::unique_ptr<security::Sealer> sealer;
  std::unique_ptr<security::ApiTokens> tokens;
  std::unique_ptr<ApiServer> server;
  std::shared_ptr<grpc::Channel> channel;
};

Shared* shared = nullptr;

}  // namespace

void ApiTest::SetUpTestSuite() {
  shared = new Shared;
  auto db = testing::TestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  shared->db = *std::move(db);
  auto pool =
      store::PgPool::Create({.database_url = shared->db->url(),
                             .size = 4,
                             .acquire_timeout = absl::Milliseconds(300)});
  ASSERT_TRUE(pool.ok()) << pool.status();
  shared->pool = *std::move(pool);
  shared->subscriptions = store::NewPgSubscriptionStore(shared->pool.get());
  shared->events = store::NewPgEventStore(shared->pool.get());
  shared->deliveries = store::NewPgDeliveryLogStore(shared->pool.get());
  auto sealer = security::Sealer::FromSpec(security::NewSealingKeySpec());
  ASSERT_TRUE(sealer.ok()) << sealer.status();
  shared->sealer = std::make_unique<security::Sealer>(*std::move(sealer));
  auto tokens = security::ApiTokens::Parse(absl::StrCat(
      "admin ", kAdminToken, " *\nlimited ", kLimitedToken, " acme,globex\n",
      "tenant-a ", kTenantAToken, " ", kIsolatedTenantA, "\n", "tenant-b ",
      kTenantBToken, " ", kIsolatedTenantB, "\n"));
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  shared->tokens = std::make_unique<security::ApiTokens>(*std::move(tokens));

  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.max_threads = 32;
  auto server =
      ApiServer::Start(options, {.subscriptions = shared->subscriptions.get(),
                                 .events = shared->events.get(),
                                 .deliveries = shared->deliveries.get(),
                                 .sealer = shared->sealer.get(),
                                 .tokens = shared->tokens.get(),
                                 .clock = common::Clock::Real()});
  ASSERT_TRUE(server.ok()) << server.status();
  shared->server = *std::move(server);
  shared->channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", shared->server->port()),
                          grpc::InsecureChannelCredentials());
}

void ApiTest::TearDownTestSuite() {
  if (shared == nullptr) return;
  shared->channel.reset();
  shared->server.reset();
  shared->deliveries.reset();
  shared->events.reset();
  shared->subscriptions.reset();
  shared->pool.reset();
  shared->db.reset();
  delete shared;
  shared = nullptr;
}

void ApiTest::SetUp() {
  ASSERT_NE(shared, nullptr);
  ASSERT_NE(shared->server, nullptr) << "server did not start";
  subscriptions_ = v1::SubscriptionService::NewStub(shared->channel);
  events_ = v1::EventService::NewStub(shared->channel);
  deliveries_ = v1::DeliveryService::NewStub(shared->channel);
}

std::unique_ptr<grpc::ClientContext> ApiTest::Context(
    const std::string& token) {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!token.empty())
    context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(10));
  return context;
}

std::shared_ptr<grpc::Channel> ApiTest::channel() { return shared->channel; }
testing::TestDatabase& ApiTest::db() { return *shared->db; }
store::PgPool& ApiTest::pool() { return *shared->pool; }
store::SubscriptionStore& ApiTest::subscription_store() {
  return *shared->subscriptions;
}
const security::Sealer& ApiTest::sealer() { return *shared->sealer; }

v1::CreateSubscriptionResponse ApiTest::CreateSubscription(
    const std::string& tenant, std::vector<std::string> types,
    bool start_disabled) {
  v1::CreateSubscriptionRequest request;
  request.set_tenant_id(tenant);
  request.set_start_disabled(start_disabled);
  v1::Subscription* s = request.mutable_subscription();
  s->set_name("test");
  s->set_target_url("https://hooks.example.com/in");
  for (auto& t : types) s->add_event_types(t);
  v1::CreateSubscriptionResponse response;
  grpc::Status status =
      subscriptions_->CreateSubscription(Context().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

v1::Event ApiTest::DispatchedEmailEvent(const std::string& engagement_id) {
  v1::Event event;
  event.set_type("engagement_dispatched");
  event.mutable_occurred_at()->set_seconds(1795701791);
  event.mutable_occurred_at()->set_nanos(512000000);
  event.mutable_account()->set_yess_id("acc_8f2c");
  event.mutable_account()->set_name("Acme Corp");
  event.mutable_lead()->set_yess_id("lead_51aa");
  event.mutable_lead()->set_email("dana@acme.com");
  v1::Engagement* e = event.mutable_engagement();
  e->set_yess_id(engagement_id);
  e->set_channel("email");
  e->set_action("new_thread_email");
  e->set_status("sent");
  e->mutable_email()->set_subject("Quick question");
  e->mutable_email()->add_to("dana@acme.com");
  return event;
}

}  // namespace webhooks::api
