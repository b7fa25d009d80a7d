#include "tests/testing/misbehaving_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "lib/common/mutex.h"
#include "tests/testing/test_pki.h"

namespace webhooks::testing {
namespace {

absl::Status OpensslError(absl::string_view what) {
  char text[256] = "unknown error";
  if (unsigned long code = ERR_get_error(); code != 0) {
    ERR_error_string_n(code, text, sizeof(text));
  }
  ERR_clear_error();
  return absl::InternalError(absl::StrCat(what, ": ", text));
}

// The answer trickled by kTrickleHeaders, were it ever finished.
constexpr absl::string_view kTrickledAnswer =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Slow: "
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
    "Content-Length: 2\r\n\r\nok";

}  // namespace

struct MisbehavingServer::Impl {
  ~Impl() {
    stopping.Notify();
    if (listen_fd >= 0) ::shutdown(listen_fd, SHUT_RDWR);
    {
      common::MutexLock lock(&mu);
      for (int fd : open_fds) ::shutdown(fd, SHUT_RDWR);
    }
    if (acceptor.joinable()) acceptor.join();
    std::vector<std::thread> threads;
    {
      common::MutexLock lock(&mu);
      threads.swap(connection_threads);
    }
    for (std::thread& t : threads) t.join();
    if (listen_fd >= 0) ::close(listen_fd);
    if (ctx != nullptr) SSL_CTX_free(ctx);
    if (!dir.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  }

  void Accept() {
    while (!stopping.HasBeenNotified()) {
      const int fd = ::accept(listen_fd, nullptr, nullptr);
      if (fd < 0) {
        if (errno == EINTR) continue;
        return;  // shut down
      }
      connections.fetch_add(1);
      common::MutexLock lock(&mu);
      if (stopping.HasBeenNotified()) {
        ::close(fd);
        return;
      }
      open_fds.insert(fd);
      connection_threads.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int fd) {
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    bool reset = false;
    if (SSL_accept(ssl) == 1 && ReadRequestHead(ssl)) {
      requests.fetch_add(1);
      if (misbehaviour == Misbehaviour::kResetAfterRequest) {
        reset = true;
      } else {
        for (char c : kTrickledAnswer) {
          if (SSL_write(ssl, &c, 1) != 1) break;
          if (stopping.WaitForNotificationWithTimeout(trickle_interval)) break;
        }
      }
    }
    if (reset) {
      // Linger 0: close sends RST instead of FIN.
      linger option{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, sizeof(option));
    } else {
      SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    common::MutexLock lock(&mu);
    open_fds.erase(fd);
    ::close(fd);
  }

  // Reads until the blank line that ends the request head; false when the
  // peer goes away first.
  static bool ReadRequestHead(SSL* ssl) {
    std::string head;
    char buffer[4096];
    while (head.find("\r\n\r\n") == std::string::npos) {
      const int n = SSL_read(ssl, buffer, sizeof(buffer));
      if (n <= 0) return false;
      head.append(buffer, static_cast<size_t>(n));
      if (head.size() > (1 << 20)) return false;
    }
    return true;
  }

  Misbehaviour misbehaviour = Misbehaviour::kResetAfterRequest;
  absl::Duration trickle_interval;
  std::string dir;
  std::string ca_path;
  SSL_CTX* ctx = nullptr;
  int listen_fd = -1;
  int port = 0;
  std::thread acceptor;
  common::Notification stopping;
  std::atomic<int> connections{0};
  std::atomic<int> requests{0};

  common::Mutex mu;
  std::set<int> open_fds ABSL_GUARDED_BY(mu);
  std::vector<std::thread> connection_threads ABSL_GUARDED_BY(mu);
};

absl::StatusOr<std::unique_ptr<MisbehavingServer>> MisbehavingServer::Create(
    Misbehaviour misbehaviour, absl::Duration trickle_interval) {
  auto impl = std::make_unique<Impl>();
  impl->misbehaviour = misbehaviour;
  impl->trickle_interval = trickle_interval;

  std::string dir =
      (std::filesystem::temp_directory_path() / "webhooks-misbehaving-XXXXXX")
          .string();
  if (mkdtemp(dir.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp: ", std::strerror(errno)));
  }
  impl->dir = dir;
  impl->ca_path = dir + "/ca.pem";

  absl::StatusOr<TestCa> ca = TestCa::Create();
  if (!ca.ok()) return ca.status();
  CertificateSpec spec;
  spec.subject_alt_names = "DNS:localhost,IP:127.0.0.1";
  absl::StatusOr<KeyAndCertificate> served = ca->Issue(spec);
  if (!served.ok()) return served.status();
  if (absl::Status s = WriteTextFile(impl->ca_path, ca->cert_pem()); !s.ok()) {
    return s;
  }

  impl->ctx = SSL_CTX_new(TLS_server_method());
  if (impl->ctx == nullptr) return OpensslError("SSL_CTX_new");
  BIO* cert_bio = BIO_new_mem_buf(served->cert_pem.data(),
                                  static_cast<int>(served->cert_pem.size()));
  X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
  BIO_free(cert_bio);
  BIO* key_bio = BIO_new_mem_buf(served->key_pem.data(),
                                 static_cast<int>(served->key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  BIO_free(key_bio);
  const bool loaded = cert != nullptr && key != nullptr &&
                      SSL_CTX_use_certificate(impl->ctx, cert) == 1 &&
                      SSL_CTX_use_PrivateKey(impl->ctx, key) == 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  if (!loaded) return OpensslError("loading the certificate");

  impl->listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (impl->listen_fd < 0 ||
      ::bind(impl->listen_fd, reinterpret_cast<sockaddr*>(&address),
             sizeof(address)) != 0 ||
      ::listen(impl->listen_fd, SOMAXCONN) != 0 ||
      ::getsockname(impl->listen_fd, reinterpret_cast<sockaddr*>(&address),
                    &length) != 0) {
    return absl::InternalError(
        absl::StrCat("listening on 127.0.0.1: ", std::strerror(errno)));
  }
  impl->port = ntohs(address.sin_port);
  Impl* raw = impl.get();
  raw->acceptor = std::thread([raw] {
    // Writes to a peer that hung up give EPIPE, not a SIGPIPE; threads
    // started from this one inherit the mask.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    raw->Accept();
  });
  return std::unique_ptr<MisbehavingServer>(
      new MisbehavingServer(std::move(impl)));
}

MisbehavingServer::MisbehavingServer(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

MisbehavingServer::~MisbehavingServer() = default;

std::string MisbehavingServer::url(absl::string_view path) const {
  return absl::StrCat("https://localhost:", impl_->port, path);
}

const std::string& MisbehavingServer::ca_pem_path() const {
  return impl_->ca_path;
}

int MisbehavingServer::connection_count() const {
  return impl_->connections.load();
}

int MisbehavingServer::request_count() const { return impl_->requests.load(); }

}  // namespace webhooks::testing
