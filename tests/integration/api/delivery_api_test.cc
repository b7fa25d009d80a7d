// DeliveryService through the real server and PostgreSQL: the delivery log,
// retry by hand, recovering a window of failures, discarding held
// deliveries, and their errors. Delivery states other than pending are made
// with SQL (what a worker's outcome write leaves), so each case is exact.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/api/api_fixture.h"

namespace webhooks::api {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::webhooks::testing::RandomTenant;

class DeliveryApiTest : public ApiTest {
 protected:
  // Publishes one event of `tenant` (a distinct key each time) and returns
  // the ids ("dlv_N") of the deliveries it made, by subscription id order.
  std::vector<std::string> PublishOne(const std::string& tenant) {
    v1::PublishEventRequest request;
    request.set_tenant_id(tenant);
    request.set_idempotency_key(absl::StrCat("k-", ++published_));
    *request.mutable_event() = DispatchedEmailEvent();
    v1::PublishEventResponse response;
    grpc::Status status =
        events().PublishEvent(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::vector<std::string> ids;
    for (const std::string& id : db().Query(
             absl::StrCat("SELECT id FROM deliveries WHERE event_id = '",
                          response.event_id(), "' ORDER BY subscription_id"))) {
      ids.push_back(absl::StrCat("dlv_", id));
    }
    return ids;
  }

  static std::string Num(const std::string& dlv) { return dlv.substr(4); }

  // Sets the delivery's row as a worker's writes would leave it.
  static void SetState(const std::string& dlv, const std::string& state,
                       int attempts) {
    db().Query(absl::StrCat(
        "UPDATE deliveries SET state = '", state, "', attempts = ", attempts,
        ", completed_at = CASE WHEN '", state,
        "' = 'pending' THEN NULL ELSE now() END, last_status = 500, "
        "last_error_class = 'http_5xx', next_attempt_at = now() + interval "
        "'1 hour' WHERE id = ",
        Num(dlv), " RETURNING 1"));
  }

  grpc::Status List(const v1::ListDeliveriesRequest& request,
                    v1::ListDeliveriesResponse* response) {
    return deliveries().ListDeliveries(Context().get(), request, response);
  }

  // Every delivery id a listing returns, following its pages.
  std::vector<std::string> ListAll(v1::ListDeliveriesRequest request,
                                   int page_size, int* pages = nullptr) {
    std::vector<std::string> ids;
    request.set_page_size(page_size);
    int n = 0;
    while (true) {
      v1::ListDeliveriesResponse response;
      grpc::Status status = List(request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      ++n;
      for (const v1::Delivery& d : response.deliveries()) ids.push_back(d.id());
      if (response.next_page_token().empty()) break;
      request.set_page_token(response.next_page_token());
    }
    if (pages != nullptr) *pages = n;
    return ids;
  }

  grpc::Status Get(const std::string& tenant, const std::string& id,
                   v1::Delivery* out) {
    v1::GetDeliveryRequest request;
    request.set_tenant_id(tenant);
    request.set_id(id);
    return deliveries().GetDelivery(Context().get(), request, out);
  }

  grpc::Status Retry(const std::string& tenant, const std::string& id,
                     v1::Delivery* out) {
    v1::RetryDeliveryRequest request;
    request.set_tenant_id(tenant);
    request.set_id(id);
    return deliveries().RetryDelivery(Context().get(), request, out);
  }

  static std::string Row(const std::string& dlv) {
    return db().QueryValue(absl::StrCat(
        "SELECT concat_ws('/', state, attempts, next_attempt_at <= now(), "
        "completed_at IS NULL) FROM deliveries WHERE id = ",
        Num(dlv)));
  }

  int published_ = 0;
};

google::protobuf::Timestamp Ts(absl::Time t) {
  google::protobuf::Timestamp out;
  out.set_seconds(absl::ToUnixSeconds(t));
  return out;
}

TEST_F(DeliveryApiTest, ListIsNewestFirstPagesWithoutGapsAndFilters) {
  const std::string tenant = RandomTenant();
  const std::string a =
      CreateSubscription(tenant, {"engagement_dispatched"}).subscription().id();
  const std::string b =
      CreateSubscription(tenant, {"engagement_dispatched"}).subscription().id();
  std::vector<std::string> all;  // newest first
  std::vector<std::string> of_a;
  for (int i = 0; i < 4; ++i) {
    std::vector<std::string> ids = PublishOne(tenant);
    ASSERT_EQ(ids.size(), 2u);
    const bool a_first = a < b;
    of_a.insert(of_a.begin(), a_first ? ids[0] : ids[1]);
    // Same created_at within one event: ties go by id, descending.
    all.insert(all.begin(), ids.begin(), ids.end());
  }
  // Within one publish both rows share created_at: newest first means the
  // higher id first.
  std::vector<std::string> expected = all;
  for (size_t i = 0; i + 1 < expected.size(); i += 2) {
    if (std::stoll(Num(expected[i])) < std::stoll(Num(expected[i + 1])))
      std::swap(expected[i], expected[i + 1]);
  }

  v1::ListDeliveriesRequest request;
  request.set_tenant_id(tenant);
  int pages = 0;
  EXPECT_THAT(ListAll(request, 3, &pages), ElementsAreArray(expected));
  EXPECT_EQ(pages, 3);  // 3 + 3 + 2
  EXPECT_THAT(ListAll(request, 0), ElementsAreArray(expected));

  request.set_subscription_id(a);
  EXPECT_THAT(ListAll(request, 2), ElementsAreArray(of_a));

  // By state: one failed, one delivered.
  SetState(of_a[1], "failed", 10);
  SetState(of_a[2], "delivered", 1);
  request.set_state(v1::DELIVERY_STATE_FAILED);
  EXPECT_THAT(ListAll(request, 10), ElementsAre(of_a[1]));
  request.set_state(v1::DELIVERY_STATE_DELIVERED);
  EXPECT_THAT(ListAll(request, 10), ElementsAre(of_a[2]));
  request.set_state(v1::DELIVERY_STATE_PENDING);
  EXPECT_THAT(ListAll(request, 10), ElementsAre(of_a[0], of_a[3]));

  // By event, and by type.
  v1::ListDeliveriesRequest by_event;
  by_event.set_tenant_id(tenant);
  by_event.set_event_id(db().QueryValue(absl::StrCat(
      "SELECT event_id FROM deliveries WHERE id = ", Num(of_a[3]))));
  EXPECT_EQ(ListAll(by_event, 10).size(), 2u);
  by_event.set_subscription_id(a);
  EXPECT_THAT(ListAll(by_event, 10), ElementsAre(of_a[3]));
  v1::ListDeliveriesRequest by_type;
  by_type.set_tenant_id(tenant);
  by_type.set_event_type("inbound_engagement");
  EXPECT_THAT(ListAll(by_type, 10), ElementsAre());
  by_type.set_event_type("engagement_dispatched");
  EXPECT_EQ(ListAll(by_type, 10).size(), 8u);

  // By creation time: move one row into the past.
  db().Query(
      absl::StrCat("UPDATE deliveries SET created_at = now() - interval '2 "
                   "days' WHERE id = ",
                   Num(of_a[3]), " RETURNING 1"));
  v1::ListDeliveriesRequest window;
  window.set_tenant_id(tenant);
  *window.mutable_create_time_before() = Ts(absl::Now() - absl::Hours(24));
  EXPECT_THAT(ListAll(window, 10), ElementsAre(of_a[3]));
  window.clear_create_time_before();
  *window.mutable_create_time_after() = Ts(absl::Now() - absl::Hours(24));
  EXPECT_EQ(ListAll(window, 10).size(), 7u);

  // Another tenant sees none of them.
  v1::ListDeliveriesRequest other;
  other.set_tenant_id(RandomTenant());
  EXPECT_THAT(ListAll(other, 10), ElementsAre());
  other.set_subscription_id(a);
  EXPECT_THAT(ListAll(other, 10), ElementsAre());
}

TEST_F(DeliveryApiTest, ListRefusesBadRequestsNamingTheField) {
  const std::string tenant = RandomTenant();
  CreateSubscription(tenant, {"engagement_dispatched"});
  for (int i = 0; i < 3; ++i) PublishOne(tenant);
  v1::ListDeliveriesRequest request;
  request.set_tenant_id(tenant);
  request.set_page_size(1);
  v1::ListDeliveriesResponse first;
  ASSERT_TRUE(List(request, &first).ok());
  ASSERT_FALSE(first.next_page_token().empty());

  struct Case {
    std::string name;
    v1::ListDeliveriesRequest request;
    std::string field;
  };
  std::vector<Case> cases;
  {
    Case c{"token with other filters", request, "page_token"};
    c.request.set_page_token(first.next_page_token());
    c.request.set_state(v1::DELIVERY_STATE_FAILED);
    cases.push_back(c);
  }
  {
    Case c{"token of another tenant", request, "page_token"};
    c.request.set_tenant_id(RandomTenant());
    c.request.set_page_token(first.next_page_token());
    cases.push_back(c);
  }
  {
    Case c{"garbage token", request, "page_token"};
    c.request.set_page_token("not-a-token");
    cases.push_back(c);
  }
  {
    Case c{"negative page size", request, "page_size"};
    c.request.set_page_size(-1);
    cases.push_back(c);
  }
  {
    Case c{"unknown state", request, "state"};
    c.request.set_state(static_cast<v1::DeliveryState>(42));
    cases.push_back(c);
  }
  {
    Case c{"unknown event type", request, "event_type"};
    c.request.set_event_type("engagement_exploded");
    cases.push_back(c);
  }
  {
    Case c{"empty window", request, "create_time_before"};
    *c.request.mutable_create_time_after() = Ts(absl::Now());
    *c.request.mutable_create_time_before() = Ts(absl::Now() - absl::Hours(1));
    cases.push_back(c);
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::ListDeliveriesResponse response;
    grpc::Status status = List(c.request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr(c.field));
  }
}

TEST_F(DeliveryApiTest, GetShowsEveryAttemptOldestFirst) {
  const std::string tenant = RandomTenant();
  const std::string sub =
      CreateSubscription(tenant, {"engagement_dispatched"}).subscription().id();
  const std::string dlv = PublishOne(tenant)[0];
  SetState(dlv, "failed", 2);
  db().Query(absl::StrCat(
      "INSERT INTO delivery_attempts (delivery_id, attempt, started_at, "
      "duration_us, status, error_class, response_excerpt) VALUES (",
      Num(dlv),
      ", 2, now() - interval '1 minute', 30000000, NULL, 'timeout', NULL), (",
      Num(dlv),
      ", 1, now() - interval '2 minutes', 1500, 500, 'http_5xx', "
      "'\\x6f6f7073ff'::bytea) RETURNING 1"));

  v1::Delivery d;
  grpc::Status status = Get(tenant, dlv, &d);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(d.id(), dlv);
  EXPECT_EQ(d.tenant_id(), tenant);
  EXPECT_EQ(d.subscription_id(), sub);
  EXPECT_EQ(d.event_type(), "engagement_dispatched");
  EXPECT_EQ(d.state(), v1::DELIVERY_STATE_FAILED);
  EXPECT_EQ(d.attempt_count(), 2);
  EXPECT_EQ(d.last_status_code(), 500);
  EXPECT_EQ(d.last_error_class(), "http_5xx");
  EXPECT_TRUE(d.has_complete_time());
  EXPECT_FALSE(d.has_next_attempt_time());
  ASSERT_EQ(d.attempts_size(), 2);
  EXPECT_EQ(d.attempts(0).number(), 1);
  EXPECT_EQ(d.attempts(0).status_code(), 500);
  EXPECT_EQ(d.attempts(0).error_class(), "http_5xx");
  EXPECT_EQ(d.attempts(0).duration().nanos(), 1500000);
  // Not UTF-8 in the body: shown, not refused.
  EXPECT_EQ(d.attempts(0).response_excerpt(), "oops\xEF\xBF\xBD");
  EXPECT_EQ(d.attempts(1).number(), 2);
  EXPECT_EQ(d.attempts(1).status_code(), 0);
  EXPECT_EQ(d.attempts(1).error_class(), "timeout");
  EXPECT_EQ(d.attempts(1).duration().seconds(), 30);
  EXPECT_LT(d.attempts(0).start_time().seconds(),
            d.attempts(1).start_time().seconds());
  // A listing leaves the attempts out.
  v1::ListDeliveriesRequest request;
  request.set_tenant_id(tenant);
  v1::ListDeliveriesResponse listed;
  ASSERT_TRUE(List(request, &listed).ok());
  ASSERT_EQ(listed.deliveries_size(), 1);
  EXPECT_EQ(listed.deliveries(0).attempts_size(), 0);

  // Errors.
  EXPECT_EQ(Get(RandomTenant(), dlv, &d).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Get(tenant, "dlv_999999999", &d).error_code(),
            grpc::StatusCode::NOT_FOUND);
  const std::vector<std::string> bad_ids = {
      "", "123", "dlv_", "dlv_x", "dlv_-1", "dlv_01", std::string(1000, 'd')};
  for (const std::string& bad : bad_ids) {
    SCOPED_TRACE(bad);
    grpc::Status s = Get(tenant, bad, &d);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("id"));
    EXPECT_LT(s.error_message().size(), 200u);
  }
}

TEST_F(DeliveryApiTest, RetryMakesAFailedDeliveryDueWithANewBudget) {
  const std::string tenant = RandomTenant();
  const std::string sub =
      CreateSubscription(tenant, {"engagement_dispatched"}).subscription().id();
  const std::string dlv = PublishOne(tenant)[0];
  SetState(dlv, "failed", 10);
  // The lane says nothing is due (as after a settle).
  db().Query(
      absl::StrCat("UPDATE delivery_lanes SET next_due_at = 'infinity' WHERE "
                   "subscription_id = '",
                   sub, "' RETURNING 1"));

  v1::Delivery d;
  grpc::Status status = Retry(tenant, dlv, &d);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(d.state(), v1::DELIVERY_STATE_PENDING);
  EXPECT_EQ(d.attempt_count(), 0);
  EXPECT_TRUE(d.has_next_attempt_time());
  EXPECT_FALSE(d.has_complete_time());
  EXPECT_EQ(Row(dlv), "pending/0/t/t");
  EXPECT_EQ(db().QueryValue(absl::StrCat(
                "SELECT next_due_at <= now() FROM delivery_lanes WHERE "
                "subscription_id = '",
                sub, "'")),
            "t");

  // A pending one waiting for a later attempt: due now, budget restored.
  SetState(dlv, "pending", 4);
  ASSERT_TRUE(Retry(tenant, dlv, &d).ok());
  EXPECT_EQ(Row(dlv), "pending/0/t/t");
}

TEST_F(DeliveryApiTest, RetryRefusesDeliveredAndInFlightAndChangesNothing) {
  const std::string tenant = RandomTenant();
  CreateSubscription(tenant, {"engagement_dispatched"});
  const std::string delivered = PublishOne(tenant)[0];
  SetState(delivered, "delivered", 1);
  const std::string in_flight = PublishOne(tenant)[0];
  db().Query(absl::StrCat(
      "UPDATE deliveries SET leased_until = now() + interval '1 minute', "
      "lease_owner = 'w', attempts = 3 WHERE id = ",
      Num(in_flight), " RETURNING 1"));
  const std::string delivered_row = Row(delivered);
  const std::string in_flight_row = Row(in_flight);

  v1::Delivery d;
  grpc::Status s = Retry(tenant, delivered, &d);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("delivered"));
  s = Retry(tenant, in_flight, &d);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("being attempted"));
  EXPECT_EQ(Row(delivered), delivered_row);
  EXPECT_EQ(Row(in_flight), in_flight_row);
  EXPECT_EQ(Retry(RandomTenant(), delivered, &d).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Retry(tenant, "dlv_x", &d).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(DeliveryApiTest, RecoverMakesEveryFailureOfTheWindowDueInBatches) {
  const std::string tenant = RandomTenant();
  const std::string sub =
      CreateSubscription(tenant, {"engagement_dispatched"}).subscription().id();
  const std::string other =
      CreateSubscription(tenant, {"engagement_dispatched"}).subscription().id();
  // 2,500 failed deliveries of `sub` inside the window (more than two
  // batches), 3 before it, and failures of the other subscription.
  db().Query(absl::StrCat(
      "INSERT INTO events (id, tenant_id, type, idempotency_key, body, "
      "occurred_at) SELECT 'evt_r' || g || '_",
      tenant, "', '", tenant,
      "', 'engagement_dispatched', 'r' || g, '{}', now() FROM "
      "generate_series(1, 2503) g RETURNING 1"));
  db().Query(absl::StrCat(
      "INSERT INTO deliveries (tenant_id, event_id, subscription_id, state, "
      "attempts, completed_at, created_at) SELECT '",
      tenant, "', 'evt_r' || g || '_", tenant, "', s, 'failed', 10, now(), ",
      "CASE WHEN g <= 3 THEN now() - interval '3 days' ELSE now() - interval "
      "'1 hour' END FROM generate_series(1, 2503) g, unnest(ARRAY['",
      sub, "', '", other, "']) s RETURNING 1"));

  v1::RecoverFailedDeliveriesRequest request;
  request.set_tenant_id(tenant);
  request.set_subscription_id(sub);
  *request.mutable_since() = Ts(absl::Now() - absl::Hours(24));
  v1::RecoverFailedDeliveriesResponse response;
  grpc::Status status =
      deliveries().RecoverFailedDeliveries(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.recovered(), 2500);
  auto count = [&](const std::string& s, const std::string& where) {
    return db().Count(absl::StrCat(
        "SELECT count(*) FROM deliveries WHERE subscription_id = '", s,
        "' AND ", where));
  };
  EXPECT_EQ(count(sub, "state = 'pending' AND attempts = 0"), 2500);
  EXPECT_EQ(count(sub, "state = 'failed'"), 3);
  EXPECT_EQ(count(other, "state = 'failed'"), 2503);
  // Nothing left in the window: a second run recovers none.
  ASSERT_TRUE(deliveries()
                  .RecoverFailedDeliveries(Context().get(), request, &response)
                  .ok());
  EXPECT_EQ(response.recovered(), 0);
}

TEST_F(DeliveryApiTest, RecoverRefusesBadWindowsAndUnknownSubscriptions) {
  const std::string tenant = RandomTenant();
  const std::string sub =
      CreateSubscription(tenant, {"engagement_dispatched"}).subscription().id();
  const absl::Time now = absl::Now();
  struct Case {
    std::string name;
    std::string tenant, subscription;
    std::optional<absl::Time> since, until;
    grpc::StatusCode code;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"15 days", tenant, sub, now - absl::Hours(24 * 15), now,
       grpc::StatusCode::INVALID_ARGUMENT, "14 days"},
      {"since after until", tenant, sub, now, now - absl::Hours(1),
       grpc::StatusCode::INVALID_ARGUMENT, "until"},
      {"no since", tenant, sub, std::nullopt, now,
       grpc::StatusCode::INVALID_ARGUMENT, "since"},
      {"no subscription", tenant, "", now - absl::Hours(1), now,
       grpc::StatusCode::INVALID_ARGUMENT, "subscription_id"},
      {"unknown subscription", tenant, "sub_nope", now - absl::Hours(1), now,
       grpc::StatusCode::NOT_FOUND, "sub_nope"},
      {"another tenant's", RandomTenant(), sub, now - absl::Hours(1), now,
       grpc::StatusCode::NOT_FOUND, "not found"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::RecoverFailedDeliveriesRequest request;
    request.set_tenant_id(c.tenant);
    request.set_subscription_id(c.subscription);
    if (c.since) *request.mutable_since() = Ts(*c.since);
    if (c.until) *request.mutable_until() = Ts(*c.until);
    v1::RecoverFailedDeliveriesResponse response;
    grpc::Status status = deliveries().RecoverFailedDeliveries(
        Context().get(), request, &response);
    EXPECT_EQ(status.error_code(), c.code);
    EXPECT_THAT(status.error_message(), HasSubstr(c.field));
  }
  // Exactly 14 days is allowed.
  v1::RecoverFailedDeliveriesRequest ok;
  ok.set_tenant_id(tenant);
  ok.set_subscription_id(sub);
  *ok.mutable_since() = Ts(now - absl::Hours(24 * 14));
  *ok.mutable_until() = Ts(now);
  v1::RecoverFailedDeliveriesResponse response;
  EXPECT_TRUE(deliveries()
                  .RecoverFailedDeliveries(Context().get(), ok, &response)
                  .ok());
}

TEST_F(DeliveryApiTest, DiscardEndsHeldDeliveriesBeforeTheCutoffOnly) {
  const std::string tenant = RandomTenant();
  const std::string sub =
      CreateSubscription(tenant, {"engagement_dispatched"}).subscription().id();
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(PublishOne(tenant)[0]);
  v1::DiscardHeldDeliveriesRequest request;
  request.set_tenant_id(tenant);
  request.set_subscription_id(sub);
  v1::DiscardHeldDeliveriesResponse response;
  // Enabled: nothing is held.
  grpc::Status status =
      deliveries().DiscardHeldDeliveries(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(db().Count(absl::StrCat(
                "SELECT count(*) FROM deliveries WHERE subscription_id = '",
                sub, "' AND state = 'pending'")),
            5);

  db().Query(
      absl::StrCat("UPDATE subscriptions SET enabled = false WHERE id = '", sub,
                   "' RETURNING 1"));
  // Two are old, one of those is in flight (kept: a worker holds it); one
  // already failed (not held); the rest are newer than the cutoff.
  db().Query(absl::StrCat(
      "UPDATE deliveries SET created_at = now() - interval '2 days' WHERE id "
      "IN (",
      Num(ids[0]), ", ", Num(ids[1]), ", ", Num(ids[2]), ") RETURNING 1"));
  db().Query(absl::StrCat(
      "UPDATE deliveries SET leased_until = now() + interval '1 minute', "
      "lease_owner = 'w' WHERE id = ",
      Num(ids[1]), " RETURNING 1"));
  SetState(ids[2], "failed", 10);
  *request.mutable_before() = Ts(absl::Now() - absl::Hours(24));
  status =
      deliveries().DiscardHeldDeliveries(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.discarded(), 1);
  EXPECT_THAT(Row(ids[0]), ::testing::StartsWith("discarded/"));
  EXPECT_THAT(Row(ids[1]), ::testing::StartsWith("pending/"));
  EXPECT_THAT(Row(ids[2]), ::testing::StartsWith("failed/"));
  EXPECT_THAT(Row(ids[3]), ::testing::StartsWith("pending/"));
  v1::Delivery d;
  ASSERT_TRUE(Get(tenant, ids[0], &d).ok());
  EXPECT_EQ(d.state(), v1::DELIVERY_STATE_DISCARDED);
  ASSERT_TRUE(Get(tenant, ids[3], &d).ok());
  EXPECT_EQ(d.state(), v1::DELIVERY_STATE_HELD);
  ASSERT_TRUE(Get(tenant, ids[1], &d).ok());
  EXPECT_EQ(d.state(), v1::DELIVERY_STATE_IN_FLIGHT);

  // Without a cutoff: every held one.
  request.clear_before();
  ASSERT_TRUE(deliveries()
                  .DiscardHeldDeliveries(Context().get(), request, &response)
                  .ok());
  EXPECT_EQ(response.discarded(), 2);
  // A discarded delivery can be retried after all.
  ASSERT_TRUE(Retry(tenant, ids[0], &d).ok());
  EXPECT_EQ(d.state(), v1::DELIVERY_STATE_HELD);

  request.set_subscription_id("sub_nope");
  EXPECT_EQ(deliveries()
                .DiscardHeldDeliveries(Context().get(), request, &response)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(DeliveryApiTest, SubscriptionStatsCountByStateAndShowTheLanesHealth) {
  const std::string tenant = RandomTenant();
  const std::string sub =
      CreateSubscription(tenant, {"engagement_dispatched"}).subscription().id();
  v1::GetSubscriptionStatsRequest fresh;
  fresh.set_tenant_id(tenant);
  fresh.set_id(sub);
  v1::SubscriptionStats none;
  ASSERT_TRUE(
      subscriptions().GetSubscriptionStats(Context().get(), fresh, &none).ok());
  // Nothing attempted yet: no times (not the epoch).
  EXPECT_FALSE(none.has_last_success_time());
  EXPECT_FALSE(none.has_last_failure_time());
  EXPECT_FALSE(none.has_failing_since());
  EXPECT_EQ(none.success_ratio_24h(), 0);
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(PublishOne(tenant)[0]);
  SetState(ids[0], "delivered", 1);
  SetState(ids[1], "delivered", 2);
  SetState(ids[2], "failed", 10);
  db().Query(absl::StrCat(
      "UPDATE deliveries SET leased_until = now() + interval '1 minute', "
      "lease_owner = 'w' WHERE id = ",
      Num(ids[3]), " RETURNING 1"));
  // Delivered, but two days ago: not in the last 24 hours.
  SetState(ids[5], "delivered", 1);
  db().Query(absl::StrCat(
      "UPDATE deliveries SET created_at = now() - interval '2 days' WHERE id "
      "= ",
      Num(ids[5]), " RETURNING 1"));
  db().Query(absl::StrCat(
      "UPDATE delivery_lanes SET failed_in_a_row = 1, failing_since = "
      "'2026-11-30T10:00:00Z', last_success_at = '2026-11-30T09:00:00Z', "
      "last_failure_at = '2026-11-30T11:00:00Z' WHERE subscription_id = '",
      sub, "' RETURNING 1"));
  v1::GetSubscriptionStatsRequest request;
  request.set_tenant_id(tenant);
  request.set_id(sub);
  v1::SubscriptionStats st;
  grpc::Status status =
      subscriptions().GetSubscriptionStats(Context().get(), request, &st);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(st.subscription_id(), sub);
  EXPECT_TRUE(st.enabled());
  EXPECT_EQ(st.pending(), 1);
  EXPECT_EQ(st.in_flight(), 1);
  EXPECT_EQ(st.held(), 0);
  EXPECT_EQ(st.delivered_24h(), 2);
  EXPECT_EQ(st.failed_24h(), 1);
  EXPECT_EQ(st.discarded_24h(), 0);
  EXPECT_FALSE(st.last_24h_capped());
  EXPECT_DOUBLE_EQ(st.success_ratio_24h(), 2.0 / 3.0);
  EXPECT_EQ(st.consecutive_failed_deliveries(), 1);
  EXPECT_EQ(st.failing_since().seconds(), 1796032800);  // 10:00
  EXPECT_EQ(st.last_success_time().seconds(), 1796029200);
  EXPECT_EQ(st.last_failure_time().seconds(), 1796036400);

  // Disabled: the waiting one is held, and the reason shows.
  db().Query(absl::StrCat(
      "UPDATE subscriptions SET enabled = false, disabled_reason = 'test "
      "reason' WHERE id = '",
      sub, "' RETURNING 1"));
  ASSERT_TRUE(
      subscriptions().GetSubscriptionStats(Context().get(), request, &st).ok());
  EXPECT_FALSE(st.enabled());
  EXPECT_EQ(st.disabled_reason(), "test reason");
  EXPECT_EQ(st.pending(), 0);
  EXPECT_EQ(st.held(), 1);

  request.set_tenant_id(RandomTenant());
  EXPECT_EQ(subscriptions()
                .GetSubscriptionStats(Context().get(), request, &st)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
  request.set_tenant_id(tenant);
  request.clear_id();
  EXPECT_EQ(subscriptions()
                .GetSubscriptionStats(Context().get(), request, &st)
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(DeliveryApiTest, DiscardWorksThroughMoreThanOneBatch) {
  const std::string tenant = RandomTenant();
  const std::string sub =
      CreateSubscription(tenant, {"engagement_dispatched"}, true)
          .subscription()
          .id();
  db().Query(absl::StrCat(
      "INSERT INTO events (id, tenant_id, type, idempotency_key, body, "
      "occurred_at) SELECT 'evt_d' || g || '_",
      tenant, "', '", tenant,
      "', 'engagement_dispatched', 'd' || g, '{}', now() FROM "
      "generate_series(1, 2100) g RETURNING 1"));
  // Every third one is newer than the cutoff: kept, and read only once.
  db().Query(absl::StrCat(
      "INSERT INTO deliveries (tenant_id, event_id, subscription_id, "
      "next_attempt_at, created_at) SELECT '",
      tenant, "', 'evt_d' || g || '_", tenant, "', '", sub,
      "', now() - g * interval '1 second', CASE WHEN g % 3 = 0 THEN now() "
      "ELSE now() - interval '2 days' END FROM generate_series(1, 2100) g "
      "RETURNING 1"));
  v1::DiscardHeldDeliveriesRequest request;
  request.set_tenant_id(tenant);
  request.set_subscription_id(sub);
  *request.mutable_before() = Ts(absl::Now() - absl::Hours(1));
  v1::DiscardHeldDeliveriesResponse response;
  grpc::Status status =
      deliveries().DiscardHeldDeliveries(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.discarded(), 1400);
  EXPECT_EQ(db().Count(absl::StrCat(
                "SELECT count(*) FROM deliveries WHERE subscription_id = '",
                sub, "' AND state = 'pending'")),
            700);
}

}  // namespace
}  // namespace webhooks::api
