// webhooks-api: the gRPC API server, and `webhooks-api migrate`.
//
// Configuration: flags, each of which can also be set by the environment
// variable WEBHOOKS_<FLAG IN CAPITALS> (a flag given on the command line wins).
// Secrets (the sealing key) come only from the environment or a file, never
// from flags, which `ps` would show.

#include <atomic>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/common/clock.h"
#include "lib/common/env.h"
#include "lib/common/log.h"
#include "lib/common/main_support.h"
#include "lib/common/status_macros.h"
#include "lib/delivery/address_policy.h"
#include "lib/delivery/curl_http_transport.h"
#include "lib/metrics/api_metrics.h"
#include "lib/metrics/http_endpoint.h"
#include "lib/security/api_tokens.h"
#include "lib/security/sealer.h"
#include "lib/store/migrations.h"
#include "lib/store/pg_pool.h"
#include "lib/store/pg_stores.h"
#include "lib/store/reseal.h"
#include "lib/store/retention.h"
#include "services/api/event_codec.h"
#include "services/api/metrics_interceptor.h"
#include "services/api/server.h"

ABSL_FLAG(std::string, database_url, "",
          "PostgreSQL URL. Env WEBHOOKS_DATABASE_URL. Default "
          "postgresql:///webhooks");
ABSL_FLAG(std::string, grpc_addr, "",
          "gRPC listen address host:port. Env WEBHOOKS_GRPC_ADDR. Default "
          "127.0.0.1:50051");
ABSL_FLAG(std::string, metrics_addr, "",
          "Address of /metrics, /healthz, /readyz. Env WEBHOOKS_METRICS_ADDR. "
          "Default 127.0.0.1:9464");
ABSL_FLAG(std::string, api_tokens_file, "",
          "File of API tokens, one 'name token tenants' per line. Env "
          "WEBHOOKS_API_TOKENS_FILE. "
          "Required");
ABSL_FLAG(int, db_pool_size, 0,
          "Database connections. Env WEBHOOKS_DB_POOL_SIZE. Default 16");
ABSL_FLAG(int, db_pool_min_idle, 8,
          "Database connections opened, configured and prepared before the "
          "server reports ready, and kept open (at most --db_pool_size)");
ABSL_FLAG(
    absl::Duration, db_acquire_timeout, absl::Seconds(5),
    "Longest wait for a free database connection before RESOURCE_EXHAUSTED");
ABSL_FLAG(absl::Duration, db_statement_timeout, absl::Seconds(10),
          "Server-side statement_timeout of every query");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM file of the gRPC server's certificate chain (leaf first); with "
          "--tls_key_file, the port takes TLS only. Env "
          "WEBHOOKS_TLS_CERT_FILE. Default: plaintext");
ABSL_FLAG(std::string, tls_key_file, "",
          "PEM file of the private key of --tls_cert_file. Env "
          "WEBHOOKS_TLS_KEY_FILE");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM file of the CAs whose client certificates are accepted: mutual "
          "TLS, a client without such a certificate cannot connect (it still "
          "needs its API token). Needs --tls_cert_file. Env "
          "WEBHOOKS_TLS_CLIENT_CA_FILE");
ABSL_FLAG(bool, grpc_reflection, true,
          "Serve gRPC server reflection (the schema only; needs no token)");
ABSL_FLAG(int, grpc_max_threads, 64, "Most gRPC handler threads at once");
ABSL_FLAG(int, grpc_max_message_bytes, 16 * 1024 * 1024,
          "Largest request accepted");
ABSL_FLAG(absl::Duration, shutdown_delay, absl::ZeroDuration(),
          "On SIGTERM, how long to go on serving with health NOT_SERVING and "
          "/readyz failing before refusing new calls: time for Kubernetes to "
          "take the pod out of its Service (5s there)");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "On SIGTERM, after --shutdown_delay, how long in-flight calls may "
          "finish");
ABSL_FLAG(int, default_max_in_flight, 64,
          "A subscription's max_in_flight when the client gives 0 (at least "
          "1)");
ABSL_FLAG(std::string, allow_cidrs, "",
          "SendTestEvent: CIDRs that may be called although private, e.g. "
          "10.0.0.0/8 (as the worker's flag). Env WEBHOOKS_ALLOW_CIDRS");
