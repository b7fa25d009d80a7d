// SubscriptionService through real gRPC against real PostgreSQL.
#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>

#include <cstdint>
#include <limits>
#include <set>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/common/ids.h"
#include "lib/domain/custom_headers.h"
#include "lib/security/sealed_fields.h"
#include "lib/security/signing_secret.h"
#include "tests/integration/api/api_fixture.h"

namespace webhooks::api {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;
using ::webhooks::testing::RandomTenant;

constexpr char kSecretHeaderValue[] = "Bearer live-secret-value-0123456789-key";

v1::CreateSubscriptionRequest FullRequest(const std::string& tenant) {
  v1::CreateSubscriptionRequest request;
  request.set_tenant_id(tenant);
  v1::Subscription* s = request.mutable_subscription();
  s->set_name("CRM sync");
  s->set_target_url("https://hooks.example.com/yess?src=webhooks");
  s->add_event_types("engagement_dispatched");
  s->add_event_types("inbound_engagement");
  (*s->mutable_custom_headers())["Authorization"] = kSecretHeaderValue;
  (*s->mutable_custom_headers())["X-Webhook-Token"] =
      "tok_abcdefghijklmnopqrstuvwxyz";
  return request;
}

long long CountSubscriptions(const std::string& tenant) {
  return ApiTest::db().Count(absl::StrCat(
      "SELECT count(*) FROM subscriptions WHERE tenant_id = '", tenant, "'"));
}

// The delivery lane of subscription `id`: "enabled,max_in_flight" ("true,64").
std::string LaneOf(const std::string& id) {
  return ApiTest::db().QueryValue(absl::StrCat(
      "SELECT enabled::text || ',' || max_in_flight FROM delivery_lanes "
      "WHERE subscription_id = '",
      id, "'"));
}

class SubscriptionApiTest : public ApiTest {
 protected:
  v1::Subscription Get(const std::string& tenant, const std::string& id) {
    v1::GetSubscriptionRequest request;
    request.set_tenant_id(tenant);
    request.set_id(id);
    v1::Subscription s;
    grpc::Status status =
        subscriptions().GetSubscription(Context().get(), request, &s);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return s;
  }

