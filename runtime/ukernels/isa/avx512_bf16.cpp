// The bfloat16 dot-product kernels: vdpbf16ps (AVX512_BF16) and AMX tiles. Compiled with the
// AVX-512 flags plus -mavx512bf16 -mamx-tile -mamx-bf16 (CMakeLists.txt) and used only when
// active_bf16_tier() says the CPU and OS have them; everything here has internal linkage except
// the exported tables.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <cstdint>
#include <type_traits>
#include <xsimd/xsimd.hpp>

#include "ukernels/activation.hpp"
#include "ukernels/bf16_gemm_ukernel.hpp"
#include "ukernels/norm_ukernel.hpp"

namespace keel::ukernels_avx512_bf16 {
namespace {

#include "ukernels/activation_body.inc"

using Arch = xsimd::avx512bw;

#include "ukernels/norm_body.inc"
// After norm_body.inc: the epilogue's masked tail loads and stores.
#include "ukernels/bf16_gemm_body.inc"
// After bf16_gemm_body.inc: the AMX block finishes its tiles through Bf16Gemm's epilogue.
#include "ukernels/bf16_gemm_amx_body.inc"

}  // namespace

extern const Bf16GemmUkernels kBf16GemmDot = {
    "bf16_gemm_6x32/avx512_bf16", Bf16Gemm<Arch, true>::kMr,    Bf16Gemm<Arch, true>::kNr,
    &Bf16Gemm<Arch, true>::block, &Bf16Gemm<Arch, true>::round, &Bf16Gemm<Arch, true>::probe};
extern const Bf16GemmUkernels kBf16GemmAmx = {
    "bf16_gemm_32x32/amx",        Bf16GemmAmx::kMr,   Bf16GemmAmx::kNr, &Bf16GemmAmx::block,
    &Bf16Gemm<Arch, true>::round, &Bf16GemmAmx::probe};

}  // namespace keel::ukernels_avx512_bf16
