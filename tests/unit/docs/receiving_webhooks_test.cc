// Keeps docs/receiving-webhooks.md, the subscriber's guide, true to the code.
//
// The guide marks what is checked with an HTML comment (invisible when the
// Markdown is rendered) on the line before a fenced code block or a table:
//   <!-- golden: NAME.json -->    a ```json block, byte-identical to
//                                 tests/unit/api/golden/NAME.json
//   <!-- check: NAME -->          a block or table the test named NAME reads
// A marker that is missing, or that is not followed by what its test expects,
// fails that test: no check is skipped silently.
#include <arpa/inet.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/random/bit_gen_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/delivery/address_policy.h"
#include "lib/delivery/curl_http_transport.h"
#include "lib/delivery/signer.h"
#include "lib/dispatch/request_builder.h"
#include "lib/domain/custom_headers.h"
#include "lib/domain/event_types.h"
#include "lib/domain/retry_policy.h"
#include "lib/domain/validation.h"
#include "lib/security/sealed_fields.h"
#include "lib/security/sealer.h"
#include "tests/testing/contract_table.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "webhooks/v1/event.pb.h"

namespace webhooks {
namespace {

using ::testing::ElementsAreArray;
using ::webhooks::testing::IsOk;
using ::webhooks::testing::IsOkAndHolds;

// ---------------------------------------------------------------------------
// Reading the guide.

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

class Guide {
 public:
  static const Guide& Get() {
    static const auto* const kGuide = new Guide(ReadFile(WEBHOOKS_GUIDE_PATH));
    return *kGuide;
  }

  // The 0-based line numbers of every "<!-- kind: name -->" line.
  std::vector<std::size_t> Markers(absl::string_view kind,
                                   absl::string_view name) const {
    const std::string marker = absl::StrCat("<!-- ", kind, ": ", name, " -->");
    std::vector<std::size_t> found;
    for (std::size_t i = 0; i < lines_.size(); ++i) {
      if (absl::StripAsciiWhitespace(lines_[i]) == marker) found.push_back(i);
    }
    return found;
  }

  // The names of every "<!-- kind: NAME -->" marker, in order.
  std::vector<std::string> MarkerNames(absl::string_view kind) const {
    const std::string prefix = absl::StrCat("<!-- ", kind, ": ");
    std::vector<std::string> names;
    for (const std::string& line : lines_) {
      absl::string_view rest = absl::StripAsciiWhitespace(line);
      if (absl::ConsumePrefix(&rest, prefix) &&
          absl::ConsumeSuffix(&rest, " -->")) {
        names.emplace_back(rest);
      }
    }
    return names;
  }

  // The content of the fenced block (```language) that starts on the line
  // after `marker_line`: the bytes between the opening fence's newline and
  // the newline before the closing fence.
  absl::StatusOr<std::string> BlockAfter(std::size_t marker_line,
                                         absl::string_view language) const {
    const std::size_t open = marker_line + 1;
    if (open >= lines_.size() ||
        lines_[open] != absl::StrCat("```", language)) {
      return absl::NotFoundError(absl::StrCat(
          "line ", open + 1, " of the guide is not a ```", language, " fence"));
    }
    std::vector<absl::string_view> body;
    for (std::size_t i = open + 1; i < lines_.size(); ++i) {
      if (lines_[i] == "```") return absl::StrJoin(body, "\n");
      body.push_back(lines_[i]);
    }
    return absl::NotFoundError(absl::StrCat("the block opened on line ",
                                            open + 1, " is never closed"));
  }

  // The body rows of the Markdown table that starts on the line after
  // `marker_line` (header and separator rows dropped), each cell stripped of
  // surrounding whitespace.
  absl::StatusOr<std::vector<std::vector<std::string>>> TableAfter(
      std::size_t marker_line) const {
    std::size_t i = marker_line + 1;
    std::vector<std::vector<std::string>> rows;
    for (; i < lines_.size() && absl::StartsWith(lines_[i], "|"); ++i) {
      absl::string_view line = absl::StripAsciiWhitespace(lines_[i]);
      line = absl::StripPrefix(absl::StripSuffix(line, "|"), "|");
      std::vector<std::string> cells;
      for (absl::string_view cell : absl::StrSplit(line, '|')) {
        cells.emplace_back(absl::StripAsciiWhitespace(cell));
      }
      rows.push_back(std::move(cells));
    }
    if (rows.size() < 3 || !absl::StartsWith(rows[1][0], "---")) {
      return absl::NotFoundError(
          absl::StrCat("no table with a header and rows after line ",
                       marker_line + 1, " of the guide"));
    }
    rows.erase(rows.begin(), rows.begin() + 2);
    return rows;
  }

 private:
  explicit Guide(const std::string& text)
      : lines_(absl::StrSplit(text, '\n')) {}

