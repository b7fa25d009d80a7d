// Early-return helpers for absl::Status and absl::StatusOr.
//
// Prefixed with WEBHOOKS_ because protobuf's internal headers define unprefixed
// macros of the same name with different semantics.
#ifndef WEBHOOKS_LIB_COMMON_STATUS_MACROS_H_
#define WEBHOOKS_LIB_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns the status of `expr` from the enclosing function if it is not OK.
#define WEBHOOKS_RETURN_IF_ERROR(expr)                   \
  do {                                                   \
    ::absl::Status webhooks_status_ = (expr);            \
    if (!webhooks_status_.ok()) return webhooks_status_; \
  } while (false)

#define WEBHOOKS_CONCAT_INNER_(a, b) a##b
#define WEBHOOKS_CONCAT_(a, b) WEBHOOKS_CONCAT_INNER_(a, b)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status, else
// moves the value into `lhs` (which may be a declaration: `auto x`).
#define WEBHOOKS_ASSIGN_OR_RETURN(lhs, rexpr)                               \
  WEBHOOKS_ASSIGN_OR_RETURN_IMPL_(WEBHOOKS_CONCAT_(webhooks_so_, __LINE__), \
                                  lhs, rexpr)
// `tmp` is an identifier and `lhs` may be a declaration: neither can take
// parentheses.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define WEBHOOKS_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                    \
  if (!tmp.ok()) return std::move(tmp).status();         \
  lhs = *std::move(tmp)
// NOLINTEND(bugprone-macro-parentheses)

#endif  // WEBHOOKS_LIB_COMMON_STATUS_MACROS_H_
