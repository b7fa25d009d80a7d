#include "tests/testing/tls_receiver.h"

#include <httplib.h>
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
#include "absl/time/clock.h"
#include "lib/common/mutex.h"
#include "tests/testing/test_pki.h"

namespace webhooks::testing {
namespace {

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
      common::MutexLock lock(&mu);
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
  common::Notification listening;
  common::Notification stopping;
  std::atomic<int> connections{0};

  mutable common::Mutex mu;
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

  absl::StatusOr<TestCa> ca = TestCa::Create();
  if (!ca.ok()) return ca.status();
  CertificateSpec spec;
  spec.subject_alt_names = "DNS:localhost,IP:127.0.0.1,IP:0:0:0:0:0:0:0:1";
  if (options.certificate.has_value()) spec = *options.certificate;
  absl::StatusOr<KeyAndCertificate> served =
      options.self_signed ? SelfSigned(spec) : ca->Issue(spec);
  if (!served.ok()) return served.status();
  for (absl::Status status : {WriteTextFile(impl->ca_path, ca->cert_pem()),
                              WriteTextFile(impl->cert_path, served->cert_pem),
                              WriteTextFile(impl->key_path, served->key_pem)}) {
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
  common::MutexLock lock(&impl_->mu);
  impl_->responder = std::move(responder);
}

void TlsReceiver::RespondWith(ReceiverResponse response) {
  SetResponder([response = std::move(response)](const ReceivedRequest&) {
    return response;
  });
}

std::vector<ReceivedRequest> TlsReceiver::requests() const {
  common::MutexLock lock(&impl_->mu);
  return impl_->requests;
}

size_t TlsReceiver::request_count() const {
  common::MutexLock lock(&impl_->mu);
  return impl_->requests.size();
}

bool TlsReceiver::WaitForRequests(size_t n, absl::Duration timeout) const {
  const Impl* impl = impl_.get();
  auto enough = [impl, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(impl->mu) {
    return impl->requests.size() >= n;
  };
  common::MutexLock lock(&impl_->mu);
  return impl_->mu.AwaitWithTimeout(&enough, timeout);
}

int TlsReceiver::connection_count() const { return impl_->connections.load(); }

}  // namespace webhooks::testing
