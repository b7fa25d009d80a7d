#include "services/api/event_codec.h"

#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/api/sample_events.h"
#include "tests/testing/contract_table.h"
#include "tests/testing/status_matchers.h"

namespace webhooks::api {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using ::webhooks::testing::IsOk;
using ::webhooks::testing::StatusIs;

// The contract's limit, written out rather than taken from lib/domain so that
// a change of the constant cannot silently move the test with it.
constexpr std::size_t kContractMaxBodyBytes = 256 * 1024;

// INVALID_ARGUMENT whose message starts with "<field>: ".
auto InvalidAt(const std::string& field) {
  return StatusIs(absl::StatusCode::kInvalidArgument, StartsWith(field + ": "));
}

// The golden file's bytes. The files hold no trailing newline; one that an
// editor may add is stripped (a compact body never ends in a newline).
std::string ReadGolden(absl::string_view name) {
  const std::string path = absl::StrCat(WEBHOOKS_GOLDEN_DIR, "/", name);
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::ostringstream contents;
  contents << in.rdbuf();
  std::string text = contents.str();
  if (absl::EndsWith(text, "\n")) text.pop_back();
  return text;
}

v1::Event ParseEvent(absl::string_view text_proto) {
  v1::Event event;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(
      std::string(text_proto), &event))
      << text_proto;
  return event;
}

// Parses a delivered body the way a subscriber with our proto would.
v1::WebhookPayload ParsePayload(absl::string_view json) {
  v1::WebhookPayload payload;
  const auto status =
      google::protobuf::util::JsonStringToMessage(std::string(json), &payload);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << json;
  return payload;
}

// What a body for `event` must parse back to: the event's data under
// "event"/"event_id", with `direction` as the contract says it must be.
v1::WebhookPayload ExpectedPayload(const v1::Event& event,
                                   absl::string_view event_id,
                                   absl::string_view direction) {
  v1::WebhookPayload payload;
  payload.set_event(event.type());
  payload.set_event_id(std::string(event_id));
  if (event.has_occurred_at()) {
    *payload.mutable_occurred_at() = event.occurred_at();
  }
  if (event.has_account()) *payload.mutable_account() = event.account();
  if (event.has_lead()) *payload.mutable_lead() = event.lead();
  if (event.has_engagement()) {
    *payload.mutable_engagement() = event.engagement();
    payload.mutable_engagement()->set_direction(std::string(direction));
  }
  if (event.has_sequence()) *payload.mutable_sequence() = event.sequence();
  return payload;
}

MATCHER_P(EqualsProto, expected, "equals the expected message") {
  google::protobuf::util::MessageDifferencer differencer;
  std::string differences;
  differencer.ReportDifferencesToString(&differences);
  if (differencer.Compare(expected, arg)) return true;
  *result_listener << "differences:\n" << differences;
  return false;
}

// ---------------------------------------------------------------------------
// Events, one per event type and channel. Timestamps are unix seconds; the
// RFC 3339 form that the golden file must hold is in the comment.

// The sample event SendTestEvent sends (services/api/sample_events.cc).
const absl::string_view kDispatchedEmail =
    SampleEventText("engagement_dispatched");

constexpr absl::string_view kDispatchedLinkedin = R"pb(
  type: "engagement_dispatched"
  # 2026-11-27T09:15:00.000250Z
  occurred_at { seconds: 1795770900 nanos: 250000 }
  account {
    yess_id: "acc_8f2c"
    name: "Acme Corp"
    domain: "acme.com"
    integration_identifiers { outreach_id: "4411" salesloft_id: "SL-77" }
  }
  lead {
    yess_id: "lead_51aa"
    first_name: "Dana"
    last_name: "Ng"
    title: "VP Sales"
    linkedin_url: "https://www.linkedin.com/in/dana-ng"
    integration_identifiers { hubspot_id: "9876543" outreach_id: "8812" }
  }
  engagement {
    yess_id: "eng_7c02"
    channel: "linkedin"
    action: "linkedin_connect"
    direction: "outbound"
    status: "sent"
    # 2026-11-27T09:14:59.500Z
    sent_at { seconds: 1795770899 nanos: 500000000 }
    linkedin {
      message: "Hi Dana, let's connect & compare notes."
      profile_url: "https://www.linkedin.com/in/dana-ng"
    }
  }
  sequence {
    yess_id: "seq_4"
    name: "LinkedIn warm-up"
    step_number: 2
    total_steps: 3
  }
)pb";

