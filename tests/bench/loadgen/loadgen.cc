// webhooks-loadgen: publishes events to webhooks-api over gRPC, as the
// benchmark's producer (tests/bench/run.sh).
//
// --clients publishers, each on a connection of its own, send --count events
// in all, one per call (--batch=1, PublishEvent) or --batch per call
// (PublishEvents). With --rate=0 each publisher sends its next call when the
// last one returned (closed loop); with --rate=R the calls are due at fixed
// times that make R events a second in all (open loop), and a call's latency
// counts from when it was due, so that a slow answer delays the calls behind
// it without hiding that delay (no coordinated omission).
//
// Prints one line of key=value figures (calls, events, errors, seconds,
// events_per_s, p50_ms, p95_ms, p99_ms, max_ms of call latency, and cpu_us,
// this process's own CPU time). With
// --events_out, also writes "event_id due_unix_us done_unix_us" per published
// event, for joining with the receiver's log (publish -> received latency).
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "webhooks/v1/event_service.grpc.pb.h"

ABSL_FLAG(std::string, addr, "127.0.0.1:50051", "webhooks-api gRPC address");
ABSL_FLAG(std::string, token_env, "WEBHOOKS_API_TOKEN",
          "Environment variable holding the API token");
ABSL_FLAG(std::string, tenant, "bench", "Tenant to publish as");
ABSL_FLAG(int, clients, 8, "Concurrent publishers, one connection each");
ABSL_FLAG(int, count, 1000, "Events to publish in all");
ABSL_FLAG(int, batch, 1,
          "Events per call: 1 uses PublishEvent, more PublishEvents");
ABSL_FLAG(double, rate, 0,
          "Events per second in all (open loop); 0: closed loop");
ABSL_FLAG(std::string, prefix, "lg",
          "Prefix of idempotency keys and engagement ids");
ABSL_FLAG(int, body_text_bytes, 900,
          "Length of the email body text (with the rest, ~1.5 KB of JSON)");
ABSL_FLAG(bool, refused, false,
          "Publish events without an engagement, which the API refuses "
          "(INVALID_ARGUMENT) before it touches the database, and count "
          "each refusal as a completed call: what the RPC layer alone costs "
          "per call, the floor under PublishEvent");
ABSL_FLAG(std::string, events_out, "",
          "Write 'event_id due_unix_us done_unix_us' per published event here");

