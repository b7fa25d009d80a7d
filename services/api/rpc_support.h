// Small conversions every handler of the API needs: its call's deadline, and
// protobuf timestamps as absl::Time.
#ifndef WEBHOOKS_SERVICES_API_RPC_SUPPORT_H_
#define WEBHOOKS_SERVICES_API_RPC_SUPPORT_H_

#include <google/protobuf/timestamp.pb.h>
#include <grpcpp/server_context.h>

#include "absl/time/time.h"

namespace webhooks::api {

// The call's deadline (InfiniteFuture when the client set none).
absl::Time Deadline(const grpc::ServerContext& context);

// `t` as absl::Time (not validated: see ValidateTimestamp in event_codec.h).
absl::Time ToTime(const google::protobuf::Timestamp& t);

}  // namespace webhooks::api

#endif  // WEBHOOKS_SERVICES_API_RPC_SUPPORT_H_
