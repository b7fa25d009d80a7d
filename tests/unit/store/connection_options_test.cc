#include "lib/store/connection_options.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace webhooks::store {
namespace {

constexpr char kAll[] =
    "connect_timeout=5&keepalives=1&keepalives_idle=10&keepalives_interval=5&"
    "keepalives_count=3&tcp_user_timeout=30000";

TEST(WithClientTimeoutsTest, AddsAQueryToAUrlWithoutOne) {
  EXPECT_EQ(WithClientTimeouts("postgresql://u@127.0.0.1:5432/db"),
            std::string("postgresql://u@127.0.0.1:5432/db?") + kAll);
  EXPECT_EQ(WithClientTimeouts("postgres:///webhooks"),
            std::string("postgres:///webhooks?") + kAll);
}

TEST(WithClientTimeoutsTest, ExtendsAnExistingQueryAndKeepsTheCallersSettings) {
  EXPECT_EQ(
      WithClientTimeouts("postgresql://h/db?sslmode=require&connect_timeout=2"),
      "postgresql://h/db?sslmode=require&connect_timeout=2&keepalives=1&"
      "keepalives_idle=10&keepalives_interval=5&keepalives_count=3&"
      "tcp_user_timeout=30000");
  // keepalives_idle set does not count as keepalives set, and vice versa.
  EXPECT_THAT(WithClientTimeouts("postgresql://h/db?keepalives_idle=60"),
              ::testing::AllOf(
                  ::testing::HasSubstr("keepalives_idle=60"),
                  ::testing::HasSubstr("&keepalives=1"),
                  ::testing::Not(::testing::HasSubstr("keepalives_idle=10"))));
}

TEST(WithClientTimeoutsTest, AppendsToKeyValueStrings) {
  EXPECT_EQ(
      WithClientTimeouts("host=db dbname=w connect_timeout=1"),
      "host=db dbname=w connect_timeout=1 keepalives=1 keepalives_idle=10 "
      "keepalives_interval=5 keepalives_count=3 tcp_user_timeout=30000");
  EXPECT_EQ(
      WithClientTimeouts(""),
      "connect_timeout=5 keepalives=1 keepalives_idle=10 keepalives_interval=5 "
      "keepalives_count=3 tcp_user_timeout=30000");
}

}  // namespace
}  // namespace webhooks::store
