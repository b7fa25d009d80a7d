#include <google/protobuf/util/time_util.h>

#include <map>
#include <memory>
#include <string>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "lib/common/echo.h"
#include "lib/common/grpc_status.h"
#include "lib/common/ids.h"
#include "lib/common/mutex.h"
#include "lib/common/status_macros.h"
#include "lib/common/utf8.h"
#include "lib/dispatch/request_builder.h"
#include "lib/domain/custom_headers.h"
#include "lib/domain/event_types.h"
#include "lib/domain/validation.h"
#include "lib/security/sealed_fields.h"
#include "lib/security/signing_secret.h"
#include "services/api/auth.h"
#include "services/api/event_codec.h"
#include "services/api/rpc_support.h"
#include "services/api/sample_events.h"
#include "services/api/services.h"

namespace webhooks::api {
namespace {

using common::ToGrpcStatus;
using google::protobuf::util::TimeUtil;

constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 500;
constexpr char kDisabledByApi[] = "disabled through the API";
constexpr char kUpdatablePaths[] =
    "name, target_url, event_types, custom_headers, custom_headers.<name>, "
    "enabled, max_in_flight";

std::string HeadersAad(absl::string_view id) {
  return security::SubscriptionFieldAad(id, security::kCustomHeadersField);
}
std::string SecretAad(absl::string_view id) {
  return security::SubscriptionFieldAad(id, security::kSigningSecretField);
}

domain::HeaderMap ToHeaderMap(
    const google::protobuf::Map<std::string, std::string>& map) {
  return domain::HeaderMap(map.begin(), map.end());
}

// Fills `out` from `record`, with header values masked.
absl::Status ToProto(const store::SubscriptionRecord& record,
                     const security::Sealer& sealer, v1::Subscription* out) {
  WEBHOOKS_ASSIGN_OR_RETURN(
      std::string encoded,
      sealer.Open(record.custom_headers_sealed, HeadersAad(record.id)));
  WEBHOOKS_ASSIGN_OR_RETURN(domain::HeaderMap headers,
                            domain::DecodeHeaders(encoded));
  out->set_id(record.id);
  out->set_tenant_id(record.tenant_id);
  out->set_name(record.name);
  out->set_target_url(record.target_url);
  for (const std::string& type : record.event_types) out->add_event_types(type);
  for (const auto& [name, value] : domain::MaskHeaders(headers)) {
    (*out->mutable_custom_headers())[name] = value;
  }
  out->set_enabled(record.enabled);
  out->set_disabled_reason(record.disabled_reason);
  out->set_max_in_flight(record.max_in_flight);
  if (record.previous_secret_expires_at > absl::Now()) {
    *out->mutable_previous_secret_expire_time() =
        TimeUtil::MicrosecondsToTimestamp(
            absl::ToUnixMicros(record.previous_secret_expires_at));
  }
  *out->mutable_create_time() =
      TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(record.create_time));
  *out->mutable_update_time() =
      TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(record.update_time));
  return absl::OkStatus();
}

// Page tokens are opaque to clients: base64url of "v1|<tenant>|<last id>".
// Binding the tenant stops a token from being replayed against another.
std::string EncodePageToken(absl::string_view tenant_id,
                            absl::string_view last_id) {
  return absl::WebSafeBase64Escape(
      absl::StrCat("v1|", tenant_id, "|", last_id));
}

absl::StatusOr<std::string> DecodePageToken(absl::string_view token,
                                            absl::string_view tenant_id) {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw)) {
    return absl::InvalidArgumentError(
        "page_token: is not a token this API issued");
  }
  std::vector<std::string> parts = absl::StrSplit(raw, absl::MaxSplits('|', 2));
  if (parts.size() != 3 || parts[0] != "v1") {
    return absl::InvalidArgumentError(
        "page_token: is not a token this API issued");
  }
  if (parts[1] != tenant_id) {
    return absl::InvalidArgumentError(
        "page_token: was issued for a different tenant_id");
  }
  return parts[2];
}

