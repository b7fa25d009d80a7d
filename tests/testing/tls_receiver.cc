#include "tests/testing/tls_receiver.h"

#include <httplib.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

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
                          const char* value) {
  OpensslPtr<X509_EXTENSION> extension(
      X509V3_EXT_conf_nid(nullptr, context, nid, value));
  if (extension == nullptr || X509_add_ext(cert, extension.get(), -1) != 1) {
    return OpensslError(absl::StrCat("adding extension ", value));
  }
  return absl::OkStatus();
}

struct CertificateSpec {
  const char* common_name;
  bool is_ca;
  // "DNS:localhost,IP:127.0.0.1"; nullptr for none.
  const char* subject_alt_names;
};

// Signed by `issuer` with `issuer_key`, or self-signed when `issuer` is null.
absl::StatusOr<OpensslPtr<X509>> NewCertificate(const CertificateSpec& spec,
                                                EVP_PKEY* key, X509* issuer,
                                                EVP_PKEY* issuer_key) {
  OpensslPtr<X509> cert(X509_new());
  OpensslPtr<BIGNUM> serial(BN_new());
  if (cert == nullptr || serial == nullptr ||
      X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      BN_rand(serial.get(), 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) ==
          nullptr ||
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), 7 * 24 * 3600) ==
          nullptr ||
      X509_set_pubkey(cert.get(), key) != 1) {
    return OpensslError("making a certificate");
  }
  X509_NAME* subject = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(
          subject, "CN", MBSTRING_ASC,
          reinterpret_cast<const unsigned char*>(spec.common_name), -1, -1,
          0) != 1 ||
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
    const char* value;
  };
  std::vector<Extension> extensions = {{NID_subject_key_identifier, "hash"}};
  if (spec.is_ca) {
    extensions.push_back({NID_basic_constraints, "critical,CA:TRUE"});
    extensions.push_back({NID_key_usage, "critical,keyCertSign,cRLSign"});
  } else {
    extensions.push_back({NID_basic_constraints, "critical,CA:FALSE"});
    extensions.push_back({NID_key_usage, "critical,digitalSignature"});
    extensions.push_back({NID_ext_key_usage, "serverAuth"});
    extensions.push_back({NID_authority_key_identifier, "keyid:always"});
  }
  if (spec.subject_alt_names != nullptr) {
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

absl::Status WritePem(const std::string& path, X509* cert, EVP_PKEY* key) {
  OpensslPtr<BIO> file(BIO_new_file(path.c_str(), "w"));
  if (file == nullptr) return OpensslError(absl::StrCat("creating ", path));
  const int written =
      cert != nullptr ? PEM_write_bio_X509(file.get(), cert)
                      : PEM_write_bio_PrivateKey(file.get(), key, nullptr,
                                                 nullptr, 0, nullptr, nullptr);
  if (written != 1) return OpensslError(absl::StrCat("writing ", path));
  return absl::OkStatus();
}

// httplib fixes the listen backlog at 5, too few for a burst of concurrent
// connections; this exposes the socket so that it can be raised.
class Server : public httplib::SSLServer {
 public:
  using SSLServer::SSLServer;
  int listening_socket() const { return svr_sock_; }
};

// httplib hands each accepted connection to its task queue: counting the
// hand-overs counts connections.
class CountingThreadPool : public httplib::TaskQueue {
 public:
  CountingThreadPool(size_t threads, std::atomic<int>* connections)
      : pool_(threads), connections_(connections) {}

  void enqueue(std::function<void()> task) override {
    connections_->fetch_add(1);
    pool_.enqueue(std::move(task));
  }
  void shutdown() override { pool_.shutdown(); }

 private:
  httplib::ThreadPool pool_;
  std::atomic<int>* connections_;
};

bool IsHttplibPseudoHeader(const std::string& name) {
  // httplib adds the peer's and its own address to a request's headers.
  return name == "REMOTE_ADDR" || name == "REMOTE_PORT" ||
         name == "LOCAL_ADDR" || name == "LOCAL_PORT";
}

bool ProduceGeneratedBody(size_t length, httplib::DataSink& sink) {
  static const std::string* const kPiece = new std::string(64 * 1024, 'x');
  return sink.write(kPiece->data(), std::min(length, kPiece->size()));
}

}  // namespace