  std::vector<std::string> lines_;
};

// The one block after the one "<!-- check: name -->" marker.
std::string CheckedBlock(absl::string_view name, absl::string_view language) {
  const std::vector<std::size_t> markers = Guide::Get().Markers("check", name);
  EXPECT_EQ(markers.size(), 1u)
      << "the guide needs exactly one <!-- check: " << name << " --> marker";
  if (markers.size() != 1) return "";
  absl::StatusOr<std::string> block =
      Guide::Get().BlockAfter(markers[0], language);
  EXPECT_THAT(block, IsOk());
  return block.value_or("");
}

// The rows of every table after a "<!-- check: name -->" marker (at least
// one).
std::vector<std::vector<std::string>> CheckedTableRows(absl::string_view name,
                                                       std::size_t columns) {
  const std::vector<std::size_t> markers = Guide::Get().Markers("check", name);
  EXPECT_FALSE(markers.empty())
      << "the guide has no <!-- check: " << name << " --> marker";
  std::vector<std::vector<std::string>> rows;
  for (std::size_t marker : markers) {
    absl::StatusOr<std::vector<std::vector<std::string>>> table =
        Guide::Get().TableAfter(marker);
    EXPECT_THAT(table, IsOk());
    if (!table.ok()) continue;
    for (std::vector<std::string>& row : *table) {
      EXPECT_EQ(row.size(), columns)
          << "row \"" << absl::StrJoin(row, " | ") << "\" of table " << name;
      if (row.size() == columns) rows.push_back(std::move(row));
    }
  }
  return rows;
}

// "`text`" -> "text"; anything else unchanged.
std::string Unquote(absl::string_view cell) {
  if (cell.size() >= 2 && cell.front() == '`' && cell.back() == '`') {
    cell = cell.substr(1, cell.size() - 2);
  }
  return std::string(cell);
}

// "1 h 25 min 20 s", "5 s", "24 h" -> the duration; nullopt otherwise.
std::optional<absl::Duration> ParseGuideDuration(absl::string_view text) {
  const std::vector<absl::string_view> tokens =
      absl::StrSplit(text, ' ', absl::SkipEmpty());
  if (tokens.empty() || tokens.size() % 2 != 0) return std::nullopt;
  absl::Duration total = absl::ZeroDuration();
  for (std::size_t i = 0; i < tokens.size(); i += 2) {
    int64_t value = 0;
    if (!absl::SimpleAtoi(tokens[i], &value)) return std::nullopt;
    if (tokens[i + 1] == "s") {
      total += absl::Seconds(value);
    } else if (tokens[i + 1] == "min") {
      total += absl::Minutes(value);
    } else if (tokens[i + 1] == "h") {
      total += absl::Hours(value);
    } else {
      return std::nullopt;
    }
  }
  return total;
}

// "20", "256 bytes", "2,048 bytes", "8 KiB" -> the number (of bytes).
std::optional<int64_t> ParseGuideSize(absl::string_view text) {
  const std::vector<std::string> tokens =
      absl::StrSplit(absl::StrReplaceAll(text, {{",", ""}}), ' ');
  int64_t value = 0;
  if (tokens.empty() || tokens.size() > 2 ||
      !absl::SimpleAtoi(tokens[0], &value)) {
    return std::nullopt;
  }
  if (tokens.size() == 1 || tokens[1] == "bytes") return value;
  if (tokens[1] == "KiB") return value * 1024;
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// 1. The example bodies are the golden files, byte for byte.

std::string GoldenPath(absl::string_view name) {
  return absl::StrCat(WEBHOOKS_GOLDEN_DIR, "/", name);
}

TEST(GuideBodies, EveryMarkedBodyIsItsGoldenFileByteForByte) {
  const std::vector<std::string> names = Guide::Get().MarkerNames("golden");
  ASSERT_FALSE(names.empty()) << "the guide marks no golden bodies";
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(std::filesystem::exists(GoldenPath(name)))
        << "the guide names a golden file that does not exist";
    for (std::size_t marker : Guide::Get().Markers("golden", name)) {
      absl::StatusOr<std::string> block =
          Guide::Get().BlockAfter(marker, "json");
      ASSERT_THAT(block, IsOk());
      EXPECT_EQ(*block, ReadFile(GoldenPath(name)))
          << "the body in the guide after line " << marker + 1
          << " differs from the golden file; copy the file's exact bytes";
    }
  }
}

TEST(GuideBodies, EveryGoldenFileIsInTheGuide) {
  const std::vector<std::string> names = Guide::Get().MarkerNames("golden");
  const std::set<std::string> shown(names.begin(), names.end());
  int files = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(WEBHOOKS_GOLDEN_DIR)) {
    if (entry.path().extension() != ".json") continue;
    ++files;
    EXPECT_TRUE(shown.contains(entry.path().filename().string()))
        << entry.path().filename()
        << " is not shown in the guide (<!-- golden: "
        << entry.path().filename().string() << " -->)";
  }
  EXPECT_GT(files, 0);
}

TEST(GuideBodies, EveryEventTypeHasAnExampleBody) {
  std::set<std::string> types_shown;
  for (const std::string& name : Guide::Get().MarkerNames("golden")) {
    v1::WebhookPayload payload;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                    ReadFile(GoldenPath(name)), &payload)
                    .ok())
        << name;
    types_shown.insert(payload.event());
  }
  for (const std::string& type : domain::AllEventTypes()) {
    EXPECT_TRUE(types_shown.contains(type)) << "no example body of " << type;
  }
}