absl::Status ValidateSubscriptionFields(const v1::Subscription& s) {
  WEBHOOKS_RETURN_IF_ERROR(domain::ValidateSubscriptionName(s.name()));
  WEBHOOKS_RETURN_IF_ERROR(domain::ValidateTargetUrl(s.target_url()));
  WEBHOOKS_RETURN_IF_ERROR(domain::ValidateEventTypes(std::vector<std::string>(
      s.event_types().begin(), s.event_types().end())));
  return domain::ValidateCustomHeaders(ToHeaderMap(s.custom_headers()));
}

constexpr absl::string_view kHeaderPathPrefix = "custom_headers.";

// The stored header whose name equals `name` but for case, if any.
domain::HeaderMap::const_iterator FindHeader(const domain::HeaderMap& headers,
                                             absl::string_view name) {
  for (auto it = headers.begin(); it != headers.end(); ++it) {
    if (absl::EqualsIgnoreCase(it->first, name)) return it;
  }
  return headers.end();
}

// The headers an update leaves: `requested` whole (replace), or `stored`
// with each named header set to its value in `requested`, or removed when
// `requested` has none. Refuses a value that is the masked form of the
// stored value of that header (what a read returns): a client writing back
// what it read would otherwise store the mask as the secret.
absl::StatusOr<domain::HeaderMap> NextHeaders(
    const domain::HeaderMap& stored, const domain::HeaderMap& requested,
    bool replace, const std::vector<std::string>& names) {
  domain::HeaderMap next;
  if (replace) {
    next = requested;
  } else {
    next = stored;
    for (const std::string& name : names) {
      auto old = FindHeader(next, name);
      if (old != next.end()) next.erase(old);
      auto set = FindHeader(requested, name);
      if (set != requested.end()) next[set->first] = set->second;
    }
  }
  for (const auto& [name, value] : next) {
    auto before = FindHeader(stored, name);
    if (before != stored.end() && value != before->second &&
        value == domain::MaskSecret(before->second)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "subscription.custom_headers.", name,
          ": is the masked form of the stored value, as reads show it; send "
          "the value itself, or change single headers with update_mask "
          "custom_headers.<name>"));
    }
  }
  WEBHOOKS_RETURN_IF_ERROR(domain::ValidateCustomHeaders(next));
  return next;
}

absl::Status RequireId(absl::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError("id: is required");
  return absl::OkStatus();
}

std::string NewSubscriptionId(common::Clock& clock) {
  thread_local absl::BitGen rng;
  return common::NewId(common::kSubscriptionIdPrefix, clock.Now(), rng);
}

}  // namespace

grpc::Status SubscriptionServiceImpl::CreateSubscription(
    grpc::ServerContext* context, const v1::CreateSubscriptionRequest* request,
    v1::CreateSubscriptionResponse* response) {
  auto run = [&]() -> absl::Status {
    WEBHOOKS_RETURN_IF_ERROR(
        Authorize(*deps_.tokens, *context, request->tenant_id()));
    const v1::Subscription& s = request->subscription();
    if (!s.tenant_id().empty() && s.tenant_id() != request->tenant_id()) {
      return absl::InvalidArgumentError(
          "subscription.tenant_id: must be empty or equal to tenant_id");
    }
    WEBHOOKS_RETURN_IF_ERROR(ValidateSubscriptionFields(s));
    WEBHOOKS_ASSIGN_OR_RETURN(
        const int max_in_flight,
        domain::ResolveMaxInFlight(s.max_in_flight(),
                                   config_.default_max_in_flight,
                                   config_.max_in_flight_limit));

    const domain::HeaderMap headers = ToHeaderMap(s.custom_headers());
    store::SubscriptionRecord record;
    record.id = NewSubscriptionId(*deps_.clock);
    record.tenant_id = request->tenant_id();
    record.name = s.name();
    record.target_url = s.target_url();
    record.event_types.assign(s.event_types().begin(), s.event_types().end());
    const std::string secret = security::NewSigningSecret();
    WEBHOOKS_ASSIGN_OR_RETURN(record.custom_headers_sealed,
                              deps_.sealer->Seal(domain::EncodeHeaders(headers),
                                                 HeadersAad(record.id)));
    WEBHOOKS_ASSIGN_OR_RETURN(record.signing_secret_sealed,
                              deps_.sealer->Seal(secret, SecretAad(record.id)));
    record.enabled = !request->start_disabled();
    if (!record.enabled) record.disabled_reason = "created disabled";
    record.max_in_flight = max_in_flight;

    WEBHOOKS_ASSIGN_OR_RETURN(
        store::SubscriptionRecord stored,
        deps_.subscriptions->Create(record, Deadline(*context)));
    WEBHOOKS_RETURN_IF_ERROR(
        ToProto(stored, *deps_.sealer, response->mutable_subscription()));
    response->set_signing_secret(secret);
    return absl::OkStatus();
  };
  return ToGrpcStatus(run());
}

