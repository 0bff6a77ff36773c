// Registration entry points of the elementwise family's translation units
// (register_elementwise_kernels in elementwise.cpp calls them all).
#pragma once

#include "kernels/registry.hpp"

namespace keel {

void register_elementwise_binary_kernels(KernelRegistry& r);  // elementwise_binary.cpp
void register_elementwise_cast_kernels(KernelRegistry& r);    // elementwise_cast.cpp

}  // namespace keel
