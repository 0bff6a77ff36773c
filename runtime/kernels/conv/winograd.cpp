// Winograd F(2x2, 3x3) convolution, NHWC, float32. Plan time: U[xi] = (G g G^T)[xi] for every
// (input channel, output channel) pair, computed in float64 and rounded once, then packed as
// 16 SGEMM B operands [C, K]. Run time, per work item (a block of tiles x a chunk of output
// channels), in a per-thread scratch that stays in L2:
//   input transform   V[xi][tile][c] = (B^T d B)[xi]             (winograd ukernel)
//   16 GEMMs          M[xi] = V[xi] x U[xi]                      (SGEMM microkernel, A in place)
//   output transform  Y = A^T M A + bias (+ residual), activation (winograd ukernel)
// Items of one thread that share a block of tiles reuse its V. The blocking depends on the
// thread count, the bits do not: each output sums its input channels in the same order (K
// blocks of kSgemmKc) whatever block or chunk it falls in, and the microkernel's edge tiles
// compute like its full ones.
#include "kernels/conv/winograd.hpp"

#include <algorithm>
#include <array>
#include <string>

#include "core/aligned_buffer.hpp"
#include "exec/parallel.hpp"
#include "kernels/conv/conv_implementation.hpp"
#include "ukernels/sgemm.hpp"
#include "ukernels/sgemm_ukernel.hpp"
#include "ukernels/winograd_dispatch.hpp"