grpc::Status SubscriptionServiceImpl::GetSubscription(
    grpc::ServerContext* context, const v1::GetSubscriptionRequest* request,
    v1::Subscription* response) {
  auto run = [&]() -> absl::Status {
    WEBHOOKS_RETURN_IF_ERROR(
        Authorize(*deps_.tokens, *context, request->tenant_id()));
    WEBHOOKS_RETURN_IF_ERROR(RequireId(request->id()));
    WEBHOOKS_ASSIGN_OR_RETURN(
        store::SubscriptionRecord record,
        deps_.subscriptions->Get(request->tenant_id(), request->id(),
                                 Deadline(*context)));
    return ToProto(record, *deps_.sealer, response);
  };
  return ToGrpcStatus(run());
}

grpc::Status SubscriptionServiceImpl::ListSubscriptions(
    grpc::ServerContext* context, const v1::ListSubscriptionsRequest* request,
    v1::ListSubscriptionsResponse* response) {
  auto run = [&]() -> absl::Status {
    WEBHOOKS_RETURN_IF_ERROR(
        Authorize(*deps_.tokens, *context, request->tenant_id()));
    if (request->page_size() < 0) {
      return absl::InvalidArgumentError("page_size: must not be negative");
    }
    const int page_size = request->page_size() == 0
                              ? kDefaultPageSize
                              : std::min(request->page_size(), kMaxPageSize);
    std::string after_id;
    if (!request->page_token().empty()) {
      WEBHOOKS_ASSIGN_OR_RETURN(
          after_id,
          DecodePageToken(request->page_token(), request->tenant_id()));
    }
    // One extra row tells whether another page exists without a count query.
    WEBHOOKS_ASSIGN_OR_RETURN(
        std::vector<store::SubscriptionRecord> records,
        deps_.subscriptions->List(request->tenant_id(), after_id, page_size + 1,
                                  Deadline(*context)));
    const bool more = static_cast<int>(records.size()) > page_size;
    if (more) records.resize(page_size);
    for (const store::SubscriptionRecord& record : records) {
      WEBHOOKS_RETURN_IF_ERROR(
          ToProto(record, *deps_.sealer, response->add_subscriptions()));
    }
    if (more) {
      response->set_next_page_token(
          EncodePageToken(request->tenant_id(), records.back().id));
    }
    return absl::OkStatus();
  };
  return ToGrpcStatus(run());
}

