// CurlHttpTransport against a real HTTPS receiver on loopback: what arrives,
// how each outcome is classified, the SSRF guard, bounded reading,
// concurrency, connection reuse and shutdown.
#include "lib/delivery/curl_http_transport.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/common/mutex.h"
#include "lib/delivery/address_policy.h"
#include "lib/delivery/http_transport.h"
#include "lib/domain/retry_policy.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tls_receiver.h"

namespace webhooks::delivery {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Le;
using ::testing::Not;
using ::webhooks::testing::IsOk;
using ::webhooks::testing::ReceivedRequest;
using ::webhooks::testing::ReceiverResponse;
using ::webhooks::testing::TlsReceiver;

// Whether a sanitizer that keeps memory of its own is on: AddressSanitizer
// keeps freed memory in quarantine, ThreadSanitizer keeps shadow memory and
// access histories, so the resident size says nothing about our buffers.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitizerHoldsMemory = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitizerHoldsMemory = true;
#else
constexpr bool kSanitizerHoldsMemory = false;
#endif
#else
constexpr bool kSanitizerHoldsMemory = false;
#endif

// Generous: these wait for events that normally take milliseconds.
constexpr absl::Duration kWait = absl::Seconds(30);

std::string ClassOf(const HttpResult& result) {
  return std::string(domain::ErrorClassName(result.error_class));
}

// Results of requests submitted with Callback(), which runs on the
// transport's thread. Must outlive the transport.
class Results {
 public:
  HttpTransport::Callback Callback() {
    return [this](HttpResult result) {
      common::MutexLock lock(&mu_);
      results_.push_back(std::move(result));
    };
  }

  bool WaitFor(size_t n, absl::Duration timeout) {
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return results_.size() >= n;
    };
    common::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(&enough, timeout);
  }

  std::vector<HttpResult> Get() {
    common::MutexLock lock(&mu_);
    return results_;
  }

 private:
  common::Mutex mu_;
  std::vector<HttpResult> results_ ABSL_GUARDED_BY(mu_);
};

// The process's peak resident set size (VmHWM), in bytes.
int64_t PeakResidentBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (absl::StartsWith(line, "VmHWM:")) {
      absl::string_view kib =
          absl::StripAsciiWhitespace(absl::string_view(line).substr(6));
      kib = kib.substr(0, kib.find(' '));
      int64_t value = 0;
      if (absl::SimpleAtoi(kib, &value)) return value * 1024;
    }
  }
  return -1;
}

// A loopback port nothing listens on (it did a moment ago).
int ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  bind(fd, reinterpret_cast<sockaddr*>(&address), length);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

class CurlHttpTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TlsReceiver>> receiver =
        TlsReceiver::Create();
    ASSERT_THAT(receiver, IsOk());
    receiver_ = *std::move(receiver);
  }

  // Trusts the receiver's CA and allows loopback.
  CurlTransportOptions Options() const {
    CurlTransportOptions options;
    options.ca_bundle = receiver_->ca_pem_path();
    options.user_agent = "webhooks-test/1.0";
    options.address_policy = AddressPolicy::Create("127.0.0.0/8").value();
    return options;
  }

  static std::unique_ptr<HttpTransport> NewTransport(
      CurlTransportOptions options) {
    absl::StatusOr<std::unique_ptr<HttpTransport>> transport =
        NewCurlHttpTransport(std::move(options));
    EXPECT_THAT(transport, IsOk());
    return transport.ok() ? *std::move(transport) : nullptr;
  }

  static HttpRequest Post(std::string url, std::string body = "{}",
                          uint64_t id = 1) {
    HttpRequest request;
    request.id = id;
    request.url = std::move(url);
    request.headers = {"Content-Type: application/json"};
    request.body = std::make_shared<const std::string>(std::move(body));
    return request;
  }

  // Submits `request` and waits for its result.
  static HttpResult Send(HttpTransport& transport, HttpRequest request) {
    struct Outcome {
      common::Notification done;
      HttpResult result;
    };
    auto outcome = std::make_shared<Outcome>();
    transport.Submit(std::move(request), [outcome](HttpResult result) {
      outcome->result = std::move(result);
      outcome->done.Notify();
    });
    if (!outcome->done.WaitForNotificationWithTimeout(kWait)) {
      ADD_FAILURE() << "no result within " << kWait;
      return HttpResult{};
    }
    return std::move(outcome->result);
  }

  std::unique_ptr<TlsReceiver> receiver_;
};

