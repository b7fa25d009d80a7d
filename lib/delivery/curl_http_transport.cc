#include "lib/delivery/curl_http_transport.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "lib/common/log.h"
#include "lib/common/mutex.h"
#include "lib/delivery/response_headers.h"

namespace webhooks::delivery {
namespace {

using domain::ErrorClass;

// CurlTransportOptions::source_address as libcurl takes it.
struct SourceBinding {
  // CURLOPT_INTERFACE: "host!<address>" or "if!<name>" (the prefixes stop
  // curl from guessing which one is meant); "" = none.
  std::string curl_interface;
  // CURLOPT_IPRESOLVE: an address binds only sockets of its own family.
  long ip_resolve = CURL_IPRESOLVE_WHATEVER;
};

// True when a socket of `family` can bind `address` (port 0) on this host.
bool CanBind(int family, const sockaddr* address, socklen_t length) {
  const int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool bound = bind(fd, address, length) == 0;
  close(fd);
  return bound;
}

absl::StatusOr<SourceBinding> ResolveSourceAddress(const std::string& source) {
  SourceBinding binding;
  if (source.empty()) return binding;
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  if (source == "0.0.0.0" || source == "::" || source == "::0") {
    // Binds, but leaves the choice to the system: no fixed address.
    return absl::InvalidArgumentError(
        absl::StrCat("source_address: ", source,
                     " is the unspecified address, not one of this host's"));
  }
  if (inet_pton(AF_INET, source.c_str(), &v4.sin_addr) == 1) {
    if (!CanBind(AF_INET, reinterpret_cast<const sockaddr*>(&v4), sizeof(v4))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "source_address: ", source, " is not an address of this host"));
    }
    binding.curl_interface = absl::StrCat("host!", source);
    binding.ip_resolve = CURL_IPRESOLVE_V4;
  } else if (inet_pton(AF_INET6, source.c_str(), &v6.sin6_addr) == 1) {
    if (!CanBind(AF_INET6, reinterpret_cast<const sockaddr*>(&v6),
                 sizeof(v6))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "source_address: ", source, " is not an address of this host"));
    }
    binding.curl_interface = absl::StrCat("host!", source);
    binding.ip_resolve = CURL_IPRESOLVE_V6;
  } else if (source.size() < IF_NAMESIZE &&
             if_nametoindex(source.c_str()) != 0) {
    binding.curl_interface = absl::StrCat("if!", source);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "source_address: ", source.substr(0, 64),
        " is neither an IP address nor a network interface of this host"));
  }
  return binding;
}

// The loop wakes up for submissions, shutdown and curl's own timers; this is
// only a backstop.
constexpr absl::Duration kMaxPollWait = absl::Seconds(1);