grpc::Status SubscriptionServiceImpl::UpdateSubscription(
    grpc::ServerContext* context, const v1::UpdateSubscriptionRequest* request,
    v1::Subscription* response) {
  auto run = [&]() -> absl::Status {
    WEBHOOKS_RETURN_IF_ERROR(
        Authorize(*deps_.tokens, *context, request->tenant_id()));
    const v1::Subscription& s = request->subscription();
    if (s.id().empty())
      return absl::InvalidArgumentError("subscription.id: is required");
    if (request->update_mask().paths_size() == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("update_mask: must list the fields to change (",
                       kUpdatablePaths, ")"));
    }
    store::SubscriptionUpdate update;
    update.tenant_id = request->tenant_id();
    update.id = s.id();
    update.disabled_reason = kDisabledByApi;
    bool replace_headers = false;
    std::vector<std::string> header_names;  // custom_headers.<name> paths
    for (const std::string& path : request->update_mask().paths()) {
      if (path == "name") {
        WEBHOOKS_RETURN_IF_ERROR(domain::ValidateSubscriptionName(s.name()));
        update.name = s.name();
      } else if (path == "target_url") {
        WEBHOOKS_RETURN_IF_ERROR(domain::ValidateTargetUrl(s.target_url()));
        update.target_url = s.target_url();
      } else if (path == "event_types") {
        std::vector<std::string> types(s.event_types().begin(),
                                       s.event_types().end());
        WEBHOOKS_RETURN_IF_ERROR(domain::ValidateEventTypes(types));
        update.event_types = std::move(types);
      } else if (path == "custom_headers") {
        replace_headers = true;
      } else if (absl::StartsWith(path, kHeaderPathPrefix) &&
                 path.size() > kHeaderPathPrefix.size()) {
        header_names.push_back(path.substr(kHeaderPathPrefix.size()));
      } else if (path == "enabled") {
        update.enabled = s.enabled();
      } else if (path == "max_in_flight") {
        WEBHOOKS_ASSIGN_OR_RETURN(
            update.max_in_flight,
            domain::ResolveMaxInFlight(s.max_in_flight(),
                                       config_.default_max_in_flight,
                                       config_.max_in_flight_limit));
      } else {
        return absl::InvalidArgumentError(absl::StrCat(
            "update_mask: ", common::Echo(path),
            " cannot be updated (allowed: ", kUpdatablePaths, ")"));
      }
    }
    if (replace_headers && !header_names.empty()) {
      return absl::InvalidArgumentError(
          "update_mask: custom_headers replaces the whole map and cannot be "
          "combined with custom_headers.<name>");
    }
    if (!replace_headers && header_names.empty()) {
      WEBHOOKS_ASSIGN_OR_RETURN(
          store::SubscriptionRecord record,
          deps_.subscriptions->Update(update, Deadline(*context)));
      return ToProto(record, *deps_.sealer, response);
    }
    // Headers are read, changed and written back at the version read; a
    // concurrent update makes the write ABORTED, and it is done again.
    for (int round = 1;; ++round) {
      WEBHOOKS_ASSIGN_OR_RETURN(
          store::SubscriptionRecord current,
          deps_.subscriptions->Get(request->tenant_id(), s.id(),
                                   Deadline(*context)));
      WEBHOOKS_ASSIGN_OR_RETURN(
          std::string encoded, deps_.sealer->Open(current.custom_headers_sealed,
                                                  HeadersAad(current.id)));
      WEBHOOKS_ASSIGN_OR_RETURN(domain::HeaderMap stored,
                                domain::DecodeHeaders(encoded));
      WEBHOOKS_ASSIGN_OR_RETURN(
          domain::HeaderMap headers,
          NextHeaders(stored, ToHeaderMap(s.custom_headers()), replace_headers,
                      header_names));
      WEBHOOKS_ASSIGN_OR_RETURN(
          update.custom_headers_sealed,
          deps_.sealer->Seal(domain::EncodeHeaders(headers),
                             HeadersAad(s.id())));
      update.expected_version = current.version;
      absl::StatusOr<store::SubscriptionRecord> record =
          deps_.subscriptions->Update(update, Deadline(*context));
      if (record.status().code() == absl::StatusCode::kAborted && round < 3)
        continue;
      if (!record.ok()) return record.status();
      return ToProto(*record, *deps_.sealer, response);
    }
  };
  return ToGrpcStatus(run());
}

grpc::Status SubscriptionServiceImpl::DeleteSubscription(
    grpc::ServerContext* context, const v1::DeleteSubscriptionRequest* request,
    google::protobuf::Empty* /*response*/) {
  auto run = [&]() -> absl::Status {
    WEBHOOKS_RETURN_IF_ERROR(
        Authorize(*deps_.tokens, *context, request->tenant_id()));
    WEBHOOKS_RETURN_IF_ERROR(RequireId(request->id()));
    return deps_.subscriptions->Delete(request->tenant_id(), request->id(),
                                       Deadline(*context));
  };
  return ToGrpcStatus(run());
}