TEST_F(CurlHttpTransportTest, PostsTheBodyAndHeadersExactly) {
  std::unique_ptr<HttpTransport> transport = NewTransport(Options());
  // 256 KiB, the largest body the contract allows, of varied bytes.
  std::string body = R"({"event":"engagement_dispatched","name":"Zoë"})";
  for (int i = 0; body.size() < 256 * 1024; ++i) {
    body.push_back(static_cast<char>('!' + i % 90));
  }
  HttpRequest request = Post(receiver_->url("/hooks/a"), body, /*id=*/42);
  request.headers.push_back("webhook-id: evt_123");
  request.headers.push_back("webhook-attempt: 1");
  request.headers.push_back("Authorization: Bearer s3cret");

  const absl::Time before = absl::Now();
  HttpResult result = Send(*transport, std::move(request));
  const absl::Time after = absl::Now();

  EXPECT_EQ(ClassOf(result), "success") << result.error_detail;
  EXPECT_EQ(result.id, 42u);
  EXPECT_EQ(result.http_status, 200);
  EXPECT_EQ(result.response_excerpt, "ok");
  EXPECT_THAT(result.retry_after, IsEmpty());
  EXPECT_THAT(result.error_detail, IsEmpty());
  EXPECT_GE(result.started_at, before);
  EXPECT_LE(result.started_at, after);
  EXPECT_GT(result.duration, absl::ZeroDuration());
  EXPECT_LE(result.duration, after - before);

  std::vector<ReceivedRequest> received = receiver_->requests();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].method, "POST");
  EXPECT_EQ(received[0].path, "/hooks/a");
  EXPECT_EQ(received[0].body, body);
  EXPECT_EQ(received[0].Header("content-type"), "application/json");
  EXPECT_EQ(received[0].Header("content-length"), absl::StrCat(body.size()));
  EXPECT_EQ(received[0].Header("webhook-id"), "evt_123");
  EXPECT_EQ(received[0].Header("webhook-attempt"), "1");
  EXPECT_EQ(received[0].Header("authorization"), "Bearer s3cret");
  EXPECT_EQ(received[0].Header("user-agent"), "webhooks-test/1.0");
  EXPECT_FALSE(received[0].HasHeader("expect"));
}

TEST_F(CurlHttpTransportTest, ServerErrorIsHttp5xx) {
  receiver_->RespondWith({.status = 500, .body = "boom"});
  std::unique_ptr<HttpTransport> transport = NewTransport(Options());

  HttpResult result = Send(*transport, Post(receiver_->url("/hooks/a")));

  EXPECT_EQ(ClassOf(result), "http_5xx");
  EXPECT_EQ(result.http_status, 500);
  EXPECT_EQ(result.response_excerpt, "boom");
}

TEST_F(CurlHttpTransportTest, GoneIsHttp410) {
  receiver_->RespondWith({.status = 410, .body = "gone"});
  std::unique_ptr<HttpTransport> transport = NewTransport(Options());

  HttpResult result = Send(*transport, Post(receiver_->url("/hooks/a")));

  EXPECT_EQ(ClassOf(result), "http_410");
  EXPECT_EQ(result.http_status, 410);
}

TEST_F(CurlHttpTransportTest, TooManyRequestsKeepsRetryAfter) {
  receiver_->RespondWith({.status = 429,
                          .body = "slow down",
                          .headers = {{"Retry-After", "120"}}});
  std::unique_ptr<HttpTransport> transport = NewTransport(Options());

  HttpResult result = Send(*transport, Post(receiver_->url("/hooks/a")));

  EXPECT_EQ(ClassOf(result), "http_429");
  EXPECT_EQ(result.http_status, 429);
  EXPECT_EQ(result.retry_after, "120");
}

