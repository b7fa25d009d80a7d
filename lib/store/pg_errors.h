// The one place where libpqxx exceptions become absl::Status (private to
// lib/store).
#ifndef WEBHOOKS_LIB_STORE_PG_ERRORS_H_
#define WEBHOOKS_LIB_STORE_PG_ERRORS_H_

#include <exception>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace webhooks::store {

// Translates the exception being handled (call from a catch block):
// broken_connection and in_doubt_error -> UNAVAILABLE; unique_violation ->
// ALREADY_EXISTS; serialization failure / deadlock -> ABORTED; statement
// timeout / query cancelled -> DEADLINE_EXCEEDED; other errors -> INTERNAL.
// The message names `operation` and the SQLSTATE but no statement text or
// parameter; the full error is logged.
absl::Status TranslateCurrentException(absl::string_view operation);

// True for statuses worth retrying on a fresh connection (UNAVAILABLE).
bool IsConnectionError(const absl::Status& status);

}  // namespace webhooks::store

#endif  // WEBHOOKS_LIB_STORE_PG_ERRORS_H_
