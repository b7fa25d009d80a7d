// libFuzzer target: the validation of a subscription's fields (target URL,
// custom headers, name, event types) and of the other ids and keys clients
// send.
//
// Input, one field per line ('\n'); a field that is a valid C escape sequence
// ("\r", "\x00", "\\") is unescaped, any other is taken raw:
//   target_url
//   Name: value        custom headers, one a line, up to an empty line
//   (empty line)
//   subscription name
//   event types, comma-separated
//   tenant id
//   idempotency key
//   an event type name (a ListDeliveries / SendTestEvent filter)
//   max_in_flight: "requested default limit"
// Properties checked, besides ASan and UBSan:
// - an accepted URL is ASCII without whitespace or controls, https://, has a
//   host, no userinfo, no fragment, and libcurl (as the transport calls it)
//   parses it to the same scheme, host and port, with no user or fragment;
// - accepted headers are at most 20 RFC 9110 tokens, none reserved or twice
//   in different case, whose values hold no CR, LF, NUL or other control but
//   tab and no surrounding blanks;
// - a refusal's message never depends on a header value's letters and digits
//   (the values are secrets and are never echoed);
// - every refusal is INVALID_ARGUMENT starting with its field path, one line
//   of printable ASCII, and bounded (client text is echoed escaped and cut).
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "lib/domain/event_types.h"
#include "lib/domain/validation.h"

namespace {

namespace domain = webhooks::domain;

// Two echoes of client text (at most 64 bytes, each byte at most 4 escaped
// characters, quotes and "...") and the rule around them fit well in this.
constexpr std::size_t kMaxMessageBytes = 1024;
// URL messages never echo the URL, only one byte of it.
constexpr std::size_t kMaxUrlMessageBytes = 200;

[[noreturn]] void Fail(absl::string_view property, absl::string_view detail) {
  std::fprintf(stderr, "PROPERTY VIOLATED: %.*s\n  %s\n",
               static_cast<int>(property.size()), property.data(),
               absl::CEscape(detail).c_str());
  __builtin_trap();
}

// The fields of the input, in order; missing ones are empty.
class Lines {
 public:
  explicit Lines(absl::string_view data) : lines_(absl::StrSplit(data, '\n')) {}
  bool AtEnd() const { return next_ >= lines_.size(); }
  // The next line, unescaped when it is a valid escape sequence.
  std::string Next() {
    if (AtEnd()) return "";
    const absl::string_view raw = lines_[next_++];
    std::string unescaped;
    if (absl::CUnescape(raw, &unescaped)) return unescaped;
    return std::string(raw);
  }
  // The next line, raw, without consuming it.
  absl::string_view Peek() const { return AtEnd() ? "" : lines_[next_]; }