TEST_F(CurlHttpTransportTest, SlowReceiverTimesOut) {
  receiver_->RespondWith({.delay = absl::Seconds(60)});
  CurlTransportOptions options = Options();
  options.total_timeout = absl::Milliseconds(300);
  std::unique_ptr<HttpTransport> transport = NewTransport(std::move(options));

  HttpResult result = Send(*transport, Post(receiver_->url("/hooks/a")));

  EXPECT_EQ(ClassOf(result), "timeout") << result.error_detail;
  EXPECT_EQ(result.http_status, 0);
  EXPECT_GE(result.duration, absl::Milliseconds(290));
  EXPECT_LT(result.duration, absl::Seconds(10));
  EXPECT_THAT(result.error_detail, Not(IsEmpty()));
}

TEST_F(CurlHttpTransportTest, RedirectIsNotFollowed) {
  receiver_->RespondWith(
      {.status = 302, .headers = {{"Location", receiver_->url("/elsewhere")}}});
  std::unique_ptr<HttpTransport> transport = NewTransport(Options());

  HttpResult result = Send(*transport, Post(receiver_->url("/hooks/a")));

  EXPECT_EQ(ClassOf(result), "http_3xx");
  EXPECT_EQ(result.http_status, 302);
  // A followed redirect would have arrived before the result.
  std::vector<ReceivedRequest> received = receiver_->requests();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].path, "/hooks/a");
}

TEST_F(CurlHttpTransportTest, LargeResponseKeepsOnlyTheExcerpt) {
  constexpr size_t kResponseBytes = 10 * 1024 * 1024;
  receiver_->RespondWith({.generated_body_bytes = kResponseBytes});
  std::unique_ptr<HttpTransport> transport = NewTransport(Options());
  const int64_t peak_before = PeakResidentBytes();
  ASSERT_GT(peak_before, 0);

  HttpResult result = Send(*transport, Post(receiver_->url("/hooks/a")));

  EXPECT_EQ(ClassOf(result), "success") << result.error_detail;
  // Compared as a bool: a failure must not print megabytes.
  EXPECT_EQ(result.response_excerpt.size(), 4096u);
  EXPECT_TRUE(result.response_excerpt == std::string(4096, 'x'));
  // Neither side held the 10 MiB: the peak grew by far less than that.
  // (Meaningless under a sanitizer that holds memory of its own.)
  if (!kSanitizerHoldsMemory) {
    EXPECT_LT(PeakResidentBytes() - peak_before, 4 * 1024 * 1024);
  }
  // The rest was read to the end rather than cut off: the connection is
  // still good for the next request.
  EXPECT_EQ(ClassOf(Send(*transport, Post(receiver_->url("/hooks/b")))),
            "success");
  EXPECT_EQ(receiver_->connection_count(), 1);
}

TEST_F(CurlHttpTransportTest, UntrustedCertificateIsTlsError) {
  CurlTransportOptions options = Options();
  options.ca_bundle = "";  // the system's store, which lacks the test CA
  std::unique_ptr<HttpTransport> transport = NewTransport(std::move(options));

  HttpResult result = Send(*transport, Post(receiver_->url("/hooks/a")));

  EXPECT_EQ(ClassOf(result), "tls_error") << result.error_detail;
  EXPECT_EQ(result.http_status, 0);
  EXPECT_THAT(result.error_detail, Not(IsEmpty()));
  EXPECT_EQ(receiver_->request_count(), 0u);
}

