#include <google/protobuf/util/time_util.h>

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "lib/common/echo.h"
#include "lib/common/grpc_status.h"
#include "lib/common/status_macros.h"
#include "lib/common/utf8.h"
#include "lib/domain/event_types.h"
#include "lib/domain/validation.h"
#include "services/api/auth.h"
#include "services/api/event_codec.h"
#include "services/api/rpc_support.h"
#include "services/api/services.h"

namespace webhooks::api {
namespace {

using common::ToGrpcStatus;
using google::protobuf::util::TimeUtil;

constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 500;
constexpr char kDeliveryIdPrefix[] = "dlv_";

google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

// "dlv_123" -> 123.
absl::StatusOr<int64_t> ParseDeliveryId(absl::string_view field,
                                        absl::string_view id) {
  if (id.empty())
    return absl::InvalidArgumentError(absl::StrCat(field, ": is required"));
  int64_t n = 0;
  absl::string_view digits = id;
  if (!absl::ConsumePrefix(&digits, kDeliveryIdPrefix) ||
      !absl::SimpleAtoi(digits, &n) || n <= 0 || absl::StrCat(n) != digits) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", common::Echo(id),
                     " is not a delivery id (dlv_ and a number)"));
  }
  return n;
}

absl::Status CheckTimestamp(absl::string_view field,
                            const google::protobuf::Timestamp& t) {
  return ValidateTimestamp(t, field);
}

absl::StatusOr<store::DeliveryState> FromProto(v1::DeliveryState state) {
  switch (state) {
    case v1::DELIVERY_STATE_PENDING:
      return store::DeliveryState::kPending;
    case v1::DELIVERY_STATE_IN_FLIGHT:
      return store::DeliveryState::kInFlight;
    case v1::DELIVERY_STATE_HELD:
      return store::DeliveryState::kHeld;
    case v1::DELIVERY_STATE_DELIVERED:
      return store::DeliveryState::kDelivered;
    case v1::DELIVERY_STATE_FAILED:
      return store::DeliveryState::kFailed;
    case v1::DELIVERY_STATE_DISCARDED:
      return store::DeliveryState::kDiscarded;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("state: ", static_cast<int>(state), " is not a state"));
  }
}

v1::DeliveryState ToProto(store::DeliveryState state) {
  switch (state) {
    case store::DeliveryState::kPending:
      return v1::DELIVERY_STATE_PENDING;
    case store::DeliveryState::kInFlight:
      return v1::DELIVERY_STATE_IN_FLIGHT;
    case store::DeliveryState::kHeld:
      return v1::DELIVERY_STATE_HELD;
    case store::DeliveryState::kDelivered:
      return v1::DELIVERY_STATE_DELIVERED;
    case store::DeliveryState::kFailed:
      return v1::DELIVERY_STATE_FAILED;
    case store::DeliveryState::kDiscarded:
      return v1::DELIVERY_STATE_DISCARDED;
  }
  return v1::DELIVERY_STATE_UNSPECIFIED;
}

void ToProto(const store::DeliveryRecord& d, v1::Delivery* out) {
  out->set_id(absl::StrCat(kDeliveryIdPrefix, d.id));
  out->set_tenant_id(d.tenant_id);
  out->set_event_id(d.event_id);
  out->set_event_type(d.event_type);
  out->set_subscription_id(d.subscription_id);
  out->set_state(ToProto(d.state));
  out->set_attempt_count(d.attempts);
  if (d.state == store::DeliveryState::kPending ||
      d.state == store::DeliveryState::kHeld) {
    *out->mutable_next_attempt_time() = ToTimestamp(d.next_attempt_at);
  }
  out->set_last_status_code(d.last_status);
  out->set_last_error_class(d.last_error_class);
  *out->mutable_create_time() = ToTimestamp(d.created_at);
  if (d.completed_at.has_value())
    *out->mutable_complete_time() = ToTimestamp(*d.completed_at);
  for (const store::AttemptRecord& a : d.attempt_log) {
    v1::DeliveryAttempt* pa = out->add_attempts();
    pa->set_number(a.number);
    *pa->mutable_start_time() = ToTimestamp(a.started_at);
    *pa->mutable_duration() =
        TimeUtil::MicrosecondsToDuration(absl::ToInt64Microseconds(a.duration));
    pa->set_status_code(a.http_status);
    pa->set_error_class(a.error_class);
    pa->set_response_excerpt(common::ToValidUtf8(a.response_excerpt));
  }
}

