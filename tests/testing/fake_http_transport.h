// A delivery::HttpTransport for tests: records what is submitted and sends
// nothing; the test finishes each request with the result it chooses.
#ifndef WEBHOOKS_TESTS_TESTING_FAKE_HTTP_TRANSPORT_H_
#define WEBHOOKS_TESTS_TESTING_FAKE_HTTP_TRANSPORT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "lib/common/mutex.h"
#include "lib/delivery/http_transport.h"

namespace webhooks::testing {

// Thread-safe. Callbacks run on the thread that calls Finish, FinishAll or
// Shutdown (or Submit, after Shutdown), never under the fake's lock.
class FakeHttpTransport : public delivery::HttpTransport {
 public:
  FakeHttpTransport() = default;
  ~FakeHttpTransport() override;

  // Records the request; its callback waits for Finish. After Shutdown the
  // callback runs at once with kAborted.
  void Submit(delivery::HttpRequest request, Callback done) override;
  int InFlight() const override;
  // Aborts every unfinished request at once (kAborted), whatever the
  // deadline, and refuses later ones likewise.
  void Shutdown(absl::Time deadline) override;

  // Finishes the unfinished request `id` with `result` (its id is set to
  // `id`). False when no such request is unfinished.
  bool Finish(uint64_t id, delivery::HttpResult result);
  // Finishes every unfinished request, in submission order, with what
  // `result_for` returns for it. Returns how many.
  int FinishAll(
      const std::function<delivery::HttpResult(const delivery::HttpRequest&)>&
          result_for);
  // Every request ever submitted, in order.
  std::vector<delivery::HttpRequest> Submitted() const;
  // The ids of the unfinished requests, in submission order.
  std::vector<uint64_t> Unfinished() const;

 private:
  struct Open {
    delivery::HttpRequest request;
    Callback done;
  };

  mutable common::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<delivery::HttpRequest> submitted_ ABSL_GUARDED_BY(mu_);
  // By submission sequence number.
  std::map<uint64_t, Open> open_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace webhooks::testing

#endif  // WEBHOOKS_TESTS_TESTING_FAKE_HTTP_TRANSPORT_H_
