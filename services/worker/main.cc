// webhooks-worker: leases due deliveries and POSTs them to subscribers.
//
// Configuration: flags, each of which can also be set by the environment
// variable WEBHOOKS_<FLAG IN CAPITALS> (a flag given on the command line wins).
// The sealing key comes only from the environment or a file.
#include <malloc.h>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/common/clock.h"
#include "lib/common/env.h"
#include "lib/common/log.h"
#include "lib/common/main_support.h"
#include "lib/delivery/address_policy.h"
#include "lib/delivery/curl_http_transport.h"
#include "lib/dispatch/worker.h"
#include "lib/metrics/http_endpoint.h"
#include "lib/metrics/worker_metrics.h"
#include "lib/security/sealer.h"
#include "lib/store/delivery_notifier.h"
#include "lib/store/migrations.h"
#include "lib/store/pg_pool.h"
#include "lib/store/pg_stores.h"

ABSL_FLAG(std::string, database_url, "",
          "PostgreSQL URL. Env WEBHOOKS_DATABASE_URL. Default "
          "postgresql:///webhooks");
ABSL_FLAG(std::string, metrics_addr, "",
          "Address of /metrics, /healthz, /readyz. Env WEBHOOKS_METRICS_ADDR. "
          "Default 127.0.0.1:9465");
ABSL_FLAG(
    std::string, allow_cidrs, "",
    "Comma-separated CIDRs deliveries may reach although private/loopback. "
    "Env WEBHOOKS_ALLOW_CIDRS. Default none");
ABSL_FLAG(std::string, source_address, "",
          "Local IP address or network interface every delivery leaves from, "
          "so that subscribers can allowlist it. Default: the system chooses");
ABSL_FLAG(std::string, ca_bundle, "",
          "PEM file of trusted CAs instead of the system store. Env "
          "WEBHOOKS_CA_BUNDLE");
ABSL_FLAG(std::string, name, "", "Lease owner name. Default <hostname>-<pid>");
ABSL_FLAG(int, concurrency, 256,
          "Requests in flight at once from this worker (each subscription's "
          "own cap, max_in_flight, holds across all workers)");
ABSL_FLAG(double, max_tenant_share, 0.5,
          "Most of --concurrency one tenant's deliveries may hold, in (0, 1] "
          "(1: no bound): a tenant with slow endpoints leaves the rest to "
          "the others");
ABSL_FLAG(int, lease_batch, 100, "Most deliveries leased per query");
ABSL_FLAG(int, write_batch, 500, "Most outcomes written per statement");
ABSL_FLAG(absl::Duration, poll_interval, absl::Seconds(1),
          "Lease poll interval, the backstop for LISTEN/NOTIFY");
ABSL_FLAG(
    absl::Duration, lease_duration, absl::Seconds(60),
    "How long a leased delivery belongs to this worker; > request_timeout");
ABSL_FLAG(absl::Duration, connect_timeout, absl::Seconds(10),
          "HTTP connect timeout");
ABSL_FLAG(absl::Duration, request_timeout, absl::Seconds(30),
          "HTTP total timeout");
ABSL_FLAG(absl::Duration, retry_initial, absl::Seconds(5),
          "Delay after the first failure");
ABSL_FLAG(double, retry_multiplier, 4.0, "Backoff multiplier");
ABSL_FLAG(absl::Duration, retry_max_delay, absl::Hours(24),
          "Longest delay between attempts");
ABSL_FLAG(int, max_attempts, 10, "Attempts before a delivery fails");
ABSL_FLAG(double, retry_jitter, 0.2,
          "Jitter fraction of each delay (0.2 = +/-20%)");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(25),
          "On SIGTERM, how long in-flight requests may finish");
ABSL_FLAG(int, db_pool_size, 4,
          "Database connections for leasing and writing (at least 2)");
ABSL_FLAG(absl::Duration, db_timeout, absl::Seconds(10),
          "Bound on each database call");
ABSL_FLAG(absl::Duration, stats_interval, absl::Seconds(5),
          "How often queue statistics are sampled (own connection)");
ABSL_FLAG(int, auto_disable_after_failures, 50,
          "Disable a subscription after this many deliveries in a row ended "
          "failed (0: never)");