std::string ReceivedRequest::Header(absl::string_view name) const {
  auto it = headers.find(absl::AsciiStrToLower(name));
  return it == headers.end() ? "" : it->second;
}

bool ReceivedRequest::HasHeader(absl::string_view name) const {
  return headers.count(absl::AsciiStrToLower(name)) > 0;
}

struct TlsReceiver::Impl {
  ~Impl() {
    if (!stopping.HasBeenNotified()) stopping.Notify();
    if (thread.joinable()) {
      server->stop();
      thread.join();
    }
    server.reset();
    if (!dir.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  }

  void Handle(const httplib::Request& request, httplib::Response& response) {
    ReceivedRequest received;
    received.method = request.method;
    received.path = request.path;
    for (const auto& [name, value] : request.headers) {
      if (!IsHttplibPseudoHeader(name)) {
        received.headers.emplace(absl::AsciiStrToLower(name), value);
      }
    }
    received.body = request.body;
    received.received_at = absl::Now();
    received.remote_port = request.remote_port;
    received.remote_address = request.remote_addr;

    Responder respond;
    {
      absl::MutexLock lock(&mu);
      requests.push_back(received);
      respond = responder;
    }
    ReceiverResponse answer = respond ? respond(received) : ReceiverResponse{};
    if (answer.delay > absl::ZeroDuration()) {
      stopping.WaitForNotificationWithTimeout(answer.delay);
    }
    response.status = answer.status;
    for (const auto& [name, value] : answer.headers) {
      response.set_header(name, value);
    }
    if (answer.generated_body_bytes > 0) {
      response.set_content_provider(
          answer.generated_body_bytes, "application/octet-stream",
          [](size_t /*offset*/, size_t length, httplib::DataSink& sink) {
            return ProduceGeneratedBody(length, sink);
          });
    } else {
      response.set_content(answer.body, "text/plain");
    }
  }

  TlsReceiverOptions options;
  std::string dir;
  std::string ca_path;
  std::string cert_path;
  std::string key_path;
  int port = 0;
  std::unique_ptr<Server> server;
  std::thread thread;
  absl::Notification listening;
  absl::Notification stopping;
  std::atomic<int> connections{0};

  mutable absl::Mutex mu;
  std::vector<ReceivedRequest> requests ABSL_GUARDED_BY(mu);
  Responder responder ABSL_GUARDED_BY(mu);
};

absl::StatusOr<std::unique_ptr<TlsReceiver>> TlsReceiver::Create(
    TlsReceiverOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;

  std::string dir =
      (std::filesystem::temp_directory_path() / "webhooks-tls-XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp: ", std::strerror(errno)));
  }
  impl->dir = dir;
  impl->ca_path = dir + "/ca.pem";
  impl->cert_path = dir + "/server.pem";
  impl->key_path = dir + "/server-key.pem";

  absl::StatusOr<OpensslPtr<EVP_PKEY>> ca_key = NewKey();
  if (!ca_key.ok()) return ca_key.status();
  absl::StatusOr<OpensslPtr<X509>> ca =
      NewCertificate({"webhooks test CA", /*is_ca=*/true, nullptr},
                     ca_key->get(), nullptr, nullptr);
  if (!ca.ok()) return ca.status();
  absl::StatusOr<OpensslPtr<EVP_PKEY>> key = NewKey();
  if (!key.ok()) return key.status();
  absl::StatusOr<OpensslPtr<X509>> cert =
      NewCertificate({"localhost", /*is_ca=*/false,
                      "DNS:localhost,IP:127.0.0.1,IP:0:0:0:0:0:0:0:1"},
                     key->get(), ca->get(), ca_key->get());
  if (!cert.ok()) return cert.status();
  for (absl::Status status : {WritePem(impl->ca_path, ca->get(), nullptr),
                              WritePem(impl->cert_path, cert->get(), nullptr),
                              WritePem(impl->key_path, nullptr, key->get())}) {
    if (!status.ok()) return status;
  }

  impl->server =
      std::make_unique<Server>(impl->cert_path.c_str(), impl->key_path.c_str());
  if (!impl->server->is_valid()) {
    return absl::InternalError("httplib::SSLServer rejected the certificate");
  }
  Impl* raw = impl.get();
  auto handler = [raw](const httplib::Request& request,
                       httplib::Response& response) {
    raw->Handle(request, response);
  };
  raw->server->Get(".*", handler)
      .Post(".*", handler)
      .Put(".*", handler)
      .Patch(".*", handler)
      .Delete(".*", handler)
      .Options(".*", handler);
  // Answers go out in several writes: without this, Nagle and delayed ACKs
  // add ~40 ms to every request.
  raw->server->set_tcp_nodelay(true);
  raw->server->set_keep_alive_max_count(options.keep_alive_max_count);
  raw->server->set_keep_alive_timeout(static_cast<time_t>(
      std::max<int64_t>(1, absl::ToInt64Seconds(options.keep_alive_timeout))));
  // Called by the listening thread once it runs; only then does stop() work.
  raw->server->new_task_queue = [raw] {
    raw->listening.Notify();
    return new CountingThreadPool(std::max<size_t>(1, raw->options.threads),
                                  &raw->connections);
  };

  raw->port = raw->server->bind_to_any_port("127.0.0.1");
  if (raw->port <= 0) {
    return absl::InternalError("cannot bind 127.0.0.1 to a free port");
  }
  if (listen(raw->server->listening_socket(), SOMAXCONN) != 0) {
    return absl::InternalError(absl::StrCat("listen: ", std::strerror(errno)));
  }
  raw->thread = std::thread([raw] {
    // Server threads (started from this one) write to connections that test
    // clients may have dropped: EPIPE, not a SIGPIPE that ends the test.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    raw->server->listen_after_bind();
  });
  raw->listening.WaitForNotification();
  return std::unique_ptr<TlsReceiver>(new TlsReceiver(std::move(impl)));
}

