// webhooksctl: the operator's command-line client of the webhooks.v1 gRPC API.
// Sends one JSON request to one method and prints the response as JSON.
//
// The API token is a secret, so it comes from WEBHOOKS_API_TOKEN or the file
// WEBHOOKS_API_TOKEN_FILE names, never from a flag, which `ps` would show.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "lib/common/env.h"
#include "lib/common/main_support.h"
#include "webhooks/v1/delivery_service.grpc.pb.h"
#include "webhooks/v1/event_service.grpc.pb.h"
#include "webhooks/v1/subscription_service.grpc.pb.h"

ABSL_FLAG(std::string, addr, "",
          "API address host:port. Env WEBHOOKS_API_ADDR. Default "
          "127.0.0.1:50051");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10), "Deadline of the call");
ABSL_FLAG(bool, body_only, false,
          "GetEvent only: print just the stored body, the exact bytes "
          "delivered (no newline added)");

namespace {

using namespace webhooks;  // NOLINT: a main file

constexpr int kCallFailed = 1;
constexpr int kUsageError = 2;

// What one call needs besides its method.
struct Invocation {
  std::shared_ptr<grpc::Channel> channel;
  // Empty: no authorization metadata is sent.
  std::string token;
  absl::Duration timeout;
  std::string request_json;
  bool body_only = false;
};

struct Method {
  std::string service;  // "webhooks.v1.SubscriptionService"
  std::string name;     // "CreateSubscription"
  // Parses the request, calls, prints; returns the exit code.
  std::function<int(const Invocation&)> run;
};

bool ParseRequest(const std::string& json, google::protobuf::Message& request) {
  const auto status =
      google::protobuf::util::JsonStringToMessage(json, &request);
  if (status.ok()) return true;
  std::cerr << "webhooksctl: bad request JSON for " << request.GetTypeName()
            << ": " << std::string(status.message()) << "\n";
  return false;
}

int PrintResponse(const google::protobuf::Message& response) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  // Operators should see "enabled": false and "deliveries_created": 0, not
  // an absent field.
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  const auto status =
      google::protobuf::util::MessageToJsonString(response, &json, options);
  if (!status.ok()) {
    std::cerr << "webhooksctl: cannot print the response as JSON: "
              << std::string(status.message()) << "\n";
    return kCallFailed;
  }
  if (!absl::EndsWith(json, "\n")) json += '\n';
  std::cout << json;
  return 0;
}

int ReportCallError(const Invocation& in, const grpc::Status& status) {
  // gRPC's codes are the canonical codes, which absl can name.
  std::cerr << absl::StatusCodeToString(
                   static_cast<absl::StatusCode>(status.error_code()))
            << ": " << status.error_message() << "\n";
  if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED &&
      in.token.empty()) {
    std::cerr << "(no API token: set WEBHOOKS_API_TOKEN or "
                 "WEBHOOKS_API_TOKEN_FILE)\n";
  }
  return kCallFailed;
}

// A table entry for the stub method `rpc` of `Service`, named `name`. Request
// and response types come from `rpc`.
template <typename Service, typename Request, typename Response>
Method Rpc(std::string name,
           grpc::Status (Service::Stub::*rpc)(grpc::ClientContext*,
                                              const Request&, Response*)) {
  const std::string service = Service::service_full_name();
  // The name is written out beside the member pointer; check they agree.
  const google::protobuf::MethodDescriptor* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
          absl::StrCat(service, ".", name));
  if (descriptor == nullptr ||
      descriptor->input_type() != Request::descriptor() ||
      descriptor->output_type() != Response::descriptor()) {
    std::cerr << "internal error: no method " << service << "/" << name
              << " with these types\n";
    std::abort();
  }
  return Method{
      service, std::move(name), [rpc](const Invocation& in) {
        Request request;
        if (!ParseRequest(in.request_json, request)) {
          return kUsageError;
        }
        auto stub = Service::NewStub(in.channel);
        grpc::ClientContext context;
        context.set_deadline(absl::ToChronoTime(absl::Now() + in.timeout));
        if (!in.token.empty()) {
          context.AddMetadata("authorization",
                              absl::StrCat("Bearer ", in.token));
        }
        Response response;
        const grpc::Status status =
            ((*stub).*rpc)(&context, request, &response);
        if (!status.ok()) return ReportCallError(in, status);
        if constexpr (std::is_same_v<Response, v1::StoredEvent>) {
          if (in.body_only) {
            std::cout << response.body() << std::flush;
            return 0;
          }
        }
        return PrintResponse(response);
      }};
}