ABSL_FLAG(absl::Duration, auto_disable_after, absl::Hours(5 * 24),
          "Disable a subscription whose every attempt has failed for this "
          "long (0: never)");

namespace {

using namespace webhooks;  // NOLINT: a main file

int Fail(absl::string_view what, const absl::Status& status) {
  common::LogError(what, ": ", status.ToString());
  return 1;
}

int Run() {
  const std::string database_url =
      common::FlagOrEnv(absl::GetFlag(FLAGS_database_url),
                        "WEBHOOKS_DATABASE_URL", "postgresql:///webhooks");

  absl::StatusOr<security::Sealer> sealer = security::SealerFromEnvironment();
  if (!sealer.ok()) return Fail("sealing key", sealer.status());

  dispatch::WorkerOptions options;
  domain::RetryPolicy& retry = options.dispatch.retry;
  retry.initial = absl::GetFlag(FLAGS_retry_initial);
  retry.multiplier = absl::GetFlag(FLAGS_retry_multiplier);
  retry.max_delay = absl::GetFlag(FLAGS_retry_max_delay);
  retry.max_attempts = absl::GetFlag(FLAGS_max_attempts);
  retry.jitter = absl::GetFlag(FLAGS_retry_jitter);
  options.dispatch.lease.max_in_flight = absl::GetFlag(FLAGS_concurrency);
  options.dispatch.lease.lease_batch = absl::GetFlag(FLAGS_lease_batch);
  options.dispatch.lease.poll_interval = absl::GetFlag(FLAGS_poll_interval);
  options.dispatch.lease_duration = absl::GetFlag(FLAGS_lease_duration);
  options.dispatch.write.max_batch = absl::GetFlag(FLAGS_write_batch);
  options.dispatch.seed = absl::Uniform<uint64_t>(absl::BitGen());
  options.db_timeout = absl::GetFlag(FLAGS_db_timeout);
  options.stats_interval = absl::GetFlag(FLAGS_stats_interval);
  options.auto_disable.failed_in_a_row =
      absl::GetFlag(FLAGS_auto_disable_after_failures);
  options.auto_disable.failing_for = absl::GetFlag(FLAGS_auto_disable_after);
  options.max_tenant_share = absl::GetFlag(FLAGS_max_tenant_share);
  if (absl::Status s = dispatch::ValidateWorkerOptions(
          options, absl::GetFlag(FLAGS_request_timeout));
      !s.ok()) {
    return Fail("config", s);
  }
  if (absl::GetFlag(FLAGS_db_pool_size) < 2) {
    return Fail("config", absl::InvalidArgumentError(
                              "--db_pool_size: must be at least 2 (leasing and "
                              "writing each need a connection)"));
  }
  if (absl::GetFlag(FLAGS_connect_timeout) <= absl::ZeroDuration()) {
    return Fail("config", absl::InvalidArgumentError(
                              "--connect_timeout: must be positive"));
  }
  if (absl::GetFlag(FLAGS_shutdown_grace) < absl::ZeroDuration()) {
    return Fail("config", absl::InvalidArgumentError(
                              "--shutdown_grace: must not be negative"));
  }

  // Only once the flags are known to be good.
  if (absl::Status s = store::CheckSchemaIsCurrent(database_url); !s.ok()) {
    return Fail("database", s);
  }

  absl::StatusOr<delivery::AddressPolicy> policy =
      delivery::AddressPolicy::Create(common::FlagOrEnv(
          absl::GetFlag(FLAGS_allow_cidrs), "WEBHOOKS_ALLOW_CIDRS", ""));
  if (!policy.ok()) return Fail("allow_cidrs", policy.status());

  delivery::CurlTransportOptions transport_options;
  transport_options.connect_timeout = absl::GetFlag(FLAGS_connect_timeout);
  transport_options.total_timeout = absl::GetFlag(FLAGS_request_timeout);
  transport_options.ca_bundle = common::FlagOrEnv(
      absl::GetFlag(FLAGS_ca_bundle), "WEBHOOKS_CA_BUNDLE", "");
  transport_options.user_agent = absl::StrCat("webhooks/", WEBHOOKS_VERSION);
  transport_options.max_connections = absl::GetFlag(FLAGS_concurrency);
  transport_options.address_policy = *policy;
  transport_options.source_address = absl::GetFlag(FLAGS_source_address);
  absl::StatusOr<std::unique_ptr<delivery::HttpTransport>> transport =
      delivery::NewCurlHttpTransport(transport_options);
  if (!transport.ok()) return Fail("http transport", transport.status());

  absl::StatusOr<std::unique_ptr<store::PgPool>> pool =
      store::PgPool::Create({.database_url = database_url,
                             .size = absl::GetFlag(FLAGS_db_pool_size)});
  if (!pool.ok()) return Fail("database pool", pool.status());
  std::unique_ptr<store::DeliveryStore> deliveries =
      store::NewPgDeliveryStore(pool->get());
  // Statistics on a connection of their own, so that a slow count never
  // waits for (or delays) a lease.
  absl::StatusOr<std::unique_ptr<store::PgPool>> stats_pool =
      store::PgPool::Create({.database_url = database_url, .size = 1});
  if (!stats_pool.ok()) return Fail("database pool", stats_pool.status());
  std::unique_ptr<store::DeliveryStore> stats_store =
      store::NewPgDeliveryStore(stats_pool->get());
  store::DeliveryNotifier notifier(database_url);

  auto registry = std::make_shared<prometheus::Registry>();
  metrics::WorkerMetrics worker_metrics(*registry);

  std::string name = absl::GetFlag(FLAGS_name);
  if (name.empty()) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    name = absl::StrCat(host, "-", getpid());
  }
  options.dispatch.owner = name;

