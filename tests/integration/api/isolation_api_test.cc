// Tenant isolation under a random mix of operations by two tenants, each
// with a token for itself only: no read, list, update, delete, retry or
// publish ever reaches the other tenant's data, whether it names the other
// tenant (PERMISSION_DENIED) or the other tenant's ids under its own
// (NOT_FOUND, or simply absent from lists). The seed is printed; set
// ISOLATION_SEED to replay a run.
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/api/api_fixture.h"

namespace webhooks::api {
namespace {

struct Side {
  std::string tenant;
  std::string token;
  std::vector<std::string> subscriptions;
  std::vector<std::string> events;
  std::vector<std::string> deliveries;
};

class IsolationApiTest : public ApiTest {
 protected:
  template <typename T>
  static const T& Pick(const std::vector<T>& v, std::mt19937_64& rng) {
    return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng)];
  }
};

TEST_F(IsolationApiTest, RandomOperationsNeverCrossTenants) {
  uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("ISOLATION_SEED")) {
    ASSERT_TRUE(absl::SimpleAtoi(s, &seed)) << s;
  }
  std::printf("[ isolation ] seed %llu\n",
              static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  Side sides[2] = {{kIsolatedTenantA, kTenantAToken, {}, {}, {}},
                   {kIsolatedTenantB, kTenantBToken, {}, {}, {}}};
  int denied = 0, not_found = 0, listed = 0;

  // Something of each kind on both sides first, so probes have targets.
  auto create = [&](Side& me, const std::string& tenant) {
    v1::CreateSubscriptionRequest r;
    r.set_tenant_id(tenant);
    r.mutable_subscription()->set_name("iso");
    r.mutable_subscription()->set_target_url("https://hooks.example.com/in");
    r.mutable_subscription()->add_event_types("engagement_dispatched");
    v1::CreateSubscriptionResponse out;
    // The call first: make_pair's arguments have no order.
    grpc::Status status =
        subscriptions().CreateSubscription(Context(me.token).get(), r, &out);
    return std::make_pair(status, out.subscription().id());
  };
  auto publish = [&](Side& me, const std::string& tenant) {
    v1::PublishEventRequest r;
    r.set_tenant_id(tenant);
    *r.mutable_event() = DispatchedEmailEvent(
        absl::StrCat("eng_", std::uniform_int_distribution<int>()(rng)));
    v1::PublishEventResponse out;
    grpc::Status status =
        events().PublishEvent(Context(me.token).get(), r, &out);
    return std::make_pair(status, out.event_id());
  };
  auto refresh_deliveries = [&](Side& me) {
    v1::ListDeliveriesRequest r;
    r.set_tenant_id(me.tenant);
    r.set_page_size(500);
    v1::ListDeliveriesResponse out;
    ASSERT_TRUE(
        deliveries().ListDeliveries(Context(me.token).get(), r, &out).ok());
    me.deliveries.clear();
    for (const auto& d : out.deliveries()) me.deliveries.push_back(d.id());
  };
  for (Side& me : sides) {
    for (int i = 0; i < 2; ++i) {
      auto [status, id] = create(me, me.tenant);
      ASSERT_TRUE(status.ok()) << status.error_message();
      me.subscriptions.push_back(id);
    }
    auto [status, id] = publish(me, me.tenant);
    ASSERT_TRUE(status.ok()) << status.error_message();
    me.events.push_back(id);
    refresh_deliveries(me);
    ASSERT_FALSE(me.deliveries.empty());
  }

  for (int step = 0; step < 300; ++step) {
    const int who = std::uniform_int_distribution<int>(0, 1)(rng);
    Side& me = sides[who];
    Side& other = sides[1 - who];
    // A third of the steps name the other tenant outright, a third probe
    // the other tenant's ids under our own tenant, a third are our own.
    const int mode = std::uniform_int_distribution<int>(0, 2)(rng);
    const std::string tenant = mode == 0 ? other.tenant : me.tenant;
    const bool probe = mode == 1;
    const Side& ids = probe ? other : me;
    const int op = std::uniform_int_distribution<int>(0, 9)(rng);
    const std::string what = absl::StrCat("step ", step, " op ", op, " mode ",
                                          mode, " as ", me.tenant);
    grpc::Status status;
    switch (op) {
      case 0: {
        auto [s, id] = create(me, tenant);
        status = s;
        if (s.ok()) me.subscriptions.push_back(id);
        break;
      }
      case 1: {
        v1::GetSubscriptionRequest r;
        r.set_tenant_id(tenant);
        r.set_id(Pick(ids.subscriptions, rng));
        v1::Subscription out;
        status =
            subscriptions().GetSubscription(Context(me.token).get(), r, &out);
        if (status.ok()) {
          EXPECT_EQ(out.tenant_id(), me.tenant) << what;
        }
        break;
      }
      case 2: {
        v1::ListSubscriptionsRequest r;
        r.set_tenant_id(tenant);
        r.set_page_size(500);
        v1::ListSubscriptionsResponse out;
        status =
            subscriptions().ListSubscriptions(Context(me.token).get(), r, &out);
        for (const auto& s : out.subscriptions()) {
          EXPECT_EQ(s.tenant_id(), me.tenant) << what;
          ++listed;
        }
        break;
      }
      case 3: {
        v1::UpdateSubscriptionRequest r;
        r.set_tenant_id(tenant);
        r.mutable_subscription()->set_id(Pick(ids.subscriptions, rng));
        r.mutable_subscription()->set_name(
            absl::StrCat("renamed by ", me.tenant));
        r.mutable_update_mask()->add_paths("name");
        v1::Subscription out;
        status = subscriptions().UpdateSubscription(Context(me.token).get(), r,
                                                    &out);
        break;
      }
      case 4: {
        // Deletes only on probes and the other tenant (our own stay, so
        // that later probes still have targets).
        if (!probe && mode != 0) continue;
        v1::DeleteSubscriptionRequest r;
        r.set_tenant_id(tenant);
        r.set_id(Pick(ids.subscriptions, rng));
        google::protobuf::Empty out;
        status = subscriptions().DeleteSubscription(Context(me.token).get(), r,
                                                    &out);
        break;
      }
      case 5: {
        auto [s, id] = publish(me, tenant);
        status = s;
        if (s.ok()) me.events.push_back(id);
        break;
      }
      case 6: {
        v1::GetEventRequest r;
        r.set_tenant_id(tenant);
        r.set_event_id(Pick(ids.events, rng));
        v1::StoredEvent out;
        status = events().GetEvent(Context(me.token).get(), r, &out);
        break;
      }
      case 7: {
        v1::ListDeliveriesRequest r;
        r.set_tenant_id(tenant);
        r.set_page_size(500);
        if (probe) r.set_subscription_id(Pick(ids.subscriptions, rng));
        v1::ListDeliveriesResponse out;
        status = deliveries().ListDeliveries(Context(me.token).get(), r, &out);
        const std::set<std::string> theirs(other.deliveries.begin(),
                                           other.deliveries.end());
        for (const auto& d : out.deliveries()) {
          EXPECT_FALSE(theirs.count(d.id())) << what << ": " << d.id();
          ++listed;
        }
        break;
      }
      case 8: {
        v1::GetDeliveryRequest r;
        r.set_tenant_id(tenant);
        r.set_id(Pick(ids.deliveries, rng));
        v1::Delivery out;
        status = deliveries().GetDelivery(Context(me.token).get(), r, &out);
        break;
      }
      case 9: {
        v1::RetryDeliveryRequest r;
        r.set_tenant_id(tenant);
        r.set_id(Pick(ids.deliveries, rng));
        v1::Delivery out;
        status = deliveries().RetryDelivery(Context(me.token).get(), r, &out);
        break;
      }
    }
    if (mode == 0) {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
          << what << ": " << status.error_message();
      ++denied;
    } else if (probe && op != 0 && op != 2 && op != 5 && op != 7) {
      // An id of the other tenant under our own: as if it did not exist.
      EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND)
          << what << ": " << status.error_message();
      ++not_found;
    } else {
      // Our own: anything but a crossing (a retry of a pending delivery may
      // be refused, a deleted subscription's id may be gone).
      EXPECT_NE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
          << what << ": " << status.error_message();
    }
    if (op == 5 && status.ok()) refresh_deliveries(me);
  }

  // What the database holds agrees: every row with its own tenant's.
  EXPECT_EQ(db().Count("SELECT count(*) FROM deliveries d JOIN subscriptions "
                       "s ON s.id = d.subscription_id JOIN events e ON e.id = "
                       "d.event_id WHERE d.tenant_id <> s.tenant_id OR "
                       "e.tenant_id <> s.tenant_id"),
            0);
  EXPECT_EQ(db().Count(absl::StrCat(
                "SELECT count(*) FROM subscriptions WHERE tenant_id = '",
                kIsolatedTenantA, "' AND name LIKE 'renamed by ",
                kIsolatedTenantB, "'")),
            0);
  EXPECT_EQ(db().Count(absl::StrCat(
                "SELECT count(*) FROM subscriptions WHERE tenant_id = '",
                kIsolatedTenantB, "' AND name LIKE 'renamed by ",
                kIsolatedTenantA, "'")),
            0);
  std::printf(
      "[ isolation ] 300 steps: %d refused as PERMISSION_DENIED, %d probes "
      "NOT_FOUND, %d listed rows all own\n",
      denied, not_found, listed);
  EXPECT_GT(denied, 0);
  EXPECT_GT(not_found, 0);
}

}  // namespace
}  // namespace webhooks::api
