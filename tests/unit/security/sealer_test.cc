#include "lib/security/sealer.h"

#include <cstddef>
#include <map>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace webhooks::security {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using ::webhooks::testing::IsOk;
using ::webhooks::testing::StatusIs;

constexpr absl::string_view kAad = "subscription/sub_01/custom_headers";

// A deterministic 32-byte key whose bytes are all `fill`.
std::string Key(char fill) { return std::string(32, fill); }

Sealer MakeSealer(const std::string& primary,
                  std::map<std::string, std::string> keys) {
  absl::StatusOr<Sealer> sealer = Sealer::Create(primary, std::move(keys));
  EXPECT_THAT(sealer, IsOk());
  return *std::move(sealer);
}

Sealer DefaultSealer() { return MakeSealer("k1", {{"k1", Key('a')}}); }

// Splits "<id>:<base64>" and decodes the payload.
std::pair<std::string, std::string> Decompose(const std::string& sealed) {
  const std::size_t colon = sealed.find(':');
  std::string payload;
  EXPECT_TRUE(absl::Base64Unescape(sealed.substr(colon + 1), &payload));
  return {sealed.substr(0, colon), payload};
}

std::string Compose(const std::string& key_id, const std::string& payload) {
  return absl::StrCat(key_id, ":", absl::Base64Escape(payload));
}

TEST(SealerTest, RoundTripsTextEmptyBinaryAndLargeValues) {
  const Sealer sealer = DefaultSealer();
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  std::string large(1 << 20, '\0');
  for (std::size_t i = 0; i < large.size(); ++i) {
    large[i] = static_cast<char>((i * 7919) & 0xFF);
  }
  for (const std::string& plaintext :
       {std::string("Authorization: Bearer live-key"), std::string(), binary,
        large}) {
    WEBHOOKS_ASSERT_OK_AND_ASSIGN(const std::string sealed,
                                  sealer.Seal(plaintext, kAad));
    WEBHOOKS_ASSERT_OK_AND_ASSIGN(const std::string opened,
                                  sealer.Open(sealed, kAad));
    EXPECT_EQ(opened, plaintext);
  }
}

TEST(SealerTest, RoundTripsWithEmptyAssociatedData) {
  const Sealer sealer = DefaultSealer();
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(const std::string sealed,
                                sealer.Seal("secret", ""));
  EXPECT_THAT(sealer.Open(sealed, ""), IsOk());
  EXPECT_THAT(sealer.Open(sealed, "x"), StatusIs(absl::StatusCode::kDataLoss));
}

TEST(SealerTest, FormatIsKeyIdColonBase64OfNonceCiphertextTag) {
  const Sealer sealer = DefaultSealer();
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(const std::string sealed,
                                sealer.Seal("hello", kAad));
  EXPECT_THAT(sealed, StartsWith("k1:"));
  const auto [key_id, payload] = Decompose(sealed);
  EXPECT_EQ(key_id, "k1");
  EXPECT_EQ(payload.size(), 12u + 5u + 16u);
  EXPECT_EQ(absl::Base64Escape(payload), sealed.substr(3));
}

TEST(SealerTest, SealingTheSameValueTwiceUsesAFreshNonce) {
  const Sealer sealer = DefaultSealer();
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(const std::string a, sealer.Seal("same", kAad));
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(const std::string b, sealer.Seal("same", kAad));
  EXPECT_NE(a, b);
  EXPECT_NE(Decompose(a).second.substr(0, 12),
            Decompose(b).second.substr(0, 12));
}

TEST(SealerTest, CiphertextDoesNotContainThePlaintext) {
  const Sealer sealer = DefaultSealer();
  const std::string plaintext = "Authorization: Bearer sk_live_0123456789";
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(const std::string sealed,
                                sealer.Seal(plaintext, kAad));
  EXPECT_THAT(sealed, Not(HasSubstr("sk_live")));
  EXPECT_THAT(Decompose(sealed).second, Not(HasSubstr("sk_live")));
  EXPECT_THAT(sealed,
              Not(HasSubstr(absl::Base64Escape(plaintext).substr(0, 8))));
}

TEST(SealerTest, FlippingAnyByteOfNonceCiphertextOrTagIsDataLoss) {
  const Sealer sealer = DefaultSealer();
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(const std::string sealed,
                                sealer.Seal("tamper me", kAad));
  const auto [key_id, payload] = Decompose(sealed);
  ASSERT_EQ(payload.size(), 12u + 9u + 16u);
  for (std::size_t i = 0; i < payload.size(); ++i) {
    for (const int mask : {0x01, 0x80, 0xFF}) {
      std::string tampered = payload;
      tampered[i] = static_cast<char>(tampered[i] ^ mask);
      EXPECT_THAT(sealer.Open(Compose(key_id, tampered), kAad),
                  StatusIs(absl::StatusCode::kDataLoss))
          << "byte " << i << " mask " << mask;
    }
  }
}

