// EventService through real gRPC against real PostgreSQL.
#include <google/protobuf/util/json_util.h>

#include <latch>
#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/api/api_fixture.h"

namespace webhooks::api {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAreArray;
using ::webhooks::testing::RandomTenant;

class EventApiTest : public ApiTest {
 protected:
  v1::PublishEventResponse Publish(const std::string& tenant,
                                   const v1::Event& event,
                                   const std::string& key = "") {
    v1::PublishEventRequest request;
    request.set_tenant_id(tenant);
    request.set_idempotency_key(key);
    *request.mutable_event() = event;
    v1::PublishEventResponse response;
    grpc::Status status =
        events().PublishEvent(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  // The subscription ids that have a delivery of `event_id`.
  std::vector<std::string> DeliveredTo(const std::string& event_id) {
    return db().Query(absl::StrCat(
        "SELECT subscription_id FROM deliveries WHERE event_id = '", event_id,
        "'"));
  }
};

TEST_F(EventApiTest, FansOutToSubscriptionsOfTheTenantAndTypeOnly) {
  const std::string tenant = RandomTenant();
  const std::string other = RandomTenant();
  const std::string both = CreateSubscription(tenant, {"engagement_dispatched",
                                                       "inbound_engagement"})
                               .subscription()
                               .id();
  const std::string dispatched_only =
      CreateSubscription(tenant, {"engagement_dispatched"}).subscription().id();
  CreateSubscription(tenant, {"inbound_engagement"});  // other type
  // Disabled: gets its delivery all the same, held by its lane until it is
  // enabled again.
  const std::string disabled =
      CreateSubscription(tenant, {"engagement_dispatched"},
                         /*start_disabled=*/true)
          .subscription()
          .id();
  CreateSubscription(other, {"engagement_dispatched"});  // other tenant

  v1::PublishEventResponse response = Publish(tenant, DispatchedEmailEvent());
  EXPECT_THAT(response.event_id(), ::testing::MatchesRegex("evt_[0-9A-Z]{26}"));
  EXPECT_FALSE(response.duplicate());
  EXPECT_EQ(response.deliveries_created(), 3);
  EXPECT_THAT(DeliveredTo(response.event_id()),
              UnorderedElementsAreArray({both, dispatched_only, disabled}));
  EXPECT_EQ(db().QueryValue(absl::StrCat(
                "SELECT enabled FROM delivery_lanes WHERE subscription_id = '",
                disabled, "'")),
            "f");
  // No delivery row anywhere names another tenant's subscription for it.
  EXPECT_EQ(db().Count(absl::StrCat(
                "SELECT count(*) FROM deliveries d JOIN subscriptions s ON "
                "s.id = d.subscription_id "
                "WHERE s.tenant_id <> d.tenant_id OR (d.event_id = '",
                response.event_id(), "' AND s.tenant_id <> '", tenant, "')")),
            0);
  EXPECT_EQ(db().QueryValue(absl::StrCat(
                "SELECT string_agg(DISTINCT state, ',') FROM deliveries "
                "WHERE event_id = '",
                response.event_id(), "'")),
            "pending");
}

TEST_F(EventApiTest,
       PublishWithoutSubscribersStoresTheEventAndCreatesNoDeliveries) {
  const std::string tenant = RandomTenant();
  v1::PublishEventResponse response = Publish(tenant, DispatchedEmailEvent());
  EXPECT_EQ(response.deliveries_created(), 0);
  EXPECT_EQ(db().Count(absl::StrCat("SELECT count(*) FROM events WHERE id = '",
                                    response.event_id(), "'")),
            1);
}

TEST_F(EventApiTest, GetEventReturnsTheExactStoredBody) {
  const std::string tenant = RandomTenant();
  v1::PublishEventResponse published =
      Publish(tenant, DispatchedEmailEvent(), "key-1");
  v1::GetEventRequest request;
  request.set_tenant_id(tenant);
  request.set_event_id(published.event_id());
  v1::StoredEvent stored;
  ASSERT_TRUE(events().GetEvent(Context().get(), request, &stored).ok());
  EXPECT_EQ(stored.event_id(), published.event_id());
  EXPECT_EQ(stored.tenant_id(), tenant);
  EXPECT_EQ(stored.type(), "engagement_dispatched");
  EXPECT_EQ(stored.idempotency_key(), "key-1");
  EXPECT_EQ(stored.occurred_at().seconds(), 1795701791);
  EXPECT_EQ(stored.occurred_at().nanos(), 512000000);
  EXPECT_TRUE(stored.has_create_time());
  EXPECT_EQ(stored.body(),
            db().QueryValue(absl::StrCat("SELECT body FROM events WHERE id = '",
                                         published.event_id(), "'")));
  EXPECT_THAT(stored.body(),
              StartsWith(absl::StrCat(
                  R"({"event":"engagement_dispatched","event_id":")",
                  published.event_id(),
                  R"(","occurred_at":"2026-11-26T14:03:11.512Z")")));
  // The body is the event itself, as the subscriber will parse it.
  v1::WebhookPayload payload;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(stored.body(), &payload)
          .ok());
  EXPECT_EQ(payload.engagement().direction(), "outbound");
  EXPECT_EQ(payload.engagement().email().subject(), "Quick question");

  request.set_event_id("evt_01JD7X3G2Q5T6X8V9W0Y1Z2A3B");
  EXPECT_EQ(events().GetEvent(Context().get(), request, &stored).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(EventApiTest,
       RepeatedIdempotencyKeyReturnsTheFirstEventAndCreatesNothing) {
  const std::string tenant = RandomTenant();
  CreateSubscription(tenant, {"engagement_dispatched"});
  v1::PublishEventResponse first =
      Publish(tenant, DispatchedEmailEvent(), "order-42");
  v1::Event changed = DispatchedEmailEvent();
  changed.mutable_engagement()->mutable_email()->set_subject("different");
  v1::PublishEventResponse second = Publish(tenant, changed, "order-42");
  EXPECT_FALSE(first.duplicate());
  EXPECT_TRUE(second.duplicate());
  EXPECT_EQ(second.event_id(), first.event_id());
  EXPECT_EQ(second.deliveries_created(), 0);
  EXPECT_EQ(
      db().Count(absl::StrCat("SELECT count(*) FROM events WHERE tenant_id = '",
                              tenant, "'")),
      1);
  EXPECT_EQ(
      db().Count(absl::StrCat(
          "SELECT count(*) FROM deliveries WHERE tenant_id = '", tenant, "'")),
      1);

  // The same key under another tenant is another event.
  v1::PublishEventResponse elsewhere =
      Publish(RandomTenant(), DispatchedEmailEvent(), "order-42");
  EXPECT_FALSE(elsewhere.duplicate());
  EXPECT_NE(elsewhere.event_id(), first.event_id());
}

TEST_F(EventApiTest, EmptyKeyDefaultsToTypeEngagementAndTime) {
  const std::string tenant = RandomTenant();
  v1::PublishEventResponse a = Publish(tenant, DispatchedEmailEvent("eng_1"));
  v1::PublishEventResponse a_again =
      Publish(tenant, DispatchedEmailEvent("eng_1"));
  v1::PublishEventResponse b = Publish(tenant, DispatchedEmailEvent("eng_2"));
  EXPECT_TRUE(a_again.duplicate());
  EXPECT_EQ(a_again.event_id(), a.event_id());
  EXPECT_FALSE(b.duplicate());
  EXPECT_EQ(db().QueryValue(
                absl::StrCat("SELECT idempotency_key FROM events WHERE id = '",
                             a.event_id(), "'")),
            "engagement_dispatched:eng_1:2026-11-26T14:03:11.512Z");
}

// An engagement that goes sent -> failed -> sent: each change is delivered,
// none is taken for a repeat of another (the old default key,
// type:yess_id:status, made the second "sent" a duplicate). A publisher's
// retry of one change still is a duplicate.
TEST_F(EventApiTest, DefaultKeyDeliversEveryStatusChangeOfAnEngagement) {
  const std::string tenant = RandomTenant();
  CreateSubscription(tenant, {"engagement_status_changed"});
  v1::Event changed = DispatchedEmailEvent("eng_1");
  changed.set_type("engagement_status_changed");
  const std::vector<std::pair<std::string, std::string>> changes = {
      {"scheduled", "sent"}, {"sent", "failed"}, {"failed", "sent"}};
  std::vector<std::string> ids;
  for (size_t i = 0; i < changes.size(); ++i) {
    changed.mutable_engagement()->set_previous_status(changes[i].first);
    changed.mutable_engagement()->set_status(changes[i].second);
    changed.mutable_occurred_at()->set_seconds(1795701791 +
                                               60 * static_cast<int64_t>(i));
    v1::PublishEventResponse r = Publish(tenant, changed);
    EXPECT_FALSE(r.duplicate()) << changes[i].first << ">" << changes[i].second;
    EXPECT_EQ(r.deliveries_created(), 1);
    ids.push_back(r.event_id());
  }
  v1::PublishEventResponse retried = Publish(tenant, changed);
  EXPECT_TRUE(retried.duplicate());
  EXPECT_EQ(retried.event_id(), ids.back());
  EXPECT_EQ(
      db().QueryValue(absl::StrCat(
          "SELECT idempotency_key FROM events WHERE id = '", ids.back(), "'")),
      "engagement_status_changed:eng_1:failed>sent:"
      "2026-11-26T14:05:11.512Z");
  EXPECT_EQ(
      db().Count(absl::StrCat(
          "SELECT count(*) FROM deliveries WHERE tenant_id = '", tenant, "'")),
      3);
}

TEST_F(EventApiTest, EightConcurrentPublishersOfOneKeyMakeExactlyOneEvent) {
  const std::string tenant = RandomTenant();
  CreateSubscription(tenant, {"engagement_dispatched"});
  CreateSubscription(tenant, {"engagement_dispatched"});
  constexpr int kPublishers = 8;
  for (int round = 0; round < 5; ++round) {
    const std::string key = absl::StrCat("race-", round);
    std::vector<v1::PublishEventResponse> responses(kPublishers);
    std::vector<grpc::Status> statuses(kPublishers);
    std::latch start(kPublishers);
    std::vector<std::thread> threads;
    for (int i = 0; i < kPublishers; ++i) {
      threads.emplace_back([&, i] {
        v1::PublishEventRequest request;
        request.set_tenant_id(tenant);
        request.set_idempotency_key(key);
        *request.mutable_event() = DispatchedEmailEvent();
        auto stub = v1::EventService::NewStub(channel());
        auto context = Context();
        start.arrive_and_wait();
        statuses[i] = stub->PublishEvent(context.get(), request, &responses[i]);
      });
    }
    for (auto& t : threads) t.join();
    std::set<std::string> ids;
    int firsts = 0;
    int deliveries = 0;
    for (int i = 0; i < kPublishers; ++i) {
      ASSERT_TRUE(statuses[i].ok()) << statuses[i].error_message();
      ids.insert(responses[i].event_id());
      if (!responses[i].duplicate()) ++firsts;
      deliveries += responses[i].deliveries_created();
    }
    EXPECT_EQ(ids.size(), 1u) << key;
    EXPECT_EQ(firsts, 1) << key;
    EXPECT_EQ(deliveries, 2) << key;
    EXPECT_EQ(db().Count(absl::StrCat(
                  "SELECT count(*) FROM events WHERE tenant_id = '", tenant,
                  "' AND idempotency_key = '", key, "'")),
              1);
    EXPECT_EQ(db().Count(absl::StrCat(
                  "SELECT count(*) FROM deliveries WHERE event_id = '",
                  *ids.begin(), "'")),
              2);
  }
}

TEST_F(EventApiTest, BatchPublishesGoodItemsAndReportsBadOnesEachOnItsOwn) {
  const std::string tenant = RandomTenant();
  CreateSubscription(tenant, {"engagement_dispatched"});
  v1::PublishEventResponse earlier =
      Publish(tenant, DispatchedEmailEvent(), "seen-before");

  v1::PublishEventsRequest request;
  request.set_tenant_id(tenant);
  auto add = [&](const std::string& key, v1::Event event) {
    v1::PublishEventsItem* item = request.add_items();
    item->set_idempotency_key(key);
    *item->mutable_event() = std::move(event);
  };
  add("b-0", DispatchedEmailEvent());
  v1::Event bad_action = DispatchedEmailEvent();
  bad_action.mutable_engagement()->set_action(
      "reply_email");  // inbound action, dispatched type
  add("b-1", bad_action);
  add("b-2", DispatchedEmailEvent());
  add("seen-before", DispatchedEmailEvent());
  add("b-0", DispatchedEmailEvent());  // repeats item 0
  v1::Event no_time = DispatchedEmailEvent();
  no_time.clear_occurred_at();
  add("b-5", no_time);
  request.add_items()->set_idempotency_key("b-6");  // no event

  v1::PublishEventsResponse response;
  grpc::Status status =
      events().PublishEvents(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.results_size(), 7);
  const auto& r = response.results();
  EXPECT_EQ(r[0].code(), 0);
  EXPECT_FALSE(r[0].duplicate());
  EXPECT_EQ(r[0].deliveries_created(), 1);
  EXPECT_EQ(r[1].code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_THAT(r[1].message(), StartsWith("items[1].event.engagement.action"));
  EXPECT_EQ(r[1].event_id(), "");
  EXPECT_EQ(r[2].code(), 0);
  EXPECT_NE(r[2].event_id(), r[0].event_id());
  EXPECT_EQ(r[3].code(), 0);
  EXPECT_TRUE(r[3].duplicate());
  EXPECT_EQ(r[3].event_id(), earlier.event_id());
  EXPECT_EQ(r[4].code(), 0);
  EXPECT_TRUE(r[4].duplicate());
  EXPECT_EQ(r[4].event_id(), r[0].event_id());
  EXPECT_EQ(r[5].code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_THAT(r[5].message(), StartsWith("items[5].event.occurred_at"));
  EXPECT_EQ(r[6].code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_THAT(r[6].message(), StartsWith("items[6].event"));

  // Stored: the earlier event plus items 0 and 2, one delivery each.
  EXPECT_EQ(
      db().Count(absl::StrCat("SELECT count(*) FROM events WHERE tenant_id = '",
                              tenant, "'")),
      3);
  EXPECT_EQ(
      db().Count(absl::StrCat(
          "SELECT count(*) FROM deliveries WHERE tenant_id = '", tenant, "'")),
      3);
}

TEST_F(EventApiTest, BatchSizeIsBounded) {
  v1::PublishEventsRequest request;
  request.set_tenant_id(RandomTenant());
  v1::PublishEventsResponse response;
  grpc::Status status =
      events().PublishEvents(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("items"));
  for (int i = 0; i < 501; ++i) {
    v1::PublishEventsItem* item = request.add_items();
    item->set_idempotency_key(absl::StrCat("k", i));
    *item->mutable_event() = DispatchedEmailEvent();
  }
  status = events().PublishEvents(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("items"));
  EXPECT_EQ(
      db().Count(absl::StrCat("SELECT count(*) FROM events WHERE tenant_id = '",
                              request.tenant_id(), "'")),
      0);

  // 500 is accepted, in one call.
  request.mutable_items()->RemoveLast();
  status = events().PublishEvents(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(
      db().Count(absl::StrCat("SELECT count(*) FROM events WHERE tenant_id = '",
                              request.tenant_id(), "'")),
      500);
}

TEST_F(EventApiTest, InvalidEventsNameTheFieldAndWriteNothing) {
  const std::string tenant = RandomTenant();
  CreateSubscription(tenant, {"engagement_dispatched", "inbound_engagement"});
  struct Case {
    std::string name;
    std::function<void(v1::Event*)> mutate;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"unknown type", [](v1::Event* e) { e->set_type("email_opened"); },
       "event.type"},
      {"channel",
       [](v1::Event* e) { e->mutable_engagement()->set_channel("sms"); },
       "event.engagement.channel"},
      {"inbound action on dispatched",
       [](v1::Event* e) { e->mutable_engagement()->set_action("reply_email"); },
       "event.engagement.action"},
      {"linkedin action on email",
       [](v1::Event* e) {
         e->mutable_engagement()->set_action("linkedin_message");
       },
       "event.engagement.action"},
      {"direction",
       [](v1::Event* e) { e->mutable_engagement()->set_direction("inbound"); },
       "event.engagement.direction"},
      {"status",
       [](v1::Event* e) { e->mutable_engagement()->set_status("opened"); },
       "event.engagement.status"},
      {"detail",
       [](v1::Event* e) {
         e->mutable_engagement()->mutable_linkedin()->set_message("x");
       },
       "event.engagement"},
      {"no engagement", [](v1::Event* e) { e->clear_engagement(); },
       "event.engagement"},
      {"no occurred_at", [](v1::Event* e) { e->clear_occurred_at(); },
       "event.occurred_at"},
      {"too large",
       [](v1::Event* e) {
         e->mutable_engagement()->mutable_email()->set_body_text(
             std::string(300 * 1024, 'x'));
       },
       "event"},
  };
  for (const Case& c : cases) {
    v1::Event event = DispatchedEmailEvent();
    c.mutate(&event);
    v1::PublishEventRequest request;
    request.set_tenant_id(tenant);
    *request.mutable_event() = event;
    v1::PublishEventResponse response;
    grpc::Status status =
        events().PublishEvent(Context().get(), request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.name;
    EXPECT_THAT(status.error_message(), StartsWith(c.field)) << c.name;
  }
  v1::PublishEventRequest no_event;
  no_event.set_tenant_id(tenant);
  v1::PublishEventResponse response;
  EXPECT_EQ(
      events().PublishEvent(Context().get(), no_event, &response).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(
      db().Count(absl::StrCat("SELECT count(*) FROM events WHERE tenant_id = '",
                              tenant, "'")),
      0);
  EXPECT_EQ(
      db().Count(absl::StrCat(
          "SELECT count(*) FROM deliveries WHERE tenant_id = '", tenant, "'")),
      0);
}

TEST_F(EventApiTest, PublishingNotifiesListenersWhenItCreatesDeliveries) {
  const std::string tenant = RandomTenant();
  CreateSubscription(tenant, {"engagement_dispatched"});
  pqxx::connection listener(db().url());
  struct Receiver : pqxx::notification_receiver {
    using pqxx::notification_receiver::notification_receiver;
    int count = 0;
    void operator()(const std::string&, int) override { ++count; }
  } receiver(listener, "webhooks_deliveries");
  listener.get_notifs();  // sends LISTEN

  Publish(tenant, DispatchedEmailEvent());
  // Wait for the notification: at most 10 s, usually immediate.
  listener.await_notification(10, 0);
  EXPECT_EQ(receiver.count, 1);

  // Each later publish that makes deliveries wakes the workers again (one
  // at a time here, so none is coalesced with another).
  Publish(tenant, DispatchedEmailEvent("eng_other"));
  while (receiver.count < 2 && listener.await_notification(10, 0) > 0) {
  }
  EXPECT_EQ(receiver.count, 2);

  // So does a repeated publish, which may be the retry of one whose answer
  // was lost before its wake-up went out.
  EXPECT_TRUE(Publish(tenant, DispatchedEmailEvent("eng_other")).duplicate());
  while (receiver.count < 3 && listener.await_notification(10, 0) > 0) {
  }
  EXPECT_EQ(receiver.count, 3);
}

}  // namespace
}  // namespace webhooks::api
