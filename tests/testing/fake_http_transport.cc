#include "tests/testing/fake_http_transport.h"

#include <utility>
#include <vector>

namespace webhooks::testing {
namespace {

delivery::HttpResult Aborted(uint64_t id) {
  delivery::HttpResult result;
  result.id = id;
  result.error_class = domain::ErrorClass::kAborted;
  return result;
}

}  // namespace

FakeHttpTransport::~FakeHttpTransport() { Shutdown(absl::InfinitePast()); }

void FakeHttpTransport::Submit(delivery::HttpRequest request, Callback done) {
  {
    common::MutexLock lock(&mu_);
    submitted_.push_back(request);
    if (!shut_down_) {
      open_.emplace(next_seq_++, Open{std::move(request), std::move(done)});
      return;
    }
  }
  done(Aborted(request.id));
}

int FakeHttpTransport::InFlight() const {
  common::MutexLock lock(&mu_);
  return static_cast<int>(open_.size());
}

void FakeHttpTransport::Shutdown(absl::Time /*deadline*/) {
  std::map<uint64_t, Open> open;
  {
    common::MutexLock lock(&mu_);
    shut_down_ = true;
    open.swap(open_);
  }
  for (auto& [seq, o] : open) o.done(Aborted(o.request.id));
}

bool FakeHttpTransport::Finish(uint64_t id, delivery::HttpResult result) {
  Callback done;
  {
    common::MutexLock lock(&mu_);
    auto it = open_.begin();
    while (it != open_.end() && it->second.request.id != id) ++it;
    if (it == open_.end()) return false;
    done = std::move(it->second.done);
    open_.erase(it);
  }
  result.id = id;
  done(std::move(result));
  return true;
}

int FakeHttpTransport::FinishAll(
    const std::function<delivery::HttpResult(const delivery::HttpRequest&)>&
        result_for) {
  std::map<uint64_t, Open> open;
  {
    common::MutexLock lock(&mu_);
    open.swap(open_);
  }
  for (auto& [seq, o] : open) {
    delivery::HttpResult result = result_for(o.request);
    result.id = o.request.id;
    o.done(std::move(result));
  }
  return static_cast<int>(open.size());
}

std::vector<delivery::HttpRequest> FakeHttpTransport::Submitted() const {
  common::MutexLock lock(&mu_);
  return submitted_;
}

std::vector<uint64_t> FakeHttpTransport::Unfinished() const {
  common::MutexLock lock(&mu_);
  std::vector<uint64_t> ids;
  ids.reserve(open_.size());
  for (const auto& [seq, o] : open_) ids.push_back(o.request.id);
  return ids;
}

}  // namespace webhooks::testing
