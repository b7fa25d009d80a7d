#include "lib/common/utf8.h"

#include <string>

#include "gtest/gtest.h"

namespace webhooks::common {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";

TEST(ToValidUtf8Test, KeepsWellFormedText) {
  for (const std::string s : {"", "plain ascii", "Zo\xC3\xAB", "\xE2\x80\xA6",
                              "\xF0\x9F\x98\x80", "\xF4\x8F\xBF\xBF"}) {
    EXPECT_EQ(ToValidUtf8(s), s);
  }
}

TEST(ToValidUtf8Test, ReplacesEachBadByte) {
  struct Case {
    std::string in, out;
  };
  const std::string r = kReplacement;
  const Case cases[] = {
      {"oops\xFF", "oops" + r},
      {"\x80", r},                                     // lone continuation
      {"\xC3", r},                                     // truncated
      {"\xC3(", r + "("},                              // bad continuation
      {"\xC0\xAF", r + r},                             // overlong '/'
      {"\xE0\x80\xAF", r + r + r},                     // overlong
      {"\xED\xA0\x80", r + r + r},                     // surrogate
      {"\xF4\x90\x80\x80", r + r + r + r},             // past U+10FFFF
      {"a\xE2\x80", "a" + r + r},                      // truncated 3-byte
      {std::string("\0x", 2), std::string("\0x", 2)},  // NUL is UTF-8
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.in);
    EXPECT_EQ(ToValidUtf8(c.in), c.out);
  }
}

}  // namespace
}  // namespace webhooks::common