  // Before any thread starts, so that all of them leave the signals to us.
  common::TerminationSignals signals;

  dispatch::Worker worker(options, {.store = deliveries.get(),
                                    .stats_store = stats_store.get(),
                                    .notifier = &notifier,
                                    .transport = transport->get(),
                                    .sealer = &*sealer,
                                    .clock = common::Clock::Real(),
                                    .metrics = &worker_metrics});
  const std::string metrics_addr =
      common::FlagOrEnv(absl::GetFlag(FLAGS_metrics_addr),
                        "WEBHOOKS_METRICS_ADDR", "127.0.0.1:9465");
  absl::StatusOr<std::unique_ptr<metrics::HttpEndpoint>> endpoint =
      metrics::HttpEndpoint::Start(
          metrics_addr, registry.get(), [&worker] { return worker.Ready(); },
          [&worker] { return worker.Alive(); });
  if (!endpoint.ok()) return Fail("metrics endpoint", endpoint.status());

  worker.Start();
  common::LogInfo("webhooks-worker ", WEBHOOKS_VERSION, " ", name,
                  " delivering; metrics on ", metrics_addr, " (port ",
                  (*endpoint)->port(), ")");
  const int signal_number = signals.Wait();
  common::LogInfo("received signal ", signal_number, ", draining (grace ",
                  absl::FormatDuration(absl::GetFlag(FLAGS_shutdown_grace)),
                  ")");
  worker.Shutdown(absl::GetFlag(FLAGS_shutdown_grace));
  common::LogInfo("drained; exiting");
  return 0;
}

}  // namespace

namespace {

// Every request allocates and frees a few tens of KiB (bodies, headers,
// libcurl and OpenSSL buffers). With glibc's defaults the top of the heap
// is handed back to the kernel and taken again many times a second (perf:
// sysmalloc, page faults and madvise were a tenth of the worker's CPU). Keep
// freed memory for reuse instead; peak use, and so RSS, is unchanged.
// NOLINTBEGIN(concurrency-mt-unsafe): called first in main, before any thread
void TuneMalloc() {
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_TOP_PAD, 16 << 20);
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
}
// NOLINTEND(concurrency-mt-unsafe)

}  // namespace

int main(int argc, char** argv) {
  TuneMalloc();
  common::SetUpFlagsUsage("webhooks-worker [flags]: deliver pending webhooks",
                          "services/worker/main.cc",
                          absl::StrCat("webhooks-worker ", WEBHOOKS_VERSION));
  if (absl::Status status = common::SetFlagsFromEnvironment(
          "services/worker/main.cc", {"database_url"});
      !status.ok()) {
    std::cerr << status.message() << "\n";
    return 2;
  }
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() > 1) {
    std::cerr << "unexpected argument: " << args[1] << "\n";
    return 2;
  }
  return Run();
}
