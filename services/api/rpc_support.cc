#include "services/api/rpc_support.h"

namespace webhooks::api {

absl::Time Deadline(const grpc::ServerContext& context) {
  return absl::FromChrono(context.deadline());
}

absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

}  // namespace webhooks::api