// Page tokens are opaque to clients: base64url of "d1|<tenant>|<filters>|
// <created_at micros>|<id>". Binding the tenant and the filters stops a token
// from being replayed against another listing.
std::string Filters(const v1::ListDeliveriesRequest& r) {
  return absl::WebSafeBase64Escape(absl::StrCat(
      r.subscription_id(), "\x1f", r.event_id(), "\x1f", r.state(), "\x1f",
      r.event_type(), "\x1f", r.create_time_after().seconds(), ".",
      r.create_time_after().nanos(), "\x1f", r.create_time_before().seconds(),
      ".", r.create_time_before().nanos()));
}

std::string EncodePageToken(const v1::ListDeliveriesRequest& r,
                            const store::DeliveryRecord& last) {
  return absl::WebSafeBase64Escape(
      absl::StrCat("d1|", r.tenant_id(), "|", Filters(r), "|",
                   absl::ToUnixMicros(last.created_at), "|", last.id));
}

absl::StatusOr<std::pair<absl::Time, int64_t>> DecodePageToken(
    const v1::ListDeliveriesRequest& r) {
  const absl::Status bad =
      absl::InvalidArgumentError("page_token: is not a token this API issued");
  std::string raw;
  if (!absl::WebSafeBase64Unescape(r.page_token(), &raw)) return bad;
  std::vector<std::string> parts = absl::StrSplit(raw, '|');
  int64_t micros = 0, id = 0;
  if (parts.size() != 5 || parts[0] != "d1" ||
      !absl::SimpleAtoi(parts[3], &micros) ||
      !absl::SimpleAtoi(parts[4], &id)) {
    return bad;
  }
  if (parts[1] != r.tenant_id() || parts[2] != Filters(r)) {
    return absl::InvalidArgumentError(
        "page_token: was issued for a different tenant_id or filters");
  }
  return std::make_pair(absl::FromUnixMicros(micros), id);
}

}  // namespace

grpc::Status DeliveryServiceImpl::ListDeliveries(
    grpc::ServerContext* context, const v1::ListDeliveriesRequest* request,
    v1::ListDeliveriesResponse* response) {
  auto run = [&]() -> absl::Status {
    WEBHOOKS_RETURN_IF_ERROR(
        Authorize(*deps_.tokens, *context, request->tenant_id()));
    if (request->page_size() < 0) {
      return absl::InvalidArgumentError("page_size: must not be negative");
    }
    store::DeliveryQuery query;
    query.tenant_id = request->tenant_id();
    query.subscription_id = request->subscription_id();
    query.event_id = request->event_id();
    if (request->state() != v1::DELIVERY_STATE_UNSPECIFIED) {
      WEBHOOKS_ASSIGN_OR_RETURN(query.state, FromProto(request->state()));
    }
    if (!request->event_type().empty()) {
      WEBHOOKS_RETURN_IF_ERROR(
          domain::ValidateEventTypeName("event_type", request->event_type()));
      query.event_type = request->event_type();
    }
    if (request->has_create_time_after()) {
      WEBHOOKS_RETURN_IF_ERROR(
          CheckTimestamp("create_time_after", request->create_time_after()));
      query.created_after = ToTime(request->create_time_after());
    }
    if (request->has_create_time_before()) {
      WEBHOOKS_RETURN_IF_ERROR(
          CheckTimestamp("create_time_before", request->create_time_before()));
      query.created_before = ToTime(request->create_time_before());
    }
    if (query.created_after >= query.created_before) {
      return absl::InvalidArgumentError(
          "create_time_before: must be after create_time_after");
    }
    if (!request->page_token().empty()) {
      WEBHOOKS_ASSIGN_OR_RETURN(query.before, DecodePageToken(*request));
    }
    const int page_size = request->page_size() == 0
                              ? kDefaultPageSize
                              : std::min(request->page_size(), kMaxPageSize);
    // One extra row tells whether another page exists without a count query.
    query.limit = page_size + 1;
    WEBHOOKS_ASSIGN_OR_RETURN(
        std::vector<store::DeliveryRecord> records,
        deps_.deliveries->List(query, Deadline(*context)));
    const bool more = static_cast<int>(records.size()) > page_size;
    if (more) records.resize(static_cast<size_t>(page_size));
    for (const store::DeliveryRecord& d : records)
      ToProto(d, response->add_deliveries());
    if (more) {
      response->set_next_page_token(EncodePageToken(*request, records.back()));
    }
    return absl::OkStatus();
  };
  return ToGrpcStatus(run());
}

