// webhooksctl: the operator's command-line client of the webhooks.v1 gRPC API.
// Sends one JSON request to one method and prints the response as JSON.
//
// The API token is a secret, so it comes from WEBHOOKS_API_TOKEN or the file
// WEBHOOKS_API_TOKEN_FILE names, never from a flag, which `ps` would show.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/struct.pb.h>
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
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "lib/common/env.h"
#include "lib/common/main_support.h"
#include "services/ctl/human_format.h"
#include "webhooks/v1/delivery_service.grpc.pb.h"
#include "webhooks/v1/event_service.grpc.pb.h"
#include "webhooks/v1/subscription_service.grpc.pb.h"

ABSL_FLAG(std::string, addr, "",
          "API address host:port. Env WEBHOOKS_API_ADDR. Default "
          "127.0.0.1:50051");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10), "Deadline of the call");
ABSL_FLAG(bool, json, false,
          "Subcommands: print the response as JSON instead of a table");
ABSL_FLAG(bool, tls, false,
          "Connect with TLS (the system's CAs, or --ca_file)");
ABSL_FLAG(std::string, ca_file, "",
          "With --tls: PEM file of the CAs to trust for the API");
ABSL_FLAG(std::string, cert_file, "",
          "With --tls: PEM file of a client certificate (chain) to present, "
          "for an API that requires one (mutual TLS); needs --key_file");
ABSL_FLAG(std::string, key_file, "",
          "With --tls: PEM file of the private key of --cert_file");
ABSL_FLAG(std::string, tenant, "",
          "Subcommands: the tenant_id. Env WEBHOOKS_TENANT");
ABSL_FLAG(std::string, url, "", "subscriptions create|update: target_url");
ABSL_FLAG(std::string, name, "", "subscriptions create|update: name");
ABSL_FLAG(std::string, types, "",
          "subscriptions create|update: event types, comma-separated");
ABSL_FLAG(std::string, headers_file, "",
          "subscriptions create|update: custom headers, one 'Name: value' "
          "per line (a file, as the values are secrets; '-' for stdin)");
ABSL_FLAG(std::string, enabled, "", "subscriptions update: true or false");
ABSL_FLAG(int, max_in_flight, -1,
          "subscriptions create|update: max_in_flight (0: server default)");
ABSL_FLAG(std::string, grace, "",
          "subscriptions rotate-secret: grace period, e.g. 24h (default 24h)");
ABSL_FLAG(std::string, type, "",
          "subscriptions test, deliveries list: event type");
ABSL_FLAG(std::string, subscription, "",
          "deliveries list|recover|discard: subscription id");
ABSL_FLAG(std::string, event, "", "deliveries list: event id");
ABSL_FLAG(std::string, state, "",
          "deliveries list: pending, in_flight, held, delivered, failed or "
          "discarded");
ABSL_FLAG(std::string, since, "",
          "deliveries list|recover: created at or after (RFC 3339)");
ABSL_FLAG(std::string, until, "",
          "deliveries list|recover: created before (RFC 3339)");
ABSL_FLAG(std::string, before, "",
          "deliveries discard: held deliveries created before (RFC 3339)");
ABSL_FLAG(int, page_size, 0, "list subcommands: rows per page");
ABSL_FLAG(std::string, page_token, "",
          "list subcommands: next_page_token of the previous page");
ABSL_FLAG(std::string, file, "-",
          "events publish: the event as JSON, from this file ('-': stdin)");
