#include "lib/store/pg_errors.h"

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "lib/common/log.h"

namespace webhooks::store {

absl::Status TranslateCurrentException(absl::string_view operation) {
  try {
    throw;
  } catch (const pqxx::broken_connection& e) {
    common::LogWarning("database connection lost during ", operation, ": ",
                       e.what());
    return absl::UnavailableError(
        absl::StrCat(operation, ": database unavailable"));
  } catch (const pqxx::in_doubt_error& e) {
    common::LogWarning("commit outcome unknown during ", operation, ": ",
                       e.what());
    return absl::UnavailableError(
        absl::StrCat(operation, ": database commit outcome unknown"));
  } catch (const pqxx::unique_violation& e) {
    return absl::AlreadyExistsError(
        absl::StrCat(operation, ": already exists"));
  } catch (const pqxx::transaction_rollback& e) {
    return absl::AbortedError(
        absl::StrCat(operation, ": transaction conflict, retry"));
  } catch (const pqxx::sql_error& e) {
    const std::string& state = e.sqlstate();
    if (state == "57014") {  // query_canceled: statement_timeout
      return absl::DeadlineExceededError(
          absl::StrCat(operation, ": database statement timed out"));
    }
    if (state == "55P03") {  // lock_not_available: lock_timeout
      return absl::DeadlineExceededError(
          absl::StrCat(operation, ": database lock wait timed out"));
    }
    if (state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" ||
        state == "57P03") {
      // connection_exception class, admin/crash shutdown, cannot connect now
      common::LogWarning("database unavailable during ", operation, ": ",
                         e.what());
      return absl::UnavailableError(
          absl::StrCat(operation, ": database unavailable"));
    }
    common::LogError("database error during ", operation, " (SQLSTATE ", state,
                     "): ", e.what());
    return absl::InternalError(
        absl::StrCat(operation, ": database error (SQLSTATE ", state, ")"));
  } catch (const std::exception& e) {
    common::LogError("unexpected error during ", operation, ": ", e.what());
    return absl::InternalError(absl::StrCat(operation, ": internal error"));
  }
}

bool IsConnectionError(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable;
}

}  // namespace webhooks::store