absl::Status InitCurlOnce() {
  static std::once_flag once;
  static CURLcode code = CURLE_OK;
  std::call_once(once, [] { code = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (code != CURLE_OK) {
    return absl::InternalError(
        absl::StrCat("curl_global_init: ", curl_easy_strerror(code)));
  }
  return absl::OkStatus();
}

long ToCurlMillis(absl::Duration duration) {
  return static_cast<long>(
      std::max<int64_t>(1, absl::ToInt64Milliseconds(duration)));
}

// One request between Start and its callback. Owned by the loop thread; curl's
// callbacks get a pointer to it.
struct Transfer {
  HttpRequest request;
  HttpTransport::Callback done;
  size_t max_excerpt_bytes = 0;
  const AddressPolicy* address_policy = nullptr;
  curl_slist* headers = nullptr;
  char error[CURL_ERROR_SIZE] = {};
  std::string excerpt;
  std::string retry_after;
  // Set by the connect-time SSRF guard: some address was refused, and whether
  // any address passed it at all.
  bool refused_address = false;
  bool allowed_address = false;
  absl::Time started_at;
  std::chrono::steady_clock::time_point started;

  ~Transfer() { curl_slist_free_all(headers); }
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  const size_t kept = transfer->excerpt.size();
  if (kept < transfer->max_excerpt_bytes) {
    transfer->excerpt.append(
        data, std::min(bytes, transfer->max_excerpt_bytes - kept));
  }
  // Everything counts as consumed: curl reads the rest of the body (so the
  // connection stays reusable) and we drop it.
  return bytes;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  ObserveResponseHeaderLine(absl::string_view(data, bytes),
                            transfer->retry_after);
  return bytes;
}

// The SSRF guard. curl connects the returned socket to exactly `address`, so
// the address checked is the address used: no DNS-rebinding window.
curl_socket_t OnOpenSocket(void* user, curlsocktype purpose,
                           curl_sockaddr* address) {
  auto* transfer = static_cast<Transfer*>(user);
  if (purpose != CURLSOCKTYPE_IPCXN ||
      !transfer->address_policy->Allows(&address->addr)) {
    // curl moves on to the host's next address, if any.
    transfer->refused_address = true;
    return CURL_SOCKET_BAD;
  }
  transfer->allowed_address = true;
  return socket(address->family, address->socktype | SOCK_CLOEXEC,
                address->protocol);
}

ErrorClass Classify(CURLcode code, long http_status, const Transfer& transfer) {
  switch (code) {
    case CURLE_OK:
      return domain::ClassifyHttpStatus(static_cast<int>(http_status));
    case CURLE_OPERATION_TIMEDOUT:
      return ErrorClass::kTimeout;
    case CURLE_COULDNT_RESOLVE_HOST:
      return ErrorClass::kDnsError;
    case CURLE_COULDNT_CONNECT:
      return transfer.refused_address && !transfer.allowed_address
                 ? ErrorClass::kBlockedAddress
                 : ErrorClass::kConnectError;
    // The peer hung up or spoke nonsense mid-request: its side, not ours.
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return ErrorClass::kConnectError;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
      return ErrorClass::kTlsError;
    default:
      return ErrorClass::kInternal;
  }
}

// Writing to a connection the peer closed raises SIGPIPE; blocked on this
// thread (and the resolver threads curl starts from it), such writes fail with
// EPIPE instead of killing the process.
void BlockSigpipeOnThisThread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

class CurlHttpTransport;
// The transport whose loop runs on this thread, if any.
thread_local const CurlHttpTransport* loop_on_this_thread = nullptr;

class CurlHttpTransport final : public HttpTransport {
 public:
  CurlHttpTransport(CurlTransportOptions options, SourceBinding source,
                    CURLM* multi, CURLSH* share)
      : options_(std::move(options)),
        source_(std::move(source)),
        multi_(multi),
        share_(share) {
    thread_ = std::thread([this] { Run(); });
  }

  ~CurlHttpTransport() override {
    Shutdown(absl::InfinitePast());
    for (CURL* easy : free_easy_) curl_easy_cleanup(easy);
    curl_multi_cleanup(multi_);
    curl_share_cleanup(share_);
  }

  void Submit(HttpRequest request, Callback done) override {
    in_flight_.fetch_add(1, std::memory_order_relaxed);
    bool queued = false;
    bool wake = false;
    {
      common::MutexLock lock(&mu_);
      if (!loop_exited_) {
        // A queue that is not empty has a wake-up on its way already: the
        // loop takes the whole queue after the poll that wake-up ends.
        wake = queue_.empty();
        queue_.push_back(
            Queued{std::move(request), std::move(done), !stopping_});
        queued = true;
      }
    }
    if (queued) {
      if (wake) curl_multi_wakeup(multi_);
      return;
    }
    // Only reachable by breaking the contract (Submit after Shutdown
    // returned): there is no loop thread left to run the callback on.
    // NOLINTNEXTLINE(bugprone-use-after-move): moved only if queued, see above
    Finish(done, AbortedResult(request.id, absl::Now(), absl::ZeroDuration()));
  }

  int InFlight() const override {
    return in_flight_.load(std::memory_order_relaxed);
  }

  void Shutdown(absl::Time deadline) override {
    {
      common::MutexLock lock(&mu_);
      if (!stopping_ || deadline < deadline_) deadline_ = deadline;
      stopping_ = true;
      if (!loop_exited_) curl_multi_wakeup(multi_);
    }
    // From a callback this can only start the shutdown.
    if (loop_on_this_thread == this) return;
    common::MutexLock lock(&join_mu_);
    if (thread_.joinable()) thread_.join();
  }

 private:
  struct Queued {
    HttpRequest request;
    Callback done;
    bool accepted = true;  // false when submitted after Shutdown began
  };

  static HttpResult AbortedResult(uint64_t id, absl::Time started_at,
                                  absl::Duration duration) {
    HttpResult result;
    result.id = id;
    result.error_class = ErrorClass::kAborted;
    result.started_at = started_at;
    result.duration = duration;
    result.error_detail = "aborted by shutdown";
    return result;
  }

  void Finish(Callback& done, HttpResult result) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    done(std::move(result));
  }

  void Run() {
    loop_on_this_thread = this;
    BlockSigpipeOnThisThread();
    std::vector<Queued> batch;
    for (;;) {
      bool stopping;
      absl::Time deadline;
      {
        common::MutexLock lock(&mu_);
        batch.swap(queue_);
        stopping = stopping_;
        deadline = deadline_;
      }
      for (Queued& queued : batch) {
        if (queued.accepted) {
          Start(std::move(queued));
        } else {
          Finish(queued.done, AbortedResult(queued.request.id, absl::Now(),
                                            absl::ZeroDuration()));
        }
      }
      batch.clear();

      int running = 0;
      CURLMcode code = curl_multi_perform(multi_, &running);
      if (code != CURLM_OK) {
        common::LogWarning("curl_multi_perform: ", curl_multi_strerror(code));
      }
      CompleteFinished();

      absl::Duration wait = kMaxPollWait;
      if (stopping) {
        const absl::Time now = absl::Now();
        if (active_.empty() || now >= deadline) break;
        wait = std::min(wait, deadline - now);
      }
      const int wait_ms = static_cast<int>(
          absl::ToInt64Milliseconds(absl::Ceil(wait, absl::Milliseconds(1))));
      code = curl_multi_poll(multi_, nullptr, 0, wait_ms, nullptr);
      if (code != CURLM_OK) {
        common::LogWarning("curl_multi_poll: ", curl_multi_strerror(code));
      }
    }
    AbortActive();
    // Callbacks may have submitted more; those are refused, until the queue
    // stays empty and later submissions can no longer reach this thread.
    for (;;) {
      {
        common::MutexLock lock(&mu_);
        batch.swap(queue_);
        if (batch.empty()) {
          loop_exited_ = true;
          return;
        }
      }
      for (Queued& queued : batch) {
        Finish(queued.done, AbortedResult(queued.request.id, absl::Now(),
                                          absl::ZeroDuration()));
      }
      batch.clear();
    }
  }

  void Start(Queued queued) {
    auto transfer = std::make_unique<Transfer>();
    transfer->request = std::move(queued.request);
    transfer->done = std::move(queued.done);
    transfer->max_excerpt_bytes = options_.max_excerpt_bytes;
    transfer->address_policy = &options_.address_policy;
    transfer->started_at = absl::Now();
    transfer->started = std::chrono::steady_clock::now();

    CURL* easy = nullptr;
    std::string problem = BuildHeaders(*transfer);
    if (problem.empty() && (easy = AcquireEasy()) == nullptr) {
      problem = "curl_easy_init failed";
    }
    if (problem.empty()) {
      if (CURLcode code = Configure(*transfer, easy); code != CURLE_OK) {
        problem =
            absl::StrCat("setting up the request: ", curl_easy_strerror(code));
      }
    }
    if (problem.empty()) {
      if (CURLMcode code = curl_multi_add_handle(multi_, easy);
          code != CURLM_OK) {
        problem =
            absl::StrCat("curl_multi_add_handle: ", curl_multi_strerror(code));
      }
    }
    if (problem.empty()) {
      active_.emplace(easy, std::move(transfer));
      return;
    }
    if (easy != nullptr) ReleaseEasy(easy);
    HttpResult result;
    result.id = transfer->request.id;
    result.error_class = ErrorClass::kInternal;
    result.started_at = transfer->started_at;
    result.duration = absl::ZeroDuration();
    result.error_detail = std::move(problem);
    Finish(transfer->done, std::move(result));
  }

  // Fills transfer.headers; on failure returns why ("" on success).
  static std::string BuildHeaders(Transfer& transfer) {
    const std::vector<std::string>& lines = transfer.request.headers;
    for (size_t i = 0; i < lines.size(); ++i) {
      // Validated long before, but a CR or LF here would let a header value
      // smuggle in other headers; say which line, never its value.
      if (lines[i].find_first_of("\r\n\0", 0, 3) != std::string::npos) {
        return absl::StrCat("header line ", i, " contains CR, LF or NUL");
      }
      if (!Append(transfer.headers, lines[i].c_str())) {
        return "curl_slist_append failed";
      }
    }
    // No "Expect: 100-continue" round trip before the body.
    if (!Append(transfer.headers, "Expect:")) return "curl_slist_append failed";
    return "";
  }

  static bool Append(curl_slist*& list, const char* line) {
    curl_slist* appended = curl_slist_append(list, line);
    if (appended == nullptr) return false;
    list = appended;
    return true;
  }

  CURLcode Configure(Transfer& transfer, CURL* easy) {
    CURLcode first = CURLE_OK;
    // curl reads each argument as the type the option documents (long,
    // curl_off_t, a pointer) and C++ builds get no type check: spell the
    // types out.
    auto check = [&first](CURLcode code) {
      if (first == CURLE_OK) first = code;
    };
    const std::string* body = transfer.request.body.get();
    check(curl_easy_setopt(easy, CURLOPT_PRIVATE, &transfer));
    check(curl_easy_setopt(easy, CURLOPT_SHARE, share_));
    check(curl_easy_setopt(easy, CURLOPT_URL, transfer.request.url.c_str()));
    check(curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "https"));
    check(curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "https"));
    check(curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L));
    // No proxy, whatever the environment says: the SSRF guard judges the
    // address we connect to, which must be the subscriber's.
    check(curl_easy_setopt(easy, CURLOPT_PROXY, ""));
    check(curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                           static_cast<curl_off_t>(body ? body->size() : 0)));
    check(curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body ? body->data() : ""));
    check(curl_easy_setopt(easy, CURLOPT_HTTPHEADER, transfer.headers));
    check(
        curl_easy_setopt(easy, CURLOPT_USERAGENT, options_.user_agent.c_str()));
    check(curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                           ToCurlMillis(options_.connect_timeout)));
    check(curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                           ToCurlMillis(options_.total_timeout)));
    check(curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L));
    check(curl_easy_setopt(
        easy, CURLOPT_MAXAGE_CONN,
        static_cast<long>(absl::ToInt64Seconds(options_.max_idle_reuse))));
    // With HTTP/2 a new transfer waits for a connection it can multiplex on
    // rather than opening another.
    check(curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L));
    check(curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L));
    check(curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L));
    check(curl_easy_setopt(easy, CURLOPT_SSLVERSION,
                           static_cast<long>(CURL_SSLVERSION_TLSv1_2)));
    if (!options_.ca_bundle.empty()) {
      // The bundle replaces the system's trust store rather than adding to it.
      check(curl_easy_setopt(easy, CURLOPT_CAINFO, options_.ca_bundle.c_str()));
      check(curl_easy_setopt(easy, CURLOPT_CAPATH, nullptr));
    }
    if (!source_.curl_interface.empty()) {
      check(curl_easy_setopt(easy, CURLOPT_INTERFACE,
                             source_.curl_interface.c_str()));
      check(curl_easy_setopt(easy, CURLOPT_IPRESOLVE, source_.ip_resolve));
    }
    check(curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer.error));
    check(curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &OnBody));
    check(curl_easy_setopt(easy, CURLOPT_WRITEDATA, &transfer));
    check(curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &OnHeader));
    check(curl_easy_setopt(easy, CURLOPT_HEADERDATA, &transfer));
    check(curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, &OnOpenSocket));
    check(curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, &transfer));
    return first;
  }

  void CompleteFinished() {
    int remaining = 0;
    while (CURLMsg* message = curl_multi_info_read(multi_, &remaining)) {
      if (message->msg != CURLMSG_DONE) continue;
      CURL* easy = message->easy_handle;
      const CURLcode code = message->data.result;
      auto it = active_.find(easy);
      if (it == active_.end()) continue;
      std::unique_ptr<Transfer> transfer = std::move(it->second);
      active_.erase(it);
      curl_multi_remove_handle(multi_, easy);

      long status = 0;
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
      HttpResult result;
      result.id = transfer->request.id;
      result.error_class = Classify(code, status, *transfer);
      result.http_status = static_cast<int>(status);
      result.started_at = transfer->started_at;
      result.duration = absl::FromChrono(std::chrono::steady_clock::now() -
                                         transfer->started);
      result.response_excerpt = std::move(transfer->excerpt);
      result.retry_after = std::move(transfer->retry_after);
      if (code != CURLE_OK) {
        std::string detail = transfer->error[0] != '\0'
                                 ? std::string(transfer->error)
                                 : std::string(curl_easy_strerror(code));
        if (result.error_class == ErrorClass::kBlockedAddress) {
          detail = absl::StrCat(
              "every address of the host is refused by the address policy (",
              detail, ")");
        }
        result.error_detail = std::move(detail);
      }
      ReleaseEasy(easy);
      Finish(transfer->done, std::move(result));
    }
  }

  void AbortActive() {
    // Taken out first: a callback may call Submit, never touch active_.
    std::unordered_map<CURL*, std::unique_ptr<Transfer>> aborted;
    aborted.swap(active_);
    const auto now = std::chrono::steady_clock::now();
    for (auto& [easy, transfer] : aborted) {
      curl_multi_remove_handle(multi_, easy);
      ReleaseEasy(easy);
      Finish(transfer->done,
             AbortedResult(transfer->request.id, transfer->started_at,
                           absl::FromChrono(now - transfer->started)));
    }
  }

  CURL* AcquireEasy() {
    if (free_easy_.empty()) return curl_easy_init();
    CURL* easy = free_easy_.back();
    free_easy_.pop_back();
    return easy;
  }

  void ReleaseEasy(CURL* easy) {
    // Reset now, so that no handle keeps pointers into a finished Transfer.
    curl_easy_reset(easy);
    if (free_easy_.size() < static_cast<size_t>(options_.max_connections)) {
      free_easy_.push_back(easy);
    } else {
      curl_easy_cleanup(easy);
    }
  }

  const CurlTransportOptions options_;
  const SourceBinding source_;
  CURLM* const multi_;
  CURLSH* const share_;
  std::atomic<int> in_flight_{0};

  common::Mutex mu_;
  std::vector<Queued> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool loop_exited_ ABSL_GUARDED_BY(mu_) = false;

  common::Mutex join_mu_;
  std::thread thread_;

  // Used by the loop thread only.
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> active_;
  std::vector<CURL*> free_easy_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<HttpTransport>> NewCurlHttpTransport(
    CurlTransportOptions options) {
  if (options.connect_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("connect_timeout must be positive");
  }
  if (options.total_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("total_timeout must be positive");
  }
  if (options.max_connections < 1) {
    return absl::InvalidArgumentError("max_connections must be at least 1");
  }
  if (options.max_idle_reuse < absl::Seconds(1)) {
    return absl::InvalidArgumentError("max_idle_reuse must be at least 1s");
  }
  if (!options.ca_bundle.empty() &&
      access(options.ca_bundle.c_str(), R_OK) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("ca_bundle: cannot read ", options.ca_bundle));
  }
  absl::StatusOr<SourceBinding> source =
      ResolveSourceAddress(options.source_address);
  if (!source.ok()) return source.status();
  if (absl::Status status = InitCurlOnce(); !status.ok()) return status;

  CURLM* multi = curl_multi_init();
  CURLSH* share = curl_share_init();
  bool ok = multi != nullptr && share != nullptr;
  if (ok) {
    const long max_connections = options.max_connections;
    ok = curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                           max_connections) == CURLM_OK &&
         curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, max_connections) ==
             CURLM_OK &&
         // Connections and DNS are shared through the multi handle already;
         // TLS sessions need the share handle. Only the loop thread uses
         // it, so it needs no locks.
         curl_share_setopt(share, CURLSHOPT_SHARE,
                           CURL_LOCK_DATA_SSL_SESSION) == CURLSHE_OK;
  }
  if (!ok) {
    if (multi != nullptr) curl_multi_cleanup(multi);
    if (share != nullptr) curl_share_cleanup(share);
    return absl::InternalError("cannot set up a libcurl multi handle");
  }
  return std::unique_ptr<HttpTransport>(new CurlHttpTransport(
      std::move(options), *std::move(source), multi, share));
}

}  // namespace webhooks::delivery