ABSL_FLAG(std::string, key, "", "events publish: idempotency_key");
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
  // Print the response with HumanFormat instead of JSON.
  bool human = false;
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
        if (in.human) {
          std::cout << ctl::HumanFormat(response) << std::flush;
          return 0;
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

std::string SubcommandList();  // below, with the subcommands

std::string Usage() {
  return absl::StrCat(
      "webhooksctl [flags] <Method> [<json request> | -]\n"
      "Calls one method of the webhooks.v1 API and prints the response as "
      "JSON.\nThe request is JSON with proto (snake_case) or lowerCamel field "
      "names, from the\nargument, or from stdin when it is '-' or absent.\n\n"
      "Methods (also in full: webhooks.v1.SubscriptionService/"
      "CreateSubscription):\n",
      MethodList(),
      "\nOr, with requests made from flags and tables printed (--json for "
      "JSON):\n  webhooksctl <noun> <verb> [id] --tenant=T [flags]; "
      "'webhooksctl <noun> --help' for more\n",
      SubcommandList(),
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

// --- Subcommands: "webhooksctl <noun> <verb> [id] [--flags]" -------------
//
// Each builds its method's request from flags and arguments (as a JSON
// object, through protobuf's Struct, so every value is escaped) and prints a
// table unless --json.

using Fields = google::protobuf::Map<std::string, google::protobuf::Value>;

void Set(Fields& f, const std::string& key, const std::string& value) {
  f[key].set_string_value(value);
}

// Custom headers from a file (or stdin): one "Name: value" per line; blank
// lines and lines starting with '#' skipped.
absl::StatusOr<google::protobuf::Struct> HeadersFrom(const std::string& path) {
  std::string text;
  if (path == "-") {
    text = std::string(std::istreambuf_iterator<char>(std::cin),
                       std::istreambuf_iterator<char>());
  } else {
    absl::StatusOr<std::string> contents = common::ReadFile(path);
    if (!contents.ok()) return contents.status();
    text = *std::move(contents);
  }
  google::protobuf::Struct headers;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripTrailingAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos || colon == 0) {
      // The line may hold a secret: only its number is shown.
      return absl::InvalidArgumentError(absl::StrCat(
          "--headers_file: line ", line_number, " is not 'Name: value'"));
    }
    (*headers.mutable_fields())[std::string(line.substr(0, colon))]
        .set_string_value(std::string(
            absl::StripLeadingAsciiWhitespace(line.substr(colon + 1))));
  }
  return headers;
}

absl::Status NeedId(const std::vector<std::string>& args, const char* what) {
  if (args.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected one argument: the ", what));
  }
  return absl::OkStatus();
}

void SetTypes(google::protobuf::Struct& s) {
  google::protobuf::ListValue* list =
      (*s.mutable_fields())["event_types"].mutable_list_value();
  for (absl::string_view t :
       absl::StrSplit(absl::GetFlag(FLAGS_types), ',', absl::SkipEmpty())) {
    list->add_values()->set_string_value(std::string(t));
  }
}

void SetPage(Fields& f) {
  if (absl::GetFlag(FLAGS_page_size) > 0)
    f["page_size"].set_number_value(absl::GetFlag(FLAGS_page_size));
  if (!absl::GetFlag(FLAGS_page_token).empty())
    Set(f, "page_token", absl::GetFlag(FLAGS_page_token));
}

struct Subcommand {
  std::string noun, verb, method;
  std::string usage;  // arguments and flags, for --help
  // Fills the request's fields (tenant_id is set already).
  std::function<absl::Status(const std::vector<std::string>& args, Fields& f)>
      build;
};

const std::vector<Subcommand>& Subcommands() {
  static const auto* const commands = new std::vector<Subcommand>{
      {"subscriptions", "create", "CreateSubscription",
       "--url=URL --types=a,b [--name=N] [--headers_file=F] "
       "[--max_in_flight=N]",
       [](const std::vector<std::string>& args, Fields& f) -> absl::Status {
         if (!args.empty()) return absl::InvalidArgumentError("no arguments");
         google::protobuf::Struct s;
         Set(*s.mutable_fields(), "target_url", absl::GetFlag(FLAGS_url));
         Set(*s.mutable_fields(), "name", absl::GetFlag(FLAGS_name));
         SetTypes(s);
         if (absl::GetFlag(FLAGS_max_in_flight) >= 0) {
           (*s.mutable_fields())["max_in_flight"].set_number_value(
               absl::GetFlag(FLAGS_max_in_flight));
         }
         if (!absl::GetFlag(FLAGS_headers_file).empty()) {
           absl::StatusOr<google::protobuf::Struct> h =
               HeadersFrom(absl::GetFlag(FLAGS_headers_file));
           if (!h.ok()) return h.status();
           *(*s.mutable_fields())["custom_headers"].mutable_struct_value() = *h;
         }
         *f["subscription"].mutable_struct_value() = s;
         return absl::OkStatus();
       }},
      {"subscriptions", "get", "GetSubscription", "<subscription id>",
       [](const std::vector<std::string>& args, Fields& f) -> absl::Status {
         if (absl::Status s = NeedId(args, "subscription id"); !s.ok())
           return s;
         Set(f, "id", args[0]);
         return absl::OkStatus();
       }},
      {"subscriptions", "list", "ListSubscriptions",
       "[--page_size=N] [--page_token=T]",
       [](const std::vector<std::string>& args, Fields& f) -> absl::Status {
         if (!args.empty()) return absl::InvalidArgumentError("no arguments");
         SetPage(f);
         return absl::OkStatus();
       }},
      {"subscriptions", "update", "UpdateSubscription",
       "<subscription id> [--name=N] [--url=URL] [--types=a,b] "
       "[--headers_file=F (replaces all)] [--enabled=true|false] "
       "[--max_in_flight=N]",
       [](const std::vector<std::string>& args, Fields& f) -> absl::Status {
         if (absl::Status s = NeedId(args, "subscription id"); !s.ok())
           return s;
         google::protobuf::Struct s;
         std::vector<std::string> mask;
         Set(*s.mutable_fields(), "id", args[0]);
         if (!absl::GetFlag(FLAGS_name).empty()) {
           Set(*s.mutable_fields(), "name", absl::GetFlag(FLAGS_name));
           mask.emplace_back("name");
         }
         if (!absl::GetFlag(FLAGS_url).empty()) {
           Set(*s.mutable_fields(), "target_url", absl::GetFlag(FLAGS_url));
           mask.emplace_back("target_url");
         }
         if (!absl::GetFlag(FLAGS_types).empty()) {
           SetTypes(s);
           mask.emplace_back("event_types");
         }
         if (!absl::GetFlag(FLAGS_headers_file).empty()) {
           absl::StatusOr<google::protobuf::Struct> h =
               HeadersFrom(absl::GetFlag(FLAGS_headers_file));
           if (!h.ok()) return h.status();
           *(*s.mutable_fields())["custom_headers"].mutable_struct_value() = *h;
           mask.emplace_back("custom_headers");
         }
         const std::string enabled = absl::GetFlag(FLAGS_enabled);
         if (!enabled.empty()) {
           if (enabled != "true" && enabled != "false") {
             return absl::InvalidArgumentError(
                 "--enabled: must be true or false");
           }
           (*s.mutable_fields())["enabled"].set_bool_value(enabled == "true");
           mask.emplace_back("enabled");
         }
         if (absl::GetFlag(FLAGS_max_in_flight) >= 0) {
           (*s.mutable_fields())["max_in_flight"].set_number_value(
               absl::GetFlag(FLAGS_max_in_flight));
           mask.emplace_back("max_in_flight");
         }
         if (mask.empty()) {
           return absl::InvalidArgumentError(
               "nothing to update: give at least one of --name, --url, "
               "--types, --headers_file, --enabled, --max_in_flight");
         }
         *f["subscription"].mutable_struct_value() = s;
         Set(f, "update_mask", absl::StrJoin(mask, ","));
         return absl::OkStatus();
       }},
      {"subscriptions", "delete", "DeleteSubscription", "<subscription id>",
       [](const std::vector<std::string>& args, Fields& f) -> absl::Status {
         if (absl::Status s = NeedId(args, "subscription id"); !s.ok())
           return s;
         Set(f, "id", args[0]);
         return absl::OkStatus();
       }},
      {"subscriptions", "rotate-secret", "RotateSigningSecret",
       "<subscription id> [--grace=24h]",
       [](const std::vector<std::string>& args, Fields& f) -> absl::Status {
         if (absl::Status s = NeedId(args, "subscription id"); !s.ok())
           return s;
         Set(f, "id", args[0]);
         if (!absl::GetFlag(FLAGS_grace).empty()) {
           absl::Duration grace;
           if (!absl::ParseDuration(absl::GetFlag(FLAGS_grace), &grace)) {
             return absl::InvalidArgumentError(
                 "--grace: not a duration (e.g. 24h, 90m)");
           }
           Set(f, "grace_period",
               absl::StrCat(absl::ToInt64Seconds(grace), "s"));
         }
         return absl::OkStatus();
       }},
      {"subscriptions", "test", "SendTestEvent",
       "<subscription id> [--type=engagement_dispatched]",
       [](const std::vector<std::string>& args, Fields& f) -> absl::Status {
         if (absl::Status s = NeedId(args, "subscription id"); !s.ok())
           return s;
         Set(f, "id", args[0]);
         Set(f, "event_type", absl::GetFlag(FLAGS_type));
         return absl::OkStatus();
       }},
      {"subscriptions", "stats", "GetSubscriptionStats", "<subscription id>",
       [](const std::vector<std::string>& args, Fields& f) -> absl::Status {
         if (absl::Status s = NeedId(args, "subscription id"); !s.ok())
           return s;
         Set(f, "id", args[0]);
         return absl::OkStatus();
       }},
      {"events", "publish", "PublishEvent",
       "[--file=event.json | < event.json] [--key=K]",
       [](const std::vector<std::string>& args, Fields& f) -> absl::Status {
         if (!args.empty()) return absl::InvalidArgumentError("no arguments");
         std::string text;
         const std::string path = absl::GetFlag(FLAGS_file);
         if (path == "-") {
           text = ReadStdin();
         } else {
           absl::StatusOr<std::string> contents = common::ReadFile(path);
           if (!contents.ok()) return contents.status();
           text = *std::move(contents);
         }
         google::protobuf::Value event;
         if (!google::protobuf::util::JsonStringToMessage(text, &event).ok() ||
             !event.has_struct_value()) {
           return absl::InvalidArgumentError(
               "--file: must hold one JSON object, the event");
         }
         f["event"] = event;
         if (!absl::GetFlag(FLAGS_key).empty())
           Set(f, "idempotency_key", absl::GetFlag(FLAGS_key));
         return absl::OkStatus();
       }},
      {"events", "get", "GetEvent", "<event id> [--body_only]",
       [](const std::vector<std::string>& args, Fields& f) -> absl::Status {
         if (absl::Status s = NeedId(args, "event id"); !s.ok()) return s;
         Set(f, "event_id", args[0]);
         return absl::OkStatus();
       }},
      {"deliveries", "list", "ListDeliveries",
       "[--subscription=S] [--event=E] [--state=failed] [--type=T] "
       "[--since=T] [--until=T] [--page_size=N] [--page_token=T]",
       [](const std::vector<std::string>& args, Fields& f) -> absl::Status {
         if (!args.empty()) return absl::InvalidArgumentError("no arguments");
         if (!absl::GetFlag(FLAGS_subscription).empty())
           Set(f, "subscription_id", absl::GetFlag(FLAGS_subscription));
         if (!absl::GetFlag(FLAGS_event).empty())
           Set(f, "event_id", absl::GetFlag(FLAGS_event));
         if (!absl::GetFlag(FLAGS_state).empty()) {
           Set(f, "state",
               absl::StrCat("DELIVERY_STATE_",
                            absl::AsciiStrToUpper(absl::GetFlag(FLAGS_state))));
         }
         if (!absl::GetFlag(FLAGS_type).empty())
           Set(f, "event_type", absl::GetFlag(FLAGS_type));
         if (!absl::GetFlag(FLAGS_since).empty())
           Set(f, "create_time_after", absl::GetFlag(FLAGS_since));
         if (!absl::GetFlag(FLAGS_until).empty())
           Set(f, "create_time_before", absl::GetFlag(FLAGS_until));
         SetPage(f);
         return absl::OkStatus();
       }},
      {"deliveries", "get", "GetDelivery", "<delivery id>",
       [](const std::vector<std::string>& args, Fields& f) -> absl::Status {
         if (absl::Status s = NeedId(args, "delivery id"); !s.ok()) return s;
         Set(f, "id", args[0]);
         return absl::OkStatus();
       }},
      {"deliveries", "retry", "RetryDelivery", "<delivery id>",
       [](const std::vector<std::string>& args, Fields& f) -> absl::Status {
         if (absl::Status s = NeedId(args, "delivery id"); !s.ok()) return s;
         Set(f, "id", args[0]);
         return absl::OkStatus();
       }},
      {"deliveries", "recover", "RecoverFailedDeliveries",
       "--subscription=S --since=T [--until=T]",
       [](const std::vector<std::string>& args, Fields& f) -> absl::Status {
         if (!args.empty()) return absl::InvalidArgumentError("no arguments");
         Set(f, "subscription_id", absl::GetFlag(FLAGS_subscription));
         if (!absl::GetFlag(FLAGS_since).empty())
           Set(f, "since", absl::GetFlag(FLAGS_since));
         if (!absl::GetFlag(FLAGS_until).empty())
           Set(f, "until", absl::GetFlag(FLAGS_until));
         return absl::OkStatus();
       }},
      {"deliveries", "discard", "DiscardHeldDeliveries",
       "--subscription=S [--before=T]",
       [](const std::vector<std::string>& args, Fields& f) -> absl::Status {
         if (!args.empty()) return absl::InvalidArgumentError("no arguments");
         Set(f, "subscription_id", absl::GetFlag(FLAGS_subscription));
         if (!absl::GetFlag(FLAGS_before).empty())
           Set(f, "before", absl::GetFlag(FLAGS_before));
         return absl::OkStatus();
       }},
  };
  return *commands;
}

bool IsNoun(absl::string_view word) {
  for (const Subcommand& c : Subcommands()) {
    if (c.noun == word) return true;
  }
  return false;
}

// Help for "webhooksctl <noun>" (all its verbs) or "<noun> <verb>".
std::string SubcommandHelp(absl::string_view noun, absl::string_view verb) {
  std::string out;
  for (const Subcommand& c : Subcommands()) {
    if (c.noun != noun || (!verb.empty() && c.verb != verb)) continue;
    absl::StrAppend(&out, "  webhooksctl ", c.noun, " ", c.verb, " ", c.usage,
                    "\n      (", c.method, ")\n");
  }
  if (out.empty()) return "";
  return absl::StrCat(
      "Usage:\n", out,
      "Every subcommand takes --tenant (or WEBHOOKS_TENANT), --json (JSON "
      "instead of a table),\n--addr, --tls, --ca_file, --cert_file, --key_file "
      "and --timeout; the token comes\nfrom WEBHOOKS_API_TOKEN or "
      "WEBHOOKS_API_TOKEN_FILE. Exit status: 0 done, 1 the call\nfailed, 2 bad "
      "arguments.\n");
}

std::string SubcommandList() {
  std::string out;
  std::string noun;
  for (const Subcommand& c : Subcommands()) {
    if (c.noun != noun) {
      if (!noun.empty()) out += "\n";
      absl::StrAppend(&out, "  ", c.noun, ":");
      noun = c.noun;
    }
    absl::StrAppend(&out, " ", c.verb);
  }
  return out + "\n";
}

int UsageError(absl::string_view message) {
  std::cerr << "webhooksctl: " << message << "\n";
  return kUsageError;
}

std::shared_ptr<grpc::ChannelCredentials> Credentials(std::string* error) {
  const std::string ca_file = absl::GetFlag(FLAGS_ca_file);
  const std::string cert_file = absl::GetFlag(FLAGS_cert_file);
  const std::string key_file = absl::GetFlag(FLAGS_key_file);
  if (!absl::GetFlag(FLAGS_tls)) {
    // Refused rather than ignored: a client certificate sent in plaintext
    // would not be sent at all, and the failure would look like the
    // server's.
    for (const auto& [flag, value] : {std::pair("--ca_file", &ca_file),
                                      std::pair("--cert_file", &cert_file),
                                      std::pair("--key_file", &key_file)}) {
      if (!value->empty()) {
        *error = absl::StrCat(flag, " needs --tls");
        return nullptr;
      }
    }
    return grpc::InsecureChannelCredentials();
  }
  if (cert_file.empty() != key_file.empty()) {
    *error = cert_file.empty() ? "--key_file needs --cert_file"
                               : "--cert_file needs --key_file";
    return nullptr;
  }
  // Errors name the flag and the path, never the contents (the key).
  auto read = [error](absl::string_view flag, const std::string& path,
                      std::string* pem) {
    absl::StatusOr<std::string> contents = common::ReadFile(path);
    if (!contents.ok()) {
      *error = absl::StrCat(flag, ": ", contents.status().message());
      return false;
    }
    *pem = *std::move(contents);
    return true;
  };
  grpc::SslCredentialsOptions options;
  if (!ca_file.empty() &&
      !read("--ca_file", ca_file, &options.pem_root_certs)) {
    return nullptr;
  }
  if (!cert_file.empty() &&
      (!read("--cert_file", cert_file, &options.pem_cert_chain) ||
       !read("--key_file", key_file, &options.pem_private_key))) {
    return nullptr;
  }
  return grpc::SslCredentials(options);
}

std::shared_ptr<grpc::Channel> Channel(std::string* error) {
  grpc::ChannelArguments channel_args;
  channel_args.SetUserAgentPrefix(
      absl::StrCat("webhooksctl/", WEBHOOKS_VERSION));
  // Stored event bodies may be as large as the API accepts (16 MiB by
  // default), beyond gRPC's 4 MiB default.
  channel_args.SetMaxReceiveMessageSize(-1);
  std::shared_ptr<grpc::ChannelCredentials> credentials = Credentials(error);
  if (!error->empty()) return nullptr;
  return grpc::CreateCustomChannel(
      common::FlagOrEnv(absl::GetFlag(FLAGS_addr), "WEBHOOKS_API_ADDR",
                        "127.0.0.1:50051"),
      credentials, channel_args);
}

// "webhooksctl <noun> <verb> [args]": the request from flags, a table out.
int RunSubcommand(const std::vector<char*>& args) {
  const std::string noun = args[1];
  if (args.size() < 3) {
    return UsageError(
        absl::StrCat("which ", noun, " command?\n", SubcommandHelp(noun, "")));
  }
  const std::string verb = args[2];
  const Subcommand* command = nullptr;
  for (const Subcommand& c : Subcommands()) {
    if (c.noun == noun && c.verb == verb) command = &c;
  }
  if (command == nullptr) {
    return UsageError(absl::StrCat("unknown command: ", noun, " ", verb, "\n",
                                   SubcommandHelp(noun, "")));
  }
  const std::string tenant =
      common::FlagOrEnv(absl::GetFlag(FLAGS_tenant), "WEBHOOKS_TENANT", "");
  if (tenant.empty())
    return UsageError("--tenant (or WEBHOOKS_TENANT) is required");
  google::protobuf::Struct request;
  Fields& fields = *request.mutable_fields();
  Set(fields, "tenant_id", tenant);
  const std::vector<std::string> rest(args.begin() + 3, args.end());
  if (absl::Status s = command->build(rest, fields); !s.ok()) {
    return UsageError(absl::StrCat(noun, " ", verb, ": ", s.message(), "\n",
                                   SubcommandHelp(noun, verb)));
  }
  const Method* method = FindMethod(command->method);
  Invocation in;
  in.human = !absl::GetFlag(FLAGS_json);
  in.body_only = absl::GetFlag(FLAGS_body_only);
  if (in.body_only && command->method != "GetEvent") {
    return UsageError("--body_only applies only to events get");
  }
  in.timeout = absl::GetFlag(FLAGS_timeout);
  absl::StatusOr<std::string> token = ApiToken();
  if (!token.ok()) {
    return UsageError(absl::StrCat("API token: ", token.status().message()));
  }
  in.token = *std::move(token);
  if (!google::protobuf::util::MessageToJsonString(request, &in.request_json)
           .ok()) {
    return UsageError("internal error: cannot encode the request");
  }
  std::string error;
  in.channel = Channel(&error);
  if (!error.empty()) return UsageError(error);
  return method->run(in);
}

}  // namespace

int main(int argc, char** argv) {
  // Help for one level of subcommands, before the flag library answers
  // --help with every flag.
  for (int i = 1; i < argc; ++i) {
    const absl::string_view a = argv[i];
    if (a != "--help" && a != "-h" && a != "-help") continue;
    std::vector<std::string> words;
    for (int k = 1; k < argc && words.size() < 2; ++k) {
      if (argv[k][0] != '-') words.emplace_back(argv[k]);
    }
    if (!words.empty() && IsNoun(words[0])) {
      const std::string help =
          SubcommandHelp(words[0], words.size() > 1 ? words[1] : "");
      if (!help.empty()) {
        std::cout << help;
        return 0;
      }
    }
    break;
  }
  common::SetUpFlagsUsage(Usage(), "services/ctl/main.cc",
                          absl::StrCat("webhooksctl ", WEBHOOKS_VERSION));
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() >= 2 && IsNoun(args[1])) return RunSubcommand(args);

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

  std::string error;
  in.channel = Channel(&error);
  if (!error.empty()) return UsageError(error);
  return method->run(in);
}