namespace keel {
namespace {

constexpr int64_t kPositions = 16;  // 4x4 transformed tile
// Below kWinogradMinTiles tiles, transformed weights of more than this many bytes (about an L2)
// make the direct kernels the faster choice (see kConvNhwcWinograd).
constexpr int64_t kWinogradMinTiles = 32;
constexpr int64_t kWinogradSmallWeights = 1 << 20;
// Tiles per block and output channels per item: V and M of one item, 16 * tiles * (C + kn)
// floats, stay within about 1 MB (this machine's L2 per core is 1 MB; most x86 cores of the
// last years have at least that).
constexpr int64_t kMaxBlockTiles = 72;
constexpr int64_t kScratchFloatsTarget = (1 << 20) / 4;
constexpr int64_t kMaxChunk = 256;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// u[xi * c_count * k_count + c * k_count + k] = (G g G^T)[xi] for g = w[k, c] (3x3), with
// G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]. Output channels innermost: the 16 planes are
// written sequentially (strided writes made this the larger part of ResNet-18's plan time).
AlignedBytes transform_weights(const float* w, int64_t c_count, int64_t k_count) {
  const int64_t plane = c_count * k_count;
  AlignedBytes bytes =
      allocate_aligned_for_overwrite(static_cast<size_t>(kPositions * plane) * sizeof(float));
  if (!bytes) return bytes;
  float* u = reinterpret_cast<float*>(bytes.get());
  const double gm[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  for (int64_t c = 0; c < c_count; ++c) {
    for (int64_t k = 0; k < k_count; ++k) {
      const float* g = w + (k * c_count + c) * 9;
      double gg[4][3];  // G g
      for (int i = 0; i < 4; ++i) {
        for (int j = 0; j < 3; ++j) {
          gg[i][j] = gm[i][0] * g[j] + gm[i][1] * g[3 + j] + gm[i][2] * g[6 + j];
        }
      }
      float* dst = u + c * k_count + k;
      for (int i = 0; i < 4; ++i) {
        for (int j = 0; j < 4; ++j) {
          const double v = gg[i][0] * gm[j][0] + gg[i][1] * gm[j][1] + gg[i][2] * gm[j][2];
          dst[(i * 4 + j) * plane] = static_cast<float>(v);
        }
      }
    }
  }
  return bytes;
}

class ConvWinograd final : public Kernel {
 public:
  ConvWinograd(const ConvShapes& cs, const Geometry3& g, const ConvActivation& act, bool residual,
               int threads)
      : has_bias_(cs.has_bias),
        residual_(residual),
        gemm_(sgemm_ukernels_active()),
        transforms_(winograd_ukernels(active_isa())) {
    p_.in_h = g.in[1];
    p_.in_w = g.in[2];
    p_.channels = cs.cin;
    p_.out_h = g.out[1];
    p_.out_w = g.out[2];
    p_.out_channels = cs.cout;
    p_.pad_t = g.pb[1];
    p_.pad_l = g.pb[2];
    p_.tiles_h = ceil_div(p_.out_h, 2);
    p_.tiles_w = ceil_div(p_.out_w, 2);
    p_.act = act;
    tiles_ = cs.batch * p_.tiles_h * p_.tiles_w;
    plan_blocks(std::max(threads, 1));
  }

  bool prepack(const float* w) {
    const int64_t c = p_.channels, k = p_.out_channels;
    const AlignedBytes bytes = transform_weights(w, c, k);
    if (!bytes) return false;
    const float* u = reinterpret_cast<const float*>(bytes.get());
    for (int64_t xi = 0; xi < kPositions; ++xi) {
      if (!u_[xi].pack(c, k, u + xi * c * k, k, false, gemm_)) return false;
    }
    return true;
  }

  const char* name() const override { return "conv_nhwc_winograd"; }

  size_t scratch_bytes() const override {
    return static_cast<size_t>(slots_ * slot_floats()) * sizeof(float);
  }

  void run(const KernelRun& r) const override {
    WinogradParams p = p_;
    p.bias = has_bias_ ? r.in(ConvOperand::kBias).as<float>() : nullptr;
    p.residual = residual_ ? r.in(ConvOperand::kResidual).as<float>() : nullptr;
    const float* x = r.in(0).as<float>();
    float* y = r.out(0).as<float>();
    float* scratch = static_cast<float*>(r.scratch);
    const int64_t items = blocks_ * chunks_;
    if (items == 0) return;  // an empty batch
    const int64_t slots = std::min<int64_t>(slots_, items);
    const int64_t work = tiles_ * kPositions * p.channels * p.out_channels;
    parallel_for(slots, work / slots, [&](int64_t s0, int64_t s1) {
      for (int64_t s = s0; s < s1; ++s) {
        run_items(p, x, y, s * items / slots, (s + 1) * items / slots, scratch + s * slot_floats());
      }
    });
  }

 private:
  // A slot's scratch: V (v_floats(), rounded to 64 bytes), then M.
  int64_t v_floats() const { return ceil_div(kPositions * block_tiles_ * p_.channels, 16) * 16; }
  int64_t slot_floats() const {
    return v_floats() + ceil_div(kPositions * block_tiles_ * chunk_, 16) * 16;
  }

  // Blocks of tiles and chunks of output channels: few enough items that each thread's share
  // is even (items are split statically, one contiguous range per thread), blocks a multiple of
  // the GEMM's 6-row tile where the image is larger than one block.
  void plan_blocks(int threads) {
    const int64_t c = p_.channels, k = p_.out_channels, nr = gemm_->nr;
    chunks_ = ceil_div(k, kMaxChunk);
    const int64_t chunk_guess = std::min(k, kMaxChunk);
    int64_t cap = kScratchFloatsTarget / (kPositions * (c + chunk_guess));
    cap = std::clamp<int64_t>(cap / kSgemmMr * kSgemmMr, kSgemmMr, kMaxBlockTiles);
    if (tiles_ <= cap) {
      block_tiles_ = std::max<int64_t>(tiles_, 1);  // one (empty) block for an empty batch
    } else {
      int64_t best_cost = -1;
      for (int64_t tb = std::max<int64_t>(kSgemmMr, cap / 2 / kSgemmMr * kSgemmMr); tb <= cap;
           tb += kSgemmMr) {
        const int64_t cost = ceil_div(ceil_div(tiles_, tb) * chunks_, threads) * tb;
        if (best_cost < 0 || cost <= best_cost) {
          best_cost = cost;
          block_tiles_ = tb;
        }
      }
    }
    blocks_ = ceil_div(tiles_, block_tiles_);
    // One block (a small image): split the output channels between the threads instead.
    while (blocks_ * chunks_ < threads && ceil_div(k, chunks_ * 2) >= 2 * nr) chunks_ *= 2;
    chunk_ = ceil_div(ceil_div(k, chunks_), nr) * nr;
    chunks_ = ceil_div(k, chunk_);
    slots_ = std::min<int64_t>(threads, blocks_ * chunks_);
  }

  void run_items(const WinogradParams& p, const float* x, float* y, int64_t i0, int64_t i1,
                 float* scratch) const {
    const int64_t c = p.channels, k = p.out_channels;
    const int64_t v_plane = block_tiles_ * c, m_plane = block_tiles_ * chunk_;
    float* v = scratch;
    float* m = scratch + v_floats();
    const int64_t n_pad = ceil_div(k, gemm_->nr) * gemm_->nr;
    int64_t v_block = -1;
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t blk = item / chunks_, t0 = blk * block_tiles_;
      const int64_t n = std::min(block_tiles_, tiles_ - t0);
      const int64_t k0 = (item % chunks_) * chunk_, kn = std::min(chunk_, k - k0);
      if (blk != v_block) {
        transforms_->input(&p, x, t0, n, v, v_plane, c);
        v_block = blk;
      }
      for (int64_t xi = 0; xi < kPositions; ++xi) {
        for (int64_t c0 = 0; c0 < c; c0 += kSgemmKc) {
          const int64_t kc = std::min(kSgemmKc, c - c0);
          SgemmBlock b;
          b.mc = n;
          b.nc = kn;
          b.kc = kc;
          b.a = v + xi * v_plane + c0;
          b.lda = c;
          b.b = u_[xi].data() + c0 * n_pad + k0 * kc;
          b.c = m + xi * m_plane;
          b.ldc = kn;
          b.load_c = c0 > 0;
          gemm_->block(b);
        }
      }
      transforms_->output(&p, m, m_plane, kn, t0, n, k0, kn, y);
    }
  }

  WinogradParams p_;
  bool has_bias_, residual_;
  const SgemmUkernels* gemm_;
  const WinogradUkernels* transforms_;
  int64_t tiles_ = 0;
  int64_t block_tiles_ = 1, blocks_ = 1, chunk_ = 1, chunks_ = 1, slots_ = 1;
  std::array<SgemmPackedB, kPositions> u_;
};

}  // namespace

const ConvImplementation kConvNhwcWinograd = {
    "conv_nhwc_winograd",
    [](const ConvDescriptor& d, const ExecutionOptions& options) {
      std::string why = declines_nhwc(d, false);
      if (!why.empty()) return why;
      if (!options.winograd) return std::string("switched off by the execution options");
      const ConvShapes& cs = d.shapes;
      const Geometry3& g = d.g;
      if (cs.group != 1) return std::to_string(cs.group) + " groups";
      const WindowGeometry& w = d.window;
      if (g.k[1] != 3 || g.k[2] != 3) return "kernel " + ints_to_string(w.kernel) + ", not [3,3]";
      if (g.s[1] != 1 || g.s[2] != 1) return "strides " + ints_to_string(w.strides);
      if (g.d[1] != 1 || g.d[2] != 1) return "dilations " + ints_to_string(w.dilations);
      if (cs.cin < kWinogradMinInputs || cs.cout < kWinogradMinOutputs) {
        return std::to_string(cs.cin) + " inputs and " + std::to_string(cs.cout) +
               " outputs (needs >= " + std::to_string(kWinogradMinInputs) +
               " and >= " + std::to_string(kWinogradMinOutputs) +
               ": the transforms would not pay off)";
      }
      // The transformed weights are 16/9 of the original: with few tiles to share them the
      // GEMMs wait for them. ResNet-18's 512 channels at 7x7 (16 tiles, 16.8 MB) ran level with
      // the implicit GEMM on one thread and up to 1.2x slower on two (bench_conv, 2026-12-02);
      // DenseNet's 128 -> 32 at 7x7 (262 KB) 1.7x faster.
      const int64_t tiles = cs.batch * ((g.out[1] + 1) / 2) * ((g.out[2] + 1) / 2);
      const int64_t weight_bytes = kPositions * cs.cin * cs.cout * 4;
      if (tiles < kWinogradMinTiles && weight_bytes > kWinogradSmallWeights) {
        return std::to_string(tiles) + " tiles share " + std::to_string(weight_bytes >> 10) +
               " KiB of transformed weights (needs >= " + std::to_string(kWinogradMinTiles) +
               " tiles or <= " + std::to_string(kWinogradSmallWeights >> 10) + " KiB)";
      }
      return why;
    },
    conv_always,
    conv_never,
    conv_never,
    [](PrepareContext& ctx, const ConvDescriptor& d, const ConvBuild& b) {
      auto k = std::make_unique<ConvWinograd>(d.shapes, d.g, b.act, b.residual, ctx.max_threads);
      if (!k->prepack(ctx.input(ConvOperand::kW).value->data_as<float>())) {
        return Result<std::unique_ptr<Kernel>>(conv_packing_failed(ctx));
      }
      return Result<std::unique_ptr<Kernel>>(std::unique_ptr<Kernel>(std::move(k)));
    }};

}  // namespace keel