// ---------------------------------------------------------------------------
// 2. The worked signature example is what the signer produces.

struct SignatureExample {
  std::string secret;
  std::string previous_secret;
  std::string webhook_id;
  int64_t timestamp = 0;
  std::string body;
  std::string signature;           // with `secret` alone
  std::string rotation_signature;  // with `secret`, then `previous_secret`
};

// Lines "key: value" (blank lines and "# ..." comments skipped); the first
// "webhook-signature" is the single one, the second the rotation's.
SignatureExample ReadSignatureExample() {
  SignatureExample example;
  std::vector<std::string> signatures;
  for (absl::string_view line :
       absl::StrSplit(CheckedBlock("signature-example", "text"), '\n')) {
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    const std::size_t colon = line.find(": ");
    EXPECT_NE(colon, absl::string_view::npos) << "not \"key: value\": " << line;
    if (colon == absl::string_view::npos) continue;
    const absl::string_view key = line.substr(0, colon);
    // The value starts after the spaces that align it.
    const std::string value(
        absl::StripLeadingAsciiWhitespace(line.substr(colon + 1)));
    if (key == "secret") {
      example.secret = value;
    } else if (key == "previous secret") {
      example.previous_secret = value;
    } else if (key == "webhook-id") {
      example.webhook_id = value;
    } else if (key == "webhook-timestamp") {
      EXPECT_TRUE(absl::SimpleAtoi(value, &example.timestamp)) << value;
    } else if (key == "body") {
      example.body = value;
    } else if (key == "webhook-signature") {
      signatures.push_back(value);
    } else {
      ADD_FAILURE() << "unknown key in the signature example: " << key;
    }
  }
  EXPECT_EQ(signatures.size(), 2u)
      << "expected the single signature, then the rotation's";
  if (!signatures.empty()) example.signature = signatures[0];
  if (signatures.size() > 1) example.rotation_signature = signatures[1];
  return example;
}

TEST(GuideSignature, WorkedExampleIsWhatTheSignerProduces) {
  const SignatureExample example = ReadSignatureExample();
  ASSERT_FALSE(example.secret.empty());
  ASSERT_FALSE(example.webhook_id.empty());
  ASSERT_GT(example.timestamp, 0);
  ASSERT_FALSE(example.body.empty());
  EXPECT_THAT(delivery::Sign(example.secret, example.webhook_id,
                             example.timestamp, example.body),
              IsOkAndHolds(example.signature));
}

TEST(GuideSignature, RotationExampleIsWhatTheSignerProduces) {
  const SignatureExample example = ReadSignatureExample();
  ASSERT_FALSE(example.previous_secret.empty());
  const std::vector<std::string> secrets = {example.secret,
                                            example.previous_secret};
  EXPECT_THAT(delivery::SignatureHeader(secrets, example.webhook_id,
                                        example.timestamp, example.body),
              IsOkAndHolds(example.rotation_signature));
}

