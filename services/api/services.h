// The gRPC services of webhooks.v1, over the stores. Each handler authorises,
// validates, calls the store with the RPC's deadline, and converts errors once
// (absl::Status -> grpc::Status). Thread-safe; handlers block on the database
// only up to the RPC deadline or the pool's acquire timeout.
#ifndef WEBHOOKS_SERVICES_API_SERVICES_H_
#define WEBHOOKS_SERVICES_API_SERVICES_H_

#include <atomic>
#include <memory>

#include "lib/common/clock.h"
#include "lib/delivery/http_transport.h"
#include "lib/security/api_tokens.h"
#include "lib/security/sealer.h"
#include "lib/store/delivery_log_store.h"
#include "lib/store/event_store.h"
#include "lib/store/subscription_store.h"
#include "webhooks/v1/delivery_service.grpc.pb.h"
#include "webhooks/v1/event_service.grpc.pb.h"
#include "webhooks/v1/subscription_service.grpc.pb.h"

namespace webhooks::api {

// What the services need; all must outlive them.
struct ServiceDeps {
  store::SubscriptionStore* subscriptions = nullptr;
  store::EventStore* events = nullptr;
  store::DeliveryLogStore* deliveries = nullptr;
  const security::Sealer* sealer = nullptr;
  const security::ApiTokens* tokens = nullptr;
  common::Clock* clock = nullptr;
  // For SendTestEvent; without one it is FAILED_PRECONDITION.
  delivery::HttpTransport* transport = nullptr;
};

// The subscription service's settings (webhooks-api flags of the same names).
// main.cc checks 1 <= default_max_in_flight <= max_in_flight_limit.
struct SubscriptionServiceConfig {
  // What max_in_flight 0 means on create and update.
  int default_max_in_flight = 64;
  // The largest max_in_flight a client may set.
  int max_in_flight_limit = 1000;
};

class SubscriptionServiceImpl final : public v1::SubscriptionService::Service {
 public:
  SubscriptionServiceImpl(ServiceDeps deps, SubscriptionServiceConfig config)
      : deps_(deps), config_(config) {}

  grpc::Status CreateSubscription(
      grpc::ServerContext* context,
      const v1::CreateSubscriptionRequest* request,
      v1::CreateSubscriptionResponse* response) override;
  grpc::Status GetSubscription(grpc::ServerContext* context,
                               const v1::GetSubscriptionRequest* request,
                               v1::Subscription* response) override;
  grpc::Status ListSubscriptions(
      grpc::ServerContext* context, const v1::ListSubscriptionsRequest* request,
      v1::ListSubscriptionsResponse* response) override;
  grpc::Status UpdateSubscription(grpc::ServerContext* context,
                                  const v1::UpdateSubscriptionRequest* request,
                                  v1::Subscription* response) override;
  grpc::Status DeleteSubscription(grpc::ServerContext* context,
                                  const v1::DeleteSubscriptionRequest* request,
                                  google::protobuf::Empty* response) override;
  grpc::Status RotateSigningSecret(
      grpc::ServerContext* context,
      const v1::RotateSigningSecretRequest* request,
      v1::RotateSigningSecretResponse* response) override;
  grpc::Status GetSubscriptionStats(
      grpc::ServerContext* context,
      const v1::GetSubscriptionStatsRequest* request,
      v1::SubscriptionStats* response) override;
  grpc::Status SendTestEvent(grpc::ServerContext* context,
                             const v1::SendTestEventRequest* request,
                             v1::SendTestEventResponse* response) override;

  // Test sends running at once, at most (each holds a handler thread while
  // the endpoint answers).
  static constexpr int kMaxTestSends = 8;

  // RotateSigningSecret's grace period when unset, and its most.
  static constexpr absl::Duration kDefaultGrace = absl::Hours(24);
  static constexpr absl::Duration kMaxGrace = absl::Hours(24 * 7);

 private:
  ServiceDeps deps_;
  SubscriptionServiceConfig config_;
  // Test sends whose request has not ended (shared with their callbacks).
  std::shared_ptr<std::atomic<int>> test_sends_ =
      std::make_shared<std::atomic<int>>(0);
};

class EventServiceImpl final : public v1::EventService::Service {
 public:
  // At most this many items in one PublishEvents call.
  static constexpr int kMaxBatchItems = 500;

  explicit EventServiceImpl(ServiceDeps deps) : deps_(deps) {}

  grpc::Status PublishEvent(grpc::ServerContext* context,
                            const v1::PublishEventRequest* request,
                            v1::PublishEventResponse* response) override;
  grpc::Status PublishEvents(grpc::ServerContext* context,
                             const v1::PublishEventsRequest* request,
                             v1::PublishEventsResponse* response) override;
  grpc::Status GetEvent(grpc::ServerContext* context,
                        const v1::GetEventRequest* request,
                        v1::StoredEvent* response) override;

 private:
  ServiceDeps deps_;
};

class DeliveryServiceImpl final : public v1::DeliveryService::Service {
 public:
  // The longest window RecoverFailedDeliveries accepts.
  static constexpr absl::Duration kMaxRecoverWindow = absl::Hours(24 * 14);

  explicit DeliveryServiceImpl(ServiceDeps deps) : deps_(deps) {}

  grpc::Status ListDeliveries(grpc::ServerContext* context,
                              const v1::ListDeliveriesRequest* request,
                              v1::ListDeliveriesResponse* response) override;
  grpc::Status GetDelivery(grpc::ServerContext* context,
                           const v1::GetDeliveryRequest* request,
                           v1::Delivery* response) override;
  grpc::Status RetryDelivery(grpc::ServerContext* context,
                             const v1::RetryDeliveryRequest* request,
                             v1::Delivery* response) override;
  grpc::Status RecoverFailedDeliveries(
      grpc::ServerContext* context,
      const v1::RecoverFailedDeliveriesRequest* request,
      v1::RecoverFailedDeliveriesResponse* response) override;
  grpc::Status DiscardHeldDeliveries(
      grpc::ServerContext* context,
      const v1::DiscardHeldDeliveriesRequest* request,
      v1::DiscardHeldDeliveriesResponse* response) override;

 private:
  ServiceDeps deps_;
};

}  // namespace webhooks::api

#endif  // WEBHOOKS_SERVICES_API_SERVICES_H_
