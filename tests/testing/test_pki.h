// Certificates made up at test time: a CA, server and client certificates
// it issues (valid, expired, for the wrong host), and self-signed ones, as
// PEM text. For TLS tests that need a real handshake with a chosen flaw.
//
//   TestCa ca = TestCa::Create().value();
//   KeyAndCertificate server = ca.Issue({.common_name = "localhost",
//       .subject_alt_names = "DNS:localhost,IP:127.0.0.1"}).value();
//   WriteTextFile(dir + "/ca.pem", ca.cert_pem());
#ifndef WEBHOOKS_TESTS_TESTING_TEST_PKI_H_
#define WEBHOOKS_TESTS_TESTING_TEST_PKI_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace webhooks::testing {

struct CertificateSpec {
  std::string common_name = "localhost";
  // OpenSSL's form, "DNS:localhost,IP:127.0.0.1"; empty for none.
  std::string subject_alt_names;
  // "serverAuth" or "clientAuth" (or both, comma-separated).
  std::string extended_key_usage = "serverAuth";
  // Validity relative to now: an expired certificate has both negative.
  absl::Duration not_before = -absl::Hours(1);
  absl::Duration not_after = absl::Hours(7 * 24);
};

// A private key and its certificate, both PEM.
struct KeyAndCertificate {
  std::string key_pem;
  std::string cert_pem;
};

// A certificate authority: a P-256 key and a self-signed CA certificate.
// Copyable; thread-compatible.
class TestCa {
 public:
  // INTERNAL when OpenSSL fails.
  static absl::StatusOr<TestCa> Create(
      const std::string& name = "webhooks test CA");

  const std::string& cert_pem() const { return ca_.cert_pem; }

  // A leaf certificate (CA:FALSE) for a new P-256 key, signed by this CA.
  absl::StatusOr<KeyAndCertificate> Issue(const CertificateSpec& spec) const;

 private:
  explicit TestCa(KeyAndCertificate ca) : ca_(std::move(ca)) {}
  KeyAndCertificate ca_;
};

// A leaf certificate signed by its own key, trusted by nobody.
absl::StatusOr<KeyAndCertificate> SelfSigned(const CertificateSpec& spec);

// Writes `contents` to `path` (replacing it); INTERNAL on failure.
absl::Status WriteTextFile(const std::string& path,
                           const std::string& contents);

}  // namespace webhooks::testing

#endif  // WEBHOOKS_TESTS_TESTING_TEST_PKI_H_
