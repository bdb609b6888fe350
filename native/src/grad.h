// The gradient graph (grad.cpp), registered by addon.cpp as `GradModel`.
#pragma once
#include <napi.h>

namespace steer {
Napi::Function DefineGradModel(Napi::Env env);
}