constexpr absl::string_view kDispatchedManual = R"pb(
  type: "engagement_dispatched"
  # 2026-11-28T16:45:30.123456789Z
  occurred_at { seconds: 1795884330 nanos: 123456789 }
  account { yess_id: "acc_8f2c" name: "Acme Corp" }
  lead {
    yess_id: "lead_51aa"
    first_name: "Dana"
    last_name: "Ng"
    email: "dana@acme.com"
  }
  engagement {
    yess_id: "eng_7c03"
    channel: "manual"
    action: "manual_task"
    status: "scheduled"
    manual_task {
      title: "Call Dana"
      notes: "Ask about the Q1 budget"
      # 2026-12-01T10:00:00Z
      due_at { seconds: 1796119200 }
    }
  }
  sequence {
    yess_id: "seq_3"
    name: "Q4 outbound"
    step_number: 3
    total_steps: 5
  }
)pb";

// The sample event SendTestEvent sends (services/api/sample_events.cc).
const absl::string_view kInboundEmail = SampleEventText("inbound_engagement");

// No detail object, no sequence, direction left to be derived.
constexpr absl::string_view kInboundLinkedin = R"pb(
  type: "inbound_engagement"
  # 2026-11-30T12:00:00Z
  occurred_at { seconds: 1796040000 }
  account { yess_id: "acc_8f2c" name: "Acme Corp" domain: "acme.com" }
  lead {
    yess_id: "lead_51aa"
    first_name: "Dana"
    last_name: "Ng"
    linkedin_url: "https://www.linkedin.com/in/dana-ng"
    integration_identifiers {
      salesforce_contact_id: "0035g00000AbCdEAAZ"
      hubspot_id: "9876543"
    }
  }
  engagement {
    yess_id: "eng_7c02"
    channel: "linkedin"
    action: "connection_accepted_linkedin"
  }
)pb";

// The sample event SendTestEvent sends (services/api/sample_events.cc).
const absl::string_view kStatusChangedEmail =
    SampleEventText("engagement_status_changed");

// ---------------------------------------------------------------------------
// Golden bodies

struct GoldenCase {
  std::string name;  // the golden file is <name>.json
  absl::string_view event_text;
  std::string event_id;
  std::string direction;        // what the body must say, given or derived
  std::string idempotency_key;  // the default key
};

void PrintTo(const GoldenCase& c, std::ostream* os) { *os << c.name; }

std::vector<GoldenCase> GoldenCases() {
  return {
      {"engagement_dispatched_email", kDispatchedEmail,
       "evt_01JD7X3G2Q5T6X8V9W0Y1Z2A3B", "outbound",
       "engagement_dispatched:eng_7c01:2026-11-26T14:03:11.512Z"},
      {"engagement_dispatched_linkedin", kDispatchedLinkedin,
       "evt_01JD7X3G2Q5T6X8V9W0Y1Z2A3C", "outbound",
       "engagement_dispatched:eng_7c02:2026-11-27T09:15:00.00025Z"},
      {"engagement_dispatched_manual", kDispatchedManual,
       "evt_01JD7X3G2Q5T6X8V9W0Y1Z2A3D", "outbound",
       "engagement_dispatched:eng_7c03:2026-11-28T16:45:30.123456789Z"},
      {"inbound_engagement_email", kInboundEmail,
       "evt_01JD7X3G2Q5T6X8V9W0Y1Z2A3E", "inbound",
       "inbound_engagement:eng_7c04:2026-11-29T08:00:01.1Z"},
      {"inbound_engagement_linkedin", kInboundLinkedin,
       "evt_01JD7X3G2Q5T6X8V9W0Y1Z2A3F", "inbound",
       "inbound_engagement:eng_7c02:2026-11-30T12:00:00Z"},
      {"engagement_status_changed_email", kStatusChangedEmail,
       "evt_01JD7X3G2Q5T6X8V9W0Y1Z2A3G", "outbound",
       "engagement_status_changed:eng_7c01:sent>delivered:"
       "2026-11-26T14:05:42.007Z"},
  };
}