TlsReceiver::TlsReceiver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

TlsReceiver::~TlsReceiver() = default;

int TlsReceiver::port() const { return impl_->port; }

std::string TlsReceiver::url(absl::string_view path) const {
  return absl::StrCat("https://localhost:", impl_->port, path);
}

std::string TlsReceiver::ip_url(absl::string_view path) const {
  return absl::StrCat("https://127.0.0.1:", impl_->port, path);
}

const std::string& TlsReceiver::ca_pem_path() const { return impl_->ca_path; }
const std::string& TlsReceiver::cert_pem_path() const {
  return impl_->cert_path;
}
const std::string& TlsReceiver::key_pem_path() const { return impl_->key_path; }

void TlsReceiver::SetResponder(Responder responder) {
  absl::MutexLock lock(&impl_->mu);
  impl_->responder = std::move(responder);
}

void TlsReceiver::RespondWith(ReceiverResponse response) {
  SetResponder([response = std::move(response)](const ReceivedRequest&) {
    return response;
  });
}

std::vector<ReceivedRequest> TlsReceiver::requests() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->requests;
}

size_t TlsReceiver::request_count() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->requests.size();
}

bool TlsReceiver::WaitForRequests(size_t n, absl::Duration timeout) const {
  const Impl* impl = impl_.get();
  auto enough = [impl, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(impl->mu) {
    return impl->requests.size() >= n;
  };
  absl::MutexLock lock(&impl_->mu);
  return impl_->mu.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

int TlsReceiver::connection_count() const { return impl_->connections.load(); }

}  // namespace webhooks::testing
