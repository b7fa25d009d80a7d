// SendTestEvent through a real server, PostgreSQL and a real TLS receiver:
// what arrives is a real delivery's request (signature, headers, body), the
// answer carries what the endpoint did, nothing is stored, and the address
// policy applies as it does to deliveries.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/common/clock.h"
#include "lib/delivery/address_policy.h"
#include "lib/delivery/curl_http_transport.h"
#include "lib/security/api_tokens.h"
#include "lib/security/sealer.h"
#include "lib/store/pg_pool.h"
#include "lib/store/pg_stores.h"
#include "services/api/event_codec.h"
#include "services/api/sample_events.h"
#include "services/api/server.h"
#include "tests/testing/expected_signature.h"
#include "tests/testing/test_database.h"
#include "tests/testing/tls_receiver.h"
#include "webhooks/v1/subscription_service.grpc.pb.h"

namespace webhooks::api {
namespace {

using ::testing::HasSubstr;
using ::webhooks::testing::ExpectedSignature;
using ::webhooks::testing::ReceivedRequest;
using ::webhooks::testing::ReceiverResponse;
using ::webhooks::testing::TlsReceiver;

constexpr char kToken[] = "test-event-token-0123456789";
constexpr char kTenant[] = "acme";

// A server of its own (a transport that trusts the receiver's CA, and allows
// loopback only when `allow_loopback`) over a fresh database.
class TestEventApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto receiver = TlsReceiver::Create();
    ASSERT_TRUE(receiver.ok()) << receiver.status();
    receiver_ = *std::move(receiver);
    auto db = testing::TestDatabase::Create();
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    auto pool = store::PgPool::Create({.database_url = db_->url(), .size = 4});
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
    subscriptions_ = store::NewPgSubscriptionStore(pool_.get());
    events_ = store::NewPgEventStore(pool_.get());
    deliveries_ = store::NewPgDeliveryLogStore(pool_.get());
    auto sealer = security::Sealer::FromSpec(security::NewSealingKeySpec());
    ASSERT_TRUE(sealer.ok()) << sealer.status();
    sealer_ = std::make_unique<security::Sealer>(*std::move(sealer));
    auto tokens =
        security::ApiTokens::Parse(absl::StrCat("t ", kToken, " *\n"));
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    tokens_ = std::make_unique<security::ApiTokens>(*std::move(tokens));
  }

  void StartServer(bool allow_loopback) {
    delivery::CurlTransportOptions options;
    options.ca_bundle = receiver_->ca_pem_path();
    options.user_agent = "webhooks-test/1";
    options.connect_timeout = absl::Seconds(5);
    options.total_timeout = absl::Seconds(10);
    options.address_policy =
        delivery::AddressPolicy::Create(allow_loopback ? "127.0.0.0/8" : "")
            .value();
    auto transport = delivery::NewCurlHttpTransport(options);
    ASSERT_TRUE(transport.ok()) << transport.status();
    transport_ = *std::move(transport);
    ServerOptions server_options;
    server_options.listen_address = "127.0.0.1:0";
    auto server =
        ApiServer::Start(server_options, {.subscriptions = subscriptions_.get(),
                                          .events = events_.get(),
                                          .deliveries = deliveries_.get(),
                                          .sealer = sealer_.get(),
                                          .tokens = tokens_.get(),
                                          .clock = common::Clock::Real(),
                                          .transport = transport_.get()});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::SubscriptionService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                            grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    server_.reset();
    transport_.reset();
  }

  std::unique_ptr<grpc::ClientContext> Context() {
    auto c = std::make_unique<grpc::ClientContext>();
    c->AddMetadata("authorization", absl::StrCat("Bearer ", kToken));
    c->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(20));
    return c;
  }

  v1::CreateSubscriptionResponse Create(const std::string& url) {
    v1::CreateSubscriptionRequest request;
    request.set_tenant_id(kTenant);
    request.mutable_subscription()->set_target_url(url);
    request.mutable_subscription()->add_event_types("inbound_engagement");
    (*request.mutable_subscription()
          ->mutable_custom_headers())["Authorization"] =
        "Bearer test-receiver-secret-0123456789";
    v1::CreateSubscriptionResponse response;
    grpc::Status s =
        stub_->CreateSubscription(Context().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }

  grpc::Status Send(const std::string& id, const std::string& type,
                    v1::SendTestEventResponse* out,
                    const std::string& tenant = kTenant) {
    v1::SendTestEventRequest request;
    request.set_tenant_id(tenant);
    request.set_id(id);
    request.set_event_type(type);
    return stub_->SendTestEvent(Context().get(), request, out);
  }

  long long Stored() {
    return db_->Count(
        "SELECT (SELECT count(*) FROM events) + "
        "(SELECT count(*) FROM deliveries)");
  }

  std::unique_ptr<TlsReceiver> receiver_;
  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<store::PgPool> pool_;
  std::unique_ptr<store::SubscriptionStore> subscriptions_;
  std::unique_ptr<store::EventStore> events_;
  std::unique_ptr<store::DeliveryLogStore> deliveries_;
  std::unique_ptr<security::Sealer> sealer_;
  std::unique_ptr<security::ApiTokens> tokens_;
  std::unique_ptr<delivery::HttpTransport> transport_;
  std::unique_ptr<ApiServer> server_;
  std::unique_ptr<v1::SubscriptionService::Stub> stub_;
};