class GoldenTest : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(GoldenTest, RenderBodyMatchesGoldenByteForByte) {
  const GoldenCase& c = GetParam();
  EXPECT_THAT(RenderBody(ParseEvent(c.event_text), c.event_id),
              webhooks::testing::IsOkAndHolds(ReadGolden(c.name + ".json")));
}

TEST_P(GoldenTest, PrepareEventBodyMatchesGoldenByteForByte) {
  const GoldenCase& c = GetParam();
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(
      store::NewEvent prepared,
      PrepareEvent(ParseEvent(c.event_text), "", c.event_id));
  EXPECT_EQ(prepared.body, ReadGolden(c.name + ".json"));
  EXPECT_EQ(prepared.idempotency_key, c.idempotency_key);
}

// Checks the hand-written golden itself: it must say what the event says.
TEST_P(GoldenTest, GoldenParsesToTheEvent) {
  const GoldenCase& c = GetParam();
  const v1::Event event = ParseEvent(c.event_text);
  EXPECT_THAT(ParsePayload(ReadGolden(c.name + ".json")),
              EqualsProto(ExpectedPayload(event, c.event_id, c.direction)));
}

TEST_P(GoldenTest, OutputParsesBackToTheEvent) {
  const GoldenCase& c = GetParam();
  const v1::Event event = ParseEvent(c.event_text);
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(std::string body,
                                RenderBody(event, c.event_id));
  EXPECT_THAT(ParsePayload(body),
              EqualsProto(ExpectedPayload(event, c.event_id, c.direction)));
}

INSTANTIATE_TEST_SUITE_P(
    EventCodec, GoldenTest, ::testing::ValuesIn(GoldenCases()),
    [](const ::testing::TestParamInfo<GoldenCase>& param_info) {
      return param_info.param.name;
    });

// The contract's example, verbatim: the golden differs from it only in
// whitespace and in how many fractional digits sent_at has.
TEST(EventCodecTest, ContractExampleMeansTheSameAsTheGolden) {
  constexpr absl::string_view kContractExample = R"json({
  "event": "engagement_dispatched",
  "event_id": "evt_01JD7X3G2Q5T6X8V9W0Y1Z2A3B",
  "occurred_at": "2026-11-26T14:03:11.512Z",
  "account": {
    "yess_id": "acc_8f2c",
    "name": "Acme Corp",
    "domain": "acme.com",
    "integration_identifiers": { "salesforce_id": "0015g00000XyZ12AAB", "hubspot_id": "9876543" }
  },
  "lead": {
    "yess_id": "lead_51aa",
    "first_name": "Dana",
    "last_name": "Ng",
    "email": "dana@acme.com",
    "title": "VP Sales",
    "linkedin_url": "https://www.linkedin.com/in/dana-ng",
    "integration_identifiers": { "salesforce_contact_id": "0035g00000AbCdEAAZ" }
  },
  "engagement": {
    "yess_id": "eng_7c01",
    "channel": "email",
    "action": "new_thread_email",
    "direction": "outbound",
    "status": "sent",
    "sent_at": "2026-11-26T14:03:10.000Z",
    "email": {
      "subject": "Quick question",
      "body_text": "Hi Dana, ...",
      "from": "rep@seller.com",
      "to": ["dana@acme.com"],
      "thread_id": "thr_19"
    }
  },
  "sequence": { "yess_id": "seq_3", "name": "Q4 outbound", "step_number": 1, "total_steps": 5 }
})json";
  EXPECT_THAT(ParsePayload(ReadGolden("engagement_dispatched_email.json")),
              EqualsProto(ParsePayload(kContractExample)));
}

// ---------------------------------------------------------------------------
// Empty data and direction

