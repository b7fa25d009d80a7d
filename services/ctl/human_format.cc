#include "services/ctl/human_format.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace webhooks::ctl {
namespace {

namespace pb = google::protobuf;
using pb::FieldDescriptor;

bool IsTimestamp(const FieldDescriptor* f) {
  return f->message_type() != nullptr &&
         f->message_type()->full_name() == "google.protobuf.Timestamp";
}
bool IsDuration(const FieldDescriptor* f) {
  return f->message_type() != nullptr &&
         f->message_type()->full_name() == "google.protobuf.Duration";
}

// A value shown inline: scalars, enums, timestamps, durations.
bool IsPlain(const FieldDescriptor* f) {
  if (f->is_repeated()) return false;
  return f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || IsTimestamp(f) ||
         IsDuration(f);
}

std::string EnumName(const pb::EnumValueDescriptor* v) {
  // The values share the type's prefix (DELIVERY_STATE_...): drop it.
  std::string name = v->name();
  std::string upper_type;
  for (char c : v->type()->name()) {
    if (absl::ascii_isupper(c) && !upper_type.empty()) upper_type += '_';
    upper_type += absl::ascii_toupper(c);
  }
  upper_type += '_';
  if (absl::StartsWith(name, upper_type)) name = name.substr(upper_type.size());
  return absl::AsciiStrToLower(name);
}

std::string Scalar(const pb::Message& m, const FieldDescriptor* f) {
  const pb::Reflection* r = m.GetReflection();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return r->GetString(m, f);
    case FieldDescriptor::CPPTYPE_BOOL:
      return r->GetBool(m, f) ? "true" : "false";
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(r->GetInt32(m, f));
    case FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(r->GetInt64(m, f));
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(r->GetUInt32(m, f));
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(r->GetUInt64(m, f));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return absl::StrCat(r->GetDouble(m, f));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return absl::StrCat(r->GetFloat(m, f));
    case FieldDescriptor::CPPTYPE_ENUM:
      return EnumName(r->GetEnum(m, f));
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const pb::Message& sub = r->GetMessage(m, f);
      if (IsTimestamp(f)) {
        return pb::util::TimeUtil::ToString(
            static_cast<const pb::Timestamp&>(sub));
      }
      if (IsDuration(f)) {
        return pb::util::TimeUtil::ToString(
            static_cast<const pb::Duration&>(sub));
      }
      return "";
    }
  }
  return "";
}

// Whether a plain field holds something worth a line.
bool Shown(const pb::Message& m, const FieldDescriptor* f, bool top) {
  const pb::Reflection* r = m.GetReflection();
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE)
    return r->HasField(m, f);
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING)
    return !r->GetString(m, f).empty();
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_ENUM)
    return r->GetEnumValue(m, f) != 0;
  // Numbers and booleans: at the top level 0 and false are answers
  // ("recovered: 0", "enabled: false"); in nested messages and tables they
  // are usually just unset.
  return top || Scalar(m, f) != "0";
}

std::string Table(const pb::Message& m, const FieldDescriptor* f,
                  const std::string& indent) {
  const pb::Reflection* r = m.GetReflection();
  const int n = r->FieldSize(m, f);
  const pb::Descriptor* type = f->message_type();
  std::vector<const FieldDescriptor*> columns;
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* c = type->field(i);
    if (!IsPlain(c)) continue;
    for (int row = 0; row < n; ++row) {
      if (Shown(r->GetRepeatedMessage(m, f, row), c, false)) {
        columns.push_back(c);
        break;
      }
    }
  }
  std::vector<std::vector<std::string>> cells(static_cast<size_t>(n) + 1);
  for (const FieldDescriptor* c : columns) cells[0].push_back(c->name());
  for (int row = 0; row < n; ++row) {
    const pb::Message& item = r->GetRepeatedMessage(m, f, row);
    for (const FieldDescriptor* c : columns) {
      std::string v = Shown(item, c, false) ? Scalar(item, c) : "";
      // One line per row.
      std::replace(v.begin(), v.end(), '\n', ' ');
      cells[static_cast<size_t>(row) + 1].push_back(std::move(v));
    }
  }
  std::vector<size_t> width(columns.size(), 0);
  for (const auto& line : cells) {
    for (size_t i = 0; i < line.size(); ++i)
      width[i] = std::max(width[i], line[i].size());
  }
  std::string out;
  for (const auto& line : cells) {
    std::string text = indent;
    for (size_t i = 0; i < line.size(); ++i) {
      absl::StrAppend(&text, line[i]);
      if (i + 1 < line.size())
        text += std::string(width[i] - line[i].size() + 2, ' ');
    }
    absl::StrAppend(&out, absl::StripTrailingAsciiWhitespace(text), "\n");
  }
  return out;
}

void Format(const pb::Message& m, const std::string& indent, bool top,
            std::string* out) {
  const pb::Descriptor* d = m.GetDescriptor();
  const pb::Reflection* r = m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (IsPlain(f)) {
      if (Shown(m, f, top)) {
        absl::StrAppend(out, indent, f->name(), ": ", Scalar(m, f), "\n");
      }
    } else if (f->is_map()) {
      const int n = r->FieldSize(m, f);
      if (n == 0) continue;
      absl::StrAppend(out, indent, f->name(), ":\n");
      std::vector<std::string> lines;
      for (int k = 0; k < n; ++k) {
        const pb::Message& entry = r->GetRepeatedMessage(m, f, k);
        const pb::Descriptor* e = entry.GetDescriptor();
        lines.push_back(absl::StrCat(indent, "  ", Scalar(entry, e->field(0)),
                                     ": ", Scalar(entry, e->field(1))));
      }
      std::sort(lines.begin(), lines.end());
      absl::StrAppend(out, absl::StrJoin(lines, "\n"), "\n");
    } else if (f->is_repeated() &&
               f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (r->FieldSize(m, f) == 0) {
        if (top) absl::StrAppend(out, indent, f->name(), ": none\n");
        continue;
      }
      absl::StrAppend(out, indent, f->name(), ":\n",
                      Table(m, f, indent + "  "));
    } else if (f->is_repeated()) {
      const int n = r->FieldSize(m, f);
      if (n == 0) continue;
      // The API's lists of plain values are all strings.
      if (f->cpp_type() != FieldDescriptor::CPPTYPE_STRING) continue;
      std::vector<std::string> values;
      values.reserve(static_cast<size_t>(n));
      for (int k = 0; k < n; ++k)
        values.push_back(r->GetRepeatedString(m, f, k));
      absl::StrAppend(out, indent, f->name(), ": ", absl::StrJoin(values, ", "),
                      "\n");
    } else if (r->HasField(m, f)) {
      absl::StrAppend(out, indent, f->name(), ":\n");
      Format(r->GetMessage(m, f), indent + "  ", false, out);
    }
  }
}

}  // namespace

std::string HumanFormat(const google::protobuf::Message& message) {
  std::string out;
  Format(message, "", true, &out);
  return out;
}

}  // namespace webhooks::ctl