  // Updates the fields of `fields` named by `paths`, asserting success.
  v1::Subscription Update(const std::string& tenant, const std::string& id,
                          v1::Subscription fields,
                          const std::vector<std::string>& paths) {
    v1::UpdateSubscriptionRequest request;
    request.set_tenant_id(tenant);
    *request.mutable_subscription() = std::move(fields);
    request.mutable_subscription()->set_id(id);
    for (const std::string& path : paths) {
      request.mutable_update_mask()->add_paths(path);
    }
    v1::Subscription updated;
    grpc::Status status =
        subscriptions().UpdateSubscription(Context().get(), request, &updated);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return updated;
  }
};

TEST_F(SubscriptionApiTest, CreateGetListUpdateDeleteRoundTrip) {
  const std::string tenant = RandomTenant();
  v1::CreateSubscriptionResponse created;
  ASSERT_TRUE(
      subscriptions()
          .CreateSubscription(Context().get(), FullRequest(tenant), &created)
          .ok());
  const v1::Subscription& s = created.subscription();
  EXPECT_THAT(s.id(), ::testing::MatchesRegex("sub_[0-9A-Z]{26}"));
  EXPECT_EQ(s.tenant_id(), tenant);
  EXPECT_EQ(s.name(), "CRM sync");
  EXPECT_EQ(s.target_url(), "https://hooks.example.com/yess?src=webhooks");
  EXPECT_THAT(s.event_types(), ::testing::ElementsAre("engagement_dispatched",
                                                      "inbound_engagement"));
  EXPECT_TRUE(s.enabled());
  EXPECT_TRUE(s.has_create_time());
  EXPECT_TRUE(security::IsWellFormedSigningSecret(created.signing_secret()));
  // Header values come back masked, never in full.
  EXPECT_EQ(s.custom_headers().at("Authorization"), "Bear…9-key");
  EXPECT_EQ(s.custom_headers().at("X-Webhook-Token"), "tok_…vwxyz");

  v1::GetSubscriptionRequest get;
  get.set_tenant_id(tenant);
  get.set_id(s.id());
  v1::Subscription fetched;
  ASSERT_TRUE(
      subscriptions().GetSubscription(Context().get(), get, &fetched).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(fetched, s))
      << fetched.DebugString() << " vs " << s.DebugString();

  v1::ListSubscriptionsRequest list;
  list.set_tenant_id(tenant);
  v1::ListSubscriptionsResponse listed;
  ASSERT_TRUE(
      subscriptions().ListSubscriptions(Context().get(), list, &listed).ok());
  ASSERT_EQ(listed.subscriptions_size(), 1);
  EXPECT_EQ(listed.subscriptions(0).id(), s.id());
  EXPECT_EQ(listed.next_page_token(), "");

  v1::UpdateSubscriptionRequest update;
  update.set_tenant_id(tenant);
  update.mutable_subscription()->set_id(s.id());
  update.mutable_subscription()->set_name("renamed");
  update.mutable_subscription()->set_target_url("https://ignored.example.com/");
  update.mutable_update_mask()->add_paths("name");
  v1::Subscription updated;
  ASSERT_TRUE(subscriptions()
                  .UpdateSubscription(Context().get(), update, &updated)
                  .ok());
  EXPECT_EQ(updated.name(), "renamed");
  // Only masked fields change.
  EXPECT_EQ(updated.target_url(), s.target_url());
  EXPECT_EQ(updated.custom_headers().at("Authorization"), "Bear…9-key");
  EXPECT_GE(google::protobuf::util::TimeUtil::TimestampToMicroseconds(
                updated.update_time()),
            google::protobuf::util::TimeUtil::TimestampToMicroseconds(
                s.update_time()));

  v1::DeleteSubscriptionRequest del;
  del.set_tenant_id(tenant);
  del.set_id(s.id());
  google::protobuf::Empty empty;
  ASSERT_TRUE(
      subscriptions().DeleteSubscription(Context().get(), del, &empty).ok());
  grpc::Status gone =
      subscriptions().GetSubscription(Context().get(), get, &fetched);
  EXPECT_EQ(gone.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(subscriptions()
                .DeleteSubscription(Context().get(), del, &empty)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(SubscriptionApiTest, SecretsAreNeverStoredInPlaintext) {
  const std::string tenant = RandomTenant();
  v1::CreateSubscriptionResponse created;
  ASSERT_TRUE(
      subscriptions()
          .CreateSubscription(Context().get(), FullRequest(tenant), &created)
          .ok());
  // Every column of the row, as text.
  const std::string row = db().QueryValue(
      absl::StrCat("SELECT s::text FROM subscriptions s WHERE id = '",
                   created.subscription().id(), "'"));
  EXPECT_THAT(row, Not(HasSubstr("live-secret-value")));
  EXPECT_THAT(row, Not(HasSubstr("tok_abcdefghijklmnopqrstuvwxyz")));
  EXPECT_THAT(row, Not(HasSubstr(created.signing_secret().substr(6))));
  EXPECT_THAT(row,
              HasSubstr("https://hooks.example.com/yess"));  // the row was read
}

TEST_F(SubscriptionApiTest,
       StartDisabledCreatesADisabledSubscriptionWithAReason) {
  const std::string tenant = RandomTenant();
  v1::CreateSubscriptionResponse created = CreateSubscription(
      tenant, {"engagement_dispatched"}, /*start_disabled=*/true);
  EXPECT_FALSE(created.subscription().enabled());
  EXPECT_NE(created.subscription().disabled_reason(), "");
}

TEST_F(SubscriptionApiTest, ListPagesThroughEverySubscriptionOnce) {
  const std::string tenant = RandomTenant();
  const std::string other = RandomTenant();
  std::set<std::string> ids;
  for (int i = 0; i < 27; ++i) {
    ids.insert(
        CreateSubscription(tenant, {"inbound_engagement"}).subscription().id());
  }
  CreateSubscription(other, {"inbound_engagement"});

  std::set<std::string> seen;
  std::vector<int> page_sizes;
  v1::ListSubscriptionsRequest request;
  request.set_tenant_id(tenant);
  request.set_page_size(10);
  std::string last_id;
  do {
    v1::ListSubscriptionsResponse response;
    grpc::Status status =
        subscriptions().ListSubscriptions(Context().get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    page_sizes.push_back(response.subscriptions_size());
    for (const auto& s : response.subscriptions()) {
      EXPECT_EQ(s.tenant_id(), tenant);
      EXPECT_GT(s.id(), last_id);  // creation order
      last_id = s.id();
      EXPECT_TRUE(seen.insert(s.id()).second) << "listed twice: " << s.id();
    }
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty());
  EXPECT_EQ(seen, ids);
  EXPECT_THAT(page_sizes, ::testing::ElementsAre(10, 10, 7));
}

TEST_F(SubscriptionApiTest,
       ListRejectsForeignAndMalformedPageTokensAndNegativeSizes) {
  const std::string tenant = RandomTenant();
  const std::string other = RandomTenant();
  for (int i = 0; i < 3; ++i) CreateSubscription(other, {"inbound_engagement"});
  v1::ListSubscriptionsRequest request;
  request.set_tenant_id(other);
  request.set_page_size(1);
  v1::ListSubscriptionsResponse response;
  ASSERT_TRUE(subscriptions()
                  .ListSubscriptions(Context().get(), request, &response)
                  .ok());
  ASSERT_NE(response.next_page_token(), "");

  // Another tenant's token.
  request.set_tenant_id(tenant);
  request.set_page_token(response.next_page_token());
  grpc::Status status =
      subscriptions().ListSubscriptions(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("page_token"));

  request.set_page_token("not a token!");
  status =
      subscriptions().ListSubscriptions(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("page_token"));

  request.set_page_token("");
  request.set_page_size(-1);
  status =
      subscriptions().ListSubscriptions(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("page_size"));
}

TEST_F(SubscriptionApiTest, ListCapsThePageSizeAt500) {
  const std::string tenant = RandomTenant();
  // 501 subscriptions through the store: 501 RPCs would only slow the test.
  absl::BitGen rng;
  for (int i = 0; i < 501; ++i) {
    store::SubscriptionRecord r;
    r.id = common::NewId(common::kSubscriptionIdPrefix, absl::Now(), rng);
    r.tenant_id = tenant;
    r.target_url = "https://x.example.com/";
    r.event_types = {"inbound_engagement"};
    r.custom_headers_sealed = *sealer().Seal(
        "", absl::StrCat("subscription/", r.id, "/custom_headers"));
    r.signing_secret_sealed = "unused";
    r.max_in_flight = 64;
    ASSERT_TRUE(subscription_store().Create(r, absl::InfiniteFuture()).ok());
  }
  v1::ListSubscriptionsRequest request;
  request.set_tenant_id(tenant);
  request.set_page_size(100000);
  v1::ListSubscriptionsResponse response;
  grpc::Status status =
      subscriptions().ListSubscriptions(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.subscriptions_size(), 500);
  EXPECT_NE(response.next_page_token(), "");

  request.set_page_size(0);  // the default
  ASSERT_TRUE(subscriptions()
                  .ListSubscriptions(Context().get(), request, &response)
                  .ok());
  EXPECT_EQ(response.subscriptions_size(), 50);
}

TEST_F(SubscriptionApiTest, UpdateMaskReplacesOnlyTheListedFields) {
  const std::string tenant = RandomTenant();
  v1::CreateSubscriptionResponse created;
  ASSERT_TRUE(
      subscriptions()
          .CreateSubscription(Context().get(), FullRequest(tenant), &created)
          .ok());
  const std::string id = created.subscription().id();

  v1::UpdateSubscriptionRequest update;
  update.set_tenant_id(tenant);
  v1::Subscription* s = update.mutable_subscription();
  s->set_id(id);
  s->set_target_url("https://new.example.com/hook");
  s->add_event_types("engagement_status_changed");
  (*s->mutable_custom_headers())["X-Api-Key"] = "k-0123456789abcdefghijklmn";
  s->set_name("should not change");
  update.mutable_update_mask()->add_paths("target_url");
  update.mutable_update_mask()->add_paths("event_types");
  update.mutable_update_mask()->add_paths("custom_headers");
  v1::Subscription updated;
  ASSERT_TRUE(subscriptions()
                  .UpdateSubscription(Context().get(), update, &updated)
                  .ok());
  EXPECT_EQ(updated.target_url(), "https://new.example.com/hook");
  EXPECT_THAT(updated.event_types(),
              ::testing::ElementsAre("engagement_status_changed"));
  // custom_headers replaces the whole map.
  EXPECT_EQ(updated.custom_headers().size(), 1u);
  // 26 bytes: at most a third is shown.
  EXPECT_EQ(updated.custom_headers().at("X-Api-Key"), "k-0…jklmn");
  EXPECT_EQ(updated.name(), "CRM sync");

  // Disable, then enable: the reason is set, then cleared.
  update.Clear();
  update.set_tenant_id(tenant);
  update.mutable_subscription()->set_id(id);
  update.mutable_subscription()->set_enabled(false);
  update.mutable_update_mask()->add_paths("enabled");
  ASSERT_TRUE(subscriptions()
                  .UpdateSubscription(Context().get(), update, &updated)
                  .ok());
  EXPECT_FALSE(updated.enabled());
  EXPECT_NE(updated.disabled_reason(), "");
  update.mutable_subscription()->set_enabled(true);
  ASSERT_TRUE(subscriptions()
                  .UpdateSubscription(Context().get(), update, &updated)
                  .ok());
  EXPECT_TRUE(updated.enabled());
  EXPECT_EQ(updated.disabled_reason(), "");
}

// The stored custom headers of `id`, opened (what the worker would send).
domain::HeaderMap StoredHeaders(const std::string& id) {
  const std::string sealed = ApiTest::db().QueryValue(absl::StrCat(
      "SELECT custom_headers_sealed FROM subscriptions WHERE id = '", id, "'"));
  absl::StatusOr<std::string> encoded = ApiTest::sealer().Open(
      sealed,
      security::SubscriptionFieldAad(id, security::kCustomHeadersField));
  EXPECT_TRUE(encoded.ok()) << encoded.status();
  absl::StatusOr<domain::HeaderMap> headers =
      domain::DecodeHeaders(encoded.value_or(""));
  EXPECT_TRUE(headers.ok()) << headers.status();
  return headers.value_or(domain::HeaderMap{});
}

// A client that reads a subscription and writes its headers back would store
// the masked text as the secret: refused, naming the header, and nothing
// changes. A single header changes through update_mask custom_headers.<name>.
TEST_F(SubscriptionApiTest,
       MaskedHeaderWriteBackIsRefusedAndSingleHeadersUpdate) {
  const std::string tenant = RandomTenant();
  v1::CreateSubscriptionResponse created;
  ASSERT_TRUE(
      subscriptions()
          .CreateSubscription(Context().get(), FullRequest(tenant), &created)
          .ok());
  const std::string id = created.subscription().id();
  const domain::HeaderMap original = StoredHeaders(id);
  ASSERT_EQ(original.at("Authorization"), kSecretHeaderValue);

  // Read, change the name, write everything back (headers masked).
  v1::UpdateSubscriptionRequest update;
  update.set_tenant_id(tenant);
  *update.mutable_subscription() = Get(tenant, id);
  update.mutable_subscription()->set_name("renamed");
  update.mutable_update_mask()->add_paths("name");
  update.mutable_update_mask()->add_paths("custom_headers");
  v1::Subscription updated;
  grpc::Status status =
      subscriptions().UpdateSubscription(Context().get(), update, &updated);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              HasSubstr("subscription.custom_headers.Authorization"));
  EXPECT_THAT(status.error_message(), Not(HasSubstr("live-secret")));
  EXPECT_EQ(StoredHeaders(id), original);
  EXPECT_EQ(Get(tenant, id).name(), "CRM sync");
  // Also with the name in another case.
  update.mutable_subscription()->mutable_custom_headers()->clear();
  (*update.mutable_subscription()->mutable_custom_headers())["authorization"] =
      "Bear…9-key";
  EXPECT_EQ(subscriptions()
                .UpdateSubscription(Context().get(), update, &updated)
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // One header set, one removed, the rest kept as stored.
  update.Clear();
  update.set_tenant_id(tenant);
  update.mutable_subscription()->set_id(id);
  (*update.mutable_subscription()
        ->mutable_custom_headers())["X-Webhook-Token"] =
      "tok_rotated_0123456789abcdefgh";
  (*update.mutable_subscription()->mutable_custom_headers())["Authorization"] =
      "ignored: not in the mask";
  update.mutable_update_mask()->add_paths("custom_headers.x-webhook-token");
  update.mutable_update_mask()->add_paths("custom_headers.X-Gone");
  status =
      subscriptions().UpdateSubscription(Context().get(), update, &updated);
  ASSERT_TRUE(status.ok()) << status.error_message();
  domain::HeaderMap expected = original;
  expected["X-Webhook-Token"] = "tok_rotated_0123456789abcdefgh";
  EXPECT_EQ(StoredHeaders(id), expected);
  EXPECT_EQ(updated.custom_headers().at("X-Webhook-Token"), "tok_…defgh");

  update.mutable_update_mask()->Clear();
  update.mutable_update_mask()->add_paths("custom_headers.Authorization");
  update.mutable_subscription()->mutable_custom_headers()->erase(
      "Authorization");
  ASSERT_TRUE(subscriptions()
                  .UpdateSubscription(Context().get(), update, &updated)
                  .ok());
  expected.erase("Authorization");
  EXPECT_EQ(StoredHeaders(id), expected);

  // Whole map and single headers in one mask: refused.
  update.mutable_update_mask()->add_paths("custom_headers");
  status =
      subscriptions().UpdateSubscription(Context().get(), update, &updated);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("update_mask"));
  EXPECT_EQ(StoredHeaders(id), expected);
}

TEST_F(SubscriptionApiTest, RotateReturnsANewSecretAndKeepsTheOldForTheGrace) {
  const std::string tenant = RandomTenant();
  v1::CreateSubscriptionResponse created;
  ASSERT_TRUE(
      subscriptions()
          .CreateSubscription(Context().get(), FullRequest(tenant), &created)
          .ok());
  const std::string id = created.subscription().id();
  EXPECT_FALSE(created.subscription().has_previous_secret_expire_time());
  auto open = [&](const std::string& column, absl::string_view field) {
    absl::StatusOr<std::string> v = sealer().Open(
        db().QueryValue(absl::StrCat(
            "SELECT ", column, " FROM subscriptions WHERE id = '", id, "'")),
        security::SubscriptionFieldAad(id, field));
    EXPECT_TRUE(v.ok()) << v.status();
    return v.value_or("");
  };

  v1::RotateSigningSecretRequest request;
  request.set_tenant_id(tenant);
  request.set_id(id);
  v1::RotateSigningSecretResponse rotated;
  const absl::Time before = absl::Now();
  grpc::Status status =
      subscriptions().RotateSigningSecret(Context().get(), request, &rotated);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(security::IsWellFormedSigningSecret(rotated.signing_secret()));
  EXPECT_NE(rotated.signing_secret(), created.signing_secret());
  EXPECT_EQ(open("signing_secret_sealed", security::kSigningSecretField),
            rotated.signing_secret());
  EXPECT_EQ(open("previous_signing_secret_sealed",
                 security::kPreviousSigningSecretField),
            created.signing_secret());
  // The default grace: 24 h from the rotation.
  const int64_t expires =
      rotated.subscription().previous_secret_expire_time().seconds();
  EXPECT_GE(expires, absl::ToUnixSeconds(before + absl::Hours(24)) - 1);
  EXPECT_LE(expires, absl::ToUnixSeconds(absl::Now() + absl::Hours(24)) + 1);
  EXPECT_EQ(Get(tenant, id).previous_secret_expire_time().seconds(), expires);
  // Never in plaintext.
  EXPECT_EQ(db().Count(absl::StrCat(
                "SELECT count(*) FROM subscriptions WHERE id = '", id,
                "' AND (signing_secret_sealed LIKE '%whsec%' OR "
                "previous_signing_secret_sealed LIKE '%whsec%')")),
            0);

  // Rotating again: the secret of the first rotation becomes the previous
  // one; 0 ends it at once.
  request.mutable_grace_period()->set_seconds(0);
  v1::RotateSigningSecretResponse again;
  ASSERT_TRUE(subscriptions()
                  .RotateSigningSecret(Context().get(), request, &again)
                  .ok());
  EXPECT_EQ(open("previous_signing_secret_sealed",
                 security::kPreviousSigningSecretField),
            rotated.signing_secret());
  EXPECT_FALSE(again.subscription().has_previous_secret_expire_time());

  // Errors change nothing.
  const std::string sealed_now = db().QueryValue(absl::StrCat(
      "SELECT signing_secret_sealed FROM subscriptions WHERE id = '", id, "'"));
  struct Case {
    std::string name;
    v1::RotateSigningSecretRequest request;
    grpc::StatusCode code;
  };
  std::vector<Case> cases;
  {
    Case c{"eight days", request, grpc::StatusCode::INVALID_ARGUMENT};
    c.request.mutable_grace_period()->set_seconds(8 * 24 * 3600);
    cases.push_back(c);
  }
  {
    Case c{"negative", request, grpc::StatusCode::INVALID_ARGUMENT};
    c.request.mutable_grace_period()->set_seconds(-1);
    cases.push_back(c);
  }
  {
    Case c{"no id", request, grpc::StatusCode::INVALID_ARGUMENT};
    c.request.clear_id();
    cases.push_back(c);
  }
  {
    Case c{"another tenant", request, grpc::StatusCode::NOT_FOUND};
    c.request.set_tenant_id(RandomTenant());
    cases.push_back(c);
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::RotateSigningSecretResponse response;
    EXPECT_EQ(subscriptions()
                  .RotateSigningSecret(Context().get(), c.request, &response)
                  .error_code(),
              c.code);
  }
  EXPECT_EQ(db().QueryValue(absl::StrCat(
                "SELECT signing_secret_sealed FROM subscriptions WHERE id = '",
                id, "'")),
            sealed_now);
  // Exactly seven days is allowed.
  request.mutable_grace_period()->set_seconds(7 * 24 * 3600);
  EXPECT_TRUE(subscriptions()
                  .RotateSigningSecret(Context().get(), request, &again)
                  .ok());
}

TEST_F(SubscriptionApiTest, BadUpdatesAreRejectedAndChangeNothing) {
  const std::string tenant = RandomTenant();
  v1::CreateSubscriptionResponse created;
  ASSERT_TRUE(
      subscriptions()
          .CreateSubscription(Context().get(), FullRequest(tenant), &created)
          .ok());
  const std::string id = created.subscription().id();
  const std::string before = db().QueryValue(absl::StrCat(
      "SELECT s::text FROM subscriptions s WHERE id = '", id, "'"));

  struct Case {
    std::string path;
    std::function<void(v1::Subscription*)> set;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"", [](v1::Subscription*) {}, "update_mask"},
      {"tenant_id", [](v1::Subscription* s) { s->set_tenant_id("x"); },
       "update_mask"},
      {"signing_secret", [](v1::Subscription*) {}, "update_mask"},
      {"target_url",
       [](v1::Subscription* s) {
         s->set_target_url("http://plain.example.com/");
       },
       "subscription.target_url"},
      {"event_types", [](v1::Subscription* s) { s->add_event_types("nope"); },
       "subscription.event_types"},
      {"event_types", [](v1::Subscription*) {}, "subscription.event_types"},
      {"custom_headers",
       [](v1::Subscription* s) {
         (*s->mutable_custom_headers())["Host"] = "evil.example.com";
       },
       "subscription.custom_headers"},
      {"name", [](v1::Subscription* s) { s->set_name(std::string(201, 'n')); },
       "subscription.name"},
      {"max_in_flight", [](v1::Subscription* s) { s->set_max_in_flight(-1); },
       "subscription.max_in_flight"},
  };
  for (const Case& c : cases) {
    v1::UpdateSubscriptionRequest update;
    update.set_tenant_id(tenant);
    update.mutable_subscription()->set_id(id);
    c.set(update.mutable_subscription());
    if (!c.path.empty()) update.mutable_update_mask()->add_paths(c.path);
    v1::Subscription updated;
    grpc::Status status =
        subscriptions().UpdateSubscription(Context().get(), update, &updated);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.path;
    EXPECT_THAT(status.error_message(), StartsWith(c.field)) << c.path;
  }
  EXPECT_EQ(db().QueryValue(absl::StrCat(
                "SELECT s::text FROM subscriptions s WHERE id = '", id, "'")),
            before);

  v1::UpdateSubscriptionRequest missing;
  missing.set_tenant_id(tenant);
  missing.mutable_subscription()->set_id("sub_01JD7X3G2Q5T6X8V9W0Y1Z2A3B");
  missing.mutable_update_mask()->add_paths("name");
  v1::Subscription updated;
  EXPECT_EQ(subscriptions()
                .UpdateSubscription(Context().get(), missing, &updated)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(SubscriptionApiTest, InvalidCreatesNameTheFieldAndWriteNothing) {
  const std::string tenant = RandomTenant();
  struct Case {
    std::string name;
    std::function<void(v1::CreateSubscriptionRequest*)> mutate;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"http",
       [](auto* r) {
         r->mutable_subscription()->set_target_url("http://a.example.com/");
       },
       "subscription.target_url"},
      {"no url", [](auto* r) { r->mutable_subscription()->clear_target_url(); },
       "subscription.target_url"},
      {"userinfo",
       [](auto* r) {
         r->mutable_subscription()->set_target_url(
             "https://u:p@a.example.com/");
       },
       "subscription.target_url"},
      {"no types",
       [](auto* r) { r->mutable_subscription()->clear_event_types(); },
       "subscription.event_types"},
      {"unknown type",
       [](auto* r) {
         r->mutable_subscription()->add_event_types("email_opened");
       },
       "subscription.event_types"},
      {"header CRLF",
       [](auto* r) {
         (*r->mutable_subscription()->mutable_custom_headers())["X-A"] =
             "a\r\nInjected: 1";
       },
       "subscription.custom_headers"},
      {"webhook- header",
       [](auto* r) {
         (*r->mutable_subscription()
               ->mutable_custom_headers())["webhook-signature"] = "x";
       },
       "subscription.custom_headers"},
      {"tenant mismatch",
       [](auto* r) { r->mutable_subscription()->set_tenant_id("other"); },
       "subscription.tenant_id"},
      {"bad tenant", [](auto* r) { r->set_tenant_id("bad tenant!"); },
       "tenant_id"},
      {"max_in_flight above the limit",
       [](auto* r) { r->mutable_subscription()->set_max_in_flight(1001); },
       "subscription.max_in_flight"},
  };
  for (const Case& c : cases) {
    v1::CreateSubscriptionRequest request = FullRequest(tenant);
    c.mutate(&request);
    v1::CreateSubscriptionResponse response;
    grpc::Status status =
        subscriptions().CreateSubscription(Context().get(), request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.name;
    EXPECT_THAT(status.error_message(), StartsWith(c.field)) << c.name;
    EXPECT_THAT(status.error_message(), Not(HasSubstr("live-secret")))
        << c.name;
  }
  EXPECT_EQ(CountSubscriptions(tenant), 0);
}

TEST_F(SubscriptionApiTest, CreateAppliesTheServerDefaultMaxInFlight) {
  const std::string tenant = RandomTenant();
  // CreateSubscription leaves max_in_flight 0.
  const v1::Subscription created =
      CreateSubscription(tenant, {"engagement_dispatched"}).subscription();
  EXPECT_EQ(created.max_in_flight(), 64);
  EXPECT_EQ(Get(tenant, created.id()).max_in_flight(), 64);
  EXPECT_EQ(db().QueryValue(absl::StrCat(
                "SELECT max_in_flight FROM subscriptions WHERE id = '",
                created.id(), "'")),
            "64");
  EXPECT_EQ(LaneOf(created.id()), "true,64");
}

TEST_F(SubscriptionApiTest, CreateStoresAndReturnsAnExplicitMaxInFlight) {
  const std::string tenant = RandomTenant();
  for (int value : {1, 7, 1000}) {
    v1::CreateSubscriptionRequest request = FullRequest(tenant);
    request.mutable_subscription()->set_max_in_flight(value);
    v1::CreateSubscriptionResponse created;
    grpc::Status status =
        subscriptions().CreateSubscription(Context().get(), request, &created);
    ASSERT_TRUE(status.ok()) << value << ": " << status.error_message();
    const std::string id = created.subscription().id();
    EXPECT_EQ(created.subscription().max_in_flight(), value);
    EXPECT_EQ(Get(tenant, id).max_in_flight(), value);
    EXPECT_EQ(LaneOf(id), absl::StrCat("true,", value));
  }
  v1::ListSubscriptionsRequest list;
  list.set_tenant_id(tenant);
  v1::ListSubscriptionsResponse listed;
  ASSERT_TRUE(
      subscriptions().ListSubscriptions(Context().get(), list, &listed).ok());
  std::vector<int> values;
  for (const v1::Subscription& s : listed.subscriptions()) {
    values.push_back(s.max_in_flight());
  }
  EXPECT_THAT(values, ::testing::ElementsAre(1, 7, 1000));  // creation order
}

TEST_F(SubscriptionApiTest, UpdateChangesMaxInFlightAndItsLaneFollows) {
  const std::string tenant = RandomTenant();
  v1::CreateSubscriptionRequest request = FullRequest(tenant);
  request.mutable_subscription()->set_max_in_flight(7);
  v1::CreateSubscriptionResponse created;
  ASSERT_TRUE(subscriptions()
                  .CreateSubscription(Context().get(), request, &created)
                  .ok());
  const std::string id = created.subscription().id();

  v1::Subscription fields;
  fields.set_max_in_flight(200);
  v1::Subscription updated = Update(tenant, id, fields, {"max_in_flight"});
  EXPECT_EQ(updated.max_in_flight(), 200);
  EXPECT_EQ(updated.name(), "CRM sync");  // only the masked field changes
  EXPECT_EQ(Get(tenant, id).max_in_flight(), 200);
  EXPECT_EQ(LaneOf(id), "true,200");

  // Another field: max_in_flight keeps its value, also when the message
  // carries a different one.
  fields.Clear();
  fields.set_name("renamed");
  fields.set_max_in_flight(5);
  updated = Update(tenant, id, fields, {"name"});
  EXPECT_EQ(updated.name(), "renamed");
  EXPECT_EQ(updated.max_in_flight(), 200);
  EXPECT_EQ(LaneOf(id), "true,200");

  // Disabling keeps the cap; the lane mirrors both.
  fields.Clear();
  fields.set_enabled(false);
  updated = Update(tenant, id, fields, {"enabled"});
  EXPECT_EQ(updated.max_in_flight(), 200);
  EXPECT_EQ(LaneOf(id), "false,200");

  // 0 is the server default, as on create.
  fields.Clear();
  fields.set_max_in_flight(0);
  updated = Update(tenant, id, fields, {"max_in_flight"});
  EXPECT_EQ(updated.max_in_flight(), 64);
  EXPECT_FALSE(updated.enabled());
  EXPECT_EQ(Get(tenant, id).max_in_flight(), 64);
  EXPECT_EQ(LaneOf(id), "false,64");
}

TEST_F(SubscriptionApiTest, OutOfRangeMaxInFlightIsRejectedAndChangesNothing) {
  const std::string tenant = RandomTenant();
  constexpr char kRule[] =
      "subscription.max_in_flight: must be between 1 and 1000 (0 for the "
      "server default of 64)";
  for (int value : {-1, 1001, std::numeric_limits<int32_t>::min(),
                    std::numeric_limits<int32_t>::max()}) {
    v1::CreateSubscriptionRequest request = FullRequest(tenant);
    request.mutable_subscription()->set_max_in_flight(value);
    v1::CreateSubscriptionResponse response;
    grpc::Status status =
        subscriptions().CreateSubscription(Context().get(), request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << value;
    EXPECT_THAT(status.error_message(), StartsWith(kRule)) << value;
  }
  EXPECT_EQ(CountSubscriptions(tenant), 0);

  const std::string id =
      CreateSubscription(tenant, {"engagement_dispatched"}).subscription().id();
  const std::string before = db().QueryValue(absl::StrCat(
      "SELECT s::text FROM subscriptions s WHERE id = '", id, "'"));
  for (int value : {-1, 1001}) {
    v1::UpdateSubscriptionRequest update;
    update.set_tenant_id(tenant);
    update.mutable_subscription()->set_id(id);
    update.mutable_subscription()->set_name("valid, but not applied");
    update.mutable_subscription()->set_max_in_flight(value);
    update.mutable_update_mask()->add_paths("name");
    update.mutable_update_mask()->add_paths("max_in_flight");
    v1::Subscription updated;
    grpc::Status status =
        subscriptions().UpdateSubscription(Context().get(), update, &updated);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << value;
    EXPECT_THAT(status.error_message(), StartsWith(kRule)) << value;
  }
  EXPECT_EQ(db().QueryValue(absl::StrCat(
                "SELECT s::text FROM subscriptions s WHERE id = '", id, "'")),
            before);
  EXPECT_EQ(LaneOf(id), "true,64");
}

// "Held" is not a delivery state: disabling and enabling a subscription
// writes its row and its lane's, and no delivery row, whatever the backlog.
TEST_F(SubscriptionApiTest, DisablingAndEnablingLeavesPendingDeliveriesAlone) {
  const std::string tenant = RandomTenant();
  const std::string id =
      CreateSubscription(tenant, {"engagement_dispatched"}).subscription().id();
  for (const char* engagement : {"eng_1", "eng_2", "eng_3"}) {
    v1::PublishEventRequest publish;
    publish.set_tenant_id(tenant);
    *publish.mutable_event() = DispatchedEmailEvent(engagement);
    v1::PublishEventResponse published;
    grpc::Status status =
        events().PublishEvent(Context().get(), publish, &published);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(published.deliveries_created(), 1);
  }
  // Each delivery's state and xmin: xmin changes whenever a row is written,
  // so equal lists mean no row was touched.
  const std::string rows_query = absl::StrCat(
      "SELECT state || '/' || xmin::text FROM deliveries "
      "WHERE subscription_id = '",
      id, "' ORDER BY id");
  const std::vector<std::string> before = db().Query(rows_query);
  ASSERT_EQ(before.size(), 3u);
  for (const std::string& row : before)
    EXPECT_THAT(row, StartsWith("pending/"));
  EXPECT_EQ(LaneOf(id), "true,64");

  v1::Subscription fields;
  fields.set_enabled(false);
  EXPECT_FALSE(Update(tenant, id, fields, {"enabled"}).enabled());
  EXPECT_EQ(db().Query(rows_query), before);
  EXPECT_EQ(LaneOf(id), "false,64");

  fields.set_enabled(true);
  EXPECT_TRUE(Update(tenant, id, fields, {"enabled"}).enabled());
  EXPECT_EQ(db().Query(rows_query), before);
  EXPECT_EQ(LaneOf(id), "true,64");
}

TEST_F(SubscriptionApiTest, MissingIdsAreInvalidArguments) {
  v1::GetSubscriptionRequest get;
  get.set_tenant_id(RandomTenant());
  v1::Subscription s;
  grpc::Status status =
      subscriptions().GetSubscription(Context().get(), get, &s);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("id"));
}

// Ids and field paths come back in error messages: escaped and cut short,
// never the 100 KB a client sent (which would also land in logs).
TEST_F(SubscriptionApiTest, ErrorsEchoAtMostABoundedEscapedPieceOfTheInput) {
  const std::string tenant = RandomTenant();
  std::string huge = "sub_\n";
  while (huge.size() < 100 * 1024) huge += "0123456789";
  auto expect_bounded = [&](const std::string& what, const grpc::Status& s) {
    EXPECT_FALSE(s.ok()) << what;
    EXPECT_LT(s.error_message().size(), 300u) << what;
    EXPECT_THAT(s.error_message(), Not(HasSubstr("\n"))) << what;
    EXPECT_THAT(s.error_message(), HasSubstr("\"sub_\\n0123456789")) << what;
    EXPECT_THAT(s.error_message(), HasSubstr("...\"")) << what;
  };
  {
    v1::GetSubscriptionRequest r;
    r.set_tenant_id(tenant);
    r.set_id(huge);
    v1::Subscription out;
    expect_bounded("GetSubscription",
                   subscriptions().GetSubscription(Context().get(), r, &out));
  }
  {
    v1::DeleteSubscriptionRequest r;
    r.set_tenant_id(tenant);
    r.set_id(huge);
    google::protobuf::Empty out;
    expect_bounded("DeleteSubscription", subscriptions().DeleteSubscription(
                                             Context().get(), r, &out));
  }
  {
    v1::UpdateSubscriptionRequest r;
    r.set_tenant_id(tenant);
    r.mutable_subscription()->set_id("sub_01JD7X3G2Q5T6X8V9W0Y1Z2A3B");
    r.mutable_update_mask()->add_paths(huge);
    v1::Subscription out;
    expect_bounded(
        "UpdateSubscription update_mask",
        subscriptions().UpdateSubscription(Context().get(), r, &out));
  }
  {
    v1::GetEventRequest r;
    r.set_tenant_id(tenant);
    r.set_event_id(huge);
    v1::StoredEvent out;
    expect_bounded("GetEvent", events().GetEvent(Context().get(), r, &out));
  }
  {
    v1::GetDeliveryRequest r;
    r.set_tenant_id(tenant);
    r.set_id(huge);
    v1::Delivery out;
    expect_bounded("GetDelivery",
                   deliveries().GetDelivery(Context().get(), r, &out));
  }
  {
    v1::DiscardHeldDeliveriesRequest r;
    r.set_tenant_id(tenant);
    r.set_subscription_id(huge);
    v1::DiscardHeldDeliveriesResponse out;
    expect_bounded("DiscardHeldDeliveries", deliveries().DiscardHeldDeliveries(
                                                Context().get(), r, &out));
  }
}

}  // namespace
}  // namespace webhooks::api