TEST(EventCodecTest, EmptySubMessagesAreOmittedEntirely) {
  const v1::Event event = ParseEvent(R"pb(
    type: "inbound_engagement"
    occurred_at { seconds: 1796040000 }
    account { integration_identifiers {} }
    lead {
      yess_id: "lead_51aa"
      integration_identifiers {}
    }
    engagement {
      yess_id: "eng_7c02"
      channel: "linkedin"
      action: "connection_accepted_linkedin"
      linkedin {}
    }
    sequence {}
  )pb");
  const std::string expected =
      R"({"event":"inbound_engagement","event_id":"evt_1",)"
      R"("occurred_at":"2026-11-30T12:00:00Z","lead":{"yess_id":"lead_51aa"},)"
      R"("engagement":{"yess_id":"eng_7c02","channel":"linkedin",)"
      R"("action":"connection_accepted_linkedin","direction":"inbound"}})";
  EXPECT_THAT(RenderBody(event, "evt_1"),
              webhooks::testing::IsOkAndHolds(expected));
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(store::NewEvent prepared,
                                PrepareEvent(event, "", "evt_1"));
  EXPECT_EQ(prepared.body, expected);
}

TEST(EventCodecTest, EmptyStringsAreOmitted) {
  v1::Event event = ParseEvent(kDispatchedEmail);
  event.mutable_lead()->set_title("");
  event.mutable_engagement()->mutable_email()->add_cc("");
  event.mutable_engagement()->mutable_email()->set_body_html("");
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(std::string body, RenderBody(event, "evt_1"));
  EXPECT_THAT(body, Not(HasSubstr("\"title\"")));
  EXPECT_THAT(body, Not(HasSubstr("\"body_html\"")));
  // A repeated field's empty element is data, not absence.
  EXPECT_THAT(body, HasSubstr(R"("cc":[""])"));
}

TEST(EventCodecTest, DirectionIsDerivedFromTheActionWhenEmpty) {
  for (const testing::ContractAction& c : testing::ContractTable()) {
    SCOPED_TRACE(c.action);
    v1::Event event;
    event.set_type(c.direction == "outbound" ? "engagement_dispatched"
                                             : "inbound_engagement");
    event.mutable_occurred_at()->set_seconds(1795701791);
    event.mutable_engagement()->set_yess_id("eng_7c01");
    event.mutable_engagement()->set_channel(c.channel);
    event.mutable_engagement()->set_action(c.action);
    WEBHOOKS_ASSERT_OK_AND_ASSIGN(store::NewEvent prepared,
                                  PrepareEvent(event, "", "evt_1"));
    EXPECT_EQ(ParsePayload(prepared.body).engagement().direction(),
              c.direction);
    EXPECT_THAT(prepared.body, HasSubstr(absl::StrCat(R"("action":")", c.action,
                                                      R"(","direction":")",
                                                      c.direction, R"("})")));
  }
}

TEST(EventCodecTest, RenderBodyLeavesDirectionAbsentForAnUnknownAction) {
  // RenderBody does not validate; it must not invent a direction either.
  v1::Event event = ParseEvent(kDispatchedEmail);
  event.mutable_engagement()->set_action("fax");
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(std::string body, RenderBody(event, "evt_1"));
  EXPECT_THAT(body, Not(HasSubstr("\"direction\"")));
}

TEST(EventCodecTest, MismatchedDirectionIsInvalid) {
  v1::Event event = ParseEvent(kDispatchedEmail);
  event.mutable_engagement()->set_direction("inbound");
  EXPECT_THAT(PrepareEvent(event, "", "evt_1"),
              InvalidAt("event.engagement.direction"));
  event.mutable_engagement()->set_direction("sideways");
  EXPECT_THAT(PrepareEvent(event, "", "evt_1"),
              InvalidAt("event.engagement.direction"));
  event.mutable_engagement()->set_direction("outbound");
  EXPECT_THAT(PrepareEvent(event, "", "evt_1"), IsOk());
}

// ---------------------------------------------------------------------------
// Validation

TEST(EventCodecTest, MissingEngagementIsInvalid) {
  v1::Event event = ParseEvent(kDispatchedEmail);
  event.clear_engagement();
  EXPECT_THAT(PrepareEvent(event, "", "evt_1"), InvalidAt("event.engagement"));
}

TEST(EventCodecTest, MissingOccurredAtIsInvalid) {
  v1::Event event = ParseEvent(kDispatchedEmail);
  event.clear_occurred_at();
  EXPECT_THAT(PrepareEvent(event, "", "evt_1"), InvalidAt("event.occurred_at"));
}