grpc::Status DeliveryServiceImpl::GetDelivery(
    grpc::ServerContext* context, const v1::GetDeliveryRequest* request,
    v1::Delivery* response) {
  auto run = [&]() -> absl::Status {
    WEBHOOKS_RETURN_IF_ERROR(
        Authorize(*deps_.tokens, *context, request->tenant_id()));
    WEBHOOKS_ASSIGN_OR_RETURN(int64_t id, ParseDeliveryId("id", request->id()));
    WEBHOOKS_ASSIGN_OR_RETURN(
        store::DeliveryRecord d,
        deps_.deliveries->Get(request->tenant_id(), id, Deadline(*context)));
    ToProto(d, response);
    return absl::OkStatus();
  };
  return ToGrpcStatus(run());
}

grpc::Status DeliveryServiceImpl::RetryDelivery(
    grpc::ServerContext* context, const v1::RetryDeliveryRequest* request,
    v1::Delivery* response) {
  auto run = [&]() -> absl::Status {
    WEBHOOKS_RETURN_IF_ERROR(
        Authorize(*deps_.tokens, *context, request->tenant_id()));
    WEBHOOKS_ASSIGN_OR_RETURN(int64_t id, ParseDeliveryId("id", request->id()));
    WEBHOOKS_ASSIGN_OR_RETURN(
        store::DeliveryRecord d,
        deps_.deliveries->Retry(request->tenant_id(), id, Deadline(*context)));
    ToProto(d, response);
    return absl::OkStatus();
  };
  return ToGrpcStatus(run());
}

grpc::Status DeliveryServiceImpl::RecoverFailedDeliveries(
    grpc::ServerContext* context,
    const v1::RecoverFailedDeliveriesRequest* request,
    v1::RecoverFailedDeliveriesResponse* response) {
  auto run = [&]() -> absl::Status {
    WEBHOOKS_RETURN_IF_ERROR(
        Authorize(*deps_.tokens, *context, request->tenant_id()));
    if (request->subscription_id().empty()) {
      return absl::InvalidArgumentError("subscription_id: is required");
    }
    if (!request->has_since()) {
      return absl::InvalidArgumentError("since: is required");
    }
    WEBHOOKS_RETURN_IF_ERROR(CheckTimestamp("since", request->since()));
    const absl::Time since = ToTime(request->since());
    absl::Time until = deps_.clock->Now();
    if (request->has_until()) {
      WEBHOOKS_RETURN_IF_ERROR(CheckTimestamp("until", request->until()));
      until = ToTime(request->until());
    }
    if (since >= until) {
      return absl::InvalidArgumentError("until: must be after since");
    }
    if (until - since > kMaxRecoverWindow) {
      return absl::InvalidArgumentError(
          absl::StrCat("until: the window from since is ",
                       absl::FormatDuration(until - since),
                       "; at most 14 days (336h) are allowed"));
    }
    WEBHOOKS_ASSIGN_OR_RETURN(
        int64_t n, deps_.deliveries->RecoverFailed(
                       request->tenant_id(), request->subscription_id(), since,
                       until, Deadline(*context)));
    response->set_recovered(n);
    return absl::OkStatus();
  };
  return ToGrpcStatus(run());
}

grpc::Status DeliveryServiceImpl::DiscardHeldDeliveries(
    grpc::ServerContext* context,
    const v1::DiscardHeldDeliveriesRequest* request,
    v1::DiscardHeldDeliveriesResponse* response) {
  auto run = [&]() -> absl::Status {
    WEBHOOKS_RETURN_IF_ERROR(
        Authorize(*deps_.tokens, *context, request->tenant_id()));
    if (request->subscription_id().empty()) {
      return absl::InvalidArgumentError("subscription_id: is required");
    }
    absl::Time before = absl::InfiniteFuture();
    if (request->has_before()) {
      WEBHOOKS_RETURN_IF_ERROR(CheckTimestamp("before", request->before()));
      before = ToTime(request->before());
    }
    WEBHOOKS_ASSIGN_OR_RETURN(
        int64_t n, deps_.deliveries->DiscardHeld(request->tenant_id(),
                                                 request->subscription_id(),
                                                 before, Deadline(*context)));
    response->set_discarded(n);
    return absl::OkStatus();
  };
  return ToGrpcStatus(run());
}

}  // namespace webhooks::api