const std::vector<Method>& Methods() {
  using Subscriptions = v1::SubscriptionService;
  using Events = v1::EventService;
  using Deliveries = v1::DeliveryService;
  static const auto* const methods = new std::vector<Method>{
      Rpc<Subscriptions>("CreateSubscription",
                         &Subscriptions::Stub::CreateSubscription),
      Rpc<Subscriptions>("GetSubscription",
                         &Subscriptions::Stub::GetSubscription),
      Rpc<Subscriptions>("ListSubscriptions",
                         &Subscriptions::Stub::ListSubscriptions),
      Rpc<Subscriptions>("UpdateSubscription",
                         &Subscriptions::Stub::UpdateSubscription),
      Rpc<Subscriptions>("DeleteSubscription",
                         &Subscriptions::Stub::DeleteSubscription),
      Rpc<Subscriptions>("RotateSigningSecret",
                         &Subscriptions::Stub::RotateSigningSecret),
      Rpc<Subscriptions>("GetSubscriptionStats",
                         &Subscriptions::Stub::GetSubscriptionStats),
      Rpc<Subscriptions>("SendTestEvent", &Subscriptions::Stub::SendTestEvent),
      Rpc<Events>("PublishEvent", &Events::Stub::PublishEvent),
      Rpc<Events>("PublishEvents", &Events::Stub::PublishEvents),
      Rpc<Events>("GetEvent", &Events::Stub::GetEvent),
      Rpc<Deliveries>("ListDeliveries", &Deliveries::Stub::ListDeliveries),
      Rpc<Deliveries>("GetDelivery", &Deliveries::Stub::GetDelivery),
      Rpc<Deliveries>("RetryDelivery", &Deliveries::Stub::RetryDelivery),
      Rpc<Deliveries>("RecoverFailedDeliveries",
                      &Deliveries::Stub::RecoverFailedDeliveries),
      Rpc<Deliveries>("DiscardHeldDeliveries",
                      &Deliveries::Stub::DiscardHeldDeliveries),
  };
  return *methods;
}

// `arg` is a method's name, or its full name "service/name" (with or without
// the leading '/' of a gRPC path).
const Method* FindMethod(absl::string_view arg) {
  absl::ConsumePrefix(&arg, "/");
  for (const Method& method : Methods()) {
    if (arg == method.name ||
        arg == absl::StrCat(method.service, "/", method.name)) {
      return &method;
    }
  }
  return nullptr;
}

std::string MethodList() {
  std::string list;
  for (const Method& method : Methods()) {
    const size_t pad = method.name.size() < 25 ? 25 - method.name.size() : 1;
    absl::StrAppend(&list, "  ", method.name, std::string(pad, ' '),
                    method.service, "\n");
  }
  return list;
}

std::string Usage() {
  return absl::StrCat(
      "webhooksctl [flags] <Method> [<json request> | -]\n"
      "Calls one method of the webhooks.v1 API and prints the response as "
      "JSON.\nThe request is JSON with proto (snake_case) or lowerCamel field "
      "names, from the\nargument, or from stdin when it is '-' or absent.\n\n"
      "Methods (also in full: webhooks.v1.SubscriptionService/"
      "CreateSubscription):\n",
      MethodList(),
      "\nEnvironment: WEBHOOKS_API_TOKEN, or WEBHOOKS_API_TOKEN_FILE (a file "
      "whose first\nline is the token), sent as 'authorization: Bearer "
      "<token>'; WEBHOOKS_API_ADDR.\n"
      "Exit status: 0 done; 1 the call failed (prints '<CODE>: <message>'); 2 "
      "bad\narguments, request JSON or token file.\n\n"
      "Example:\n"
      "  export WEBHOOKS_API_TOKEN=$(awk '{print $2}' .local/api_tokens)\n"
      "  webhooksctl CreateSubscription '{\"tenant_id\": \"demo\", "
      "\"subscription\": {\"name\": \"demo\",\n"
      "    \"target_url\": \"https://example.com/hook\", \"event_types\": "
      "[\"engagement_dispatched\"]}}'\n"
      "  webhooksctl ListSubscriptions '{\"tenant_id\": \"demo\"}'\n"
      "  webhooksctl --body_only GetEvent '{\"tenant_id\": \"demo\", "
      "\"event_id\": \"evt_...\"}'");
}

