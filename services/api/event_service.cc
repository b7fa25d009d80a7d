#include <google/protobuf/util/time_util.h>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "lib/common/grpc_status.h"
#include "lib/common/ids.h"
#include "lib/common/status_macros.h"
#include "services/api/auth.h"
#include "services/api/event_codec.h"
#include "services/api/rpc_support.h"
#include "services/api/services.h"

namespace webhooks::api {
namespace {

using common::ToGrpcStatus;
using google::protobuf::util::TimeUtil;

std::string NewEventId(common::Clock& clock) {
  thread_local absl::BitGen rng;
  return common::NewId(common::kEventIdPrefix, clock.Now(), rng);
}

}  // namespace

grpc::Status EventServiceImpl::PublishEvent(
    grpc::ServerContext* context, const v1::PublishEventRequest* request,
    v1::PublishEventResponse* response) {
  auto run = [&]() -> absl::Status {
    WEBHOOKS_RETURN_IF_ERROR(
        Authorize(*deps_.tokens, *context, request->tenant_id()));
    if (!request->has_event())
      return absl::InvalidArgumentError("event: is required");
    WEBHOOKS_ASSIGN_OR_RETURN(
        store::NewEvent event,
        PrepareEvent(request->event(), request->idempotency_key(),
                     NewEventId(*deps_.clock)));
    WEBHOOKS_ASSIGN_OR_RETURN(
        store::PublishResult result,
        deps_.events->Publish(request->tenant_id(), event, Deadline(*context)));
    response->set_event_id(result.event_id);
    response->set_duplicate(result.duplicate);
    response->set_deliveries_created(result.deliveries_created);
    return absl::OkStatus();
  };
  return ToGrpcStatus(run());
}

grpc::Status EventServiceImpl::PublishEvents(
    grpc::ServerContext* context, const v1::PublishEventsRequest* request,
    v1::PublishEventsResponse* response) {
  auto run = [&]() -> absl::Status {
    WEBHOOKS_RETURN_IF_ERROR(
        Authorize(*deps_.tokens, *context, request->tenant_id()));
    if (request->items_size() == 0) {
      return absl::InvalidArgumentError("items: at least one item is required");
    }
    if (request->items_size() > kMaxBatchItems) {
      return absl::InvalidArgumentError(
          absl::StrCat("items: at most ", kMaxBatchItems, " items per call"));
    }
    // Validate every item; the valid ones go to the database together.
    std::vector<store::NewEvent> valid;
    std::vector<int> valid_index;  // request position of valid[i]
    for (int i = 0; i < request->items_size(); ++i) {
      v1::PublishEventsResult* result = response->add_results();
      const v1::PublishEventsItem& item = request->items(i);
      absl::StatusOr<store::NewEvent> event =
          item.has_event() ? PrepareEvent(item.event(), item.idempotency_key(),
                                          NewEventId(*deps_.clock))
                           : absl::InvalidArgumentError("event: is required");
      if (!event.ok()) {
        result->set_code(static_cast<int>(event.status().code()));
        result->set_message(
            absl::StrCat("items[", i, "].", event.status().message()));
        continue;
      }
      valid.push_back(*std::move(event));
      valid_index.push_back(i);
    }
    WEBHOOKS_ASSIGN_OR_RETURN(
        std::vector<store::PublishResult> stored,
        deps_.events->PublishBatch(request->tenant_id(), valid,
                                   Deadline(*context)));
    for (std::size_t j = 0; j < stored.size(); ++j) {
      v1::PublishEventsResult* result =
          response->mutable_results(valid_index[j]);
      result->set_event_id(stored[j].event_id);
      result->set_duplicate(stored[j].duplicate);
      result->set_deliveries_created(stored[j].deliveries_created);
    }
    return absl::OkStatus();
  };
  absl::Status status = run();
  if (!status.ok()) response->Clear();
  return ToGrpcStatus(status);
}

grpc::Status EventServiceImpl::GetEvent(grpc::ServerContext* context,
                                        const v1::GetEventRequest* request,
                                        v1::StoredEvent* response) {
  auto run = [&]() -> absl::Status {
    WEBHOOKS_RETURN_IF_ERROR(
        Authorize(*deps_.tokens, *context, request->tenant_id()));
    if (request->event_id().empty())
      return absl::InvalidArgumentError("event_id: is required");
    WEBHOOKS_ASSIGN_OR_RETURN(
        store::EventRecord event,
        deps_.events->Get(request->tenant_id(), request->event_id(),
                          Deadline(*context)));
    response->set_event_id(event.id);
    response->set_tenant_id(event.tenant_id);
    response->set_type(event.type);
    response->set_idempotency_key(event.idempotency_key);
    *response->mutable_occurred_at() = TimeUtil::MicrosecondsToTimestamp(
        absl::ToUnixMicros(event.occurred_at));
    *response->mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(
        absl::ToUnixMicros(event.create_time));
    response->set_body(std::move(event.body));
    return absl::OkStatus();
  };
  return ToGrpcStatus(run());
}

}  // namespace webhooks::api
