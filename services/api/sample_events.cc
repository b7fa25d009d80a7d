#include "services/api/sample_events.h"

#include <google/protobuf/text_format.h>

#include <cstdlib>
#include <map>
#include <string>

#include "absl/strings/string_view.h"

namespace webhooks::api {
namespace {

// The contract's own example of engagement_dispatched.
constexpr absl::string_view kDispatched = R"pb(
  type: "engagement_dispatched"
  # 2026-11-26T14:03:11.512Z
  occurred_at { seconds: 1795701791 nanos: 512000000 }
  account {
    yess_id: "acc_8f2c"
    name: "Acme Corp"
    domain: "acme.com"
    integration_identifiers {
      salesforce_id: "0015g00000XyZ12AAB"
      hubspot_id: "9876543"
    }
  }
  lead {
    yess_id: "lead_51aa"
    first_name: "Dana"
    last_name: "Ng"
    email: "dana@acme.com"
    title: "VP Sales"
    linkedin_url: "https://www.linkedin.com/in/dana-ng"
    integration_identifiers { salesforce_contact_id: "0035g00000AbCdEAAZ" }
  }
  engagement {
    yess_id: "eng_7c01"
    channel: "email"
    action: "new_thread_email"
    status: "sent"
    # 2026-11-26T14:03:10Z
    sent_at { seconds: 1795701790 }
    email {
      subject: "Quick question"
      body_text: "Hi Dana, ..."
      from: "rep@seller.com"
      to: "dana@acme.com"
      thread_id: "thr_19"
    }
  }
  sequence {
    yess_id: "seq_3"
    name: "Q4 outbound"
    step_number: 1
    total_steps: 5
  }
)pb";

// A reply, with the characters JSON must escape: quotes, newlines, '<' and
// '>' (written as \u003c and \u003e), and non-ASCII UTF-8 (written as is).
constexpr absl::string_view kInbound = R"pb(
  type: "inbound_engagement"
  # 2026-11-29T08:00:01.100Z
  occurred_at { seconds: 1795939201 nanos: 100000000 }
  account {
    yess_id: "acc_8f2c"
    name: "Acme Corp"
    domain: "acme.com"
    integration_identifiers { salesforce_id: "0015g00000XyZ12AAB" }
  }
  lead {
    yess_id: "lead_77b0"
    first_name: "Zoë"
    last_name: "O'Brien"
    email: "zoe@acme.com"
    integration_identifiers {
      salesforce_lead_id: "00Q5g00000LmNoPEAZ"
      salesloft_lead_id: "5512"
    }
  }
  engagement {
    yess_id: "eng_7c04"
    channel: "email"
    action: "reply_email"
    direction: "inbound"
    status: "replied"
    # 2026-11-29T07:58:00Z
    sent_at { seconds: 1795939080 }
    email {
      subject: "Re: Quick question"
      body_text: "Sounds \"good\".\n\n> Hi Dana, ..."
      body_html: "<p>Sounds \"good\".</p>"
      from: "zoe@acme.com"
      to: "rep@seller.com"
      cc: [ "ops@seller.com", "cfo@acme.com" ]
      thread_id: "thr_19"
      message_id: "<CAF=reply@mail.acme.com>"
      in_reply_to: "<CAF=orig@mail.seller.com>"
    }
  }
  sequence {
    yess_id: "seq_3"
    name: "Q4 outbound"
    step_number: 1
    total_steps: 5
  }
)pb";

constexpr absl::string_view kStatusChanged = R"pb(
  type: "engagement_status_changed"
  # 2026-11-26T14:05:42.007Z
  occurred_at { seconds: 1795701942 nanos: 7000000 }
  account {
    yess_id: "acc_8f2c"
    name: "Acme Corp"
    domain: "acme.com"
    integration_identifiers {
      salesforce_id: "0015g00000XyZ12AAB"
      hubspot_id: "9876543"
    }
  }
  lead {
    yess_id: "lead_51aa"
    first_name: "Dana"
    last_name: "Ng"
    email: "dana@acme.com"
  }
  engagement {
    yess_id: "eng_7c01"
    channel: "email"
    action: "new_thread_email"
    direction: "outbound"
    status: "delivered"
    previous_status: "sent"
    # 2026-11-26T14:03:10Z
    sent_at { seconds: 1795701790 }
    email {
      subject: "Quick question"
      from: "rep@seller.com"
      to: "dana@acme.com"
      thread_id: "thr_19"
      message_id: "msg_0a1b"
    }
  }
  sequence {
    yess_id: "seq_3"
    name: "Q4 outbound"
    step_number: 1
    total_steps: 5
  }
)pb";

}  // namespace

absl::string_view SampleEventText(absl::string_view type) {
  if (type == "engagement_dispatched") return kDispatched;
  if (type == "inbound_engagement") return kInbound;
  if (type == "engagement_status_changed") return kStatusChanged;
  return "";
}

const v1::Event* SampleEvent(absl::string_view type) {
  // Parsed once; the texts are constants that parse (a test checks), so a
  // failure here is a build defect.
  static const auto* const events = [] {
    auto* m = new std::map<std::string, v1::Event, std::less<>>;
    for (absl::string_view t : {"engagement_dispatched", "inbound_engagement",
                                "engagement_status_changed"}) {
      v1::Event e;
      if (!google::protobuf::TextFormat::ParseFromString(
              std::string(SampleEventText(t)), &e)) {
        std::abort();
      }
      (*m)[std::string(t)] = e;
    }
    return m;
  }();
  auto it = events->find(type);
  return it == events->end() ? nullptr : &it->second;
}

}  // namespace webhooks::api
