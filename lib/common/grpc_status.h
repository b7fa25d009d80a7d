// Conversion of absl::Status to grpc::Status at the gRPC edge.
#ifndef WEBHOOKS_LIB_COMMON_GRPC_STATUS_H_
#define WEBHOOKS_LIB_COMMON_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace webhooks::common {

// Same code (the canonical codes coincide numerically) and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace webhooks::common

#endif  // WEBHOOKS_LIB_COMMON_GRPC_STATUS_H_
