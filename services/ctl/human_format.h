// webhooksctl's human-readable output: any response message as "field:
// value" lines, nested messages indented, lists of messages as tables.
// Generic (protobuf reflection), so that every method prints without code of
// its own.
#ifndef WEBHOOKS_SERVICES_CTL_HUMAN_FORMAT_H_
#define WEBHOOKS_SERVICES_CTL_HUMAN_FORMAT_H_

#include <google/protobuf/message.h>

#include <string>

namespace webhooks::ctl {

// Fields in declaration order, unset and empty ones left out (proto3: zero
// values are shown for numbers and booleans of the top level, where "0" and
// "false" are answers). Timestamps as RFC 3339, durations as "1.5s", enum
// values as their lower-case name without the type's prefix
// ("DELIVERY_STATE_FAILED" -> "failed"). A repeated message field becomes a
// table whose columns are the fields of its rows that are plain values
// (nested messages, lists and maps left out) and set in at least one row.
std::string HumanFormat(const google::protobuf::Message& message);

}  // namespace webhooks::ctl

#endif  // WEBHOOKS_SERVICES_CTL_HUMAN_FORMAT_H_
