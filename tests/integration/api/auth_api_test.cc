// Every authentication and authorisation outcome, through real gRPC.
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/api/api_fixture.h"

namespace webhooks::api {
namespace {

using ::webhooks::testing::RandomTenant;

class AuthApiTest : public ApiTest {
 protected:
  grpc::StatusCode ListWith(std::unique_ptr<grpc::ClientContext> context,
                            const std::string& tenant) {
    v1::ListSubscriptionsRequest request;
    request.set_tenant_id(tenant);
    v1::ListSubscriptionsResponse response;
    return subscriptions()
        .ListSubscriptions(context.get(), request, &response)
        .error_code();
  }
};

TEST_F(AuthApiTest, MissingMalformedOrUnknownTokensAreUnauthenticated) {
  EXPECT_EQ(ListWith(Context(""), "acme"), grpc::StatusCode::UNAUTHENTICATED);
  auto basic = std::make_unique<grpc::ClientContext>();
  basic->AddMetadata("authorization", absl::StrCat("Basic ", kAdminToken));
  EXPECT_EQ(ListWith(std::move(basic), "acme"),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ListWith(Context("wrong-token-0123456789abcdef"), "acme"),
            grpc::StatusCode::UNAUTHENTICATED);
  // A prefix of a real token is not the token.
  EXPECT_EQ(ListWith(Context(std::string(kAdminToken).substr(0, 20)), "acme"),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ListWith(Context(""), "bad tenant!"),
            grpc::StatusCode::UNAUTHENTICATED)
      << "authentication comes before any other check";
}

TEST_F(AuthApiTest, TokensActOnlyForTheirTenants) {
  EXPECT_EQ(ListWith(Context(kLimitedToken), "acme"), grpc::StatusCode::OK);
  EXPECT_EQ(ListWith(Context(kLimitedToken), "globex"), grpc::StatusCode::OK);
  EXPECT_EQ(ListWith(Context(kLimitedToken), "initech"),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(ListWith(Context(kAdminToken), "initech"), grpc::StatusCode::OK);
  EXPECT_EQ(ListWith(Context(kLimitedToken), ""),
            grpc::StatusCode::INVALID_ARGUMENT);

  // Every RPC checks, not just List.
  v1::PublishEventRequest publish;
  publish.set_tenant_id("initech");
  *publish.mutable_event() = DispatchedEmailEvent();
  v1::PublishEventResponse published;
  EXPECT_EQ(events()
                .PublishEvent(Context(kLimitedToken).get(), publish, &published)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(events()
                .PublishEvent(Context("").get(), publish, &published)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  v1::PublishEventsRequest batch;
  batch.set_tenant_id("initech");
  v1::PublishEventsResponse batch_response;
  EXPECT_EQ(
      events()
          .PublishEvents(Context(kLimitedToken).get(), batch, &batch_response)
          .error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  v1::CreateSubscriptionRequest create;
  create.set_tenant_id("initech");
  v1::CreateSubscriptionResponse created;
  EXPECT_EQ(
      subscriptions()
          .CreateSubscription(Context(kLimitedToken).get(), create, &created)
          .error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(
      db().Count("SELECT count(*) FROM events WHERE tenant_id = 'initech'"), 0);
}

TEST_F(AuthApiTest, AnotherTenantsResourcesAreNotFound) {
  const std::string owner = RandomTenant();
  const std::string stranger = RandomTenant();
  const std::string id =
      CreateSubscription(owner, {"engagement_dispatched"}).subscription().id();

  v1::GetSubscriptionRequest get;
  get.set_tenant_id(stranger);
  get.set_id(id);
  v1::Subscription s;
  EXPECT_EQ(
      subscriptions().GetSubscription(Context().get(), get, &s).error_code(),
      grpc::StatusCode::NOT_FOUND);

  v1::UpdateSubscriptionRequest update;
  update.set_tenant_id(stranger);
  update.mutable_subscription()->set_id(id);
  update.mutable_subscription()->set_name("hijacked");
  update.mutable_update_mask()->add_paths("name");
  EXPECT_EQ(subscriptions()
                .UpdateSubscription(Context().get(), update, &s)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);

  v1::DeleteSubscriptionRequest del;
  del.set_tenant_id(stranger);
  del.set_id(id);
  google::protobuf::Empty empty;
  EXPECT_EQ(subscriptions()
                .DeleteSubscription(Context().get(), del, &empty)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);

  v1::ListSubscriptionsRequest list;
  list.set_tenant_id(stranger);
  v1::ListSubscriptionsResponse listed;
  ASSERT_TRUE(
      subscriptions().ListSubscriptions(Context().get(), list, &listed).ok());
  EXPECT_EQ(listed.subscriptions_size(), 0);

  v1::PublishEventRequest publish;
  publish.set_tenant_id(owner);
  *publish.mutable_event() = DispatchedEmailEvent();
  v1::PublishEventResponse published;
  ASSERT_TRUE(events().PublishEvent(Context().get(), publish, &published).ok());
  v1::GetEventRequest get_event;
  get_event.set_tenant_id(stranger);
  get_event.set_event_id(published.event_id());
  v1::StoredEvent event;
  EXPECT_EQ(events().GetEvent(Context().get(), get_event, &event).error_code(),
            grpc::StatusCode::NOT_FOUND);

  // Nothing changed for the owner.
  get.set_tenant_id(owner);
  ASSERT_TRUE(subscriptions().GetSubscription(Context().get(), get, &s).ok());
  EXPECT_EQ(s.name(), "test");
}

}  // namespace
}  // namespace webhooks::api