// WEBHOOKS_API_TOKEN, else the first line of the file WEBHOOKS_API_TOKEN_FILE
// names, trimmed; "" when neither is set. Errors name the file, never the
// token.
absl::StatusOr<std::string> ApiToken() {
  const std::string from_env = common::FlagOrEnv("", "WEBHOOKS_API_TOKEN", "");
  if (!from_env.empty())
    return std::string(absl::StripAsciiWhitespace(from_env));
  const std::string file = common::FlagOrEnv("", "WEBHOOKS_API_TOKEN_FILE", "");
  if (file.empty()) return std::string();
  absl::StatusOr<std::string> contents = common::ReadFile(file);
  if (!contents.ok()) return contents.status();
  absl::string_view first_line = *contents;
  first_line = first_line.substr(0, first_line.find('\n'));
  std::string token(absl::StripAsciiWhitespace(first_line));
  if (token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the first line of ", file, " is empty"));
  }
  return token;
}

std::string ReadStdin() {
  if (isatty(STDIN_FILENO)) {
    std::cerr << "reading the request JSON from stdin (end with Ctrl-D)\n";
  }
  return std::string(std::istreambuf_iterator<char>(std::cin),
                     std::istreambuf_iterator<char>());
}

int UsageError(absl::string_view message) {
  std::cerr << "webhooksctl: " << message << "\n";
  return kUsageError;
}

}  // namespace

int main(int argc, char** argv) {
  common::SetUpFlagsUsage(Usage(), "services/ctl/main.cc",
                          absl::StrCat("webhooksctl ", WEBHOOKS_VERSION));
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);

  if (args.size() < 2) {
    return UsageError(
        absl::StrCat("no method given; see --help\nMethods:\n", MethodList()));
  }
  if (args.size() > 3) {
    return UsageError(
        absl::StrCat("unexpected argument: ", args[3],
                     " (quote the JSON request as one argument)"));
  }
  const Method* method = FindMethod(args[1]);
  if (method == nullptr) {
    return UsageError(absl::StrCat("unknown method: ", args[1], "\nMethods:\n",
                                   MethodList()));
  }

  Invocation in;
  in.body_only = absl::GetFlag(FLAGS_body_only);
  if (in.body_only && method->name != "GetEvent") {
    return UsageError("--body_only applies only to GetEvent");
  }
  in.timeout = absl::GetFlag(FLAGS_timeout);
  if (in.timeout <= absl::ZeroDuration()) {
    return UsageError("--timeout must be positive");
  }
  absl::StatusOr<std::string> token = ApiToken();
  if (!token.ok()) {
    return UsageError(absl::StrCat("API token: ", token.status().message()));
  }
  in.token = *std::move(token);
  const bool from_stdin = args.size() < 3 || absl::string_view(args[2]) == "-";
  in.request_json = from_stdin ? ReadStdin() : std::string(args[2]);

  grpc::ChannelArguments channel_args;
  channel_args.SetUserAgentPrefix(
      absl::StrCat("webhooksctl/", WEBHOOKS_VERSION));
  // Stored event bodies may be as large as the API accepts (16 MiB by
  // default), beyond gRPC's 4 MiB default.
  channel_args.SetMaxReceiveMessageSize(-1);
  in.channel = grpc::CreateCustomChannel(
      common::FlagOrEnv(absl::GetFlag(FLAGS_addr), "WEBHOOKS_API_ADDR",
                        "127.0.0.1:50051"),
      grpc::InsecureChannelCredentials(), channel_args);
  return method->run(in);
}