// The example request: the worked example's delivery, as BuildRequest makes
// it, with the headers curl adds around ours.
TEST(GuideRequest, ExampleRequestIsWhatTheWorkerBuilds) {
  const SignatureExample example = ReadSignatureExample();
  const std::string block = CheckedBlock("example-request", "http");
  const std::size_t blank = block.find("\n\n");
  ASSERT_NE(blank, std::string::npos) << "no blank line before the body";
  const std::string body = block.substr(blank + 2);
  EXPECT_EQ(body, example.body)
      << "the example request's body is not the worked example's";
  const std::vector<std::string> lines =
      absl::StrSplit(block.substr(0, blank), '\n');
  ASSERT_GE(lines.size(), 2u);
  const std::vector<std::string> request_line = absl::StrSplit(lines[0], ' ');
  ASSERT_EQ(request_line.size(), 3u) << lines[0];
  EXPECT_EQ(request_line[0], "POST");

  // Host, User-Agent, Accept and Content-Length come from curl (User-Agent
  // set from the worker's version); the rest must be BuildRequest's, in
  // order. Custom headers are the lines that are neither.
  std::string host;
  std::vector<std::string> ours;
  domain::HeaderMap custom;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::size_t colon = lines[i].find(": ");
    ASSERT_NE(colon, std::string::npos) << lines[i];
    const std::string name = lines[i].substr(0, colon);
    const std::string value = lines[i].substr(colon + 2);
    if (name == "Host") {
      host = value;
    } else if (name == "User-Agent") {
      EXPECT_TRUE(absl::StartsWith(value, "webhooks/")) << value;
    } else if (name == "Accept") {
      EXPECT_EQ(value, "*/*");
    } else if (name == "Content-Length") {
      EXPECT_EQ(value, absl::StrCat(body.size()));
    } else {
      ours.push_back(lines[i]);
      if (name != "Content-Type" && !absl::StartsWith(name, "webhook-")) {
        custom[name] = value;
      }
    }
  }
  ASSERT_FALSE(host.empty()) << "no Host header";

  v1::WebhookPayload payload;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(body, &payload).ok())
      << "the example body is not a WebhookPayload";
  absl::StatusOr<security::Sealer> sealer =
      security::Sealer::Create("k1", {{"k1", std::string(32, 'k')}});
  ASSERT_THAT(sealer, IsOk());
  store::LeasedDelivery leased;
  leased.id = 1;
  leased.attempt = 1;  // the example is a first attempt
  leased.event_id = example.webhook_id;
  leased.event_type = payload.event();
  leased.body = std::make_shared<const std::string>(body);
  leased.subscription_id = "sub_1";
  leased.target_url = absl::StrCat("https://", host, request_line[1]);
  absl::StatusOr<std::string> sealed_headers =
      sealer->Seal(domain::EncodeHeaders(custom),
                   security::SubscriptionFieldAad(
                       leased.subscription_id, security::kCustomHeadersField));
  ASSERT_THAT(sealed_headers, IsOk());
  leased.custom_headers_sealed = *sealed_headers;
  absl::StatusOr<std::string> sealed_secret =
      sealer->Seal(example.secret,
                   security::SubscriptionFieldAad(
                       leased.subscription_id, security::kSigningSecretField));
  ASSERT_THAT(sealed_secret, IsOk());
  leased.signing_secret_sealed = *sealed_secret;

  absl::StatusOr<delivery::HttpRequest> request = dispatch::BuildRequest(
      leased, *sealer, absl::FromUnixSeconds(example.timestamp));
  ASSERT_THAT(request, IsOk());
  EXPECT_THAT(ours, ElementsAreArray(request->headers))
      << "the example request's headers are not those the worker sends";
  EXPECT_EQ(*request->body, body);
}

// ---------------------------------------------------------------------------
// 3. The retry numbers are RetryPolicy's defaults.

double ParseGuideNumber(absl::string_view text) {
  double value = 0;
  EXPECT_TRUE(absl::SimpleAtod(text, &value)) << "not a number: " << text;
  return value;
}

absl::Duration ParseGuideDurationOrFail(absl::string_view text) {
  const std::optional<absl::Duration> duration = ParseGuideDuration(text);
  EXPECT_TRUE(duration.has_value()) << "not a duration: " << text;
  return duration.value_or(absl::ZeroDuration());
}

TEST(GuideRetries, PolicyTableIsRetryPolicyDefaults) {
  const domain::RetryPolicy policy;
  std::set<std::string> seen;
  for (const std::vector<std::string>& row :
       CheckedTableRows("retry-policy", 2)) {
    const std::string& what = row[0];
    const std::string& value = row[1];
    SCOPED_TRACE(what);
    seen.insert(what);
    if (what == "attempts in all, the first included") {
      EXPECT_EQ(ParseGuideNumber(value), policy.max_attempts);
    } else if (what == "wait after the first failed attempt") {
      EXPECT_EQ(ParseGuideDurationOrFail(value), policy.initial);
    } else if (what == "each further wait is the previous one times") {
      EXPECT_EQ(ParseGuideNumber(value), policy.multiplier);
    } else if (what == "longest wait") {
      EXPECT_EQ(ParseGuideDurationOrFail(value), policy.max_delay);
    } else if (what == "random spread of every wait") {
      absl::string_view percent = value;
      EXPECT_TRUE(absl::ConsumePrefix(&percent, "±")) << value;
      EXPECT_TRUE(absl::ConsumeSuffix(&percent, " %")) << value;
      EXPECT_DOUBLE_EQ(ParseGuideNumber(percent) / 100.0, policy.jitter);
    } else if (what == "longest `Retry-After` honoured") {
      EXPECT_EQ(ParseGuideDurationOrFail(value), policy.max_retry_after);
    } else {
      ADD_FAILURE() << "a row this test does not know; teach it the row";
    }
  }
  EXPECT_EQ(seen.size(), 6u) << "the retry-policy table lost a row";
}

