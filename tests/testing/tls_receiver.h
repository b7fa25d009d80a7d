// A real HTTPS endpoint for tests: serves 127.0.0.1 on a free port with a
// certificate for "localhost" (and IP 127.0.0.1) signed by a CA made up at
// start, answers as the test programs it, and records every request and
// accepted connection.
//
//   std::unique_ptr<TlsReceiver> receiver = TlsReceiver::Create().value();
//   receiver->RespondWith({.status = 503, .headers = {{"Retry-After", "7"}}});
//   options.ca_bundle = receiver->ca_pem_path();  // trust its CA
//   ... POST to receiver->url("/hooks/a") ...
//   ASSERT_TRUE(receiver->WaitForRequests(1, absl::Seconds(10)));
//   EXPECT_EQ(receiver->requests()[0].Header("webhook-id"), "evt_1");
//
// Destroy whatever holds connections to it (a transport, a worker) first:
// stopping waits for server threads, and a thread serving an idle keep-alive
// connection holds on to it for up to `keep_alive_timeout`. Server threads
// block SIGPIPE, so a client that hangs up mid-response cannot end the test.
#ifndef WEBHOOKS_TESTS_TESTING_TLS_RECEIVER_H_
#define WEBHOOKS_TESTS_TESTING_TLS_RECEIVER_H_

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tests/testing/test_pki.h"

namespace webhooks::testing {

// One request as the receiver saw it.
struct ReceivedRequest {
  std::string method;  // "POST"
  std::string path;    // "/hooks/a", without the query string
  // Names lower-cased; values as received.
  std::multimap<std::string, std::string> headers;
  std::string body;
  absl::Time received_at;
  // The client's port: requests with the same one came over one connection.
  int remote_port = 0;
  // The client's address ("127.0.0.2"): where the request came from.
  std::string remote_address;

  // The first value of header `name` (any case), or "" when absent.
  std::string Header(absl::string_view name) const;
  bool HasHeader(absl::string_view name) const;
};

// What to answer to one request.
struct ReceiverResponse {
  int status = 200;
  std::string body = "ok";
  // Extra response headers, e.g. {"Location", "..."}, {"Retry-After", "120"}.
  std::vector<std::pair<std::string, std::string>> headers = {};
  // Waited before answering (cut short when the receiver is destroyed).
  absl::Duration delay = absl::ZeroDuration();
  // When non-zero, the body is this many 'x' bytes, generated in 64 KiB
  // pieces as they are sent (never held in memory); `body` is then ignored.
  size_t generated_body_bytes = 0;
};

// Decides the answer to each request. Runs on server threads, concurrently
// with itself.
using Responder = std::function<ReceiverResponse(const ReceivedRequest&)>;

struct TlsReceiverOptions {
  // Connections served at the same time; more wait for a free thread. A
  // thread stays with its connection while the client keeps it alive.
  size_t threads = 32;
  // Requests served on one connection before the server closes it.
  size_t keep_alive_max_count = 1000;
  // An idle connection is closed after this long (whole seconds).
  absl::Duration keep_alive_timeout = absl::Seconds(5);
  // The certificate served, issued by the receiver's CA. The default names
  // localhost, 127.0.0.1 and ::1 and is valid now; set one for the wrong
  // host or an expired one.
  std::optional<CertificateSpec> certificate;
  // Serve a self-signed certificate instead, which the CA does not vouch for.
  bool self_signed = false;
};

class TlsReceiver {
 public:
  // Makes the CA and certificate, writes them to a fresh temporary folder,
  // and starts serving. INTERNAL when OpenSSL or the socket fails.
  static absl::StatusOr<std::unique_ptr<TlsReceiver>> Create(
      TlsReceiverOptions options = {});

  // Stops serving (cutting response delays short), waits for the server's
  // threads, and removes the temporary files.
  ~TlsReceiver();

  TlsReceiver(const TlsReceiver&) = delete;
  TlsReceiver& operator=(const TlsReceiver&) = delete;

  int port() const;
  // "https://localhost:<port><path>"; `path` starts with '/'.
  std::string url(absl::string_view path = "/") const;
  // "https://127.0.0.1:<port><path>".
  std::string ip_url(absl::string_view path = "/") const;

  // PEM files: the CA certificate (for CURLOPT_CAINFO or
  // WEBHOOKS_CA_BUNDLE), and the server's certificate and private key.
  const std::string& ca_pem_path() const;
  const std::string& cert_pem_path() const;
  const std::string& key_pem_path() const;

  // Thread-safe; applies to requests arriving afterwards. The default
  // answers 200 "ok" at once.
  void SetResponder(Responder responder);
  // The same answer to every request.
  void RespondWith(ReceiverResponse response);

  // Thread-safe. Every request received so far, in arrival order (recorded
  // when its body has arrived, before the responder runs).
  std::vector<ReceivedRequest> requests() const;
  size_t request_count() const;
  // Waits until at least `n` requests have arrived; false on timeout.
  bool WaitForRequests(size_t n, absl::Duration timeout) const;

  // TCP connections accepted so far, including those whose TLS handshake
  // then failed.
  int connection_count() const;

 private:
  struct Impl;
  explicit TlsReceiver(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace webhooks::testing

#endif  // WEBHOOKS_TESTS_TESTING_TLS_RECEIVER_H_