namespace {

namespace v1 = webhooks::v1;

v1::Event MakeEvent(const std::string& engagement_id, const std::string& text) {
  v1::Event event;
  event.set_type("engagement_dispatched");
  const absl::Time now = absl::Now();
  event.mutable_occurred_at()->set_seconds(absl::ToUnixSeconds(now));
  event.mutable_account()->set_yess_id("acc_bench");
  event.mutable_account()->set_name("Acme Corp");
  event.mutable_account()->set_domain("acme.example");
  event.mutable_lead()->set_yess_id("lead_bench");
  event.mutable_lead()->set_first_name("Dana");
  event.mutable_lead()->set_last_name("Scully");
  event.mutable_lead()->set_email("dana@acme.example");
  event.mutable_lead()->set_title("Head of Operations");
  v1::Engagement* e = event.mutable_engagement();
  e->set_yess_id(engagement_id);
  e->set_channel("email");
  e->set_action("new_thread_email");
  e->set_direction("outbound");
  e->set_status("sent");
  e->mutable_email()->set_subject("Quick question about your rollout");
  e->mutable_email()->set_body_text(text);
  e->mutable_email()->set_from("sam@seller.example");
  e->mutable_email()->add_to("dana@acme.example");
  return event;
}

struct Record {
  std::string event_id;
  int64_t due_us;
  int64_t done_us;  // when the call that published it returned
};

struct ClientResult {
  std::vector<double> latencies_ms;  // one per call
  std::vector<Record> events;
  int64_t errors = 0;
  int64_t refused = 0;  // --refused: calls answered INVALID_ARGUMENT
  std::string first_error;
};

double Quantile(std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const size_t i =
      std::min(sorted.size() - 1,
               static_cast<size_t>(q * static_cast<double>(sorted.size())));
  return sorted[i];
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Publishes events to webhooks-api (see the source's header)");
  absl::ParseCommandLine(argc, argv);
  const int clients = std::max(1, absl::GetFlag(FLAGS_clients));
  const int count = std::max(0, absl::GetFlag(FLAGS_count));
  const int batch = std::max(1, absl::GetFlag(FLAGS_batch));
  const double rate = absl::GetFlag(FLAGS_rate);
  const std::string tenant = absl::GetFlag(FLAGS_tenant);
  const std::string prefix = absl::GetFlag(FLAGS_prefix);
  const bool refused = absl::GetFlag(FLAGS_refused);
  const char* token = std::getenv(absl::GetFlag(FLAGS_token_env).c_str());
  if (token == nullptr || *token == '\0') {
    std::cerr << "loadgen: set $" << absl::GetFlag(FLAGS_token_env) << "\n";
    return 2;
  }
  const std::string authorization = absl::StrCat("Bearer ", token);
  const std::string text(
      static_cast<size_t>(absl::GetFlag(FLAGS_body_text_bytes)), 'x');

  // Calls, numbered 0..calls-1; call k carries events [k*batch, ...).
  const int calls = (count + batch - 1) / batch;
  std::atomic<int> next_call{0};
  std::vector<ClientResult> results(static_cast<size_t>(clients));
  // Leaves the publishers time to connect first.
  const absl::Time start = absl::Now() + absl::Milliseconds(200);
  const absl::Duration call_interval =
      rate > 0 ? absl::Seconds(static_cast<double>(batch) / rate)
               : absl::ZeroDuration();

  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection each
      auto channel = grpc::CreateCustomChannel(
          absl::GetFlag(FLAGS_addr), grpc::InsecureChannelCredentials(), args);
      // Connected before the clock starts: a call's latency is the server's,
      // not this client's handshake.
      channel->WaitForConnected(
          absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
      auto stub = v1::EventService::NewStub(channel);
      if (const absl::Duration wait = start - absl::Now();
          wait > absl::ZeroDuration()) {
        absl::SleepFor(wait);  // everyone starts together, at the clock's start
      }
      ClientResult& out = results[static_cast<size_t>(c)];
      while (true) {
        const int k = next_call.fetch_add(1);
        if (k >= calls) break;
        const absl::Time due =
            rate > 0 ? start + call_interval * k : absl::Now();
        if (rate > 0) {
          const absl::Duration wait = due - absl::Now();
          if (wait > absl::ZeroDuration()) absl::SleepFor(wait);
        }
        const int first = k * batch;
        const int n = std::min(batch, count - first);
        grpc::ClientContext context;
        context.AddMetadata("authorization", authorization);
        context.set_deadline(
            absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
        grpc::Status status;
        std::vector<std::string> ids;
        if (batch == 1) {
          v1::PublishEventRequest request;
          request.set_tenant_id(tenant);
          request.set_idempotency_key(absl::StrCat(prefix, "-", first));
          *request.mutable_event() =
              MakeEvent(absl::StrCat("eng_", prefix, first), text);
          if (refused) request.mutable_event()->clear_engagement();
          v1::PublishEventResponse response;
          status = stub->PublishEvent(&context, request, &response);
          if (status.ok()) ids.push_back(response.event_id());
        } else {
          v1::PublishEventsRequest request;
          request.set_tenant_id(tenant);
          for (int i = first; i < first + n; ++i) {
            v1::PublishEventsItem* item = request.add_items();
            item->set_idempotency_key(absl::StrCat(prefix, "-", i));
            *item->mutable_event() =
                MakeEvent(absl::StrCat("eng_", prefix, i), text);
          }
          v1::PublishEventsResponse response;
          status = stub->PublishEvents(&context, request, &response);
          if (status.ok()) {
            for (const v1::PublishEventsResult& r : response.results()) {
              if (r.code() == 0) {
                ids.push_back(r.event_id());
              } else {
                ++out.errors;
                if (out.first_error.empty()) out.first_error = r.message();
              }
            }
          }
        }
        const absl::Time done = absl::Now();
        if (refused &&
            status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
          out.latencies_ms.push_back(absl::ToDoubleMilliseconds(done - due));
          out.refused += n;
          continue;
        }
        if (!status.ok()) {
          out.errors += n;
          if (out.first_error.empty()) {
            out.first_error =
                absl::StrCat(status.error_code(), ": ", status.error_message());
          }
          continue;
        }
        out.latencies_ms.push_back(absl::ToDoubleMilliseconds(done - due));
        const int64_t due_us = absl::ToUnixMicros(due);
        const int64_t done_us = absl::ToUnixMicros(done);
        for (std::string& id : ids)
          out.events.push_back({std::move(id), due_us, done_us});
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);

  std::vector<double> latencies;
  int64_t events = 0, errors = 0;
  std::string first_error;
  for (ClientResult& r : results) {
    latencies.insert(latencies.end(), r.latencies_ms.begin(),
                     r.latencies_ms.end());
    events += static_cast<int64_t>(r.events.size()) + r.refused;
    errors += r.errors;
    if (first_error.empty()) first_error = r.first_error;
  }
  std::sort(latencies.begin(), latencies.end());
  if (const std::string path = absl::GetFlag(FLAGS_events_out); !path.empty()) {
    std::ofstream file(path);
    for (const ClientResult& r : results) {
      for (const Record& e : r.events)
        file << e.event_id << ' ' << e.due_us << ' ' << e.done_us << '\n';
    }
    if (!file) {
      std::cerr << "loadgen: cannot write " << path << "\n";
      return 1;
    }
  }
  // This process's own CPU, so that the benchmark can tell it apart.
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const int64_t cpu_us =
      (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000000 +
      usage.ru_utime.tv_usec + usage.ru_stime.tv_usec;
  std::cout
      << absl::StrFormat(
             "calls=%d events=%d errors=%d seconds=%.3f events_per_s=%.0f "
             "p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f max_ms=%.2f cpu_us=%d",
             latencies.size(), events, errors, seconds,
             seconds > 0 ? static_cast<double>(events) / seconds : 0,
             Quantile(latencies, 0.50), Quantile(latencies, 0.95),
             Quantile(latencies, 0.99),
             latencies.empty() ? 0 : latencies.back(), cpu_us)
      << std::endl;
  if (errors > 0) std::cerr << "loadgen: first error: " << first_error << "\n";
  return errors > 0 ? 1 : 0;
}
