#include "core/status.hpp"

#include <cstdint>

namespace keel {

const char* status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kInvalidArgument: return "INVALID_ARGUMENT";
    case StatusCode::kInvalidModel: return "INVALID_MODEL";
    case StatusCode::kUnsupported: return "UNSUPPORTED";
    case StatusCode::kOutOfMemory: return "OUT_OF_MEMORY";
    case StatusCode::kInternal: return "INTERNAL";
  }
  return "UNKNOWN";
}

namespace {

// The length of the valid, printable UTF-8 sequence at s[i], or 0.
size_t printable_sequence(const std::string& s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c >= 0x20 && c < 0x7f) return 1;
  size_t n = 0;
  uint32_t cp = 0, min = 0;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2, cp = c & 0x1f, min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3, cp = c & 0x0f, min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;  // ASCII control, DEL, a continuation byte, 0xc0/0xc1, 0xf5-0xff
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  if (cp >= 0x80 && cp < 0xa0) return 0;  // C1 controls
  return n;
}

}  // namespace

std::string printable_message(std::string text) {
  size_t i = 0;
  while (i < text.size()) {  // the common case: nothing to escape, no copy
    const size_t n = printable_sequence(text, i);
    if (n == 0) break;
    i += n;
  }
  if (i == text.size()) return text;
  std::string out = text.substr(0, i);
  static const char kHex[] = "0123456789abcdef";
  while (i < text.size()) {
    const size_t n = printable_sequence(text, i);
    if (n > 0) {
      out.append(text, i, n);
      i += n;
      continue;
    }
    const unsigned char c = static_cast<unsigned char>(text[i++]);
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string Status::to_string() const {
  if (is_ok()) return "OK";
  return std::string(status_code_name(code_)) + ": " + message_;
}

Status Status::with_context(const std::string& context) const {
  if (is_ok()) return *this;
  return Status(code_, context + ": " + message_);
}

}  // namespace keel