struct ContractViolation {
  std::string description;
  std::string field;  // the path the message must start with
  void (*break_rule)(v1::Event& event);
};

// Each case breaks one rule of the (otherwise valid) contract example.
TEST(EventCodecTest, ContractViolationsNameTheField) {
  const std::vector<ContractViolation> cases = {
      {"unknown type", "event.type",
       [](v1::Event& e) { e.set_type("engagement_created"); }},
      {"missing type", "event.type", [](v1::Event& e) { e.clear_type(); }},
      {"missing engagement yess_id", "event.engagement.yess_id",
       [](v1::Event& e) { e.mutable_engagement()->clear_yess_id(); }},
      {"missing channel", "event.engagement.channel",
       [](v1::Event& e) { e.mutable_engagement()->clear_channel(); }},
      {"unknown channel", "event.engagement.channel",
       [](v1::Event& e) { e.mutable_engagement()->set_channel("fax"); }},
      {"missing action", "event.engagement.action",
       [](v1::Event& e) { e.mutable_engagement()->clear_action(); }},
      {"action of another channel", "event.engagement.action",
       [](v1::Event& e) {
         e.mutable_engagement()->set_action("linkedin_message");
       }},
      {"dispatched with an inbound action", "event.engagement.action",
       [](v1::Event& e) { e.mutable_engagement()->set_action("reply_email"); }},
      {"inbound with an outbound action", "event.engagement.action",
       [](v1::Event& e) { e.set_type("inbound_engagement"); }},
      {"unknown status", "event.engagement.status",
       [](v1::Event& e) { e.mutable_engagement()->set_status("opened"); }},
      {"unknown previous_status", "event.engagement.previous_status",
       [](v1::Event& e) {
         e.set_type("engagement_status_changed");
         e.mutable_engagement()->set_previous_status("opened");
       }},
      {"status change without status", "event.engagement.status",
       [](v1::Event& e) {
         e.set_type("engagement_status_changed");
         e.mutable_engagement()->clear_status();
         e.mutable_engagement()->set_previous_status("pending");
       }},
      {"status change without previous_status",
       "event.engagement.previous_status",
       [](v1::Event& e) { e.set_type("engagement_status_changed"); }},
      {"previous_status outside a status change",
       "event.engagement.previous_status",
       [](v1::Event& e) {
         e.mutable_engagement()->set_previous_status("pending");
       }},
      {"linkedin detail on the email channel", "event.engagement.linkedin",
       [](v1::Event& e) {
         e.mutable_engagement()->mutable_linkedin()->set_message("Hi");
       }},
      {"email detail on the manual channel", "event.engagement.email",
       [](v1::Event& e) {
         e.mutable_engagement()->set_channel("manual");
         e.mutable_engagement()->set_action("manual_task");
       }},
      {"manual_task detail on the linkedin channel",
       "event.engagement.manual_task",
       [](v1::Event& e) {
         e.mutable_engagement()->set_channel("linkedin");
         e.mutable_engagement()->set_action("linkedin_message");
         e.mutable_engagement()->mutable_manual_task()->set_title("Call");
       }},
  };
  for (const ContractViolation& c : cases) {
    SCOPED_TRACE(c.description);
    v1::Event event = ParseEvent(kDispatchedEmail);
    c.break_rule(event);
    EXPECT_THAT(PrepareEvent(event, "", "evt_1"), InvalidAt(c.field));
  }
}

// RFC 3339 (and so protobuf's JSON mapping) spans 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59.999999999Z.
constexpr int64_t kMinSeconds = -62135596800;
constexpr int64_t kMaxSeconds = 253402300799;

struct BadTimestamp {
  int64_t seconds;
  int32_t nanos;
};

std::vector<BadTimestamp> BadTimestamps() {
  return {{kMaxSeconds + 1, 0},
          {kMinSeconds - 1, 0},
          {1795701791, -1},
          {1795701791, 1000000000}};
}

