// webhooks-dev-receiver: an HTTPS endpoint for local development that prints
// every webhook it receives and answers 200, or the status a path asks for
// (/status/500 answers 500, /status/410 answers 410), so retries and
// disabling can be watched by hand. Not for production.
#include <httplib.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/common/main_support.h"
#include "lib/domain/custom_headers.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "Address to listen on");
ABSL_FLAG(int, port, 8443, "Port to listen on");
ABSL_FLAG(std::string, cert, "", "PEM certificate chain (required)");
ABSL_FLAG(std::string, key, "", "PEM private key (required)");

namespace {

// Header values that look like credentials are shown masked even here: the
// point is to see that they arrived, not to copy them from a terminal.
bool IsCredential(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  return lower == "authorization" || absl::StrContains(lower, "token") ||
         absl::StrContains(lower, "key") || absl::StrContains(lower, "secret");
}

}  // namespace

int main(int argc, char** argv) {
  webhooks::common::SetUpFlagsUsage(
      "webhooks-dev-receiver --cert=PEM --key=PEM [--port=8443]",
      "services/dev_receiver/main.cc", "webhooks-dev-receiver");
  absl::ParseCommandLine(argc, argv);
  const std::string cert = absl::GetFlag(FLAGS_cert);
  const std::string key = absl::GetFlag(FLAGS_key);
  if (cert.empty() || key.empty()) {
    std::cerr << "--cert and --key are required\n";
    return 2;
  }
  httplib::SSLServer server(cert.c_str(), key.c_str());
  if (!server.is_valid()) {
    std::cerr << "cannot load " << cert << " / " << key << "\n";
    return 1;
  }
  server.Post(R"(/.*)", [](const httplib::Request& request,
                           httplib::Response& response) {
    int status = 200;
    if (absl::StartsWith(request.path, "/status/")) {
      if (!absl::SimpleAtoi(request.path.substr(8), &status) || status < 200 ||
          status > 599) {
        status = 200;
      }
    }
    std::string out = absl::StrCat(
        "\n--- ",
        absl::FormatTime("%H:%M:%E3S", absl::Now(), absl::LocalTimeZone()),
        " POST ", request.path, " -> ", status, "\n");
    for (const auto& [name, value] : request.headers) {
      if (name == "REMOTE_ADDR" || name == "REMOTE_PORT" ||
          name == "LOCAL_ADDR" || name == "LOCAL_PORT") {
        continue;
      }
      absl::StrAppend(
          &out, "  ", name, ": ",
          IsCredential(name) ? webhooks::domain::MaskSecret(value) : value,
          "\n");
    }
    absl::StrAppend(&out, "  ", request.body, "\n");
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
    response.status = status;
    response.set_content("ok\n", "text/plain");
  });
  // Bound first, so that "listening" is only ever printed when it is true.
  if (!server.bind_to_port(absl::GetFlag(FLAGS_host).c_str(),
                           absl::GetFlag(FLAGS_port))) {
    std::cerr << "webhooks-dev-receiver: cannot listen on "
              << absl::GetFlag(FLAGS_host) << ":" << absl::GetFlag(FLAGS_port)
              << " (in use? choose another with --port)\n";
    return 1;
  }
  std::printf(
      "webhooks-dev-receiver listening on https://%s:%d/ (POST /status/500 "
      "answers 500)\n",
      absl::GetFlag(FLAGS_host).c_str(), absl::GetFlag(FLAGS_port));
  std::fflush(stdout);
  return server.listen_after_bind() ? 0 : 1;
}