TEST(GuideRetries, ScheduleTableIsBackoffDelay) {
  const domain::RetryPolicy policy;
  domain::RetryPolicy without_jitter = policy;
  without_jitter.jitter = 0;
  std::mt19937_64 rng(20261130);
  const std::vector<std::vector<std::string>> rows =
      CheckedTableRows("retry-schedule", 3);
  // One row per wait: between the attempts, none after the last.
  EXPECT_EQ(rows.size(), static_cast<std::size_t>(policy.max_attempts - 1));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const std::vector<std::string>& row = rows[i];
    SCOPED_TRACE(absl::StrJoin(row, " | "));
    const int attempt = static_cast<int>(i) + 1;
    EXPECT_EQ(ParseGuideNumber(row[0]), attempt);
    EXPECT_EQ(ParseGuideDurationOrFail(row[1]),
              domain::BackoffDelay(without_jitter, attempt, rng));

    const std::vector<std::string> range =
        absl::StrSplit(row[2], absl::ByString(" to "));
    ASSERT_EQ(range.size(), 2u) << "not \"A to B\": " << row[2];
    const absl::Duration shortest = ParseGuideDurationOrFail(range[0]);
    const absl::Duration longest = ParseGuideDurationOrFail(range[1]);
    // The extremes of the jitter factor, as the guide's formula states them.
    const absl::Duration nominal =
        policy.initial * std::pow(policy.multiplier, attempt - 1);
    EXPECT_EQ(shortest,
              std::min(nominal * (1 - policy.jitter), policy.max_delay));
    EXPECT_EQ(longest,
              std::min(nominal * (1 + policy.jitter), policy.max_delay));
    // And the code's delays stay within them.
    for (int sample = 0; sample < 200; ++sample) {
      const absl::Duration delay = domain::BackoffDelay(policy, attempt, rng);
      EXPECT_GE(delay, shortest - absl::Milliseconds(1));
      EXPECT_LE(delay, longest + absl::Milliseconds(1));
    }
  }
}

// ---------------------------------------------------------------------------
// Limits, tables of names, and the address policy.

TEST(GuideLimits, LimitsTableIsTheCodes) {
  const delivery::CurlTransportOptions transport;
  const std::map<std::string, absl::Duration> durations = {
      {"connecting (DNS, TCP and TLS handshake)", transport.connect_timeout},
      {"the whole request, connecting included", transport.total_timeout},
  };
  const std::map<std::string, int64_t> sizes = {
      {"response body kept", static_cast<int64_t>(transport.max_excerpt_bytes)},
      {"request body", static_cast<int64_t>(domain::kMaxBodyBytes)},
      {"custom headers per subscription",
       static_cast<int64_t>(domain::kMaxCustomHeaders)},
      {"custom header name", static_cast<int64_t>(domain::kMaxHeaderNameBytes)},
      {"custom header value",
       static_cast<int64_t>(domain::kMaxHeaderValueBytes)},
      {"target URL", static_cast<int64_t>(domain::kMaxTargetUrlBytes)},
  };
  std::set<std::string> seen;
  for (const std::vector<std::string>& row : CheckedTableRows("limits", 2)) {
    SCOPED_TRACE(row[0]);
    seen.insert(row[0]);
    if (auto it = durations.find(row[0]); it != durations.end()) {
      EXPECT_EQ(ParseGuideDurationOrFail(row[1]), it->second);
    } else if (auto size = sizes.find(row[0]); size != sizes.end()) {
      EXPECT_EQ(ParseGuideSize(row[1]), size->second) << row[1];
    } else {
      ADD_FAILURE() << "a row this test does not know; teach it the row";
    }
  }
  EXPECT_EQ(seen.size(), durations.size() + sizes.size())
      << "the limits table lost a row";
}

TEST(GuideNames, EventTypesTableIsTheCodes) {
  std::vector<std::string> types;
  for (const std::vector<std::string>& row :
       CheckedTableRows("event-types", 3)) {
    const std::string type = Unquote(row[0]);
    types.push_back(type);
    // Which directions ValidateEngagement lets the type carry.
    const auto accepts = [&type](absl::string_view action) {
      const bool changed = type == domain::kEngagementStatusChanged;
      return domain::ValidateEngagement(
                 {.event_type = type,
                  .yess_id = "eng_1",
                  .channel = "email",
                  .action = action,
                  .direction = "",
                  .status = changed ? "sent" : "",
                  .previous_status = changed ? "pending" : "",
                  .detail = ""})
          .ok();
    };
    const bool outbound = accepts("new_thread_email");
    const bool inbound = accepts("reply_email");
    const std::string expected = outbound && inbound ? "either"
                                 : outbound          ? "always `outbound`"
                                 : inbound           ? "always `inbound`"
                                                     : "none";
    EXPECT_EQ(row[2], expected) << type;
  }
  EXPECT_THAT(types, ElementsAreArray(domain::AllEventTypes()));
}

