// Health checking, reflection, and bounded waits for the database.
#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/health_check_service_interface.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "reflection_client.pb.h"
#include "tests/integration/api/api_fixture.h"

namespace webhooks::api {
namespace {

using ::testing::IsSupersetOf;

class ServerApiTest : public ApiTest {};

// The health status of `service` ("" = the whole server), or the call's error
// code negated.
int HealthStatus(const std::shared_ptr<grpc::Channel>& channel,
                 const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;  // no token: health needs none
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return -static_cast<int>(status.error_code());
  return response.status();
}

TEST_F(ServerApiTest, HealthAnswersServingWithoutAToken) {
  EXPECT_EQ(HealthStatus(channel(), ""), 1);
  EXPECT_EQ(HealthStatus(channel(), "webhooks.v1.SubscriptionService"), 1);
  EXPECT_EQ(HealthStatus(channel(), "webhooks.v1.EventService"), 1);
  EXPECT_EQ(HealthStatus(channel(), "liveness"), 1);
  EXPECT_EQ(HealthStatus(channel(), "no.such.Service"),
            -static_cast<int>(grpc::StatusCode::NOT_FOUND));
}

TEST_F(ServerApiTest, ReflectionListsTheServices) {
  namespace reflection = webhooks::testing::reflection;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  const grpc::internal::RpcMethod method(
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      grpc::internal::RpcMethod::BIDI_STREAMING);
  std::unique_ptr<
      grpc::ClientReaderWriter<reflection::ServerReflectionRequest,
                               reflection::ServerReflectionResponse>>
      stream(grpc::internal::ClientReaderWriterFactory<
             reflection::ServerReflectionRequest,
             reflection::ServerReflectionResponse>::Create(channel().get(),
                                                           method, &context));
  reflection::ServerReflectionRequest request;
  request.set_list_services("");
  ASSERT_TRUE(stream->Write(request));
  reflection::ServerReflectionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  std::vector<std::string> names;
  for (const auto& s : response.list_services_response().service())
    names.push_back(s.name());
  EXPECT_THAT(
      names, IsSupersetOf(
                 {"webhooks.v1.SubscriptionService", "webhooks.v1.EventService",
                  "webhooks.v1.DeliveryService", "grpc.health.v1.Health"}));
  // Every service listed can be described, as tools that discover the API
  // by reflection (`buf curl --list-methods`) need: the health service used
  // to be listed but not describable.
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    reflection::ServerReflectionRequest describe;
    describe.set_file_containing_symbol(name);
    ASSERT_TRUE(stream->Write(describe));
    ASSERT_TRUE(stream->Read(&response));
    EXPECT_EQ(response.message_response_case(),
              reflection::ServerReflectionResponse::kFileDescriptorResponse)
        << response.error_response().error_message();
    // The file defines the service, with its methods.
    bool found = false;
    for (const std::string& bytes :
         response.file_descriptor_response().file_descriptor_proto()) {
      google::protobuf::FileDescriptorProto file;
      ASSERT_TRUE(file.ParseFromString(bytes));
      for (const auto& service : file.service()) {
        if (absl::StrCat(file.package(), ".", service.name()) == name) {
          found = service.method_size() > 0;
        }
      }
    }
    EXPECT_TRUE(found);
  }
  stream->WritesDone();
  while (stream->Read(&response)) {
  }
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(ServerApiTest, ExhaustedConnectionPoolAnswersResourceExhaustedNotAHang) {
  // Hold every connection of the server's pool (size 4, 300 ms acquire
  // timeout).
  std::vector<store::PgPool::Lease> held;
  for (int i = 0; i < pool().options().size; ++i) {
    auto lease = pool().Acquire();
    ASSERT_TRUE(lease.ok()) << lease.status();
    held.push_back(*std::move(lease));
  }
  v1::ListSubscriptionsRequest request;
  request.set_tenant_id(webhooks::testing::RandomTenant());
  v1::ListSubscriptionsResponse response;
  const auto start = std::chrono::steady_clock::now();
  grpc::Status status =
      subscriptions().ListSubscriptions(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << status.error_message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));

