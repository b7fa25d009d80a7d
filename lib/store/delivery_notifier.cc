#include "lib/store/delivery_notifier.h"

#include <pqxx/pqxx>

#include "lib/store/connection_options.h"
#include "lib/store/event_store.h"
#include "lib/store/pg_errors.h"

namespace webhooks::store {

struct DeliveryNotifier::State {
  struct Receiver final : pqxx::notification_receiver {
    Receiver(pqxx::connection_base& c, const std::string& channel)
        : pqxx::notification_receiver(c, channel) {}
    void operator()(const std::string&, int) override { ++received; }
    int received = 0;
  };
  explicit State(const std::string& url)
      : connection(WithClientTimeouts(url)),
        receiver(connection, std::string(kDeliveriesChannel)) {}
  pqxx::connection connection;
  Receiver receiver;
};

DeliveryNotifier::DeliveryNotifier(std::string database_url)
    : database_url_(std::move(database_url)) {}

DeliveryNotifier::~DeliveryNotifier() = default;

absl::Status DeliveryNotifier::Wait(absl::Duration timeout) {
  try {
    if (state_ == nullptr) {
      state_ = std::make_unique<State>(database_url_);
      state_->connection.get_notifs();  // issues the LISTEN
    }
    state_->receiver.received = 0;
    state_->connection.get_notifs();
    if (state_->receiver.received == 0) {
      const int64_t us =
          std::max<int64_t>(0, absl::ToInt64Microseconds(timeout));
      state_->connection.await_notification(static_cast<long>(us / 1000000),
                                            static_cast<long>(us % 1000000));
    }
    if (!state_->connection.is_open()) {
      state_.reset();
      return absl::UnavailableError("notification connection lost");
    }
    return state_->receiver.received > 0
               ? absl::OkStatus()
               : absl::DeadlineExceededError("no notification");
  } catch (...) {
    state_.reset();
    absl::Status status = TranslateCurrentException("wait for notifications");
    return status.code() == absl::StatusCode::kInternal
               ? absl::UnavailableError(status.message())
               : status;
  }
}

}  // namespace webhooks::store
