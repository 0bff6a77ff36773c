// avx2 instantiations of the ukernel bodies. This file (with its siblings) is the only one
// compiled with ISA-specific -m flags (see CMakeLists.txt); everything here has internal linkage
// except the exported table.
#include <immintrin.h>

#include <cstdint>
#include <type_traits>
#include <xsimd/xsimd.hpp>

#include "ukernels/activation.hpp"
#include "ukernels/bf16_gemm_ukernel.hpp"
#include "ukernels/direct_conv_ukernel.hpp"
#include "ukernels/dwconv_ukernel.hpp"
#include "ukernels/norm_ukernel.hpp"
#include "ukernels/pool_ukernel.hpp"
#include "ukernels/sgemm_ukernel.hpp"
#include "ukernels/winograd_ukernel.hpp"

namespace keel::ukernels_avx2 {
namespace {

#include "ukernels/activation_body.inc"

using Arch = xsimd::fma3<xsimd::avx2>;

#include "ukernels/norm_body.inc"
// After norm_body.inc: the SGEMM edge tiles use F32Norm's masked tail loads and stores.
#include "ukernels/bf16_gemm_body.inc"
#include "ukernels/sgemm_body.inc"
#include "ukernels/sgemm_f64_body.inc"
// After norm_body.inc: the depthwise body reuses F32Norm's masked tail loads and stores.
#include "ukernels/dwconv_body.inc"
// After dwconv_body.inc: the direct conv body loads through F32DwConv.
#include "ukernels/direct_conv_body.inc"
#include "ukernels/pool_body.inc"
#include "ukernels/winograd_body.inc"
static_assert(F32Gemm<Arch>::kNr == 16);

void f32_gemm_6x16(const SgemmBlock& blk) { F32Gemm<Arch>::block(blk); }

}  // namespace

extern const Bf16GemmUkernels kBf16Gemm = {
    "bf16_gemm_6x16/avx2_emulated", Bf16Gemm<Arch, false>::kMr,    Bf16Gemm<Arch, false>::kNr,
    &Bf16Gemm<Arch, false>::block,  &Bf16Gemm<Arch, false>::round, &Bf16Gemm<Arch, false>::probe};

extern const SgemmUkernels kSgemm = {"f32_gemm_6x16/avx2", kSgemmMr, F32Gemm<Arch>::kNr,
                                     &f32_gemm_6x16, &F32GemmF64<F32Gemm<Arch>::kNr>::panel};

extern const NormUkernels kNorm = F32Norm<Arch>::table("f32_norm/avx2");

extern const DwConvUkernels kDwConv = {"f32_dwconv/avx2", F32DwConv<Arch>::kW,
                                       &F32DwConv<Arch>::row};

extern const DirectConvUkernels kDirectConv = {
    "f32_direct_conv/avx2", F32DirectConv<Arch>::kChunk, F32DirectConv<Arch>::kW,
    &F32DirectConv<Arch>::bundles, &F32DirectConv<Arch>::row};

extern const PoolUkernels kPool = {"f32_pool/avx2", &F32Pool<Arch>::row};

extern const WinogradUkernels kWinograd = {"f32_winograd_2x2_3x3/avx2", &F32Winograd<Arch>::input,
                                           &F32Winograd<Arch>::output};

}  // namespace keel::ukernels_avx2