  // A caller deadline shorter than the pool's timeout is honoured as well.
  auto context = Context();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(100));
  status = subscriptions().ListSubscriptions(context.get(), request, &response);
  EXPECT_THAT(status.error_code(),
              ::testing::AnyOf(grpc::StatusCode::RESOURCE_EXHAUSTED,
                               grpc::StatusCode::DEADLINE_EXCEEDED));

  held.clear();
  EXPECT_TRUE(subscriptions()
                  .ListSubscriptions(Context().get(), request, &response)
                  .ok());
}

// A burst of concurrent calls while the database pool is out (every
// connection held for the first 450 ms, longer than the pool's 300 ms
// acquire timeout) and then back: every call ends with success,
// RESOURCE_EXHAUSTED or UNAVAILABLE, and within its deadline; none hangs,
// none fails otherwise, and the calls after the outage succeed.
TEST_F(ServerApiTest, BurstBeyondThePoolEndsEveryCallInTime) {
  std::vector<store::PgPool::Lease> held;
  for (int i = 0; i < pool().options().size; ++i) {
    auto lease = pool().Acquire();
    ASSERT_TRUE(lease.ok()) << lease.status();
    held.push_back(*std::move(lease));
  }
  // The outage's length is the fault itself, not a wait for a condition.
  std::jthread release([&held] {
    absl::SleepFor(absl::Milliseconds(450));
    held.clear();
  });
  const std::string tenant = webhooks::testing::RandomTenant();
  constexpr int kThreads = 16;
  constexpr int kCallsPerThread = 6;
  constexpr auto kDeadline = std::chrono::seconds(2);
  std::mutex mu;
  std::map<grpc::StatusCode, int> codes;
  std::chrono::steady_clock::duration slowest{};
  std::vector<std::thread> callers;
  for (int t = 0; t < kThreads; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < kCallsPerThread; ++i) {
        v1::PublishEventRequest request;
        request.set_tenant_id(tenant);
        *request.mutable_event() =
            DispatchedEmailEvent(absl::StrCat("eng_burst_", t, "_", i));
        v1::PublishEventResponse response;
        auto context = Context();
        context->set_deadline(std::chrono::system_clock::now() + kDeadline);
        const auto start = std::chrono::steady_clock::now();
        const grpc::Status status =
            events().PublishEvent(context.get(), request, &response);
        const auto took = std::chrono::steady_clock::now() - start;
        std::lock_guard<std::mutex> lock(mu);
        ++codes[status.error_code()];
        slowest = std::max(slowest, took);
      }
    });
  }
  for (std::thread& c : callers) c.join();
  release.join();

  int total = 0;
  for (const auto& [code, n] : codes) {
    EXPECT_THAT(code, ::testing::AnyOf(grpc::StatusCode::OK,
                                       grpc::StatusCode::RESOURCE_EXHAUSTED,
                                       grpc::StatusCode::UNAVAILABLE))
        << n << " calls ended " << static_cast<int>(code);
    total += n;
  }
  EXPECT_EQ(total, kThreads * kCallsPerThread);
  EXPECT_LT(slowest, kDeadline + std::chrono::milliseconds(500));
  std::printf(
      "[ burst ] %d calls, pool out for 450 ms: %d ok, %d RESOURCE_EXHAUSTED, "
      "%d UNAVAILABLE; slowest %.0f ms\n",
      total, codes[grpc::StatusCode::OK],
      codes[grpc::StatusCode::RESOURCE_EXHAUSTED],
      codes[grpc::StatusCode::UNAVAILABLE],
      std::chrono::duration<double, std::milli>(slowest).count());
  EXPECT_GT(codes[grpc::StatusCode::OK], 0);
  EXPECT_GT(codes[grpc::StatusCode::RESOURCE_EXHAUSTED], 0);
}

}  // namespace
}  // namespace webhooks::api