TEST(GuideNames, ActionsTableIsTheContractTable) {
  std::vector<std::string> documented;
  for (const std::vector<std::string>& row : CheckedTableRows("actions", 3)) {
    const std::string channel = Unquote(row[0]);
    const std::string action = Unquote(row[1]);
    EXPECT_EQ(domain::DirectionOfAction(channel, action), row[2])
        << channel << " " << action;
    documented.push_back(absl::StrCat(channel, " ", action, " ", row[2]));
  }
  std::vector<std::string> contract;
  for (const testing::ContractAction& entry : testing::ContractTable()) {
    contract.push_back(
        absl::StrCat(entry.channel, " ", entry.action, " ", entry.direction));
  }
  EXPECT_THAT(documented, ElementsAreArray(contract));
}

// Every field of WebhookPayload, by dotted path, with the guide's type name.
void CollectFields(const google::protobuf::Descriptor& message,
                   const std::string& prefix,
                   std::map<std::string, std::string>& out) {
  using google::protobuf::FieldDescriptor;
  for (int i = 0; i < message.field_count(); ++i) {
    const FieldDescriptor& field = *message.field(i);
    const std::string path = absl::StrCat(prefix, field.name());
    std::string type;
    if (field.type() == FieldDescriptor::TYPE_MESSAGE) {
      if (field.message_type()->full_name() == "google.protobuf.Timestamp") {
        type = "timestamp";
      } else {
        type = "object";
        CollectFields(*field.message_type(), path + ".", out);
      }
    } else if (field.type() == FieldDescriptor::TYPE_STRING) {
      type = "string";
    } else if (field.type() == FieldDescriptor::TYPE_INT32) {
      type = "integer";
    } else {
      type = absl::StrCat("(", field.type_name(), ": teach the test)");
    }
    if (field.is_repeated()) type = absl::StrCat("array of ", type, "s");
    out[path] = type;
  }
}

TEST(GuideBody, FieldTablesListEveryPayloadField) {
  std::map<std::string, std::string> documented;
  for (const std::vector<std::string>& row : CheckedTableRows("fields", 3)) {
    EXPECT_TRUE(documented.emplace(Unquote(row[0]), row[1]).second)
        << row[0] << " is listed twice";
  }
  std::map<std::string, std::string> code;
  CollectFields(*v1::WebhookPayload::descriptor(), "", code);
  for (const auto& [path, type] : code) {
    const auto it = documented.find(path);
    if (it == documented.end()) {
      ADD_FAILURE() << "WebhookPayload has " << path << " (" << type
                    << "), which the guide's field tables do not list";
    } else {
      EXPECT_EQ(it->second, type) << "the type of " << path;
    }
  }
  for (const auto& [path, type] : documented) {
    EXPECT_TRUE(code.contains(path))
        << "the guide lists " << path << ", which WebhookPayload does not have";
  }
}

// An IPv4 or IPv6 CIDR as 16 bytes (IPv4 mapped) and a prefix length of 128.
struct Cidr {
  std::array<uint8_t, 16> prefix{};
  int bits = 0;
  bool v4 = false;
};

std::optional<Cidr> ParseCidr(absl::string_view text) {
  const std::vector<std::string> parts = absl::StrSplit(text, '/');
  Cidr cidr;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &cidr.bits)) {
    return std::nullopt;
  }
  cidr.v4 = parts[0].find(':') == std::string::npos;
  if (cidr.v4) {
    in_addr v4{};
    if (inet_pton(AF_INET, parts[0].c_str(), &v4) != 1) return std::nullopt;
    cidr.prefix[10] = cidr.prefix[11] = 0xFF;
    std::copy_n(reinterpret_cast<const uint8_t*>(&v4.s_addr), 4,
                cidr.prefix.begin() + 12);
    cidr.bits += 96;
  } else {
    in6_addr v6{};
    if (inet_pton(AF_INET6, parts[0].c_str(), &v6) != 1) return std::nullopt;
    std::copy_n(v6.s6_addr, 16, cidr.prefix.begin());
  }
  return cidr;
}

// The first (host bits clear) or last (host bits set) address, as text.
std::string EdgeAddress(const Cidr& cidr, bool last) {
  std::array<uint8_t, 16> address = cidr.prefix;
  for (int bit = cidr.bits; bit < 128; ++bit) {
    const auto mask = static_cast<uint8_t>(0x80 >> (bit % 8));
    const auto byte = static_cast<std::size_t>(bit / 8);
    address[byte] = static_cast<uint8_t>(last ? address[byte] | mask
                                              : address[byte] & ~mask);
  }
  char text[INET6_ADDRSTRLEN] = {};
  if (cidr.v4) {
    inet_ntop(AF_INET, address.data() + 12, text, sizeof(text));
  } else {
    inet_ntop(AF_INET6, address.data(), text, sizeof(text));
  }
  return text;
}

