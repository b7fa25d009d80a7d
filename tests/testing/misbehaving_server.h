// A TLS endpoint that breaks HTTP on purpose, for fault tests: it completes
// the handshake with a certificate from its own CA, reads the request head,
// then resets the connection or trickles its answer one byte at a time.
// TlsReceiver covers receivers that answer HTTP correctly (slowly, with
// errors, with huge bodies); this covers those that do not.
#ifndef WEBHOOKS_TESTS_TESTING_MISBEHAVING_SERVER_H_
#define WEBHOOKS_TESTS_TESTING_MISBEHAVING_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace webhooks::testing {

enum class Misbehaviour {
  // Reads the request head, then closes with SO_LINGER 0: a TCP reset.
  kResetAfterRequest,
  // Reads the request head, then sends "HTTP/1.1 200 OK" and headers one
  // byte every `trickle_interval`, never finishing within a sane timeout.
  kTrickleHeaders,
};

class MisbehavingServer {
 public:
  // Serves 127.0.0.1 on a free port, with a certificate for localhost and
  // 127.0.0.1. INTERNAL when OpenSSL or the socket fails.
  static absl::StatusOr<std::unique_ptr<MisbehavingServer>> Create(
      Misbehaviour misbehaviour,
      absl::Duration trickle_interval = absl::Seconds(1));
  // Stops accepting, cuts every connection and waits for its threads.
  ~MisbehavingServer();

  MisbehavingServer(const MisbehavingServer&) = delete;
  MisbehavingServer& operator=(const MisbehavingServer&) = delete;

  // "https://localhost:<port><path>".
  std::string url(absl::string_view path = "/") const;
  // The CA's certificate (PEM file) to trust.
  const std::string& ca_pem_path() const;

  // Thread-safe: TCP connections accepted, and request heads read in full.
  int connection_count() const;
  int request_count() const;

 private:
  struct Impl;
  explicit MisbehavingServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace webhooks::testing

#endif  // WEBHOOKS_TESTS_TESTING_MISBEHAVING_SERVER_H_
