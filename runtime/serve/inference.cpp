#include "serve/inference.hpp"

namespace keel::serve {

Outcome Outcome::of(const Status& st) {
  switch (st.code()) {
    case StatusCode::kOk: return {};
    case StatusCode::kInvalidArgument: return {Code::kInvalidArgument, st.message()};
    case StatusCode::kUnsupported: return {Code::kUnsupported, st.message()};
    default: return {Code::kInternal, st.message()};
  }
}

int http_status(Code code) {
  switch (code) {
    case Code::kOk: return 200;
    case Code::kInvalidArgument: return 400;
    case Code::kNotFound: return 404;
    case Code::kTooLarge: return 413;
    case Code::kUnavailable: return 503;
    case Code::kUnsupported: return 501;
    case Code::kInternal: return 500;
  }
  return 500;
}

}  // namespace keel::serve
