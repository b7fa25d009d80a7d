// The whole service as processes, for end-to-end and fault tests: the real
// webhooks-api and any number of webhooks-worker binaries against one
// database, a token file, and gRPC stubs with helpers to subscribe and to
// publish. Tests own the database and the receivers; this owns the
// processes, which it kills (SIGKILL) when destroyed.
#ifndef WEBHOOKS_TESTS_TESTING_PIPELINE_H_
#define WEBHOOKS_TESTS_TESTING_PIPELINE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "tests/testing/process.h"
#include "webhooks/v1/event_service.grpc.pb.h"
#include "webhooks/v1/subscription_service.grpc.pb.h"

namespace webhooks::testing {

struct PipelineOptions {
  std::string api_binary;
  std::string worker_binary;
  std::string database_url;
  // PEM file of the CAs the worker (and the API's test sends) trust.
  std::string ca_bundle;
  // Logs and the token file go here; created when missing.
  std::string dir;
  // Extra `webhooks-api serve` flags.
  std::vector<std::string> api_flags;
};

// One subscription as created.
struct CreatedSubscription {
  std::string id;
  std::string signing_secret;
};

class Pipeline {
 public:
  // A token allowed every tenant, and the tenant the helpers use.
  static constexpr char kToken[] = "e2e-token-0123456789abcdefghij";
  static constexpr char kTenant[] = "e2e-tenant";
  // The custom header every Subscribe() sets.
  static constexpr char kAuthorization[] = "Bearer receiver-secret-0123456789";

  // Starts the API and waits until it serves (30 s).
  static absl::StatusOr<std::unique_ptr<Pipeline>> Start(
      PipelineOptions options);
  ~Pipeline();

  // The environment both binaries get (database, sealing key, tokens,
  // loopback allowed, CA bundle); extra processes may reuse it.
  const std::map<std::string, std::string>& env() const { return env_; }
  const std::string& dir() const { return options_.dir; }
  ChildProcess& api() { return *api_; }
  int api_port() const { return api_port_; }
  int api_metrics_port() const { return api_metrics_port_; }

  // Starts a worker with `--metrics_addr=127.0.0.1:0 --poll_interval=250ms`
  // and `flags`, and waits until it delivers; its index.
  absl::StatusOr<int> StartWorker(const std::vector<std::string>& flags = {});
  // Replaces worker `index` (killed or exited) with a new one, same flags.
  absl::Status RestartWorker(int index);
  ChildProcess& worker(int index) { return *workers_[index].process; }
  int worker_metrics_port(int index) const {
    return workers_[index].metrics_port;
  }
  int worker_count() const { return static_cast<int>(workers_.size()); }

  // A context with the token and a deadline.
  std::unique_ptr<grpc::ClientContext> Context(
      absl::Duration deadline = absl::Seconds(30)) const;
  v1::SubscriptionService::Stub& subscriptions() { return *subscriptions_; }
  v1::EventService::Stub& events() { return *events_; }

  // Subscribes kTenant to engagement_dispatched at `url`, with the
  // kAuthorization header; `max_in_flight` 0 keeps the default.
  absl::StatusOr<CreatedSubscription> Subscribe(const std::string& name,
                                                const std::string& url,
                                                int max_in_flight = 0);
  // An engagement_dispatched event for kTenant, engagement `<prefix>_<i>`.
  static v1::Event Event(const std::string& prefix, int i);
  // Publishes `count` events in batches of up to 500; the event ids.
  absl::StatusOr<std::vector<std::string>> Publish(
      int count, const std::string& prefix = "eng");

 private:
  struct Worker {
    std::unique_ptr<ChildProcess> process;
    std::vector<std::string> argv;
    int metrics_port = 0;
    int starts = 0;
  };
  explicit Pipeline(PipelineOptions options) : options_(std::move(options)) {}
  absl::Status StartWorkerAt(Worker& worker, int index);

  PipelineOptions options_;
  std::map<std::string, std::string> env_;
  std::unique_ptr<ChildProcess> api_;
  int api_port_ = 0;
  int api_metrics_port_ = 0;
  std::vector<Worker> workers_;
  std::unique_ptr<v1::SubscriptionService::Stub> subscriptions_;
  std::unique_ptr<v1::EventService::Stub> events_;
};

// The value of one sample on a /metrics page on 127.0.0.1:`port`, e.g.
// `webhooks_deliveries_total{outcome="delivered"}`; 0 when absent, -1 when
// the page does not answer.
double ScrapeMetric(int port, const std::string& sample);

// Peak resident memory (VmHWM) of process `pid` in KiB; -1 when unknown.
long PeakRssKib(int pid);

}  // namespace webhooks::testing

#endif  // WEBHOOKS_TESTS_TESTING_PIPELINE_H_