TEST(GuideAddresses, RefusedRangesAreRefusedAndAreAllTheIpv4Ones) {
  absl::StatusOr<delivery::AddressPolicy> policy =
      delivery::AddressPolicy::Create("");
  ASSERT_THAT(policy, IsOk());
  std::vector<std::pair<uint32_t, uint32_t>> v4_ranges;  // network, mask
  for (const std::vector<std::string>& row :
       CheckedTableRows("refused-ranges", 2)) {
    const std::optional<Cidr> cidr = ParseCidr(Unquote(row[0]));
    ASSERT_TRUE(cidr.has_value()) << "not a CIDR: " << row[0];
    for (bool last : {false, true}) {
      const std::string address = EdgeAddress(*cidr, last);
      EXPECT_FALSE(policy->AllowsText(address))
          << address << " (in " << row[0] << ") is not refused";
    }
    if (cidr->v4) {
      const int bits = cidr->bits - 96;
      const uint32_t mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
      const uint32_t network =
          uint32_t{cidr->prefix[12]} << 24 | uint32_t{cidr->prefix[13]} << 16 |
          uint32_t{cidr->prefix[14]} << 8 | uint32_t{cidr->prefix[15]};
      v4_ranges.emplace_back(network, mask);
    }
  }
  // Every refused IPv4 range is a whole number of /24s, so one address of
  // each /24 tells whether the guide lists all of them.
  int unlisted = 0;
  int listed_but_allowed = 0;
  std::string examples;
  for (uint32_t block = 0; block < (uint32_t{1} << 24); ++block) {
    const uint32_t address = block << 8 | 1;
    sockaddr_in socket_address{};
    socket_address.sin_family = AF_INET;
    socket_address.sin_addr.s_addr = htonl(address);
    const bool refused =
        !policy->Allows(reinterpret_cast<const sockaddr*>(&socket_address));
    const bool listed = std::any_of(
        v4_ranges.begin(), v4_ranges.end(), [address](const auto& range) {
          return (address & range.second) == range.first;
        });
    if (refused == listed) continue;
    (refused ? unlisted : listed_but_allowed)++;
    if (unlisted + listed_but_allowed <= 5) {
      char text[INET_ADDRSTRLEN] = {};
      inet_ntop(AF_INET, &socket_address.sin_addr, text, sizeof(text));
      absl::StrAppend(&examples, " ", text,
                      refused ? " (refused, not listed)" : " (allowed)");
    }
  }
  EXPECT_EQ(unlisted, 0) << "/24s the code refuses but the guide does not "
                            "list; e.g."
                         << examples;
  EXPECT_EQ(listed_but_allowed, 0) << "e.g." << examples;
}

// ---------------------------------------------------------------------------
// The verification snippets, run by their interpreters.

