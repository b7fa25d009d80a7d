#include "lib/domain/custom_headers.h"

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace webhooks::domain {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::webhooks::testing::IsOk;
using ::webhooks::testing::StatusIs;

constexpr absl::string_view kEllipsis = "\xE2\x80\xA6";

std::string Nul() { return std::string(1, '\0'); }

// True when `text` is well-formed UTF-8 (no stray continuation bytes, no
// truncated sequences); enough to catch a mask cut through a character.
bool IsWellFormedUtf8(absl::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    if (lead < 0x80) {
      length = 1;
    } else if ((lead & 0xE0) == 0xC0) {
      length = 2;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (std::size_t j = 1; j < length; ++j) {
      if ((static_cast<unsigned char>(text[i + j]) & 0xC0) != 0x80) {
        return false;
      }
    }
    i += length;
  }
  return true;
}

// Splits a mask into what it reveals before and after the ellipsis; `value`
// must not itself contain "…".
struct Revealed {
  std::string prefix;
  std::string suffix;
};
Revealed SplitMask(absl::string_view masked) {
  const std::size_t at = masked.find(kEllipsis);
  EXPECT_NE(at, absl::string_view::npos) << masked;
  if (at == absl::string_view::npos) return {};
  return {std::string(masked.substr(0, at)),
          std::string(masked.substr(at + kEllipsis.size()))};
}

TEST(EncodeHeadersTest, EmptyMapEncodesAsEmptyString) {
  EXPECT_EQ(EncodeHeaders({}), "");
}

TEST(EncodeHeadersTest, WritesNameNulValueNulInNameOrder) {
  const HeaderMap headers = {{"X-B", ""}, {"Authorization", "Bearer t"}};
  EXPECT_EQ(EncodeHeaders(headers), "Authorization" + Nul() + "Bearer t" +
                                        Nul() + "X-B" + Nul() + Nul());
}

TEST(DecodeHeadersTest, EmptyStringDecodesAsEmptyMap) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(HeaderMap headers, DecodeHeaders(""));
  EXPECT_THAT(headers, IsEmpty());
}

TEST(DecodeHeadersTest, RoundTripsEncodedHeaders) {
  const HeaderMap cases[] = {
      {},
      {{"Authorization", "Bearer abcdefghijklmnopqrstuvwxyz-key"}},
      {{"Authorization", "Basic dXNlcjpwYXNz"},
       {"X-Webhook-Token", "t0k3n=with:colons and spaces"},
       {"X-Empty", ""},
       {"X-Unicode", "caf\xC3\xA9 \xE2\x98\x95"}},
  };
  for (const HeaderMap& headers : cases) {
    WEBHOOKS_ASSERT_OK_AND_ASSIGN(HeaderMap decoded,
                                  DecodeHeaders(EncodeHeaders(headers)));
    EXPECT_EQ(decoded, headers);
  }
}

TEST(DecodeHeadersTest, RoundTripsTwentyMaxSizeHeaders) {
  HeaderMap headers;
  for (int i = 0; i < 20; ++i) {
    headers["X-H-" + std::to_string(i)] =
        std::string(8192, static_cast<char>('a' + i % 26));
  }
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(HeaderMap decoded,
                                DecodeHeaders(EncodeHeaders(headers)));
  EXPECT_EQ(decoded, headers);
}

TEST(DecodeHeadersTest, MalformedInputIsDataLossWithoutEchoingValues) {
  const std::string cases[] = {
      "X-Token",                          // Name, no terminator.
      "X-Token" + Nul() + "s3cretV4lue",  // Value, no terminator.
      "X-Token" + Nul() + "s3cretV4lue" + Nul() + "X-Other",
      "X-Token" + Nul() + "s3cretV4lue" + Nul() + "X-Token" + Nul() +
          "s3cretV4lue" + Nul(),  // Same name twice.
  };
  for (const std::string& encoded : cases) {
    EXPECT_THAT(DecodeHeaders(encoded),
                StatusIs(absl::StatusCode::kDataLoss, Not(HasSubstr("s3cret"))))
        << "case of " << encoded.size() << " bytes";
  }
}

