// Gradients of a metric on the logits with respect to activations, from a forward graph of our own
// in ggml. llama.cpp's training graph reads K and V back from its KV cache, which cuts the gradient
// (see /work/shared/notes/llama-cpp-gradients.md); here attention takes K and V straight from the
// current activations, so every layer's gradient is exact. The weights are the GGUF file's own
// tensors (any type ggml's mul_mat and its backward accept). Architectures: llama, qwen2 (the
// differences: q/k/v biases and NEOX rotary), gpt2 (LayerNorm, GELU and learned positions composed
// from ops that have a backward). Hyperparameters and hook policy come from src/engine/gradients.ts.
#include "grad.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml.h"
#include "gguf.h"

namespace steer {
namespace {

struct HParams {
  std::string arch;
  int n_layer, n_head, n_head_kv, d_head, n_rot, n_ctx_orig, rope_mode;
  float eps, rope_base, rope_scale;
};

class GradModel : public Napi::ObjectWrap<GradModel> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "GradModel", {InstanceMethod("run", &GradModel::Run), InstanceMethod("free", &GradModel::Free)});
  }

  // new GradModel(path, hparams)
  GradModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GradModel>(info) {
    Napi::Env env = info.Env();
    std::string path = info[0].As<Napi::String>();
    Napi::Object h = info[1].As<Napi::Object>();
    auto num = [&](const char* k) { return h.Get(k).As<Napi::Number>(); };
    hp_ = {h.Get("arch").As<Napi::String>(), num("nLayer").Int32Value(), num("nHead").Int32Value(), num("nHeadKv").Int32Value(),
           num("dHead").Int32Value(), num("nRot").Int32Value(), num("nCtxOrig").Int32Value(), num("ropeMode").Int32Value(),
           num("eps").FloatValue(), num("ropeBase").FloatValue(), num("ropeScale").FloatValue()};

    ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (!cpu) throw Napi::Error::New(env, "no CPU backend loaded");
    backend_ = ggml_backend_dev_init(cpu, nullptr);
    if (!backend_) throw Napi::Error::New(env, "could not start the CPU backend");
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(cpu);
    set_threads_ = (SetThreads)ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_n_threads");
    auto set_abort = (SetAbort)ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_abort_callback");
    if (set_abort) set_abort(backend_, &GradModel::AbortCallback, this);

    gguf_init_params gp = {/*no_alloc=*/true, &wctx_};
    gguf_context* g = gguf_init_from_file(path.c_str(), gp);
    if (!g) {
      Release();
      throw Napi::Error::New(env, "ggml could not read " + path + " as GGUF");
    }
    wbuf_ = ggml_backend_alloc_ctx_tensors(wctx_, backend_);
    FILE* f = wbuf_ ? fopen(path.c_str(), "rb") : nullptr;
    bool ok = f != nullptr;
    std::vector<uint8_t> bytes;
    for (int64_t i = 0; ok && i < gguf_get_n_tensors(g); i++) {
      ggml_tensor* t = ggml_get_tensor(wctx_, gguf_get_tensor_name(g, i));
      size_t n = ggml_nbytes(t);
      bytes.resize(n);
      ok = fseek(f, (long)(gguf_get_data_offset(g) + gguf_get_tensor_offset(g, i)), SEEK_SET) == 0 && fread(bytes.data(), 1, n, f) == n;
      if (ok) ggml_backend_tensor_set(t, bytes.data(), 0, n);
    }
    if (f) fclose(f);
    gguf_free(g);
    if (!ok) {
      Release();
      throw Napi::Error::New(env, "could not load the weights of " + path + " (out of memory or truncated file)");
    }
    // The weights are a second copy beside llama.cpp's: tell V8's garbage collector about them.
    external_ = (int64_t)ggml_backend_buffer_get_size(wbuf_);
    napi_adjust_external_memory(env, external_, &external_total_);
  }
  ~GradModel() override { Release(); }

 private:
  using SetThreads = void (*)(ggml_backend_t, int);
  using SetAbort = void (*)(ggml_backend_t, ggml_abort_callback, void*);

  void Release() {
    if (external_) napi_adjust_external_memory(Env(), -external_, &external_total_);
    external_ = 0;
    if (wbuf_) ggml_backend_buffer_free(wbuf_);
    wbuf_ = nullptr;
    if (wctx_) ggml_free(wctx_);
    wctx_ = nullptr;
    if (backend_) ggml_backend_free(backend_);
    backend_ = nullptr;
  }

  static bool AbortCallback(void* data) {
    int32_t* flag = static_cast<GradModel*>(data)->abort_flag_;
    return flag && __atomic_load_n(flag, __ATOMIC_RELAXED) != 0;
  }

  // dst[i] = weight row ids[i], as F32 (the leaf parameters hold what get_rows would give).
  static void SetRows(ggml_tensor* dst, ggml_tensor* weight, const int32_t* ids) {
    const int64_t D = weight->ne[0];
    std::vector<float> host((size_t)D * dst->ne[1]);
    std::vector<uint8_t> raw(weight->nb[1]);
    const auto* traits = ggml_get_type_traits(weight->type);
    for (int64_t t = 0; t < dst->ne[1]; t++) {
      ggml_backend_tensor_get(weight, raw.data(), (size_t)ids[t] * weight->nb[1], weight->nb[1]);
      if (weight->type == GGML_TYPE_F32) memcpy(&host[(size_t)t * D], raw.data(), sizeof(float) * D);
      else traits->to_float(raw.data(), &host[(size_t)t * D], D);
    }
    ggml_backend_tensor_set(dst, host.data(), 0, sizeof(float) * host.size());
  }

  ggml_tensor* W(const std::string& name) const { return ggml_get_tensor(wctx_, name.c_str()); }

  ggml_tensor* Need(const std::string& name) const {
    ggml_tensor* t = W(name);
    if (!t) throw std::runtime_error("the model file has no tensor " + name);
    return t;
  }

  // W x, plus the bias when the file has one.
  ggml_tensor* Linear(ggml_context* c, const std::string& name, ggml_tensor* x) const {
    ggml_tensor* y = ggml_mul_mat(c, Need(name + ".weight"), x);
    if (ggml_tensor* b = W(name + ".bias")) y = ggml_add(c, y, b);
    return y;
  }

  // ggml's mean has a backward only for a mean over the whole tensor; sum_rows has one per row.
  static ggml_tensor* RowMean(ggml_context* c, ggml_tensor* x) { return ggml_scale(c, ggml_sum_rows(c, x), 1.0f / (float)x->ne[0]); }

  // RMSNorm (llama, qwen2) or LayerNorm (gpt2) over each row, with the weight (and bias).
  // LayerNorm is composed because ggml's `norm` has no backward; repeats are explicit because
  // sub and div broadcast forward only.
  ggml_tensor* Norm(ggml_context* c, const std::string& name, ggml_tensor* x) const {
    ggml_tensor* y;
    if (hp_.arch == "gpt2") {
      ggml_tensor* xc = ggml_sub(c, x, ggml_repeat(c, RowMean(c, x), x));
      ggml_tensor* var = RowMean(c, ggml_sqr(c, xc));
      ggml_tensor* sd = ggml_sqrt(c, ggml_add(c, var, ggml_repeat(c, eps_, var)));
      y = ggml_div(c, xc, ggml_repeat(c, sd, xc));
    } else {
      y = ggml_rms_norm(c, x, hp_.eps);
    }
    y = ggml_mul(c, y, Need(name + ".weight"));
    if (ggml_tensor* b = W(name + ".bias")) y = ggml_add(c, y, b);
    return y;
  }

  // GELU, tanh form (what llama.cpp's gelu computes): x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3),
  // with sigmoid(z) = exp(z - softplus(z)), which stays finite for any z.
  static ggml_tensor* Gelu(ggml_context* c, ggml_tensor* x) {
    const float k = 2.0f * sqrtf(2.0f / 3.14159265358979f);
    ggml_tensor* z = ggml_scale(c, ggml_add(c, x, ggml_scale(c, ggml_mul(c, ggml_sqr(c, x), x), 0.044715f)), k);
    return ggml_mul(c, x, ggml_exp(c, ggml_sub(c, z, ggml_softplus(c, z))));
  }

  ggml_tensor* Rope(ggml_context* c, ggml_tensor* x) const {
    // rope_freqs.weight: per-dimension frequency factors (llama 3.1 style), as llama.cpp applies them
    return ggml_rope_ext(c, x, pos_, W("rope_freqs.weight"), hp_.n_rot, hp_.rope_mode, hp_.n_ctx_orig, hp_.rope_base, hp_.rope_scale, 0.0f, 1.0f, 32.0f, 1.0f);
  }

  // [d_head, n_head_kv, T] -> [d_head, n_head, T]: query head h reads KV head h / (n_head / n_head_kv).
  ggml_tensor* RepeatKv(ggml_context* c, ggml_tensor* x, int T) const {
    if (hp_.n_head == hp_.n_head_kv) return x;
    const int g = hp_.n_head / hp_.n_head_kv;
    ggml_tensor* x4 = ggml_reshape_4d(c, x, hp_.d_head, 1, hp_.n_head_kv, T);
    ggml_tensor* shape = ggml_new_tensor_4d(c, GGML_TYPE_F32, hp_.d_head, g, hp_.n_head_kv, T);
    return ggml_reshape_3d(c, ggml_repeat(c, x4, shape), hp_.d_head, hp_.n_head, T);
  }

  // Builds the forward graph; names what the hook table in gradients.ts asks for in `named`.
  ggml_tensor* Forward(ggml_context* c, ggml_tensor* embd, ggml_tensor* pos_embd, int T, std::map<std::string, ggml_tensor*>& named) const {
    const int H = hp_.n_head, HK = hp_.n_head_kv, Dh = hp_.d_head;
    ggml_tensor* x = embd;
    named["embed"] = embd;
    if (pos_embd) {
      named["pos_embed"] = pos_embd;
      x = ggml_add(c, x, pos_embd);
    }
    for (int l = 0; l < hp_.n_layer; l++) {
      const std::string b = "blk." + std::to_string(l) + ".";
      const std::string s = "-" + std::to_string(l);
      named["resid_pre" + s] = x;
      ggml_tensor* cur = named["ln1" + s] = Norm(c, b + "attn_norm", x);
      ggml_tensor *q, *k, *v;
      if (W(b + "attn_qkv.weight")) {
        ggml_tensor* qkv = Linear(c, b + "attn_qkv", cur);
        q = ggml_cont(c, ggml_view_2d(c, qkv, H * Dh, T, qkv->nb[1], 0));
        k = ggml_cont(c, ggml_view_2d(c, qkv, HK * Dh, T, qkv->nb[1], sizeof(float) * H * Dh));
        v = ggml_cont(c, ggml_view_2d(c, qkv, HK * Dh, T, qkv->nb[1], sizeof(float) * (H + HK) * Dh));
      } else {
        q = Linear(c, b + "attn_q", cur);
        k = Linear(c, b + "attn_k", cur);
        v = Linear(c, b + "attn_v", cur);
      }
      q = named["q" + s] = ggml_reshape_3d(c, q, Dh, H, T);
      k = named["k" + s] = ggml_reshape_3d(c, k, Dh, HK, T);
      v = named["v" + s] = ggml_reshape_3d(c, v, Dh, HK, T);
      if (hp_.arch != "gpt2") {
        q = named["rot_q" + s] = Rope(c, q);
        k = named["rot_k" + s] = Rope(c, k);
      }
      k = RepeatKv(c, k, T);
      v = RepeatKv(c, v, T);
      ggml_tensor* qp = ggml_cont(c, ggml_permute(c, q, 0, 2, 1, 3));  // [Dh, T, H]
      ggml_tensor* kp = ggml_cont(c, ggml_permute(c, k, 0, 2, 1, 3));  // [Dh, T, H]
      ggml_tensor* vt = ggml_cont(c, ggml_permute(c, v, 1, 2, 0, 3));  // [T, Dh, H]
      ggml_tensor* kq = ggml_mul_mat(c, kp, qp);                       // [Tk, Tq, H]
      ggml_tensor* pattern = named["pattern" + s] = ggml_soft_max_ext(c, kq, mask_, 1.0f / sqrtf((float)Dh), 0.0f);
      ggml_tensor* kqv = ggml_mul_mat(c, vt, pattern);                 // [Dh, Tq, H]
      ggml_tensor* z = named["z" + s] = ggml_cont(c, ggml_permute(c, kqv, 0, 2, 1, 3));  // [Dh, H, T]
      ggml_tensor* attn = named["attn_out" + s] = Linear(c, b + "attn_output", ggml_reshape_2d(c, z, H * Dh, T));
      x = named["resid_mid" + s] = ggml_add(c, x, attn);
      cur = named["ln2" + s] = Norm(c, b + "ffn_norm", x);
      ggml_tensor* post;
      if (hp_.arch == "gpt2") {
        ggml_tensor* pre = named["mlp_pre" + s] = Linear(c, b + "ffn_up", cur);
        post = Gelu(c, pre);
      } else {
        ggml_tensor* gate = named["mlp_pre" + s] = Linear(c, b + "ffn_gate", cur);
        ggml_tensor* up = named["mlp_pre_linear" + s] = Linear(c, b + "ffn_up", cur);
        post = ggml_mul(c, ggml_silu(c, gate), up);
      }
      named["mlp_post" + s] = post;
      ggml_tensor* mlp = named["mlp_out" + s] = Linear(c, b + "ffn_down", post);
      x = named["resid_post" + s] = ggml_add(c, x, mlp);
    }
    ggml_tensor* fin = named["ln_final"] = Norm(c, "output_norm", x);
    ggml_tensor* logits = ggml_mul_mat(c, W("output.weight") ? W("output.weight") : Need("token_embd.weight"), fin);
    if (ggml_tensor* ob = W("output.bias")) logits = ggml_add(c, logits, ob);
    return logits;
  }

  // run(tokens, metric, names, nThreads, abortFlag) -> { status, value, logits, values[], grads[] }
  // metric: { kind: 0 logit difference (a - b) | 1 log-probability of a | 2 weights . logits, a, b, pos, weights }
  // status: 0 ok, 2 aborted, 1 failed (see error).
  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!wctx_) throw Napi::Error::New(env, "gradient model was freed");
    Napi::Int32Array tokens = info[0].As<Napi::Int32Array>();
    Napi::Object metric = info[1].As<Napi::Object>();
    Napi::Array names = info[2].As<Napi::Array>();
    if (set_threads_) set_threads_(backend_, info[3].As<Napi::Number>().Int32Value());
    abort_flag_ = info[4].IsTypedArray() ? info[4].As<Napi::Int32Array>().Data() : nullptr;
    const int kind = metric.Get("kind").As<Napi::Number>().Int32Value();
    const int a = metric.Get("a").As<Napi::Number>().Int32Value();
    const int b = metric.Get("b").As<Napi::Number>().Int32Value();
    const int p = metric.Get("pos").As<Napi::Number>().Int32Value();

    const int T = (int)tokens.ElementLength();
    ggml_tensor* tok_embd = Need("token_embd.weight");
    const int64_t D = tok_embd->ne[0], V = W("output.weight") ? W("output.weight")->ne[1] : tok_embd->ne[1];
    // Room for forward and backward nodes with a wide margin (gpt2 needed about 160 a layer):
    // running out is an assertion in ggml, not an error.
    const size_t graph_size = 512 * (size_t)hp_.n_layer + 2048;
    ggml_init_params ip = {ggml_tensor_overhead() * graph_size * 4 + ggml_graph_overhead_custom(graph_size, true), nullptr, true};
    ggml_context* c = ggml_init(ip);
    ggml_gallocr_t galloc = nullptr;
    Napi::Object out = Napi::Object::New(env);
    try {
      // The embeddings are the graph's parameters, so every activation lies on a gradient path.
      auto param = [&](int64_t rows) {
        ggml_tensor* t = ggml_new_tensor_2d(c, GGML_TYPE_F32, D, rows);
        ggml_set_input(t);
        ggml_set_param(t);
        return t;
      };
      ggml_tensor* embd = param(T);
      ggml_tensor* pos_weight = W("position_embd.weight");
      if (pos_weight && T > pos_weight->ne[1]) {
        throw std::runtime_error("the input has " + std::to_string(T) + " tokens, more than the model's " + std::to_string(pos_weight->ne[1]) + " learned positions; shorten it");
      }
      ggml_tensor* pos_embd = pos_weight ? param(T) : nullptr;
      pos_ = ggml_new_tensor_1d(c, GGML_TYPE_I32, T);
      ggml_set_input(pos_);
      mask_ = ggml_new_tensor_2d(c, GGML_TYPE_F32, T, T);
      ggml_set_input(mask_);
      eps_ = ggml_new_tensor_2d(c, GGML_TYPE_F32, 1, 1);
      ggml_set_input(eps_);
      std::map<std::string, ggml_tensor*> named;
      ggml_tensor* logits = Forward(c, embd, pos_embd, T, named);
      ggml_tensor* weights = nullptr;
      ggml_tensor* loss;
      auto at = [&](int tok) { return ggml_view_1d(c, logits, 1, sizeof(float) * ((size_t)p * V + tok)); };
      ggml_tensor* row = ggml_view_1d(c, logits, V, sizeof(float) * (size_t)p * V);
      if (kind == 0) loss = ggml_sub(c, at(a), at(b));
      else if (kind == 1) loss = ggml_log(c, ggml_view_1d(c, ggml_soft_max(c, row), 1, sizeof(float) * a));
      else {
        weights = ggml_new_tensor_1d(c, GGML_TYPE_F32, V);
        ggml_set_input(weights);
        loss = ggml_sum(c, ggml_mul(c, row, weights));
      }
      ggml_set_loss(loss);
      ggml_set_output(logits);

      ggml_cgraph* gf = ggml_new_graph_custom(c, graph_size, true);
      ggml_build_forward_expand(gf, loss);
      ggml_build_forward_expand(gf, logits);
      ggml_build_backward_expand(c, gf, nullptr);
      std::vector<ggml_tensor*> acts, grads;
      for (uint32_t i = 0; i < names.Length(); i++) {
        std::string n = names.Get(i).As<Napi::String>();
        auto it = named.find(n);
        if (it == named.end()) throw std::runtime_error("no tensor " + n + " in the gradient graph of " + hp_.arch);
        ggml_tensor* g = ggml_graph_get_grad(gf, it->second);
        if (!g) throw std::runtime_error(n + " has no gradient in this graph");
        ggml_set_output(it->second);
        ggml_set_output(g);
        acts.push_back(it->second);
        grads.push_back(g);
      }
      galloc = ggml_gallocr_new(ggml_backend_get_default_buffer_type(backend_));
      if (!ggml_gallocr_alloc_graph(galloc, gf)) throw std::runtime_error("out of memory for the gradient graph");

      std::vector<int32_t> positions(T);
      for (int t = 0; t < T; t++) positions[t] = t;
      SetRows(embd, tok_embd, tokens.Data());
      if (pos_embd) SetRows(pos_embd, pos_weight, positions.data());
      // inputs only some architectures read are not in the graph, so have no memory
      if (pos_->buffer) ggml_backend_tensor_set(pos_, positions.data(), 0, sizeof(int32_t) * T);
      std::vector<float> mask((size_t)T * T);
      for (int q = 0; q < T; q++)
        for (int k = 0; k < T; k++) mask[(size_t)q * T + k] = k <= q ? 0.0f : -INFINITY;
      ggml_backend_tensor_set(mask_, mask.data(), 0, sizeof(float) * mask.size());
      const float eps = hp_.eps;
      if (eps_->buffer) ggml_backend_tensor_set(eps_, &eps, 0, sizeof(float));
      if (weights) {
        Napi::Float32Array w = metric.Get("weights").As<Napi::Float32Array>();
        ggml_backend_tensor_set(weights, w.Data(), 0, sizeof(float) * V);
      }
      ggml_graph_reset(gf);
      ggml_status st = ggml_backend_graph_compute(backend_, gf);
      abort_flag_ = nullptr;
      out.Set("status", Napi::Number::New(env, st == GGML_STATUS_SUCCESS ? 0 : st == GGML_STATUS_ABORTED ? 2 : 1));
      if (st == GGML_STATUS_SUCCESS) {
        float value = 0;
        ggml_backend_tensor_get(loss, &value, 0, sizeof(float));
        out.Set("value", Napi::Number::New(env, value));
        auto read = [&](ggml_tensor* t) {
          Napi::Float32Array arr = Napi::Float32Array::New(env, ggml_nelements(t));
          ggml_backend_tensor_get(t, arr.Data(), 0, ggml_nbytes(t));
          return arr;
        };
        out.Set("logits", read(logits));
        Napi::Array va = Napi::Array::New(env, acts.size()), ga = Napi::Array::New(env, grads.size());
        for (size_t i = 0; i < acts.size(); i++) {
          va.Set(i, read(acts[i]));
          ga.Set(i, read(grads[i]));
        }
        out.Set("values", va);
        out.Set("grads", ga);
      }
    } catch (const std::exception& e) {
      abort_flag_ = nullptr;
      if (galloc) ggml_gallocr_free(galloc);
      ggml_free(c);
      throw Napi::Error::New(env, e.what());
    }
    ggml_gallocr_free(galloc);
    ggml_free(c);
    return out;
  }

  Napi::Value Free(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }

  HParams hp_;
  ggml_backend_t backend_ = nullptr;
  ggml_context* wctx_ = nullptr;
  ggml_backend_buffer_t wbuf_ = nullptr;
  SetThreads set_threads_ = nullptr;
  int64_t external_ = 0;
  int64_t external_total_ = 0;
  int32_t* abort_flag_ = nullptr;
  // inputs of the graph being built (valid during one run)
  ggml_tensor* pos_ = nullptr;
  ggml_tensor* mask_ = nullptr;
  ggml_tensor* eps_ = nullptr;
};

}  // namespace

Napi::Function DefineGradModel(Napi::Env env) { return GradModel::Define(env); }

}  // namespace steer
