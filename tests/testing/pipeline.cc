#include "tests/testing/pipeline.h"

#include <httplib.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "lib/security/sealer.h"

namespace webhooks::testing {

absl::StatusOr<std::unique_ptr<Pipeline>> Pipeline::Start(
    PipelineOptions options) {
  std::unique_ptr<Pipeline> pipeline(new Pipeline(std::move(options)));
  const PipelineOptions& o = pipeline->options_;
  std::error_code error;
  std::filesystem::create_directories(o.dir, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("mkdir ", o.dir, ": ", error.message()));
  }
  const std::string tokens = absl::StrCat(o.dir, "/tokens");
  {
    std::ofstream out(tokens, std::ios::trunc);
    out << "e2e " << kToken << " *\n";
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", tokens));
  }
  pipeline->env_ = {{"WEBHOOKS_DATABASE_URL", o.database_url},
                    {"WEBHOOKS_SEALING_KEY", security::NewSealingKeySpec()},
                    {"WEBHOOKS_API_TOKENS_FILE", tokens},
                    {"WEBHOOKS_ALLOW_CIDRS", "127.0.0.0/8"},
                    {"WEBHOOKS_CA_BUNDLE", o.ca_bundle}};

  std::vector<std::string> argv = {o.api_binary, "serve",
                                   "--grpc_addr=127.0.0.1:0",
                                   "--metrics_addr=127.0.0.1:0"};
  argv.insert(argv.end(), o.api_flags.begin(), o.api_flags.end());
  absl::StatusOr<ChildProcess> api = ChildProcess::Start(
      argv, pipeline->env_, absl::StrCat(o.dir, "/api.log"));
  if (!api.ok()) return api.status();
  pipeline->api_ = std::make_unique<ChildProcess>(*std::move(api));
  absl::StatusOr<std::string> line =
      pipeline->api_->WaitForLogLine("serving gRPC", absl::Seconds(30));
  if (!line.ok()) return line.status();
  // "... (port N), metrics on 127.0.0.1:0 (port M), ..."
  pipeline->api_port_ = NumberAfter(*line, "(port ").value_or(0);
  const size_t metrics = line->find("metrics on");
  if (metrics != std::string::npos) {
    pipeline->api_metrics_port_ =
        NumberAfter(line->substr(metrics), "(port ").value_or(0);
  }
  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", pipeline->api_port_),
                          grpc::InsecureChannelCredentials());
  pipeline->subscriptions_ = v1::SubscriptionService::NewStub(channel);
  pipeline->events_ = v1::EventService::NewStub(channel);
  return pipeline;
}

Pipeline::~Pipeline() {
  workers_.clear();
  api_.reset();
}

absl::StatusOr<int> Pipeline::StartWorker(
    const std::vector<std::string>& flags) {
  Worker worker;
  worker.argv = {options_.worker_binary, "--metrics_addr=127.0.0.1:0",
                 "--poll_interval=250ms"};
  worker.argv.insert(worker.argv.end(), flags.begin(), flags.end());
  const int index = static_cast<int>(workers_.size());
  if (absl::Status status = StartWorkerAt(worker, index); !status.ok()) {
    return status;
  }
  workers_.push_back(std::move(worker));
  return index;
}

absl::Status Pipeline::RestartWorker(int index) {
  Worker& worker = workers_[index];
  worker.process.reset();  // SIGKILL and reap, if still running
  return StartWorkerAt(worker, index);
}

absl::Status Pipeline::StartWorkerAt(Worker& worker, int index) {
  absl::StatusOr<ChildProcess> process = ChildProcess::Start(
      worker.argv, env_,
      absl::StrCat(options_.dir, "/worker-", index,
                   worker.starts == 0 ? "" : absl::StrCat(".", worker.starts),
                   ".log"));
  if (!process.ok()) return process.status();
  ++worker.starts;
  worker.process = std::make_unique<ChildProcess>(*std::move(process));
  absl::StatusOr<std::string> line =
      worker.process->WaitForLogLine("delivering", absl::Seconds(30));
  if (!line.ok()) return line.status();
  worker.metrics_port = NumberAfter(*line, "(port ").value_or(0);
  return absl::OkStatus();
}

std::unique_ptr<grpc::ClientContext> Pipeline::Context(
    absl::Duration deadline) const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->AddMetadata("authorization", absl::StrCat("Bearer ", kToken));
  context->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  return context;
}

absl::StatusOr<CreatedSubscription> Pipeline::Subscribe(const std::string& name,
                                                        const std::string& url,
                                                        int max_in_flight) {
  v1::CreateSubscriptionRequest request;
  request.set_tenant_id(kTenant);
  v1::Subscription* s = request.mutable_subscription();
  s->set_name(name);
  s->set_target_url(url);
  s->add_event_types("engagement_dispatched");
  if (max_in_flight > 0) s->set_max_in_flight(max_in_flight);
  (*s->mutable_custom_headers())["Authorization"] = kAuthorization;
  v1::CreateSubscriptionResponse response;
  grpc::Status status =
      subscriptions_->CreateSubscription(Context().get(), request, &response);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        status.error_message());
  }
  return CreatedSubscription{response.subscription().id(),
                             response.signing_secret()};
}

v1::Event Pipeline::Event(const std::string& prefix, int i) {
  v1::Event e;
  e.set_type("engagement_dispatched");
  e.mutable_occurred_at()->set_seconds(1795701791);
  v1::Engagement* g = e.mutable_engagement();
  g->set_yess_id(absl::StrCat(prefix, "_", i));
  g->set_channel("email");
  g->set_action("new_thread_email");
  g->mutable_email()->set_subject(absl::StrCat("Message ", i));
  return e;
}

absl::StatusOr<std::vector<std::string>> Pipeline::Publish(
    int count, const std::string& prefix) {
  std::vector<std::string> ids;
  for (int start = 0; start < count; start += 500) {
    v1::PublishEventsRequest request;
    request.set_tenant_id(kTenant);
    for (int i = start; i < std::min(count, start + 500); ++i) {
      *request.add_items()->mutable_event() = Event(prefix, i);
    }
    v1::PublishEventsResponse response;
    grpc::Status status =
        events_->PublishEvents(Context().get(), request, &response);
    if (!status.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          status.error_message());
    }
    for (const auto& r : response.results()) {
      if (r.code() != 0) {
        return absl::InternalError(absl::StrCat("item refused: ", r.message()));
      }
      ids.push_back(r.event_id());
    }
  }
  return ids;
}

double ScrapeMetric(int port, const std::string& sample) {
  httplib::Client client("127.0.0.1", port);
  auto response = client.Get("/metrics");
  if (!response) return -1;
  for (absl::string_view line : absl::StrSplit(response->body, '\n')) {
    if (absl::StartsWith(line, sample + " ")) {
      double value = 0;
      if (absl::SimpleAtod(line.substr(sample.size() + 1), &value)) {
        return value;
      }
    }
  }
  return 0;
}

long PeakRssKib(int pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (absl::StartsWith(line, "VmHWM:")) {
      long kib = 0;
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::StripSuffix(
                               absl::StripPrefix(line, "VmHWM:"), "kB")),
                           &kib)) {
        return kib;
      }
    }
  }
  return -1;
}

}  // namespace webhooks::testing