ABSL_FLAG(
    std::string, source_address, "",
    "SendTestEvent: local IP address or network interface test requests leave "
    "from (the workers' --source_address). Default: the system chooses");
ABSL_FLAG(std::string, ca_bundle, "",
          "SendTestEvent: PEM file of CAs trusted instead of the system's. "
          "Env WEBHOOKS_CA_BUNDLE");
ABSL_FLAG(absl::Duration, connect_timeout, absl::Seconds(10),
          "SendTestEvent: TCP + TLS connect timeout");
ABSL_FLAG(absl::Duration, request_timeout, absl::Seconds(30),
          "SendTestEvent: whole request timeout");
ABSL_FLAG(absl::Duration, retention_delivered, absl::Hours(30 * 24),
          "cleanup: delete deliveries that ended delivered or discarded, and "
          "events left without deliveries, created longer ago than this");
ABSL_FLAG(absl::Duration, retention_failed, absl::Hours(90 * 24),
          "cleanup: delete deliveries that ended failed created longer ago "
          "than this");
ABSL_FLAG(absl::Duration, cleanup_timeout, absl::Minutes(30),
          "cleanup and reseal: stop after this long (the next run goes on)");
ABSL_FLAG(int, max_in_flight_limit, 1000,
          "The largest max_in_flight a client may set (at least "
          "--default_max_in_flight)");
ABSL_FLAG(int64_t, max_subscriptions_per_tenant, 1000,
          "CreateSubscription answers RESOURCE_EXHAUSTED once a tenant has "
          "this many subscriptions (every publish fans out to each); 0 = no "
          "limit");

namespace {

using namespace webhooks;  // NOLINT: a main file

constexpr char kUsage[] =
    "webhooks-api [serve|migrate|cleanup|reseal] [flags]\n"
    "  serve    run the gRPC API (default)\n"
    "  migrate  apply database migrations and exit (safe to run concurrently)\n"
    "  cleanup  delete what is older than --retention_delivered / "
    "--retention_failed,\n"
    "           in batches of 1,000 rows, and exit (for a CronJob)\n"
    "  reseal   seal every secret at rest under the primary sealing key "
    "again,\n"
    "           and exit (then older keys can be dropped)\n"
    "Secrets: WEBHOOKS_SEALING_KEY or WEBHOOKS_SEALING_KEY_FILE (base64 of 32 "
    "bytes, or\n"
    "'id:key,id:key' with the primary first).";

std::string DatabaseUrl() {
  return common::FlagOrEnv(absl::GetFlag(FLAGS_database_url),
                           "WEBHOOKS_DATABASE_URL", "postgresql:///webhooks");
}

int Fail(absl::string_view what, const absl::Status& status) {
  common::LogError(what, ": ", status.ToString());
  return 1;
}

int RunMigrate() {
  absl::StatusOr<int> applied = store::Migrate(DatabaseUrl());
  if (!applied.ok()) return Fail("migrate", applied.status());
  common::LogInfo("database schema at version ", store::LatestSchemaVersion(),
                  " (applied ", *applied, " migrations)");
  return 0;
}

// The one connection of a one-shot command (cleanup, reseal), against a
// current schema; long statements allowed.
absl::StatusOr<std::unique_ptr<store::PgPool>> OneShotPool() {
  const std::string database_url = DatabaseUrl();
  if (absl::Status s = store::CheckSchemaIsCurrent(database_url); !s.ok()) {
    return s;
  }
  return store::PgPool::Create({.database_url = database_url,
                                .size = 1,
                                .statement_timeout = absl::Seconds(60)});
}

int RunCleanup() {
  store::RetentionPolicy policy;
  policy.delivered = absl::GetFlag(FLAGS_retention_delivered);
  policy.failed = absl::GetFlag(FLAGS_retention_failed);
  if (policy.delivered < absl::Hours(1) || policy.failed < absl::Hours(1)) {
    return Fail("config", absl::InvalidArgumentError(
                              "--retention_delivered and --retention_failed: "
                              "must be at least 1h"));
  }
  absl::StatusOr<std::unique_ptr<store::PgPool>> pool = OneShotPool();
  if (!pool.ok()) return Fail("database", pool.status());
  const absl::Time start = absl::Now();
  absl::StatusOr<store::RetentionReport> report = store::DeleteExpired(
      **pool, policy, start, start + absl::GetFlag(FLAGS_cleanup_timeout));
  if (!report.ok()) return Fail("cleanup", report.status());
  common::LogInfo("cleanup: deleted ", report->deliveries,
                  " deliveries (with their attempts), ", report->events,
                  " events and what ", report->subscriptions,
                  " deleted subscriptions left in ", report->statements,
                  " statements, ", absl::FormatDuration(absl::Now() - start));
  return 0;
}

// One pass of re-sealing under the primary key (lib/store/reseal.h).
int RunReseal() {
  absl::StatusOr<security::Sealer> sealer = security::SealerFromEnvironment();
  if (!sealer.ok()) return Fail("sealing key", sealer.status());
  absl::StatusOr<std::unique_ptr<store::PgPool>> pool = OneShotPool();
  if (!pool.ok()) return Fail("database", pool.status());
  const absl::Time start = absl::Now();
  absl::StatusOr<store::ResealReport> report = store::ResealAll(
      **pool, *sealer, 500, start + absl::GetFlag(FLAGS_cleanup_timeout));
  if (!report.ok()) return Fail("reseal", report.status());
  common::LogInfo("reseal: ", report->fields, " secrets of ",
                  report->subscriptions, " subscriptions sealed again under ",
                  sealer->primary_key_id(), " (", report->changed_meanwhile,
                  " rewritten meanwhile by others), ",
                  absl::FormatDuration(absl::Now() - start));
  return 0;
}

// The subscription settings from their flags, checked.
absl::StatusOr<api::SubscriptionServiceConfig> SubscriptionConfig() {
  api::SubscriptionServiceConfig config;
  config.default_max_in_flight = absl::GetFlag(FLAGS_default_max_in_flight);
  config.max_in_flight_limit = absl::GetFlag(FLAGS_max_in_flight_limit);
  if (config.default_max_in_flight < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--default_max_in_flight: must be at least 1, got ",
                     config.default_max_in_flight));
  }
  if (config.max_in_flight_limit < config.default_max_in_flight) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_in_flight_limit: must be at least --default_max_in_flight (",
        config.default_max_in_flight, "), got ", config.max_in_flight_limit));
  }
  return config;
}