 private:
  std::vector<absl::string_view> lines_;
  std::size_t next_ = 0;
};

// The common shape of every refusal.
void CheckRefusal(const absl::Status& status, absl::string_view field,
                  std::size_t max_bytes = kMaxMessageBytes) {
  if (status.ok()) return;
  const absl::string_view message = status.message();
  if (status.code() != absl::StatusCode::kInvalidArgument) {
    Fail("a refusal is INVALID_ARGUMENT", status.ToString());
  }
  if (!absl::StartsWith(message, absl::StrCat(field, ": "))) {
    Fail(absl::StrCat("message starts with \"", field, ": \""), message);
  }
  if (message.size() > max_bytes) {
    Fail("message is bounded",
         absl::StrCat(message.size(), " bytes: ", message.substr(0, 300)));
  }
  for (char c : message) {
    if (c < 0x20 || c > 0x7e) {
      Fail("message is one line of printable ASCII", message);
    }
  }
}

// libcurl's view of `url`, parsed with the flags curl_easy_perform uses for
// CURLOPT_URL.
struct CurlView {
  CURLUcode code = CURLUE_OK;
  std::string scheme, host, port;
  bool has_user = false, has_password = false, has_fragment = false;
};

CurlView ParseWithCurl(const std::string& url) {
  CurlView view;
  CURLU* handle = curl_url();
  if (handle == nullptr) std::abort();
  view.code = curl_url_set(handle, CURLUPART_URL, url.c_str(),
                           CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME);
  if (view.code == CURLUE_OK) {
    auto get = [handle](CURLUPart part, std::string* out) {
      char* value = nullptr;
      const bool present = curl_url_get(handle, part, &value, 0) == CURLUE_OK;
      if (present && out != nullptr) *out = value;
      curl_free(value);
      return present;
    };
    get(CURLUPART_SCHEME, &view.scheme);
    get(CURLUPART_HOST, &view.host);
    get(CURLUPART_PORT, &view.port);
    view.has_user = get(CURLUPART_USER, nullptr);
    view.has_password = get(CURLUPART_PASSWORD, nullptr);
    view.has_fragment = get(CURLUPART_FRAGMENT, nullptr);
  }
  curl_url_cleanup(handle);
  return view;
}

// Whether curl's host and ours name the same host: equal but for case, or,
// for IP literals, the same address (curl writes IPv4 in its normal form,
// "127.1" as "127.0.0.1").
bool SameHost(absl::string_view ours, absl::string_view curls) {
  if (absl::EqualsIgnoreCase(ours, curls)) return true;
  in_addr v4;
  if (inet_pton(AF_INET, std::string(curls).c_str(), &v4) == 1) return true;
  if (absl::StartsWith(ours, "[") && absl::StartsWith(curls, "[")) {
    in6_addr a, b;
    const std::string x(ours.substr(1, ours.size() - 2));
    const std::string y(curls.substr(1, curls.size() - 2));
    return inet_pton(AF_INET6, x.c_str(), &a) == 1 &&
           inet_pton(AF_INET6, y.c_str(), &b) == 1 &&
           std::memcmp(&a, &b, sizeof(a)) == 0;
  }
  return false;
}

void CheckTargetUrl(const std::string& url) {
  const absl::Status status = domain::ValidateTargetUrl(url);
  CheckRefusal(status, "subscription.target_url", kMaxUrlMessageBytes);
  const bool visible_ascii = url.size() <= domain::kMaxTargetUrlBytes &&
                             std::all_of(url.begin(), url.end(), [](char c) {
                               return c > 0x20 && c < 0x7f;
                             });
  if (!status.ok()) {
    // Length and bytes are checked first; then the scheme.
    if (visible_ascii && absl::StartsWithIgnoreCase(url, "http://") &&
        !absl::StrContains(status.message(), "HTTPS is required")) {
      Fail("an http:// URL is told HTTPS is required", status.message());
    }
    return;
  }
  if (url.empty() || !visible_ascii) {
    Fail(
        "accepted URL is 1 to 2048 bytes of ASCII without whitespace or "
        "controls",
        url);
  }
  if (!absl::StartsWithIgnoreCase(url, "https://")) {
    Fail("accepted URL is https://", url);
  }
  if (absl::StrContains(url, '#')) Fail("accepted URL has no fragment", url);
  const absl::string_view rest = absl::string_view(url).substr(8);
  const absl::string_view authority = rest.substr(0, rest.find_first_of("/?"));
  if (absl::StrContains(authority, '@')) {
    Fail("accepted URL has no userinfo", url);
  }
  // Our host and port, as the validator reads them.
  absl::string_view host = authority;
  absl::string_view port;
  if (absl::StartsWith(authority, "[")) {
    const std::size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      Fail("accepted IPv6 host is closed", url);
    }
    host = authority.substr(0, close + 1);
    if (close + 1 < authority.size()) port = authority.substr(close + 2);
  } else if (const std::size_t colon = authority.find(':');
             colon != absl::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) Fail("accepted URL has a host", url);

  const CurlView curl = ParseWithCurl(url);
  if (curl.code != CURLUE_OK) {
    Fail("libcurl parses every accepted URL",
         absl::StrCat(curl_url_strerror(curl.code), ": ", url));
  }
  if (curl.scheme != "https" || curl.has_user || curl.has_password ||
      curl.has_fragment) {
    Fail("libcurl sees https, no user, no password, no fragment",
         absl::StrCat(curl.scheme, " ", url));
  }
  if (!SameHost(host, curl.host)) {
    Fail("libcurl sees the host the validator checked",
         absl::StrCat(host, " vs ", curl.host, " in ", url));
  }
  if (!port.empty()) {
    int ours = 0, curls = 0;
    if (!absl::SimpleAtoi(port, &ours) || ours < 1 || ours > 65535 ||
        !absl::SimpleAtoi(curl.port, &curls) || ours != curls) {
      Fail("libcurl sees the port the validator checked",
           absl::StrCat(port, " vs ", curl.port, " in ", url));
    }
  }
}

bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("!#$%&'*+-.^_`|~").find(c) !=
             absl::string_view::npos;
}

bool IsReserved(const std::string& lower) {
  static const std::set<std::string> kReserved = {
      "host",       "content-length", "content-type", "content-encoding",
      "connection", "keep-alive",     "te",           "trailer",
      "upgrade",    "expect",         "user-agent",   "transfer-encoding"};
  return kReserved.count(lower) > 0 || absl::StartsWith(lower, "proxy-") ||
         absl::StartsWith(lower, "webhook-");
}

// `value` with each letter and digit replaced by another of its kind: what
// the validator may say about a value does not change.
std::string RotateAlnum(const std::string& value) {
  std::string out = value;
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>('a' + (c - 'a' + 7) % 26);
    if (c >= 'A' && c <= 'Z') c = static_cast<char>('A' + (c - 'A' + 7) % 26);
    if (c >= '0' && c <= '9') c = static_cast<char>('0' + (c - '0' + 3) % 10);
  }
  return out;
}

void CheckCustomHeaders(const std::map<std::string, std::string>& headers) {
  constexpr absl::string_view kField = "subscription.custom_headers";
  const absl::Status status = domain::ValidateCustomHeaders(headers);
  CheckRefusal(status, kField);

  std::map<std::string, std::string> rotated;
  for (const auto& [name, value] : headers) rotated[name] = RotateAlnum(value);
  const absl::Status rotated_status = domain::ValidateCustomHeaders(rotated);
  if (rotated_status != status) {
    Fail(
        "what is said about headers never depends on their values' letters "
        "and digits (values are secrets)",
        absl::StrCat(status.ToString(), "\n  vs\n  ",
                     rotated_status.ToString()));
  }
  if (!status.ok()) return;

  if (headers.size() > domain::kMaxCustomHeaders) {
    Fail("at most 20 headers are accepted", absl::StrCat(headers.size()));
  }
  std::set<std::string> lower_names;
  for (const auto& [name, value] : headers) {
    if (name.empty() || name.size() > domain::kMaxHeaderNameBytes) {
      Fail("accepted header name is 1 to 256 bytes", name);
    }
    for (char c : name) {
      if (!IsTokenChar(c)) Fail("accepted header name is a token", name);
    }
    const std::string lower = absl::AsciiStrToLower(name);
    if (IsReserved(lower)) Fail("accepted header name is not reserved", name);
    if (!lower_names.insert(lower).second) {
      Fail("accepted header names differ in more than case", name);
    }
    if (value.size() > domain::kMaxHeaderValueBytes) {
      Fail("accepted header value is at most 8 KiB", name);
    }
    for (char c : value) {
      const auto byte = static_cast<unsigned char>(c);
      if ((byte < 0x20 && byte != '\t') || byte == 0x7f) {
        Fail("accepted header value holds no CR, LF, NUL or control but tab",
             value);
      }
    }
    if (!value.empty() && (absl::ascii_isblank(value.front()) ||
                           absl::ascii_isblank(value.back()))) {
      Fail("accepted header value has no surrounding blanks", value);
    }
  }
}

void CheckEventTypes(const std::vector<std::string>& types) {
  const absl::Status status = domain::ValidateEventTypes(types);
  CheckRefusal(status, "subscription.event_types");
  if (!status.ok()) return;
  std::set<std::string> seen;
  if (types.empty()) Fail("accepted event types are not empty", "");
  for (const std::string& type : types) {
    if (!domain::IsEventType(type) || !seen.insert(type).second) {
      Fail("accepted event types are known and distinct", type);
    }
  }
}