grpc::Status SubscriptionServiceImpl::RotateSigningSecret(
    grpc::ServerContext* context, const v1::RotateSigningSecretRequest* request,
    v1::RotateSigningSecretResponse* response) {
  auto run = [&]() -> absl::Status {
    WEBHOOKS_RETURN_IF_ERROR(
        Authorize(*deps_.tokens, *context, request->tenant_id()));
    WEBHOOKS_RETURN_IF_ERROR(RequireId(request->id()));
    absl::Duration grace = kDefaultGrace;
    if (request->has_grace_period()) {
      const google::protobuf::Duration& d = request->grace_period();
      if (d.seconds() < 0 || d.nanos() < 0) {
        return absl::InvalidArgumentError("grace_period: must not be negative");
      }
      if (d.seconds() > absl::ToInt64Seconds(kMaxGrace) ||
          (d.seconds() == absl::ToInt64Seconds(kMaxGrace) && d.nanos() > 0)) {
        return absl::InvalidArgumentError(
            "grace_period: must be at most 7 days (168h)");
      }
      grace = absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
    }
    // Read, rotate, write back at the version read (a concurrent rotation
    // makes it ABORTED, and it is done again on what that one stored).
    for (int round = 1;; ++round) {
      WEBHOOKS_ASSIGN_OR_RETURN(
          store::SubscriptionRecord current,
          deps_.subscriptions->Get(request->tenant_id(), request->id(),
                                   Deadline(*context)));
      WEBHOOKS_ASSIGN_OR_RETURN(
          security::SecretRotation rotation,
          security::RotateSigningSecret(*deps_.sealer, current.id,
                                        current.signing_secret_sealed,
                                        deps_.clock->Now(), grace));
      absl::StatusOr<store::SubscriptionRecord> stored =
          deps_.subscriptions->RotateSigningSecret(
              {.tenant_id = current.tenant_id,
               .id = current.id,
               .secret_sealed = rotation.secret_sealed,
               .previous_sealed = rotation.previous_sealed,
               .previous_expires_at = rotation.previous_expires_at,
               .expected_version = current.version},
              Deadline(*context));
      if (stored.status().code() == absl::StatusCode::kAborted && round < 3)
        continue;
      if (!stored.ok()) return stored.status();
      WEBHOOKS_RETURN_IF_ERROR(
          ToProto(*stored, *deps_.sealer, response->mutable_subscription()));
      response->set_signing_secret(rotation.secret);
      return absl::OkStatus();
    }
  };
  return ToGrpcStatus(run());
}

grpc::Status SubscriptionServiceImpl::GetSubscriptionStats(
    grpc::ServerContext* context,
    const v1::GetSubscriptionStatsRequest* request,
    v1::SubscriptionStats* response) {
  auto run = [&]() -> absl::Status {
    WEBHOOKS_RETURN_IF_ERROR(
        Authorize(*deps_.tokens, *context, request->tenant_id()));
    WEBHOOKS_RETURN_IF_ERROR(RequireId(request->id()));
    WEBHOOKS_ASSIGN_OR_RETURN(
        store::SubscriptionStatsRecord st,
        deps_.deliveries->Stats(request->tenant_id(), request->id(),
                                Deadline(*context)));
    // Only what is known: an unset time stays unset (not 1970).
    auto ts = [](absl::Time t) {
      return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
    };
    response->set_subscription_id(request->id());
    response->set_enabled(st.enabled);
    response->set_disabled_reason(st.disabled_reason);
    response->set_pending(st.pending);
    response->set_in_flight(st.in_flight);
    response->set_held(st.held);
    response->set_delivered_24h(st.delivered_24h);
    response->set_failed_24h(st.failed_24h);
    response->set_discarded_24h(st.discarded_24h);
    response->set_last_24h_capped(st.capped_24h);
    const int64_t ended = st.delivered_24h + st.failed_24h;
    response->set_success_ratio_24h(
        ended == 0 ? 0.0
                   : static_cast<double>(st.delivered_24h) /
                         static_cast<double>(ended));
    if (st.last_success_at)
      *response->mutable_last_success_time() = ts(*st.last_success_at);
    if (st.last_failure_at)
      *response->mutable_last_failure_time() = ts(*st.last_failure_at);
    response->set_consecutive_failed_deliveries(st.failed_in_a_row);
    if (st.failing_since)
      *response->mutable_failing_since() = ts(*st.failing_since);
    return absl::OkStatus();
  };
  return ToGrpcStatus(run());
}

