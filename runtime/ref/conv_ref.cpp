#include "ref/conv_ref.hpp"

namespace keel::ref {
namespace {

int64_t product(const std::vector<int64_t>& v, size_t from) {
  int64_t p = 1;
  for (size_t i = from; i < v.size(); ++i) p *= v[i];
  return p;
}

// Next multi-index in row-major order; false after the last.
bool next_index(std::vector<int64_t>& idx, const std::vector<int64_t>& dims) {
  for (size_t i = idx.size(); i-- > 0;) {
    if (++idx[i] < dims[i]) return true;
    idx[i] = 0;
  }
  return false;
}

}  // namespace

void conv(const ConvRefParams& p, const float* x, const float* w, const float* b, float* y) {
  const size_t nsp = p.x_shape.size() - 2;
  const std::vector<int64_t> in(p.x_shape.begin() + 2, p.x_shape.end());
  const std::vector<int64_t> ker(p.w_shape.begin() + 2, p.w_shape.end());
  const std::vector<int64_t> out(p.y_shape.begin() + 2, p.y_shape.end());
  const int64_t n_batch = p.x_shape[0], cin = p.x_shape[1], cout = p.w_shape[0];
  const int64_t cin_g = cin / p.group, cout_g = cout / p.group;
  const int64_t isize = product(p.x_shape, 2), osize = product(p.y_shape, 2);
  const int64_t ksize = product(p.w_shape, 2);
  for (int64_t n = 0; n < n_batch; ++n) {
    for (int64_t m = 0; m < cout; ++m) {
      const int64_t g = m / cout_g;
      std::vector<int64_t> o(nsp, 0);
      int64_t oflat = 0;
      do {
        double acc = b ? b[m] : 0.0;
        for (int64_t c = 0; c < cin_g; ++c) {
          std::vector<int64_t> k(nsp, 0);
          int64_t kflat = 0;
          do {
            int64_t iflat = 0;
            bool inside = true;
            for (size_t d = 0; d < nsp; ++d) {
              const int64_t pos = o[d] * p.strides[d] - p.pads_begin[d] + k[d] * p.dilations[d];
              inside = inside && pos >= 0 && pos < in[d];
              iflat = iflat * in[d] + pos;
            }
            if (inside) {
              acc += static_cast<double>(x[(n * cin + g * cin_g + c) * isize + iflat]) *
                     w[(m * cin_g + c) * ksize + kflat];
            }
            ++kflat;
          } while (next_index(k, ker));
        }
        y[(n * cout + m) * osize + oflat] = static_cast<float>(acc);
        ++oflat;
      } while (next_index(o, out));
    }
  }
}

void conv_transpose(const ConvRefParams& p, const float* x, const float* w, const float* b,
                    float* y) {
  const size_t nsp = p.x_shape.size() - 2;
  const std::vector<int64_t> in(p.x_shape.begin() + 2, p.x_shape.end());
  const std::vector<int64_t> ker(p.w_shape.begin() + 2, p.w_shape.end());
  const std::vector<int64_t> out(p.y_shape.begin() + 2, p.y_shape.end());
  const int64_t n_batch = p.x_shape[0], cin = p.x_shape[1];
  const int64_t cin_g = cin / p.group, cout_g = p.w_shape[1], cout = cout_g * p.group;
  const int64_t isize = product(p.x_shape, 2), osize = product(p.y_shape, 2);
  const int64_t ksize = product(p.w_shape, 2);
  std::vector<double> acc(static_cast<size_t>(osize));
  for (int64_t n = 0; n < n_batch; ++n) {
    for (int64_t m = 0; m < cout; ++m) {
      const int64_t g = m / cout_g, mg = m % cout_g;
      for (double& v : acc) v = b ? b[m] : 0.0;
      for (int64_t c = 0; c < cin_g; ++c) {
        const int64_t ci = g * cin_g + c;
        std::vector<int64_t> i(nsp, 0);
        int64_t iflat = 0;
        do {
          std::vector<int64_t> k(nsp, 0);
          int64_t kflat = 0;
          do {
            int64_t oflat = 0;
            bool inside = true;
            for (size_t d = 0; d < nsp; ++d) {
              const int64_t pos = i[d] * p.strides[d] - p.pads_begin[d] + k[d] * p.dilations[d];
              inside = inside && pos >= 0 && pos < out[d];
              oflat = oflat * out[d] + pos;
            }
            if (inside) {
              acc[oflat] += static_cast<double>(x[(n * cin + ci) * isize + iflat]) *
                            w[(ci * cout_g + mg) * ksize + kflat];
            }
            ++kflat;
          } while (next_index(k, ker));
          ++iflat;
        } while (next_index(i, in));
      }
      for (int64_t o = 0; o < osize; ++o)
        y[(n * cout + m) * osize + o] = static_cast<float>(acc[o]);
    }
  }
}

}  // namespace keel::ref