TEST_F(CurlHttpTransportTest, LoopbackIsBlockedWithoutAnAllowList) {
  CurlTransportOptions options = Options();
  options.address_policy = AddressPolicy::Create("").value();
  std::unique_ptr<HttpTransport> transport = NewTransport(std::move(options));

  for (const std::string& url :
       {receiver_->url("/hooks/a"), receiver_->ip_url("/hooks/a")}) {
    SCOPED_TRACE(url);
    HttpResult result = Send(*transport, Post(url));
    EXPECT_EQ(ClassOf(result), "blocked_address") << result.error_detail;
    EXPECT_EQ(result.http_status, 0);
    EXPECT_THAT(result.error_detail, HasSubstr("address policy"));
  }
  EXPECT_EQ(receiver_->connection_count(), 0);
  EXPECT_EQ(receiver_->request_count(), 0u);
}

TEST_F(CurlHttpTransportTest, LoopbackIsAllowedByTheAllowList) {
  for (const char* allow : {"127.0.0.0/8", "127.0.0.1/32"}) {
    SCOPED_TRACE(allow);
    CurlTransportOptions options = Options();
    options.address_policy = AddressPolicy::Create(allow).value();
    std::unique_ptr<HttpTransport> transport = NewTransport(std::move(options));
    for (const std::string& url :
         {receiver_->url("/hooks/a"), receiver_->ip_url("/hooks/a")}) {
      SCOPED_TRACE(url);
      HttpResult result = Send(*transport, Post(url));
      EXPECT_EQ(ClassOf(result), "success") << result.error_detail;
    }
  }
}

TEST_F(CurlHttpTransportTest, ManyConcurrentRequestsShareFewConnections) {
  constexpr int kRequests = 200;
  constexpr int kConnections = 16;
  Results results;
  CurlTransportOptions options = Options();
  options.max_connections = kConnections;
  std::unique_ptr<HttpTransport> transport = NewTransport(std::move(options));

  for (int i = 0; i < kRequests; ++i) {
    transport->Submit(
        Post(receiver_->url(absl::StrCat("/hooks/", i)),
             absl::StrCat("{\"n\":", i, "}"), static_cast<uint64_t>(i)),
        results.Callback());
  }
  ASSERT_TRUE(results.WaitFor(kRequests, absl::Seconds(60)));

  std::set<uint64_t> ids;
  for (const HttpResult& result : results.Get()) {
    EXPECT_EQ(ClassOf(result), "success") << result.error_detail;
    ids.insert(result.id);
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kRequests));
  EXPECT_EQ(transport->InFlight(), 0);
  std::set<std::string> bodies;
  for (const ReceivedRequest& request : receiver_->requests()) {
    bodies.insert(request.body);
  }
  EXPECT_EQ(bodies.size(), static_cast<size_t>(kRequests));
  EXPECT_THAT(receiver_->connection_count(), Le(kConnections));
}

TEST_F(CurlHttpTransportTest, SequentialRequestsReuseOneConnection) {
  std::unique_ptr<HttpTransport> transport = NewTransport(Options());

  for (int i = 0; i < 5; ++i) {
    HttpResult result = Send(*transport, Post(receiver_->url("/hooks/a")));
    EXPECT_EQ(ClassOf(result), "success") << result.error_detail;
  }

  EXPECT_EQ(receiver_->connection_count(), 1);
  std::set<int> client_ports;
  for (const ReceivedRequest& request : receiver_->requests()) {
    client_ports.insert(request.remote_port);
  }
  EXPECT_EQ(client_ports.size(), 1u);
}

// A connection idle longer than max_idle_reuse is not reused (the receiver
// keeps it open for 5 s, so a second connection is the client's choice).
TEST_F(CurlHttpTransportTest, AConnectionIdleTooLongIsNotReused) {
  CurlTransportOptions options = Options();
  options.max_idle_reuse = absl::Seconds(1);
  std::unique_ptr<HttpTransport> transport = NewTransport(options);
  HttpResult result = Send(*transport, Post(receiver_->url("/hooks/a")));
  EXPECT_EQ(ClassOf(result), "success") << result.error_detail;
  result = Send(*transport, Post(receiver_->url("/hooks/a")));
  EXPECT_EQ(ClassOf(result), "success") << result.error_detail;
  EXPECT_EQ(receiver_->connection_count(), 1);  // reused while fresh
  // Idle time is what this test is about: nothing to await but the clock.
  absl::SleepFor(absl::Milliseconds(2100));
  result = Send(*transport, Post(receiver_->url("/hooks/a")));
  EXPECT_EQ(ClassOf(result), "success") << result.error_detail;
  EXPECT_EQ(receiver_->connection_count(), 2);
}