TEST(SealerTest, TruncatedOrExtendedPayloadIsDataLoss) {
  const Sealer sealer = DefaultSealer();
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(const std::string sealed,
                                sealer.Seal("value", kAad));
  const auto [key_id, payload] = Decompose(sealed);
  EXPECT_THAT(
      sealer.Open(Compose(key_id, payload.substr(0, payload.size() - 1)), kAad),
      StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(sealer.Open(Compose(key_id, payload + "x"), kAad),
              StatusIs(absl::StatusCode::kDataLoss));
}

TEST(SealerTest, OtherAssociatedDataIsDataLoss) {
  const Sealer sealer = DefaultSealer();
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(const std::string sealed,
                                sealer.Seal("value", kAad));
  EXPECT_THAT(sealer.Open(sealed, "subscription/sub_02/custom_headers"),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(sealer.Open(sealed, ""), StatusIs(absl::StatusCode::kDataLoss));
}

TEST(SealerTest, ValueSealedUnderAnotherKeyWithTheSameIdIsDataLoss) {
  const Sealer sealer = DefaultSealer();
  const Sealer other = MakeSealer("k1", {{"k1", Key('b')}});
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(const std::string sealed,
                                other.Seal("value", kAad));
  EXPECT_THAT(sealer.Open(sealed, kAad), StatusIs(absl::StatusCode::kDataLoss));
}

TEST(SealerTest, UnknownKeyIdIsFailedPrecondition) {
  const Sealer sealer = DefaultSealer();
  const Sealer other = MakeSealer("k9", {{"k9", Key('a')}});
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(const std::string sealed,
                                other.Seal("value", kAad));
  EXPECT_THAT(sealer.Open(sealed, kAad),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("k9")));
}

TEST(SealerTest, MalformedValuesAreDataLoss) {
  const Sealer sealer = DefaultSealer();
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(const std::string sealed,
                                sealer.Seal("value", kAad));
  const std::string body = sealed.substr(3);
  for (const std::string& malformed : {
           std::string(), std::string("no colon at all"),
           body,                              // no key id
           std::string(":") + body,           // empty key id
           std::string("k 1:") + body,        // bad key id
           std::string("k1:"),                // empty payload
           std::string("k1:!!!!"),            // bad base64
           std::string("k1:") + body + "\n",  // trailing junk
           std::string("k1:") + body.substr(0, body.size() - 1),  // no padding
           Compose("k1", std::string(27, 'x')),  // shorter than nonce + tag
       }) {
    EXPECT_THAT(sealer.Open(malformed, kAad),
                StatusIs(absl::StatusCode::kDataLoss))
        << "'" << malformed << "'";
  }
}

TEST(SealerTest, OldValuesOpenAfterRotationAndNewValuesUseTheNewPrimary) {
  const Sealer before = MakeSealer("old", {{"old", Key('o')}});
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(const std::string old_value,
                                before.Seal("first", kAad));
  EXPECT_THAT(old_value, StartsWith("old:"));

  const Sealer after =
      MakeSealer("new", {{"new", Key('n')}, {"old", Key('o')}});
  EXPECT_EQ(after.primary_key_id(), "new");
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(const std::string opened,
                                after.Open(old_value, kAad));
  EXPECT_EQ(opened, "first");

  WEBHOOKS_ASSERT_OK_AND_ASSIGN(const std::string new_value,
                                after.Seal("second", kAad));
  EXPECT_THAT(new_value, StartsWith("new:"));
  EXPECT_THAT(before.Open(new_value, kAad),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(SealerCreateTest, RejectsBadRings) {
  EXPECT_THAT(Sealer::Create("k1", {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Sealer::Create("k2", {{"k1", Key('a')}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("k2")));
  EXPECT_THAT(Sealer::Create("k1", {{"k1", std::string(31, 'a')}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("32")));
  EXPECT_THAT(Sealer::Create("k1", {{"k1", std::string(33, 'a')}}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Sealer::Create("k.1", {{"k.1", Key('a')}}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Sealer::Create("k1", {{"k1", Key('a')}, {"", Key('b')}}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      Sealer::Create(std::string(33, 'k'), {{std::string(33, 'k'), Key('a')}}),
      StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      Sealer::Create(std::string(32, 'k'), {{std::string(32, 'k'), Key('a')}}),
      IsOk());
  EXPECT_THAT(Sealer::Create("Key_id-9", {{"Key_id-9", Key('a')}}), IsOk());
}

TEST(SealerCreateTest, ErrorsNeverContainKeyMaterial) {
  const std::string key = "KEYMATERIAL-KEYMATERIAL-KEYMATERIAL";  // 35 bytes
  absl::StatusOr<Sealer> sealer = Sealer::Create("k1", {{"k1", key}});
  EXPECT_THAT(sealer, StatusIs(absl::StatusCode::kInvalidArgument,
                               Not(HasSubstr("KEYMATERIAL"))));
}

TEST(SealerFromSpecTest, SingleKeyIsKeyIdK1) {
  const std::string key = Key('s');
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(const Sealer sealer,
                                Sealer::FromSpec(absl::Base64Escape(key)));
  EXPECT_EQ(sealer.primary_key_id(), "k1");
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(const std::string sealed,
                                sealer.Seal("value", kAad));
  EXPECT_THAT(sealed, StartsWith("k1:"));
  // The same key given through Create opens it: the spec decodes the key.
  EXPECT_THAT(MakeSealer("k1", {{"k1", key}}).Open(sealed, kAad), IsOk());
}

TEST(SealerFromSpecTest, SingleKeyToleratesSurroundingWhitespace) {
  // What `openssl rand -base64 32 > file` leaves behind.
  EXPECT_THAT(
      Sealer::FromSpec(absl::StrCat(absl::Base64Escape(Key('s')), "\n")),
      IsOk());
}

TEST(SealerFromSpecTest, ListsFirstEntryAsPrimary) {
  const std::string spec = absl::StrCat("new:", absl::Base64Escape(Key('n')),
                                        ", old:", absl::Base64Escape(Key('o')));
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(const Sealer sealer, Sealer::FromSpec(spec));
  EXPECT_EQ(sealer.primary_key_id(), "new");

  const Sealer old_only = MakeSealer("old", {{"old", Key('o')}});
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(const std::string old_value,
                                old_only.Seal("v", kAad));
  EXPECT_THAT(sealer.Open(old_value, kAad), IsOk());
}

TEST(SealerFromSpecTest, RejectsMalformedSpecsWithoutEchoingKeys) {
  // Key-like strings that must never appear in an error message.
  const std::string short_key = absl::Base64Escape(std::string(16, 'q'));
  const std::string long_key = absl::Base64Escape(std::string(48, 'q'));
  const std::string good = absl::Base64Escape(Key('g'));
  const std::string bad_base64 = "QUJD!!!!RUZH";
  const std::string unpadded = good.substr(0, good.size() - 1);
  struct Case {
    std::string spec;
    std::string secret;   // must not appear in the message
    std::string mention;  // must appear in the message
  };
  const Case cases[] = {
      {"", "", "empty"},
      {"   ", "", "empty"},
      {short_key, short_key, "32 bytes"},
      {long_key, long_key, "32 bytes"},
      {bad_base64, bad_base64, "base64"},
      {unpadded, unpadded, "base64"},
      {absl::StrCat("k1:", short_key), short_key, "32 bytes"},
      {absl::StrCat("k1:", bad_base64), bad_base64, "base64"},
      {absl::StrCat("k1:", good, ",k1:", good), good, "duplicate"},
      {absl::StrCat("k1:", good, ",k2:", short_key), short_key, "entry 2"},
      {absl::StrCat("k.1:", good), good, "key id"},
      {absl::StrCat(":", good), good, "key id"},
      {absl::StrCat(std::string(33, 'k'), ":", good), good, "key id"},
      {absl::StrCat("k1:", good, ",", good), good, "entry 2"},
      {absl::StrCat("k1:", good, ","), good, "entry 2"},
      {absl::StrCat("k1:", good, ",,k2:", good), good, "entry 2"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Sealer> sealer = Sealer::FromSpec(c.spec);
    EXPECT_THAT(sealer, StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr(c.mention)))
        << "spec '" << c.spec << "'";
    if (!c.secret.empty()) {
      EXPECT_THAT(sealer.status().message(), Not(HasSubstr(c.secret)))
          << "spec '" << c.spec << "'";
    }
  }
}

TEST(NewSealingKeySpecTest, IsAUsableFreshSpec) {
  const std::string a = NewSealingKeySpec();
  const std::string b = NewSealingKeySpec();
  EXPECT_NE(a, b);
  std::string raw;
  ASSERT_TRUE(absl::Base64Unescape(a, &raw));
  EXPECT_EQ(raw.size(), 32u);
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(const Sealer sealer, Sealer::FromSpec(a));
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(const std::string sealed,
                                sealer.Seal("value", kAad));
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(const std::string opened,
                                sealer.Open(sealed, kAad));
  EXPECT_EQ(opened, "value");
}

}  // namespace
}  // namespace webhooks::security
