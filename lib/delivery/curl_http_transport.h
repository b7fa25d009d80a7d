// HttpTransport over libcurl's multi interface: one thread runs one event
// loop for every request, with connection reuse (keep-alive, TLS session
// reuse), verified TLS (1.2 or later), no redirects, bounded response reading,
// and the SSRF guard applied to every address at connect time.
//
// Only https:// URLs are sent (others end in kInternal); proxy settings in the
// environment are ignored, since the guard must judge the subscriber's own
// address. SIGPIPE is blocked on the transport's thread, so a peer that hangs
// up cannot kill the process.
#ifndef WEBHOOKS_LIB_DELIVERY_CURL_HTTP_TRANSPORT_H_
#define WEBHOOKS_LIB_DELIVERY_CURL_HTTP_TRANSPORT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/delivery/address_policy.h"
#include "lib/delivery/http_transport.h"

namespace webhooks::delivery {

struct CurlTransportOptions {
  absl::Duration connect_timeout = absl::Seconds(10);
  absl::Duration total_timeout = absl::Seconds(30);
  size_t max_excerpt_bytes = 4096;
  // PEM file of trusted CAs, used instead of the system's trust store;
  // "" = the system's trust store.
  std::string ca_bundle;
  std::string user_agent = "webhooks/0.1";
  // Connections open at once, in total, and kept for reuse; requests beyond
  // it wait for a free connection.
  int max_connections = 256;
  // A connection idle longer than this is not reused but closed (whole
  // seconds, at least 1). Below the 5 s idle timeout of many servers
  // (Node.js, Apache): reusing a connection the server is closing at that
  // very moment fails the request with a broken pipe or reset, and the
  // first retry (5 s later by default) would meet the same race.
  absl::Duration max_idle_reuse = absl::Seconds(4);
  // The local address every request leaves from, so that subscribers can
  // allowlist it: an IPv4 or IPv6 address of this host (requests then go
  // only to the host's addresses of that family) or a network interface's
  // name. "" = the operating system chooses.
  std::string source_address;
  // Every address a host resolves to is checked just before connecting; a
  // request whose addresses are all refused ends in kBlockedAddress without
  // any connection made.
  AddressPolicy address_policy;
};

// Creates the transport and starts its thread. INVALID_ARGUMENT naming the
// option when a timeout is not positive, max_connections < 1,
// max_idle_reuse < 1 s, ca_bundle is
// set but unreadable, or source_address is neither an address this host can
// bind nor an interface it has; INTERNAL when libcurl cannot be initialised.
absl::StatusOr<std::unique_ptr<HttpTransport>> NewCurlHttpTransport(
    CurlTransportOptions options);

}  // namespace webhooks::delivery

#endif  // WEBHOOKS_LIB_DELIVERY_CURL_HTTP_TRANSPORT_H_
