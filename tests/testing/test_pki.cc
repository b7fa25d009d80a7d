#include "tests/testing/test_pki.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"

namespace webhooks::testing {
namespace {

struct OpensslFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
  void operator()(X509* cert) const { X509_free(cert); }
  void operator()(X509_EXTENSION* extension) const {
    X509_EXTENSION_free(extension);
  }
  void operator()(BIGNUM* number) const { BN_free(number); }
  void operator()(BIO* bio) const { BIO_free(bio); }
};
template <typename T>
using OpensslPtr = std::unique_ptr<T, OpensslFree>;

absl::Status OpensslError(absl::string_view what) {
  char text[256] = "unknown error";
  if (unsigned long code = ERR_get_error(); code != 0) {
    ERR_error_string_n(code, text, sizeof(text));
  }
  ERR_clear_error();
  return absl::InternalError(absl::StrCat(what, ": ", text));
}

absl::StatusOr<OpensslPtr<EVP_PKEY>> NewKey() {
  OpensslPtr<EVP_PKEY> key(EVP_EC_gen("P-256"));
  if (key == nullptr) return OpensslError("generating a P-256 key");
  return key;
}

absl::Status AddExtension(X509* cert, X509V3_CTX* context, int nid,
                          const std::string& value) {
  OpensslPtr<X509_EXTENSION> extension(
      X509V3_EXT_conf_nid(nullptr, context, nid, value.c_str()));
  if (extension == nullptr || X509_add_ext(cert, extension.get(), -1) != 1) {
    return OpensslError(absl::StrCat("adding extension ", value));
  }
  return absl::OkStatus();
}

// Signed by `issuer` with `issuer_key`, or self-signed when `issuer` is null.
absl::StatusOr<OpensslPtr<X509>> NewCertificate(const CertificateSpec& spec,
                                                bool is_ca, EVP_PKEY* key,
                                                X509* issuer,
                                                EVP_PKEY* issuer_key) {
  OpensslPtr<X509> cert(X509_new());
  OpensslPtr<BIGNUM> serial(BN_new());
  if (cert == nullptr || serial == nullptr ||
      X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      BN_rand(serial.get(), 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) ==
          nullptr ||
      X509_gmtime_adj(X509_getm_notBefore(cert.get()),
                      absl::ToInt64Seconds(spec.not_before)) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()),
                      absl::ToInt64Seconds(spec.not_after)) == nullptr ||
      X509_set_pubkey(cert.get(), key) != 1) {
    return OpensslError("making a certificate");
  }
  X509_NAME* subject = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(
          subject, "CN", MBSTRING_ASC,
          reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1,
          -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), issuer != nullptr
                                           ? X509_get_subject_name(issuer)
                                           : subject) != 1) {
    return OpensslError("naming a certificate");
  }

  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer != nullptr ? issuer : cert.get(), cert.get(),
                 nullptr, nullptr, 0);
  struct Extension {
    int nid;
    std::string value;
  };
  std::vector<Extension> extensions = {{NID_subject_key_identifier, "hash"}};
  if (is_ca) {
    extensions.push_back({NID_basic_constraints, "critical,CA:TRUE"});
    extensions.push_back({NID_key_usage, "critical,keyCertSign,cRLSign"});
  } else {
    extensions.push_back({NID_basic_constraints, "critical,CA:FALSE"});
    extensions.push_back({NID_key_usage, "critical,digitalSignature"});
    extensions.push_back({NID_ext_key_usage, spec.extended_key_usage});
    extensions.push_back({NID_authority_key_identifier, "keyid:always"});
  }
  if (!spec.subject_alt_names.empty()) {
    extensions.push_back({NID_subject_alt_name, spec.subject_alt_names});
  }
  for (const Extension& extension : extensions) {
    if (absl::Status status =
            AddExtension(cert.get(), &context, extension.nid, extension.value);
        !status.ok()) {
      return status;
    }
  }
  if (X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key,
                EVP_sha256()) <= 0) {
    return OpensslError("signing a certificate");
  }
  return cert;
}

absl::StatusOr<std::string> Pem(X509* cert, EVP_PKEY* key) {
  OpensslPtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr) return OpensslError("BIO_new");
  const int written =
      cert != nullptr ? PEM_write_bio_X509(bio.get(), cert)
                      : PEM_write_bio_PrivateKey(bio.get(), key, nullptr,
                                                 nullptr, 0, nullptr, nullptr);
  if (written != 1) return OpensslError("writing PEM");
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

absl::StatusOr<KeyAndCertificate> ToPem(X509* cert, EVP_PKEY* key) {
  absl::StatusOr<std::string> key_pem = Pem(nullptr, key);
  if (!key_pem.ok()) return key_pem.status();
  absl::StatusOr<std::string> cert_pem = Pem(cert, nullptr);
  if (!cert_pem.ok()) return cert_pem.status();
  return KeyAndCertificate{*std::move(key_pem), *std::move(cert_pem)};
}

}  // namespace

absl::StatusOr<TestCa> TestCa::Create(const std::string& name) {
  absl::StatusOr<OpensslPtr<EVP_PKEY>> key = NewKey();
  if (!key.ok()) return key.status();
  CertificateSpec spec;
  spec.common_name = name;
  absl::StatusOr<OpensslPtr<X509>> cert =
      NewCertificate(spec, /*is_ca=*/true, key->get(), nullptr, nullptr);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<KeyAndCertificate> pem = ToPem(cert->get(), key->get());
  if (!pem.ok()) return pem.status();
  return TestCa(*std::move(pem));
}

absl::StatusOr<KeyAndCertificate> TestCa::Issue(
    const CertificateSpec& spec) const {
  OpensslPtr<BIO> key_bio(BIO_new_mem_buf(
      ca_.key_pem.data(), static_cast<int>(ca_.key_pem.size())));
  OpensslPtr<BIO> cert_bio(BIO_new_mem_buf(
      ca_.cert_pem.data(), static_cast<int>(ca_.cert_pem.size())));
  if (key_bio == nullptr || cert_bio == nullptr) {
    return OpensslError("BIO_new_mem_buf");
  }
  OpensslPtr<EVP_PKEY> ca_key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  OpensslPtr<X509> ca_cert(
      PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (ca_key == nullptr || ca_cert == nullptr) {
    return OpensslError("reading the CA");
  }
  absl::StatusOr<OpensslPtr<EVP_PKEY>> key = NewKey();
  if (!key.ok()) return key.status();
  absl::StatusOr<OpensslPtr<X509>> cert = NewCertificate(
      spec, /*is_ca=*/false, key->get(), ca_cert.get(), ca_key.get());
  if (!cert.ok()) return cert.status();
  return ToPem(cert->get(), key->get());
}

absl::StatusOr<KeyAndCertificate> SelfSigned(const CertificateSpec& spec) {
  absl::StatusOr<OpensslPtr<EVP_PKEY>> key = NewKey();
  if (!key.ok()) return key.status();
  absl::StatusOr<OpensslPtr<X509>> cert =
      NewCertificate(spec, /*is_ca=*/false, key->get(), nullptr, nullptr);
  if (!cert.ok()) return cert.status();
  return ToPem(cert->get(), key->get());
}

absl::Status WriteTextFile(const std::string& path,
                           const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace webhooks::testing