// The gRPC server's TLS material from --tls_*_file, read once; nullopt for
// plaintext. INVALID_ARGUMENT naming the flag when they do not go together,
// or the flag and its path when a file cannot be read or holds no PEM of its
// kind (never the contents: one is the private key).
absl::StatusOr<std::optional<api::TlsFiles>> TlsFilesFromFlags() {
  const std::string cert = absl::GetFlag(FLAGS_tls_cert_file);
  const std::string key = absl::GetFlag(FLAGS_tls_key_file);
  const std::string client_ca = absl::GetFlag(FLAGS_tls_client_ca_file);
  if (cert.empty() && key.empty()) {
    if (!client_ca.empty()) {
      return absl::InvalidArgumentError(
          "--tls_client_ca_file: needs --tls_cert_file and --tls_key_file "
          "(client certificates are asked for only over TLS)");
    }
    return std::nullopt;
  }
  if (key.empty()) {
    return absl::InvalidArgumentError(
        "--tls_key_file: required with --tls_cert_file");
  }
  if (cert.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert_file: required with --tls_key_file");
  }
  // Each file is checked as it is read, so that a wrong one (the files
  // swapped, say) is refused naming it, before anything starts. ReadFile's
  // errors name the path, and only the path.
  auto read = [](absl::string_view flag, const std::string& path,
                 api::TlsPart part, std::string* pem) -> absl::Status {
    absl::StatusOr<std::string> contents = common::ReadFile(path);
    if (!contents.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": ", contents.status().message()));
    }
    if (absl::Status s = api::CheckTlsPem(part, *contents); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": ", path, ": ", s.message()));
    }
    *pem = *std::move(contents);
    return absl::OkStatus();
  };
  api::TlsFiles tls;
  WEBHOOKS_RETURN_IF_ERROR(read("--tls_cert_file", cert,
                                api::TlsPart::kCertChain, &tls.cert_chain_pem));
  WEBHOOKS_RETURN_IF_ERROR(read(
      "--tls_key_file", key, api::TlsPart::kPrivateKey, &tls.private_key_pem));
  if (!client_ca.empty()) {
    WEBHOOKS_RETURN_IF_ERROR(read("--tls_client_ca_file", client_ca,
                                  api::TlsPart::kClientCa, &tls.client_ca_pem));
  }
  return tls;
}