TEST(MaskSecretTest, ContractStyleValueShowsFirstFourAndLastFiveBytes) {
  EXPECT_EQ(MaskSecret("Bearer abcdefghijklmnopqrstuvwxyz-key"),
            "Bear\xE2\x80\xA6z-key");
  EXPECT_EQ(MaskSecret("Bearer live-0123456789abcdef-key"),
            "Bear\xE2\x80\xA6"
            "f-key");
}

TEST(MaskSecretTest, ValuesUnderTwentyOneBytesRevealNothing) {
  EXPECT_EQ(MaskSecret(""), kEllipsis);
  EXPECT_EQ(MaskSecret("x"), kEllipsis);
  EXPECT_EQ(MaskSecret(std::string(20, 'k')), kEllipsis);
  EXPECT_EQ(MaskSecret("Bearer abcdef-123456"), kEllipsis);  // 20 bytes.
}

TEST(MaskSecretTest, ValuesOfTwentyOneToTwentySixBytesRevealAtMostAThird) {
  // 21..23 bytes: a third is 7 bytes, shown as 3 + 4.
  EXPECT_EQ(MaskSecret("abcdefghijklmnopqrstu"), "abc\xE2\x80\xA6rstu");
  EXPECT_EQ(MaskSecret("abcdefghijklmnopqrstuvw"), "abc\xE2\x80\xA6tuvw");
  // 24..26 bytes: a third is 8 bytes, shown as 3 + 5.
  EXPECT_EQ(MaskSecret("abcdefghijklmnopqrstuvwx"), "abc\xE2\x80\xA6tuvwx");
  EXPECT_EQ(MaskSecret("abcdefghijklmnopqrstuvwxyz"), "abc\xE2\x80\xA6vwxyz");
  // 27 bytes: the full 4 + 5.
  EXPECT_EQ(MaskSecret("abcdefghijklmnopqrstuvwxyz0"), "abcd\xE2\x80\xA6wxyz0");
}

TEST(MaskSecretTest, LongValuesStillRevealOnlyNineBytes) {
  const std::string value = "Bearer " + std::string(8185, 'q');
  EXPECT_EQ(MaskSecret(value), "Bear\xE2\x80\xA6qqqqq");
}

TEST(MaskSecretTest, RevealsOnlyTheValuesOwnEndsAndNeverTooMuch) {
  const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  for (std::size_t n = 0; n <= 300; ++n) {
    std::string value;
    for (std::size_t i = 0; i < n; ++i) value += alphabet[i % alphabet.size()];
    const Revealed revealed = SplitMask(MaskSecret(value));
    const std::size_t shown = revealed.prefix.size() + revealed.suffix.size();
    EXPECT_LE(shown, 9u) << n;
    EXPECT_LE(shown * 3, n) << n;
    EXPECT_EQ(shown == 0, n < 21) << n;
    EXPECT_TRUE(absl::StartsWith(value, revealed.prefix)) << n;
    EXPECT_TRUE(absl::EndsWith(value, revealed.suffix)) << n;
  }
}

TEST(MaskSecretTest, DoesNotCutAMultiByteCharacterAtTheStart) {
  // "abc" then "é" (2 bytes) across the 4-byte cut: the cut moves back to 3.
  const std::string value = "abc\xC3\xA9" + std::string(30, 'x') + "12345";
  EXPECT_EQ(MaskSecret(value),
            "abc\xE2\x80\xA6"
            "12345");
}

TEST(MaskSecretTest, DoesNotCutAMultiByteCharacterAtTheEnd) {
  // "€" (3 bytes) then "abc": the last 5 bytes start inside "€", so only
  // "abc" is shown.
  const std::string value = "Bear" + std::string(30, 'x') +
                            "\xE2\x82\xAC"
                            "abc";
  EXPECT_EQ(MaskSecret(value),
            "Bear\xE2\x80\xA6"
            "abc");
}

TEST(MaskSecretTest, KeepsWholeCharactersThatFitTheLimits) {
  // "é" ends exactly at byte 4 and "€" starts exactly 5 bytes from the end.
  const std::string value = "ab\xC3\xA9" + std::string(30, 'x') +
                            "\xE2\x82\xAC"
                            "yz";
  EXPECT_EQ(MaskSecret(value),
            "ab\xC3\xA9\xE2\x80\xA6\xE2\x82\xAC"
            "yz");
}

