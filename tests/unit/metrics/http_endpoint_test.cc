// The operators' HTTP endpoint on a real loopback socket: it serves, and it
// stops, however soon after starting (httplib 0.11 lost a stop that came
// before its listen loop began, and the destructor then hung for ever).
#include "lib/metrics/http_endpoint.h"

#include <prometheus/registry.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <thread>

#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace webhooks::metrics {
namespace {

using ::webhooks::testing::IsOk;

TEST(HttpEndpointTest, StopsAtOnceHoweverSoonAfterStart) {
  prometheus::Registry registry;
  constexpr int kRounds = 300;
  std::promise<int> done;
  std::future<int> finished = done.get_future();
  // On its own thread, so that a hang fails the test instead of stalling it.
  std::thread rounds([&registry, promise = std::move(done)]() mutable {
    int started = 0;
    for (int i = 0; i < kRounds; ++i) {
      auto endpoint = HttpEndpoint::Start("127.0.0.1:0", &registry, nullptr);
      if (!endpoint.ok()) continue;
      ++started;
      endpoint->reset();  // stops and joins at once
    }
    promise.set_value(started);
  });
  if (finished.wait_for(std::chrono::seconds(60)) !=
      std::future_status::ready) {
    // The thread is stuck in a join; nothing can end it but the process.
    std::fprintf(stderr, "an endpoint never stopped\n");
    std::_Exit(1);
  }
  rounds.join();
  EXPECT_EQ(finished.get(), kRounds);
}

TEST(HttpEndpointTest, RefusesAnAddressWithoutAPort) {
  prometheus::Registry registry;
  EXPECT_EQ(
      HttpEndpoint::Start("127.0.0.1", &registry, nullptr).status().code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace webhooks::metrics
