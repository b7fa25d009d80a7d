// The real API server, in process, on a free loopback port, over a fresh
// PostgreSQL database: what the API integration tests talk to through real
// gRPC channels.
#ifndef WEBHOOKS_TESTS_INTEGRATION_API_API_FIXTURE_H_
#define WEBHOOKS_TESTS_INTEGRATION_API_API_FIXTURE_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "lib/security/api_tokens.h"
#include "lib/security/sealer.h"
#include "lib/store/pg_pool.h"
#include "lib/store/pg_stores.h"
#include "services/api/server.h"
#include "tests/testing/test_database.h"
#include "webhooks/v1/delivery_service.grpc.pb.h"
#include "webhooks/v1/event_service.grpc.pb.h"
#include "webhooks/v1/subscription_service.grpc.pb.h"

namespace webhooks::api {

// Tokens known to the server under test.
inline constexpr char kAdminToken[] =
    "admin-token-0123456789abcdef";  // every tenant
inline constexpr char kLimitedToken[] =
    "limited-token-0123456789abcd";  // "acme", "globex"
// One tenant each, for the isolation test.
inline constexpr char kTenantAToken[] = "tenant-a-token-0123456789abc";
inline constexpr char kTenantBToken[] = "tenant-b-token-0123456789abc";
inline constexpr char kIsolatedTenantA[] = "isolation-a";
inline constexpr char kIsolatedTenantB[] = "isolation-b";

class ApiTest : public ::testing::Test {
 public:
  static testing::TestDatabase& db();
  static store::PgPool& pool();
  static store::SubscriptionStore& subscription_store();
  static const security::Sealer& sealer();

 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();

  // A context carrying `authorization: Bearer <token>` and a 10 s deadline.
  static std::unique_ptr<grpc::ClientContext> Context(
      const std::string& token = kAdminToken);

  static std::shared_ptr<grpc::Channel> channel();
  v1::SubscriptionService::Stub& subscriptions() { return *subscriptions_; }
  v1::EventService::Stub& events() { return *events_; }
  v1::DeliveryService::Stub& deliveries() { return *deliveries_; }

  // Creates a subscription of `tenant` for `types` (asserting success).
  v1::CreateSubscriptionResponse CreateSubscription(
      const std::string& tenant, std::vector<std::string> types,
      bool start_disabled = false);

  // A valid engagement_dispatched email event.
  static v1::Event DispatchedEmailEvent(
      const std::string& engagement_id = "eng_7c01");

  void SetUp() override;

 private:
  std::unique_ptr<v1::SubscriptionService::Stub> subscriptions_;
  std::unique_ptr<v1::EventService::Stub> events_;
  std::unique_ptr<v1::DeliveryService::Stub> deliveries_;
};

}  // namespace webhooks::api

#endif  // WEBHOOKS_TESTS_INTEGRATION_API_API_FIXTURE_H_