// The first executable `name` on PATH, or "".
std::string FindOnPath(absl::string_view name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return "";
  for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
    const std::string candidate = absl::StrCat(dir, "/", name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

struct SnippetCase {
  std::string what;
  std::string secret;
  std::string webhook_id;
  std::string timestamp;
  std::string signature;
  std::string body;
  int64_t now = 0;
  bool accept = false;
};

std::vector<SnippetCase> SnippetCases() {
  const SignatureExample e = ReadSignatureExample();
  const std::string ts = absl::StrCat(e.timestamp);
  const int64_t t = e.timestamp;
  std::string tampered = e.body;
  if (!tampered.empty()) tampered[tampered.size() / 2] ^= 1;
  std::string other_version = e.signature;
  absl::StrReplaceAll({{"v1,", "v2,"}}, &other_version);
  return {
      {"the worked example", e.secret, e.webhook_id, ts, e.signature, e.body,
       t + 10, true},
      {"the worked example, receiver's clock behind", e.secret, e.webhook_id,
       ts, e.signature, e.body, t - 10, true},
      {"a tampered body", e.secret, e.webhook_id, ts, e.signature, tampered,
       t + 10, false},
      {"a body with a newline added", e.secret, e.webhook_id, ts, e.signature,
       e.body + "\n", t + 10, false},
      {"another webhook-id", e.secret, e.webhook_id + "X", ts, e.signature,
       e.body, t + 10, false},
      {"a stale timestamp (5 min 1 s old)", e.secret, e.webhook_id, ts,
       e.signature, e.body, t + 301, false},
      {"a timestamp 5 min 1 s ahead", e.secret, e.webhook_id, ts, e.signature,
       e.body, t - 301, false},
      {"the wrong secret", e.previous_secret, e.webhook_id, ts, e.signature,
       e.body, t + 10, false},
      {"a rotation, with the new secret", e.secret, e.webhook_id, ts,
       e.rotation_signature, e.body, t + 10, true},
      {"a rotation, with the previous secret", e.previous_secret, e.webhook_id,
       ts, e.rotation_signature, e.body, t + 10, true},
      {"only an unknown signature version", e.secret, e.webhook_id, ts,
       other_version, e.body, t + 10, false},
      {"no signature", e.secret, e.webhook_id, ts, "", e.body, t + 10, false},
  };
}

// Writes the snippet with `harness` appended, and a file of cases (one per
// line: secret, id, timestamp, signature, body file, now; tab-separated);
// runs `interpreter` on them and checks one "accept" or "reject" per case.
void RunSnippet(absl::string_view interpreter_name,
                absl::string_view snippet_marker, absl::string_view language,
                absl::string_view extension, absl::string_view harness) {
  const std::string interpreter = FindOnPath(interpreter_name);
  ASSERT_FALSE(interpreter.empty())
      << interpreter_name
      << " is not on PATH; scripts/install-deps.sh installs it. This test "
         "runs the guide's verification code and must not be skipped.";
  const std::string snippet = CheckedBlock(snippet_marker, language);
  ASSERT_FALSE(snippet.empty());

  const std::string dir = absl::StrCat(::testing::TempDir(), "/guide_",
                                       snippet_marker, "_", getpid());
  std::filesystem::create_directories(dir);
  const std::string script = absl::StrCat(dir, "/verify.", extension);
  std::ofstream(script, std::ios::binary) << snippet << "\n" << harness;

  const std::vector<SnippetCase> cases = SnippetCases();
  std::ofstream case_file(dir + "/cases.tsv", std::ios::binary);
  std::vector<std::string> expected;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const SnippetCase& c = cases[i];
    const std::string body_path = absl::StrCat(dir, "/body", i);
    std::ofstream(body_path, std::ios::binary) << c.body;
    case_file << absl::StrJoin({c.secret, c.webhook_id, c.timestamp,
                                c.signature, body_path, absl::StrCat(c.now)},
                               "\t")
              << "\n";
    expected.push_back(
        absl::StrCat(c.what, ": ", c.accept ? "accept" : "reject"));
  }
  case_file.close();

  absl::StatusOr<testing::ChildProcess> child = testing::ChildProcess::Start(
      {interpreter, script, dir + "/cases.tsv"}, {}, dir + "/output.txt");
  ASSERT_THAT(child, IsOk());
  const std::optional<int> exit_code = child->Wait(absl::Seconds(60));
  ASSERT_TRUE(exit_code.has_value()) << interpreter << " did not finish";
  const std::string output = child->Log();
  ASSERT_EQ(*exit_code, 0) << interpreter << " failed:\n" << output;

  std::vector<std::string> got;
  std::vector<std::string> answers =
      absl::StrSplit(output, '\n', absl::SkipEmpty());
  for (std::size_t i = 0; i < answers.size(); ++i) {
    got.push_back(absl::StrCat(i < cases.size() ? cases[i].what : "(extra)",
                               ": ", answers[i]));
  }
  EXPECT_THAT(got, ElementsAreArray(expected)) << "output:\n" << output;
  std::filesystem::remove_all(dir);
}

constexpr absl::string_view kPythonHarness = R"py(

if __name__ == "__main__":
    import sys
    with open(sys.argv[1], encoding="utf-8") as cases:
        for line in cases:
            secret, webhook_id, timestamp, signature, body_path, now = (
                line.rstrip("\n").split("\t"))
            with open(body_path, "rb") as f:
                body = f.read()
            ok = verify_webhook(secret, webhook_id, timestamp, signature, body,
                                now=int(now))
            print("accept" if ok else "reject")
)py";

constexpr absl::string_view kNodeHarness = R"js(
const fs = require("fs");
for (const line of fs.readFileSync(process.argv[2], "utf8").split("\n")) {
  if (line === "") continue;
  const [secret, webhookId, timestamp, signature, bodyPath, now] =
    line.split("\t");
  const body = fs.readFileSync(bodyPath);
  const ok = verifyWebhook(secret, webhookId, timestamp, signature, body,
                           Number(now));
  console.log(ok ? "accept" : "reject");
}
)js";

TEST(GuideSnippets, PythonVerifierAcceptsGenuineAndRejectsForged) {
  RunSnippet("python3", "verify-python", "python", "py", kPythonHarness);
}

TEST(GuideSnippets, NodeVerifierAcceptsGenuineAndRejectsForged) {
  RunSnippet("node", "verify-node", "javascript", "js", kNodeHarness);
}

}  // namespace
}  // namespace webhooks