TEST(EventCodecTest, OutOfRangeOccurredAtIsInvalid) {
  for (const BadTimestamp& t : BadTimestamps()) {
    SCOPED_TRACE(absl::StrCat(t.seconds, "s ", t.nanos, "ns"));
    v1::Event event = ParseEvent(kDispatchedEmail);
    event.mutable_occurred_at()->set_seconds(t.seconds);
    event.mutable_occurred_at()->set_nanos(t.nanos);
    EXPECT_THAT(PrepareEvent(event, "", "evt_1"),
                InvalidAt("event.occurred_at"));
    EXPECT_THAT(RenderBody(event, "evt_1"),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST(EventCodecTest, OutOfRangeSentAtIsInvalid) {
  for (const BadTimestamp& t : BadTimestamps()) {
    SCOPED_TRACE(absl::StrCat(t.seconds, "s ", t.nanos, "ns"));
    v1::Event event = ParseEvent(kDispatchedEmail);
    event.mutable_engagement()->mutable_sent_at()->set_seconds(t.seconds);
    event.mutable_engagement()->mutable_sent_at()->set_nanos(t.nanos);
    EXPECT_THAT(PrepareEvent(event, "", "evt_1"),
                InvalidAt("event.engagement.sent_at"));
    EXPECT_THAT(RenderBody(event, "evt_1"),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST(EventCodecTest, OutOfRangeDueAtIsInvalid) {
  for (const BadTimestamp& t : BadTimestamps()) {
    SCOPED_TRACE(absl::StrCat(t.seconds, "s ", t.nanos, "ns"));
    v1::Event event = ParseEvent(kDispatchedManual);
    auto* due_at =
        event.mutable_engagement()->mutable_manual_task()->mutable_due_at();
    due_at->set_seconds(t.seconds);
    due_at->set_nanos(t.nanos);
    EXPECT_THAT(PrepareEvent(event, "", "evt_1"),
                InvalidAt("event.engagement.manual_task.due_at"));
    EXPECT_THAT(RenderBody(event, "evt_1"),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST(EventCodecTest, TimestampsAtTheEdgesOfTheRangeAreValid) {
  v1::Event event = ParseEvent(kDispatchedManual);
  event.mutable_occurred_at()->set_seconds(kMaxSeconds);
  event.mutable_occurred_at()->set_nanos(999999999);
  auto* due_at =
      event.mutable_engagement()->mutable_manual_task()->mutable_due_at();
  due_at->set_seconds(kMinSeconds);
  due_at->set_nanos(0);
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(store::NewEvent prepared,
                                PrepareEvent(event, "", "evt_1"));
  EXPECT_THAT(prepared.body,
              HasSubstr(R"("occurred_at":"9999-12-31T23:59:59.999999999Z")"));
  EXPECT_THAT(prepared.body, HasSubstr(R"("due_at":"0001-01-01T00:00:00Z")"));
}

TEST(EventCodecTest, StepNumberAboveTotalStepsIsInvalid) {
  v1::Event event = ParseEvent(kDispatchedEmail);
  event.mutable_sequence()->set_step_number(6);
  event.mutable_sequence()->set_total_steps(5);
  EXPECT_THAT(PrepareEvent(event, "", "evt_1"),
              InvalidAt("event.sequence.step_number"));
  event.mutable_sequence()->set_step_number(5);
  EXPECT_THAT(PrepareEvent(event, "", "evt_1"), IsOk());
}

TEST(EventCodecTest, NegativeStepNumberIsInvalid) {
  v1::Event event = ParseEvent(kDispatchedEmail);
  event.mutable_sequence()->set_step_number(-1);
  EXPECT_THAT(PrepareEvent(event, "", "evt_1"),
              InvalidAt("event.sequence.step_number"));
  event.mutable_sequence()->clear_total_steps();
  EXPECT_THAT(PrepareEvent(event, "", "evt_1"),
              InvalidAt("event.sequence.step_number"));
}

TEST(EventCodecTest, NegativeTotalStepsIsInvalid) {
  v1::Event event = ParseEvent(kDispatchedEmail);
  event.mutable_sequence()->set_step_number(1);
  event.mutable_sequence()->set_total_steps(-5);
  // The message names the field that is wrong, not its valid neighbour.
  EXPECT_THAT(PrepareEvent(event, "", "evt_1"),
              InvalidAt("event.sequence.total_steps"));
}

// ---------------------------------------------------------------------------
// Idempotency keys

TEST(EventCodecTest, DefaultIdempotencyKeys) {
  struct Case {
    absl::string_view event_text;
    std::string key;
  };
  const std::vector<Case> cases = {
      {kDispatchedEmail,
       "engagement_dispatched:eng_7c01:2026-11-26T14:03:11.512Z"},
      {kInboundEmail, "inbound_engagement:eng_7c04:2026-11-29T08:00:01.1Z"},
      {kStatusChangedEmail,
       "engagement_status_changed:eng_7c01:sent>delivered:"
       "2026-11-26T14:05:42.007Z"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.key);
    WEBHOOKS_ASSERT_OK_AND_ASSIGN(
        store::NewEvent prepared,
        PrepareEvent(ParseEvent(c.event_text), "", "evt_1"));
    EXPECT_EQ(prepared.idempotency_key, c.key);
  }
}

// The sequence that the old default (type:yess_id:status) merged: sent ->
// failed -> sent made the second "sent" a duplicate of the first.
TEST(EventCodecTest, DefaultKeysKeepEveryChangeOfAnEngagementApart) {
  v1::Event event = ParseEvent(kStatusChangedEmail);
  std::vector<std::string> keys;
  const std::vector<std::pair<std::string, std::string>> changes = {
      {"scheduled", "sent"}, {"sent", "failed"}, {"failed", "sent"}};
  for (size_t i = 0; i < changes.size(); ++i) {
    event.mutable_engagement()->set_previous_status(changes[i].first);
    event.mutable_engagement()->set_status(changes[i].second);
    event.mutable_occurred_at()->set_seconds(1795701942 +
                                             60 * static_cast<int64_t>(i));
    WEBHOOKS_ASSERT_OK_AND_ASSIGN(store::NewEvent prepared,
                                  PrepareEvent(event, "", "evt_1"));
    keys.push_back(prepared.idempotency_key);
  }
  EXPECT_NE(keys[0], keys[1]);
  EXPECT_NE(keys[0], keys[2]);
  EXPECT_NE(keys[1], keys[2]);
  // The same change sent again (a publisher's retry) keeps its key.
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(store::NewEvent repeated,
                                PrepareEvent(event, "", "evt_2"));
  EXPECT_EQ(repeated.idempotency_key, keys[2]);
}

TEST(EventCodecTest, ExplicitIdempotencyKeyWins) {
  for (absl::string_view text :
       {kDispatchedEmail, kInboundEmail, kStatusChangedEmail}) {
    WEBHOOKS_ASSERT_OK_AND_ASSIGN(
        store::NewEvent prepared,
        PrepareEvent(ParseEvent(text), "crm-sync:42", "evt_1"));
    EXPECT_EQ(prepared.idempotency_key, "crm-sync:42");
  }
}

TEST(EventCodecTest, InvalidExplicitIdempotencyKeyIsRefused) {
  const v1::Event event = ParseEvent(kDispatchedEmail);
  EXPECT_THAT(PrepareEvent(event, "key\nwith newline", "evt_1"),
              InvalidAt("idempotency_key"));
  EXPECT_THAT(PrepareEvent(event, std::string(257, 'k'), "evt_1"),
              InvalidAt("idempotency_key"));
  EXPECT_THAT(PrepareEvent(event, std::string(256, 'k'), "evt_1"), IsOk());
}

TEST(EventCodecTest, YessIdTooLongForTheDefaultKeyNamesYessId) {
  v1::Event event = ParseEvent(kDispatchedEmail);
  // "engagement_dispatched:" and ":2026-11-26T14:03:11.512Z" are 22 + 25
  // bytes: 209 more make 256, the limit.
  event.mutable_engagement()->set_yess_id(std::string(209, 'e'));
  EXPECT_THAT(PrepareEvent(event, "", "evt_1"), IsOk());
  event.mutable_engagement()->set_yess_id(std::string(210, 'e'));
  EXPECT_THAT(PrepareEvent(event, "", "evt_1"),
              InvalidAt("event.engagement.yess_id"));
  // An explicit key makes the long yess_id acceptable.
  EXPECT_THAT(PrepareEvent(event, "k-1", "evt_1"), IsOk());
}

// ---------------------------------------------------------------------------
// Body size

// The contract's example with body_text padded so the body is exactly
// `body_bytes` long.
v1::Event EventWithBodyOfSize(std::size_t body_bytes) {
  v1::Event event = ParseEvent(kDispatchedEmail);
  event.mutable_engagement()->mutable_email()->set_body_text("x");
  const absl::StatusOr<std::string> one = RenderBody(event, "evt_1");
  EXPECT_TRUE(one.ok()) << one.status();
  const std::size_t fixed = one->size() - 1;
  event.mutable_engagement()->mutable_email()->set_body_text(
      std::string(body_bytes - fixed, 'x'));
  return event;
}

TEST(EventCodecTest, BodyUpTo256KiBIsAccepted) {
  for (std::size_t size : {kContractMaxBodyBytes - 1, kContractMaxBodyBytes}) {
    SCOPED_TRACE(size);
    const v1::Event event = EventWithBodyOfSize(size);
    WEBHOOKS_ASSERT_OK_AND_ASSIGN(store::NewEvent prepared,
                                  PrepareEvent(event, "", "evt_1"));
    EXPECT_EQ(prepared.body.size(), size);
  }
}

TEST(EventCodecTest, BodyOver256KiBIsRefused) {
  const v1::Event event = EventWithBodyOfSize(kContractMaxBodyBytes + 1);
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(std::string body, RenderBody(event, "evt_1"));
  ASSERT_EQ(body.size(), kContractMaxBodyBytes + 1);
  EXPECT_THAT(PrepareEvent(event, "", "evt_1"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(StartsWith("event: "), HasSubstr("262145"))));
}

// ---------------------------------------------------------------------------
// The NewEvent

TEST(EventCodecTest, PrepareEventCarriesTheEventReadyToStore) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(store::NewEvent prepared,
                                PrepareEvent(ParseEvent(kDispatchedEmail), "",
                                             "evt_01JD7X3G2Q5T6X8V9W0Y1Z2A3B"));
  EXPECT_EQ(prepared.id, "evt_01JD7X3G2Q5T6X8V9W0Y1Z2A3B");
  EXPECT_EQ(prepared.type, "engagement_dispatched");
  EXPECT_EQ(prepared.idempotency_key,
            "engagement_dispatched:eng_7c01:2026-11-26T14:03:11.512Z");
  EXPECT_EQ(prepared.body, ReadGolden("engagement_dispatched_email.json"));
  EXPECT_EQ(prepared.occurred_at,
            absl::FromUnixMillis(1795701791512));  // 2026-11-26T14:03:11.512Z
}

TEST(EventCodecTest, OccurredAtKeepsEveryDigit) {
  // 2026-11-28T16:45:30.123456789Z: absl::Time holds the nanoseconds exactly;
  // the store keeps microseconds of it.
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(
      store::NewEvent prepared,
      PrepareEvent(ParseEvent(kDispatchedManual), "", "evt_1"));
  EXPECT_EQ(absl::ToUnixNanos(prepared.occurred_at), 1795884330123456789);
  EXPECT_EQ(absl::ToUnixMicros(prepared.occurred_at), 1795884330123456);
  EXPECT_EQ(prepared.occurred_at,
            absl::FromCivil(absl::CivilSecond(2026, 11, 28, 16, 45, 30),
                            absl::UTCTimeZone()) +
                absl::Nanoseconds(123456789));
}

TEST(EventCodecTest, OccurredAtBeforeTheEpochIsExact) {
  // 1969-12-31T23:59:59.250Z: negative seconds with positive nanos.
  v1::Event event = ParseEvent(kDispatchedEmail);
  event.mutable_occurred_at()->set_seconds(-1);
  event.mutable_occurred_at()->set_nanos(250000000);
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(store::NewEvent prepared,
                                PrepareEvent(event, "", "evt_1"));
  EXPECT_EQ(prepared.occurred_at, absl::FromUnixMillis(-750));
  EXPECT_THAT(prepared.body,
              HasSubstr(R"("occurred_at":"1969-12-31T23:59:59.250Z")"));
}

}  // namespace
}  // namespace webhooks::api