void CheckNoControl(const absl::Status& status, absl::string_view text,
                    std::size_t max_bytes, absl::string_view what) {
  if (!status.ok()) return;
  if (text.size() > max_bytes) Fail(absl::StrCat(what, " is bounded"), text);
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      Fail(absl::StrCat(what, " holds no control character"), text);
    }
  }
}

void CheckTenantId(const std::string& tenant_id) {
  const absl::Status status = domain::ValidateTenantId(tenant_id);
  CheckRefusal(status, "tenant_id");
  if (!status.ok()) return;
  if (tenant_id.empty() || tenant_id.size() > domain::kMaxTenantIdBytes) {
    Fail("accepted tenant_id is 1 to 128 bytes", tenant_id);
  }
  for (char c : tenant_id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' &&
        c != '_' && c != ':' && c != '-') {
      Fail("accepted tenant_id is [A-Za-z0-9._:-]", tenant_id);
    }
  }
}

void CheckMaxInFlight(absl::string_view line) {
  const std::vector<absl::string_view> parts =
      absl::StrSplit(line, ' ', absl::SkipEmpty());
  int values[3] = {0, 64, 1000};
  for (std::size_t i = 0; i < parts.size() && i < 3; ++i) {
    if (!absl::SimpleAtoi(parts[i], &values[i])) return;
  }
  const int requested = values[0];
  // The caller's guarantee: 1 <= server_default <= limit.
  const int limit = values[2] < 1 ? 1 : values[2];
  int server_default = values[1] < 1 ? 1 : values[1];
  if (server_default > limit) server_default = limit;
  const absl::StatusOr<int> cap =
      domain::ResolveMaxInFlight(requested, server_default, limit);
  CheckRefusal(cap.status(), "subscription.max_in_flight");
  if (!cap.ok()) return;
  if (*cap < 1 || *cap > limit ||
      *cap != (requested == 0 ? server_default : requested)) {
    Fail(
        "max_in_flight resolves to the request or the default, within limit",
        absl::StrCat(requested, " ", server_default, " ", limit, " -> ", *cap));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  Lines lines(absl::string_view(reinterpret_cast<const char*>(data), size));

  CheckTargetUrl(lines.Next());

  std::map<std::string, std::string> headers;
  while (!lines.AtEnd() && !lines.Peek().empty()) {
    const absl::string_view raw = lines.Peek();
    lines.Next();
    // Split before unescaping, so that an escaped ':' ("\x3a") stays in the
    // name.
    const std::size_t colon = raw.find(':');
    std::string name(raw.substr(0, colon)), value;
    if (colon != absl::string_view::npos) {
      // "Name: value": one space after the colon is the separator's.
      absl::string_view raw_value = raw.substr(colon + 1);
      if (absl::StartsWith(raw_value, " ")) raw_value.remove_prefix(1);
      value = std::string(raw_value);
    }
    std::string unescaped;
    if (absl::CUnescape(name, &unescaped)) name = unescaped;
    if (absl::CUnescape(value, &unescaped)) value = unescaped;
    headers[name] = value;
  }
  lines.Next();  // the empty line
  CheckCustomHeaders(headers);

  const std::string name = lines.Next();
  const absl::Status name_status = domain::ValidateSubscriptionName(name);
  CheckRefusal(name_status, "subscription.name");
  CheckNoControl(name_status, name, domain::kMaxSubscriptionNameBytes,
                 "accepted subscription name");

  const std::string types_line = lines.Next();
  std::vector<std::string> types;
  if (!types_line.empty()) types = absl::StrSplit(types_line, ',');
  CheckEventTypes(types);

  CheckTenantId(lines.Next());

  const std::string key = lines.Next();
  const absl::Status key_status = domain::ValidateIdempotencyKey(key);
  CheckRefusal(key_status, "idempotency_key");
  CheckNoControl(key_status, key, domain::kMaxIdempotencyKeyBytes,
                 "accepted idempotency_key");

  const std::string type_name = lines.Next();
  const absl::Status type_status =
      domain::ValidateEventTypeName("event_type", type_name);
  CheckRefusal(type_status, "event_type");
  if (type_status.ok() != domain::IsEventType(type_name)) {
    Fail("ValidateEventTypeName accepts exactly the event types", type_name);
  }

  CheckMaxInFlight(lines.Next());
  return 0;
}