int RunServe() {
  absl::StatusOr<api::SubscriptionServiceConfig> subscription_config =
      SubscriptionConfig();
  if (!subscription_config.ok()) {
    return Fail("config", subscription_config.status());
  }
  absl::StatusOr<std::optional<api::TlsFiles>> tls = TlsFilesFromFlags();
  if (!tls.ok()) return Fail("config", tls.status());
  const std::string database_url = DatabaseUrl();
  if (absl::Status s = store::CheckSchemaIsCurrent(database_url); !s.ok()) {
    return Fail("database", s);
  }

  absl::StatusOr<security::Sealer> sealer = security::SealerFromEnvironment();
  if (!sealer.ok()) return Fail("sealing key", sealer.status());

  const std::string tokens_file = common::FlagOrEnv(
      absl::GetFlag(FLAGS_api_tokens_file), "WEBHOOKS_API_TOKENS_FILE", "");
  if (tokens_file.empty()) {
    return Fail("api tokens",
                absl::InvalidArgumentError(
                    "set --api_tokens_file or WEBHOOKS_API_TOKENS_FILE"));
  }
  absl::StatusOr<security::ApiTokens> tokens =
      security::ApiTokens::LoadFile(tokens_file);
  if (!tokens.ok()) return Fail("api tokens", tokens.status());

  int pool_size = absl::GetFlag(FLAGS_db_pool_size);
  if (pool_size == 0 &&
      !absl::SimpleAtoi(common::FlagOrEnv("", "WEBHOOKS_DB_POOL_SIZE", "16"),
                        &pool_size)) {
    return Fail("config", absl::InvalidArgumentError(
                              "WEBHOOKS_DB_POOL_SIZE: not a number"));
  }
  const int min_idle = absl::GetFlag(FLAGS_db_pool_min_idle);
  if (min_idle < 0) {
    return Fail("config",
                absl::InvalidArgumentError(absl::StrCat(
                    "--db_pool_min_idle: must be at least 0, got ", min_idle)));
  }
  absl::StatusOr<std::unique_ptr<store::PgPool>> pool = store::PgPool::Create({
      .database_url = database_url,
      .size = pool_size,
      .acquire_timeout = absl::GetFlag(FLAGS_db_acquire_timeout),
      .statement_timeout = absl::GetFlag(FLAGS_db_statement_timeout),
  });
  if (!pool.ok()) return Fail("database pool", pool.status());
  // Before any thread starts (the event store's waker is one), so that all of
  // them leave the signals to us.
  common::TerminationSignals signals;
  if (absl::GetFlag(FLAGS_max_subscriptions_per_tenant) < 0) {
    return Fail("flags", absl::InvalidArgumentError(
                             "--max_subscriptions_per_tenant: must be 0 (no "
                             "limit) or more"));
  }
  auto subscriptions = store::NewPgSubscriptionStore(
      pool->get(),
      {.max_per_tenant = absl::GetFlag(FLAGS_max_subscriptions_per_tenant)});
  auto events = store::NewPgEventStore(pool->get());
  auto deliveries = store::NewPgDeliveryLogStore(pool->get());
  // Connections, their options and the publishing statements are ready
  // before the first request, not made on its path.
  if (absl::Status s = (*pool)->Warm(min_idle, absl::Now() + absl::Seconds(10));
      !s.ok()) {
    common::LogWarning("database pool: ", s.ToString(),
                       "; connections will open on demand");
  }
  api::WarmRenderer();

  auto registry = std::make_shared<prometheus::Registry>();
  metrics::ApiMetrics api_metrics(*registry, api::ApiMethodNames());
  const std::string metrics_addr =
      common::FlagOrEnv(absl::GetFlag(FLAGS_metrics_addr),
                        "WEBHOOKS_METRICS_ADDR", "127.0.0.1:9464");
  store::PgPool* pool_ptr = pool->get();
  // Set on SIGTERM: readiness fails from then on.
  std::atomic<bool> draining = false;
  absl::StatusOr<std::unique_ptr<metrics::HttpEndpoint>> endpoint =
      metrics::HttpEndpoint::Start(
          metrics_addr, registry.get(), [pool_ptr, min_idle, &draining] {
            if (draining.load()) {
              return absl::UnavailableError("shutting down");
            }
            // Refills the pool after the database restarted (it drops every
            // connection then); no wait when it is warm. Whether the pool
            // can grow is not readiness: the ping decides.
            const absl::Time deadline = absl::Now() + absl::Seconds(2);
            (void)pool_ptr->Warm(min_idle, deadline);
            return pool_ptr->Ping(deadline);
          });
  if (!endpoint.ok()) return Fail("metrics endpoint", endpoint.status());

  // SendTestEvent sends as the worker does: the same transport, address
  // policy and trust.
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
  transport_options.max_connections =
      api::SubscriptionServiceImpl::kMaxTestSends;
  transport_options.address_policy = *policy;
  transport_options.source_address = absl::GetFlag(FLAGS_source_address);
  absl::StatusOr<std::unique_ptr<delivery::HttpTransport>> transport =
      delivery::NewCurlHttpTransport(transport_options);
  if (!transport.ok()) return Fail("http transport", transport.status());

  api::ServerOptions options;
  options.metrics = &api_metrics;
  options.enable_reflection = absl::GetFlag(FLAGS_grpc_reflection);
  options.listen_address = common::FlagOrEnv(
      absl::GetFlag(FLAGS_grpc_addr), "WEBHOOKS_GRPC_ADDR", "127.0.0.1:50051");
  options.max_threads = absl::GetFlag(FLAGS_grpc_max_threads);
  options.max_receive_message_bytes =
      absl::GetFlag(FLAGS_grpc_max_message_bytes);
  options.subscription_service = *subscription_config;
  options.tls = *std::move(tls);
  const absl::string_view transport_security =
      !options.tls.has_value()             ? "plaintext"
      : options.tls->client_ca_pem.empty() ? "TLS"
                                           : "mutual TLS (client certificates "
                                             "required)";
  absl::StatusOr<std::unique_ptr<api::ApiServer>> server =
      api::ApiServer::Start(options, {.subscriptions = subscriptions.get(),
                                      .events = events.get(),
                                      .deliveries = deliveries.get(),
                                      .sealer = &*sealer,
                                      .tokens = &*tokens,
                                      .clock = common::Clock::Real(),
                                      .transport = transport->get()});
  if (!server.ok()) return Fail("gRPC server", server.status());
  // "(port N)" right after the address: tests and scripts read the port
  // from it.
  common::LogInfo("webhooks-api ", WEBHOOKS_VERSION, " serving gRPC on ",
                  options.listen_address, " (port ", (*server)->port(),
                  ") over ", transport_security, ", metrics on ", metrics_addr,
                  " (port ", (*endpoint)->port(), "), ", tokens->size(),
                  " API tokens");

  const int signal_number = signals.Wait();
  common::LogInfo("received signal ", signal_number, ", shutting down");
  // Readiness fails first and calls are still served, so that nothing is
  // refused while the pod leaves its Service; then the drain.
  draining = true;
  (*server)->StopServingHealth();
  absl::SleepFor(absl::GetFlag(FLAGS_shutdown_delay));
  common::LogInfo("refusing new calls; in-flight ones have ",
                  absl::FormatDuration(absl::GetFlag(FLAGS_shutdown_grace)));
  (*server)->Shutdown(absl::Now() + absl::GetFlag(FLAGS_shutdown_grace));
  (*server)->Wait();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  common::SetUpFlagsUsage(kUsage, "services/api/main.cc",
                          absl::StrCat("webhooks-api ", WEBHOOKS_VERSION));
  if (absl::Status status = common::SetFlagsFromEnvironment(
          "services/api/main.cc", {"database_url"});
      !status.ok()) {
    std::cerr << status.message() << "\n";
    return 2;
  }
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  const std::string command = args.size() > 1 ? args[1] : "serve";
  if (args.size() > 2) {
    std::cerr << "unexpected argument: " << args[2] << "\n" << kUsage << "\n";
    return 2;
  }
  if (command == "migrate") return RunMigrate();
  if (command == "cleanup") return RunCleanup();
  if (command == "reseal") return RunReseal();
  if (command == "serve") return RunServe();
  std::cerr << "unknown command: " << command << "\n" << kUsage << "\n";
  return 2;
}