TEST_F(TestEventApiTest, SendsASignedSampleAndReportsWhatTheEndpointDid) {
  StartServer(/*allow_loopback=*/true);
  const v1::CreateSubscriptionResponse created =
      Create(receiver_->ip_url("/hook"));
  receiver_->RespondWith({.status = 202, .body = "accepted \xFF"});

  v1::SendTestEventResponse sent;
  // No type: the subscription's first.
  grpc::Status status = Send(created.subscription().id(), "", &sent);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(sent.status_code(), 202);
  EXPECT_EQ(sent.error_class(), "success");
  EXPECT_EQ(sent.response_excerpt(), "accepted \xEF\xBF\xBD");
  EXPECT_GT(sent.duration().nanos() + sent.duration().seconds(), 0);
  // The sample of the type, under the fresh id, byte for byte.
  absl::StatusOr<std::string> expected =
      RenderBody(*SampleEvent("inbound_engagement"), sent.event_id());
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(sent.body(), *expected);

  ASSERT_EQ(receiver_->request_count(), 1u);
  const ReceivedRequest r = receiver_->requests()[0];
  EXPECT_EQ(r.path, "/hook");
  EXPECT_EQ(r.body, sent.body());
  EXPECT_EQ(r.Header("webhook-id"), sent.event_id());
  EXPECT_EQ(r.Header("webhook-event"), "inbound_engagement");
  EXPECT_EQ(r.Header("webhook-attempt"), "1");
  EXPECT_EQ(r.Header("Authorization"),
            "Bearer test-receiver-secret-0123456789");
  EXPECT_EQ(r.Header("webhook-signature"),
            ExpectedSignature(created.signing_secret(), sent.event_id(),
                              r.Header("webhook-timestamp"), r.body));
  // Not stored, not to be delivered.
  EXPECT_EQ(Stored(), 0);

  // Another type, and an endpoint answering 500.
  receiver_->RespondWith({.status = 500, .body = "boom"});
  status =
      Send(created.subscription().id(), "engagement_status_changed", &sent);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(sent.status_code(), 500);
  EXPECT_EQ(sent.error_class(), "http_5xx");
  EXPECT_EQ(sent.response_excerpt(), "boom");
  EXPECT_THAT(sent.body(),
              HasSubstr("\"event\":\"engagement_status_changed\""));
  EXPECT_EQ(receiver_->request_count(), 2u);
  EXPECT_EQ(Stored(), 0);

  // An endpoint that echoes our headers: the answer redacts the header
  // values, which reads only ever show masked.
  receiver_->RespondWith(
      {.status = 401,
       .body =
           "denied: Authorization: Bearer test-receiver-secret-0123456789"});
  status = Send(created.subscription().id(), "engagement_dispatched", &sent);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(sent.response_excerpt(), "denied: Authorization: [redacted]");
}

TEST_F(TestEventApiTest, RefusedAddressesAreNeverContacted) {
  StartServer(/*allow_loopback=*/false);
  const v1::CreateSubscriptionResponse created =
      Create(receiver_->ip_url("/hook"));
  v1::SendTestEventResponse sent;
  grpc::Status status = Send(created.subscription().id(), "", &sent);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(sent.error_class(), "blocked_address");
  EXPECT_EQ(sent.status_code(), 0);
  EXPECT_EQ(receiver_->request_count(), 0u);
}

TEST_F(TestEventApiTest, BadRequestsGetPreciseErrors) {
  StartServer(/*allow_loopback=*/true);
  const std::string id = Create(receiver_->ip_url("/hook")).subscription().id();
  v1::SendTestEventResponse sent;
  grpc::Status s = Send(id, "engagement_exploded", &sent);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("event_type"));
  EXPECT_EQ(Send("", "", &sent).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Send("sub_nope", "", &sent).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Send(id, "", &sent, "globex").error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(receiver_->request_count(), 0u);
}

}  // namespace
}  // namespace webhooks::api