TEST_F(CurlHttpTransportTest, ShutdownLetsQuickRequestsFinishAndAbortsSlow) {
  receiver_->SetResponder([](const ReceivedRequest& request) {
    return ReceiverResponse{.delay = request.path == "/quick"
                                         ? absl::Milliseconds(100)
                                         : absl::Seconds(60)};
  });
  Results results;
  std::unique_ptr<HttpTransport> transport = NewTransport(Options());
  transport->Submit(Post(receiver_->url("/slow"), "{}", 1), results.Callback());
  transport->Submit(Post(receiver_->url("/slow"), "{}", 2), results.Callback());
  transport->Submit(Post(receiver_->url("/quick"), "{}", 3),
                    results.Callback());
  ASSERT_TRUE(receiver_->WaitForRequests(3, kWait));
  // The quick one may be done already.
  EXPECT_GE(transport->InFlight(), 2);

  const absl::Time start = absl::Now();
  transport->Shutdown(start + absl::Seconds(1));
  const absl::Duration took = absl::Now() - start;

  // Every callback ran before Shutdown returned.
  std::vector<HttpResult> finished = results.Get();
  ASSERT_EQ(finished.size(), 3u);
  for (const HttpResult& result : finished) {
    EXPECT_EQ(ClassOf(result), result.id == 3 ? "success" : "aborted")
        << "request " << result.id << ": " << result.error_detail;
  }
  EXPECT_EQ(transport->InFlight(), 0);
  EXPECT_GE(took, absl::Milliseconds(990));
  EXPECT_LT(took, absl::Seconds(10));
}

TEST_F(CurlHttpTransportTest, DestructorAbortsInFlightRequests) {
  receiver_->RespondWith({.delay = absl::Seconds(60)});
  Results results;
  std::unique_ptr<HttpTransport> transport = NewTransport(Options());
  transport->Submit(Post(receiver_->url("/hooks/a")), results.Callback());
  ASSERT_TRUE(receiver_->WaitForRequests(1, kWait));

  const absl::Time start = absl::Now();
  transport.reset();

  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  std::vector<HttpResult> finished = results.Get();
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(ClassOf(finished[0]), "aborted");
}

TEST_F(CurlHttpTransportTest, CallbacksMaySubmit) {
  Results results;
  std::unique_ptr<HttpTransport> transport = NewTransport(Options());
  HttpTransport* raw = transport.get();
  const std::string second_url = receiver_->url("/second");
  HttpTransport::Callback record = results.Callback();
  transport->Submit(Post(receiver_->url("/first"), "{}", 1),
                    [raw, second_url, record](HttpResult result) {
                      record(std::move(result));
                      raw->Submit(Post(second_url, "{}", 2), record);
                    });

  ASSERT_TRUE(results.WaitFor(2, kWait));
  for (const HttpResult& result : results.Get()) {
    EXPECT_EQ(ClassOf(result), "success") << result.error_detail;
  }
}

TEST_F(CurlHttpTransportTest, UnknownHostIsDnsError) {
  std::unique_ptr<HttpTransport> transport = NewTransport(Options());

  HttpResult result =
      Send(*transport, Post("https://no-such-host.invalid/hooks/a"));

  EXPECT_EQ(ClassOf(result), "dns_error") << result.error_detail;
  EXPECT_EQ(result.http_status, 0);
}

TEST_F(CurlHttpTransportTest, RefusedConnectionIsConnectError) {
  std::unique_ptr<HttpTransport> transport = NewTransport(Options());

  HttpResult result = Send(
      *transport, Post(absl::StrCat("https://127.0.0.1:", ClosedPort(), "/")));

  EXPECT_EQ(ClassOf(result), "connect_error") << result.error_detail;
}