TEST(MaskSecretTest, FourByteCharactersOnlyYieldWholeCharacters) {
  std::string value;
  for (int i = 0; i < 10; ++i) value += "\xF0\x9F\x98\x80";  // U+1F600.
  // 40 bytes: the 4-byte prefix is exactly one emoji; the 5-byte suffix would
  // start inside one, so it shrinks to one emoji.
  EXPECT_EQ(MaskSecret(value), "\xF0\x9F\x98\x80\xE2\x80\xA6\xF0\x9F\x98\x80");
}

TEST(MaskSecretTest, OutputIsWellFormedUtf8ForMultiByteInput) {
  const std::string pieces[] = {"\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80",
                                "a"};
  for (std::size_t n = 0; n < 60; ++n) {
    for (std::size_t rotate = 0; rotate < 4; ++rotate) {
      std::string value;
      for (std::size_t i = 0; i < n; ++i) value += pieces[(i + rotate) % 4];
      const std::string masked = MaskSecret(value);
      EXPECT_TRUE(IsWellFormedUtf8(masked)) << n << "/" << rotate;
      const Revealed revealed = SplitMask(masked);
      const std::size_t shown = revealed.prefix.size() + revealed.suffix.size();
      EXPECT_LE(shown, 9u);
      EXPECT_LE(shown * 3, value.size());
      EXPECT_TRUE(absl::StartsWith(value, revealed.prefix));
      EXPECT_TRUE(absl::EndsWith(value, revealed.suffix));
    }
  }
}

TEST(MaskHeadersTest, MasksEveryValueAndKeepsNames) {
  const HeaderMap headers = {
      {"Authorization", "Bearer abcdefghijklmnopqrstuvwxyz-key"},
      {"X-Webhook-Token", "short"},
      {"X-Empty", ""},
  };
  const HeaderMap expected = {
      {"Authorization", "Bear\xE2\x80\xA6z-key"},
      {"X-Webhook-Token", std::string(kEllipsis)},
      {"X-Empty", std::string(kEllipsis)},
  };
  EXPECT_EQ(MaskHeaders(headers), expected);
}

TEST(MaskHeadersTest, EmptyMapStaysEmpty) {
  EXPECT_THAT(MaskHeaders({}), IsEmpty());
}

TEST(DecodeHeadersTest, DecodesOneHeader) {
  const absl::StatusOr<HeaderMap> decoded =
      DecodeHeaders("X-Token" + Nul() + "t" + Nul());
  ASSERT_THAT(decoded, IsOk());
  EXPECT_EQ(*decoded, (HeaderMap{{"X-Token", "t"}}));
}

// RedactValues: what a receiver echoes of our custom headers never reaches
// the stored excerpt.
TEST(RedactValuesTest, ReplacesEveryOccurrenceOfEveryValue) {
  EXPECT_EQ(RedactValues("bad token Bearer s3cr3t-t0ken; got Bearer "
                         "s3cr3t-t0ken and key k-9f8e7d",
                         {"Bearer s3cr3t-t0ken", "k-9f8e7d"}),
            "bad token [redacted]; got [redacted] and key [redacted]");
}

TEST(RedactValuesTest, ALongerValueContainingAShorterIsReplacedWhole) {
  EXPECT_EQ(RedactValues("x=abcd-efgh-ijkl", {"efgh", "abcd-efgh-ijkl"}),
            "x=[redacted]");
}

TEST(RedactValuesTest, AnExcerptCutInsideAValueLosesThatBeginning) {
  EXPECT_EQ(RedactValues("{\"echo\":\"Bearer s3cr", {"Bearer s3cr3t-t0ken"}),
            "{\"echo\":\"[redacted]");
}

TEST(RedactValuesTest, ShortValuesAndUnrelatedTextStay) {
  EXPECT_EQ(RedactValues("status 1 ok", {"1", "ok", "abc"}), "status 1 ok");
  EXPECT_EQ(RedactValues("nothing here", {"s3cr3t-t0ken"}), "nothing here");
  EXPECT_EQ(RedactValues("", {"s3cr3t-t0ken"}), "");
  EXPECT_EQ(RedactValues("abcd", {"abcd"}), "[redacted]");
}

}  // namespace
}  // namespace webhooks::domain