grpc::Status SubscriptionServiceImpl::SendTestEvent(
    grpc::ServerContext* context, const v1::SendTestEventRequest* request,
    v1::SendTestEventResponse* response) {
  auto run = [&]() -> absl::Status {
    WEBHOOKS_RETURN_IF_ERROR(
        Authorize(*deps_.tokens, *context, request->tenant_id()));
    WEBHOOKS_RETURN_IF_ERROR(RequireId(request->id()));
    if (!request->event_type().empty()) {
      WEBHOOKS_RETURN_IF_ERROR(
          domain::ValidateEventTypeName("event_type", request->event_type()));
    }
    if (deps_.transport == nullptr) {
      return absl::FailedPreconditionError(
          "test sends are not configured on this server");
    }
    WEBHOOKS_ASSIGN_OR_RETURN(
        store::SubscriptionRecord s,
        deps_.subscriptions->Get(request->tenant_id(), request->id(),
                                 Deadline(*context)));
    const std::string type = request->event_type().empty()
                                 ? s.event_types.front()
                                 : request->event_type();
    const absl::Time now = deps_.clock->Now();
    thread_local absl::BitGen rng;
    const std::string event_id =
        common::NewId(common::kEventIdPrefix, now, rng);
    WEBHOOKS_ASSIGN_OR_RETURN(std::string body,
                              RenderBody(*SampleEvent(type), event_id));
    // As a lease hands it to the worker, so that the request is built by the
    // same code.
    store::LeasedDelivery d;
    d.attempt = 1;
    d.tenant_id = s.tenant_id;
    d.event_id = event_id;
    d.event_type = type;
    d.body = std::make_shared<const std::string>(body);
    d.subscription_id = s.id;
    d.target_url = s.target_url;
    d.custom_headers_sealed = s.custom_headers_sealed;
    d.signing_secret_sealed = s.signing_secret_sealed;
    if (s.previous_secret_expires_at > now) {
      d.previous_signing_secret_sealed = s.previous_signing_secret_sealed;
    }
    std::vector<std::string> header_values;
    WEBHOOKS_ASSIGN_OR_RETURN(
        delivery::HttpRequest http,
        dispatch::BuildRequest(d, *deps_.sealer, now, &header_values));

    // Counted until the request ends, not the call: a caller that gives up
    // early does not make room for more requests than the cap.
    std::shared_ptr<std::atomic<int>> sends = test_sends_;
    if (sends->fetch_add(1) >= kMaxTestSends) {
      sends->fetch_sub(1);
      return absl::ResourceExhaustedError(
          "too many test sends at once; try again shortly");
    }
    // The callback may outlive this call (and this service): it only
    // touches what it shares.
    struct Shared {
      common::Notification done;
      delivery::HttpResult result;
    };
    auto shared = std::make_shared<Shared>();
    deps_.transport->Submit(std::move(http),
                            [shared, sends](delivery::HttpResult result) {
                              shared->result = std::move(result);
                              sends->fetch_sub(1);
                              shared->done.Notify();
                            });
    // In slices, so that a cancelled call (the client gave up, or the
    // server is shutting down) returns at once.
    const absl::Time deadline = Deadline(*context);
    bool finished = false;
    while (!finished && !context->IsCancelled() && absl::Now() < deadline) {
      finished = shared->done.WaitForNotificationWithTimeout(
          std::min(absl::Milliseconds(100), deadline - absl::Now()));
    }
    if (!finished) {
      return absl::DeadlineExceededError(
          "the endpoint did not answer within the call's deadline (the "
          "request timeout may be longer)");
    }
    const delivery::HttpResult& r = shared->result;
    response->set_event_id(event_id);
    response->set_body(body);
    response->set_status_code(r.http_status);
    *response->mutable_duration() =
        TimeUtil::MicrosecondsToDuration(absl::ToInt64Microseconds(r.duration));
    response->set_error_class(
        std::string(domain::ErrorClassName(r.error_class)));
    // Reads show header values masked; an echo of them must not undo that.
    response->set_response_excerpt(common::ToValidUtf8(
        domain::RedactValues(r.response_excerpt, header_values)));
    return absl::OkStatus();
  };
  return ToGrpcStatus(run());
}

}  // namespace webhooks::api
