// Time-ordered unique identifiers: a prefix plus a ULID (48-bit millisecond
// timestamp and 80 random bits in Crockford base32), e.g.
// "evt_01JD7X3G2Q5T6X8V9W0Y1Z2A3B". Lexical order follows creation time.
#ifndef WEBHOOKS_LIB_COMMON_IDS_H_
#define WEBHOOKS_LIB_COMMON_IDS_H_

#include <string>

#include "absl/random/bit_gen_ref.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace webhooks::common {

inline constexpr absl::string_view kEventIdPrefix = "evt_";
inline constexpr absl::string_view kSubscriptionIdPrefix = "sub_";

// Returns `prefix` followed by the 26-character ULID for `now` and 80 bits
// drawn from `rng`. Thread-safety is that of `rng`.
std::string NewId(absl::string_view prefix, absl::Time now,
                  absl::BitGenRef rng);

// The smallest id NewId can make at `t`'s millisecond: every id made
// earlier sorts below it, every id made at or after it does not.
std::string FirstIdAt(absl::string_view prefix, absl::Time t);

// True when `id` is `prefix` followed by 26 Crockford base32 characters
// (upper case, as NewId makes them).
bool IsWellFormedId(absl::string_view prefix, absl::string_view id);

}  // namespace webhooks::common

#endif  // WEBHOOKS_LIB_COMMON_IDS_H_