TEST_F(CurlHttpTransportTest, PlainHttpIsNeverSent) {
  std::unique_ptr<HttpTransport> transport = NewTransport(Options());

  HttpResult result = Send(
      *transport,
      Post(absl::StrCat("http://127.0.0.1:", receiver_->port(), "/hooks/a")));

  EXPECT_EQ(ClassOf(result), "internal") << result.error_detail;
  EXPECT_EQ(receiver_->connection_count(), 0);
}

TEST_F(CurlHttpTransportTest, HeaderWithLineBreakIsRefused) {
  std::unique_ptr<HttpTransport> transport = NewTransport(Options());
  HttpRequest request = Post(receiver_->url("/hooks/a"));
  request.headers.push_back("X-Token: abc\r\nX-Injected: 1");

  HttpResult result = Send(*transport, std::move(request));

  EXPECT_EQ(ClassOf(result), "internal");
  EXPECT_THAT(result.error_detail, Not(HasSubstr("abc")));
  EXPECT_EQ(receiver_->connection_count(), 0);
}

// 127.0.0.0/8 is all on the loopback interface: 127.0.0.2 and 127.0.0.3 stand
// in for the fixed egress addresses of a worker host.
TEST_F(CurlHttpTransportTest, RequestsLeaveFromTheSourceAddress) {
  for (const std::string source : {"127.0.0.2", "127.0.0.3"}) {
    CurlTransportOptions options = Options();
    options.source_address = source;
    std::unique_ptr<HttpTransport> transport = NewTransport(options);
    ASSERT_NE(transport, nullptr);

    HttpResult result = Send(*transport, Post(receiver_->url("/a")));

    EXPECT_EQ(ClassOf(result), "success") << result.error_detail;
  }
  std::unique_ptr<HttpTransport> unbound = NewTransport(Options());
  EXPECT_EQ(ClassOf(Send(*unbound, Post(receiver_->url("/a")))), "success");

  std::vector<ReceivedRequest> received = receiver_->requests();
  ASSERT_EQ(received.size(), 3u);
  EXPECT_EQ(received[0].remote_address, "127.0.0.2");
  EXPECT_EQ(received[1].remote_address, "127.0.0.3");
  // Without a source address the system picks the usual one.
  EXPECT_EQ(received[2].remote_address, "127.0.0.1");
}

TEST_F(CurlHttpTransportTest, SourceInterfaceIsUsed) {
  CurlTransportOptions options = Options();
  options.source_address = "lo";
  std::unique_ptr<HttpTransport> transport = NewTransport(options);
  ASSERT_NE(transport, nullptr);

  HttpResult result = Send(*transport, Post(receiver_->ip_url("/a")));

  EXPECT_EQ(ClassOf(result), "success") << result.error_detail;
  ASSERT_EQ(receiver_->requests().size(), 1u);
}

TEST(CurlHttpTransportOptionsTest, SourceAddressMustBeThisHosts) {
  // 192.0.2.0/24 is documentation space: no host has it.
  for (const char* source : {"192.0.2.1", "2001:db8::1", "no-such-interface0",
                             "127.0.0.1 ", "host!127.0.0.1", "0.0.0.0", "::"}) {
    CurlTransportOptions options;
    options.source_address = source;
    EXPECT_THAT(
        NewCurlHttpTransport(std::move(options)),
        ::webhooks::testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                      HasSubstr("source_address")))
        << source;
  }
}

TEST(CurlHttpTransportOptionsTest, UnreadableCaBundleIsInvalidArgument) {
  CurlTransportOptions options;
  options.ca_bundle = "/nonexistent/ca.pem";

  EXPECT_THAT(NewCurlHttpTransport(std::move(options)),
              ::webhooks::testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("ca_bundle")));
}

}  // namespace
}  // namespace webhooks::delivery
