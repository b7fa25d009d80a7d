// Re-sealing: every secret at rest sealed under a key other than the
// primary one is opened and sealed again under the primary, so that an old
// key can be retired (removed from WEBHOOKS_SEALING_KEY) once a pass reports
// nothing left under it. `webhooks-api reseal` runs one pass.
#ifndef WEBHOOKS_LIB_STORE_RESEAL_H_
#define WEBHOOKS_LIB_STORE_RESEAL_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/security/sealer.h"
#include "lib/store/pg_pool.h"

namespace webhooks::store {

struct ResealReport {
  int64_t subscriptions = 0;      // read
  int64_t fields = 0;             // sealed again under the primary key
  int64_t changed_meanwhile = 0;  // rewritten by someone else first: skipped
};

// One pass over the subscriptions in id order, `batch` at a time: each
// sealed field (custom headers, signing secret, previous signing secret) whose
// key id is not the primary is opened with its associated data and sealed
// under the primary; the write is conditional on the field being unchanged,
// so a concurrent update (already sealed under whatever key its writer
// holds) is never overwritten. Errors: those of Sealer::Open
// (FAILED_PRECONDITION when a key is missing from the ring: nothing after
// that subscription is touched), DEADLINE_EXCEEDED at `deadline`, and
// UNAVAILABLE / RESOURCE_EXHAUSTED as the stores. Secrets never appear in
// messages.
absl::StatusOr<ResealReport> ResealAll(PgPool& pool,
                                       const security::Sealer& sealer,
                                       int batch, absl::Time deadline);

}  // namespace webhooks::store

#endif  // WEBHOOKS_LIB_STORE_RESEAL_H_
