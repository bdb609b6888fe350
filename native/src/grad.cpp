// Gradients of a metric on the logits with respect to activations, from a forward graph of our own
// in ggml. llama.cpp's training graph reads K and V back from its KV cache, which cuts the gradient
// (see /work/shared/notes/llama-cpp-gradients.md); here attention takes K and V straight from the
// current activations, so every layer's gradient is exact. The weights are the GGUF file's own
// tensors (any type ggml's mul_mat and its backward accept). Architectures: llama, qwen2 (the
// differences: q/k/v biases and NEOX rotary), gpt2 (LayerNorm, GELU and learned positions composed
// from ops that have a backward). Hyperparameters and hook policy come from src/engine/gradients.ts.
// A run may start at any layer from a given residual stream, give each attention reader (or the MLP)
// a copy of the residual of its own (split hooks), and replace the local gradient by relevance rules.
#include "grad.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
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
    return DefineClass(env, "GradModel", {InstanceMethod("run", &GradModel::Run), InstanceMethod("patched", &GradModel::Patched),
                                          InstanceMethod("free", &GradModel::Free)});
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

  using Named = std::map<std::string, ggml_tensor*>;

  // How one pass of Forward builds its part of the graph.
  struct Pass {
    // where the hooked tensors (and, in the constant copy, the relevance factors) are named
    Named* named;
    // rule "relevance": the layer-wise relevance propagation rules (see Run) replace the local gradient
    bool relevance;
    // the constant copy's factors, in the main pass of rule "relevance"; null otherwise
    const Named* konst;
    // layers whose attention readers (query heads, key heads, value heads) / MLP read a copy of the residual each
    std::set<int> split_attn, split_mlp;
    // forward only: the rows whose logits to compute (null: all), and one hooked tensor replaced by an input
    ggml_tensor* rows = nullptr;
    struct Override {
      std::string key;
      ggml_tensor* value = nullptr;  // created when Forward reaches `key`, with its shape
    }* override = nullptr;
  };

  // Names a hooked tensor; where it is the overridden one, an input of its shape takes its place.
  static ggml_tensor* Hook(ggml_context* c, const Pass& p, const std::string& key, ggml_tensor* t) {
    if (p.override && p.override->key == key) {
      t = p.override->value = ggml_new_tensor(c, GGML_TYPE_F32, GGML_MAX_DIMS, t->ne);
      ggml_set_input(t);
    }
    return (*p.named)[key] = t;
  }

  // One graph computation's memory: the context and allocator are freed, and the abort flag dropped,
  // however the computation ends (errors are thrown as std::exception on the way).
  struct GraphScope {
    GradModel* model;
    ggml_context* c;
    ggml_gallocr_t galloc = nullptr;
    GraphScope(GradModel* m, ggml_init_params ip) : model(m), c(ggml_init(ip)) {}
    GraphScope(const GraphScope&) = delete;
    GraphScope& operator=(const GraphScope&) = delete;
    ~GraphScope() {
      model->abort_flag_ = nullptr;
      if (galloc) ggml_gallocr_free(galloc);
      ggml_free(c);
    }
    void Allocate(ggml_cgraph* gf, const char* what) {
      galloc = ggml_gallocr_new(ggml_backend_get_default_buffer_type(model->backend_));
      if (!ggml_gallocr_alloc_graph(galloc, gf)) throw std::runtime_error(std::string("out of memory for ") + what);
    }
  };

  // The inputs every graph may read, for n tokens: positions (rotary), the attention mask, the norms' epsilon.
  void NewSharedInputs(ggml_context* c, int n) {
    pos_ = ggml_new_tensor_1d(c, GGML_TYPE_I32, n);
    ggml_set_input(pos_);
    mask_ = ggml_new_tensor_2d(c, GGML_TYPE_F32, n, n);
    ggml_set_input(mask_);
    eps_ = ggml_new_tensor_2d(c, GGML_TYPE_F32, 1, 1);
    ggml_set_input(eps_);
  }

  // An input the graph does not read (no rotary in gpt2; no attention above a replaced z) has no memory.
  void SetSharedInputs(const std::vector<int32_t>& positions, const std::vector<float>& mask) {
    if (pos_->buffer) ggml_backend_tensor_set(pos_, positions.data(), 0, sizeof(int32_t) * positions.size());
    if (mask_->buffer) ggml_backend_tensor_set(mask_, mask.data(), 0, sizeof(float) * mask.size());
    const float eps = hp_.eps;
    if (eps_->buffer) ggml_backend_tensor_set(eps_, &eps, 0, sizeof(float));
  }

  // The attention mask of `copies` sequences of T tokens side by side: causal within each, closed between them.
  static std::vector<float> CausalMask(int T, int copies) {
    const int n = T * copies;
    std::vector<float> mask((size_t)n * n, -INFINITY);
    for (int q = 0; q < n; q++)
      for (int k = q - q % T; k <= q; k++) mask[(size_t)q * n + k] = 0.0f;
    return mask;
  }

  // A factor the relevance rules hold constant: in the main pass the constant copy's tensor (which has
  // no gradient, its input not being a parameter), in the constant copy computed here and named.
  template <class Build>
  static ggml_tensor* Factor(const Pass& p, const std::string& key, Build build) {
    if (p.konst) {
      auto it = p.konst->find("#" + key);
      if (it == p.konst->end()) throw std::runtime_error("internal: the constant copy has no factor " + key);
      return it->second;
    }
    return (*p.named)["#" + key] = build();
  }

  // W x, plus the bias when the file has one.
  ggml_tensor* Linear(ggml_context* c, const std::string& name, ggml_tensor* x) const {
    ggml_tensor* y = ggml_mul_mat(c, Need(name + ".weight"), x);
    if (ggml_tensor* b = W(name + ".bias")) y = ggml_add(c, y, b);
    return y;
  }

  // One projection per reader: x [D, n, T] holds reader r's copy of the input at [:, r, :], read by
  // rows [row0 + r Dh, row0 + (r + 1) Dh) of the weight (a head's rows are contiguous; gpt2's fused
  // q/k/v weight holds the three blocks one after another). One batched mul_mat over a view of the
  // weight; ggml's backward (out_prod) accepts such views of F32, F16 and quantized weights.
  ggml_tensor* SplitLinear(ggml_context* c, const std::string& name, int64_t row0, ggml_tensor* x) const {
    const int64_t Dh = hp_.d_head, n = x->ne[1];
    ggml_tensor* w = Need(name + ".weight");
    ggml_tensor* w3 = ggml_view_3d(c, w, w->ne[0], Dh, n, w->nb[1], w->nb[1] * Dh, w->nb[1] * row0);
    ggml_tensor* y = ggml_mul_mat(c, w3, ggml_cont(c, ggml_permute(c, x, 0, 2, 1, 3)));  // [Dh, T, n]
    y = ggml_cont(c, ggml_permute(c, y, 0, 2, 1, 3));                                     // [Dh, n, T]
    if (ggml_tensor* b = W(name + ".bias")) y = ggml_add(c, y, ggml_view_2d(c, b, Dh, n, b->nb[0] * Dh, b->nb[0] * row0));
    return y;
  }

  // ggml's mean has a backward only for a mean over the whole tensor; sum_rows has one per row.
  static ggml_tensor* RowMean(ggml_context* c, ggml_tensor* x) { return ggml_scale(c, ggml_sum_rows(c, x), 1.0f / (float)x->ne[0]); }

  // RMSNorm (llama, qwen2) or LayerNorm (gpt2) over each row (ne0; x may be [D, T] or the split
  // [D, n, T]), with the weight (and bias). LayerNorm is composed because ggml's `norm` has no
  // backward; repeats are explicit because sub and div broadcast forward only. Under the relevance
  // rules the denominator is a factor of the constant copy, always computed there on the unsplit [D, T].
  ggml_tensor* Norm(ggml_context* c, const Pass& p, const std::string& name, ggml_tensor* x) const {
    const bool gpt2 = hp_.arch == "gpt2";
    ggml_tensor* y;
    if (!gpt2 && !p.relevance) {
      y = ggml_rms_norm(c, x, hp_.eps);
    } else {
      ggml_tensor* xc = gpt2 ? ggml_sub(c, x, ggml_repeat(c, RowMean(c, x), x)) : x;
      auto denominator = [&] {
        ggml_tensor* var = RowMean(c, ggml_sqr(c, xc));
        return ggml_sqrt(c, ggml_add(c, var, ggml_repeat(c, eps_, var)));
      };
      ggml_tensor* sd = p.relevance ? Factor(p, name, denominator) : denominator();
      if (sd->ne[2] != xc->ne[2]) sd = ggml_reshape_3d(c, sd, 1, 1, sd->ne[1]);  // [1, T] -> [1, 1, T] for a split x
      y = ggml_div(c, xc, ggml_repeat(c, sd, xc));
    }
    y = ggml_mul(c, y, Need(name + ".weight"));
    if (ggml_tensor* b = W(name + ".bias")) y = ggml_add(c, y, b);
    return y;
  }

  // GELU, tanh form (what llama.cpp's gelu computes), is x * s(x) with s(x) = sigmoid(2u),
  // u = sqrt(2/pi) (x + 0.044715 x^3); s is written as exp(z - softplus(z)), finite for any z.
  static ggml_tensor* GeluFactor(ggml_context* c, ggml_tensor* x) {
    const float k = 2.0f * sqrtf(2.0f / 3.14159265358979f);
    ggml_tensor* z = ggml_scale(c, ggml_add(c, x, ggml_scale(c, ggml_mul(c, ggml_sqr(c, x), x), 0.044715f)), k);
    return ggml_exp(c, ggml_sub(c, z, ggml_softplus(c, z)));
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

  // x [D, T] -> [D, n, T], one copy per reader: the gradient of copy r is reader r's alone.
  static ggml_tensor* Copies(ggml_context* c, ggml_tensor* x, int n) {
    ggml_tensor* shape = ggml_new_tensor_3d(c, GGML_TYPE_F32, x->ne[0], n, x->ne[1]);
    return ggml_repeat(c, ggml_reshape_3d(c, x, x->ne[0], 1, x->ne[1]), shape);
  }

  // Builds the forward graph from x, the residual stream at layer `first`'s input; names what the
  // hook table in gradients.ts asks for in p.named.
  ggml_tensor* Forward(ggml_context* c, const Pass& p, ggml_tensor* x, int first, int T) const {
    const int H = hp_.n_head, HK = hp_.n_head_kv, Dh = hp_.d_head;
    for (int l = first; l < hp_.n_layer; l++) {
      const std::string b = "blk." + std::to_string(l) + ".";
      const std::string s = "-" + std::to_string(l);
      x = Hook(c, p, "resid_pre" + s, x);
      ggml_tensor *q, *k, *v;
      const bool fused = W(b + "attn_qkv.weight") != nullptr;
      if (p.split_attn.count(l)) {
        ggml_tensor* qin = Hook(c, p, "q_input" + s, Copies(c, x, H));
        ggml_tensor* kin = Hook(c, p, "k_input" + s, Copies(c, x, HK));
        ggml_tensor* vin = Hook(c, p, "v_input" + s, Copies(c, x, HK));
        q = SplitLinear(c, fused ? b + "attn_qkv" : b + "attn_q", 0, Norm(c, p, b + "attn_norm", qin));
        k = SplitLinear(c, fused ? b + "attn_qkv" : b + "attn_k", fused ? H * Dh : 0, Norm(c, p, b + "attn_norm", kin));
        v = SplitLinear(c, fused ? b + "attn_qkv" : b + "attn_v", fused ? (H + HK) * Dh : 0, Norm(c, p, b + "attn_norm", vin));
      } else {
        ggml_tensor* cur = Hook(c, p, "ln1" + s, Norm(c, p, b + "attn_norm", x));
        if (fused) {
          ggml_tensor* qkv = Linear(c, b + "attn_qkv", cur);
          q = ggml_cont(c, ggml_view_2d(c, qkv, H * Dh, T, qkv->nb[1], 0));
          k = ggml_cont(c, ggml_view_2d(c, qkv, HK * Dh, T, qkv->nb[1], sizeof(float) * H * Dh));
          v = ggml_cont(c, ggml_view_2d(c, qkv, HK * Dh, T, qkv->nb[1], sizeof(float) * (H + HK) * Dh));
        } else {
          q = Linear(c, b + "attn_q", cur);
          k = Linear(c, b + "attn_k", cur);
          v = Linear(c, b + "attn_v", cur);
        }
      }
      q = Hook(c, p, "q" + s, ggml_reshape_3d(c, q, Dh, H, T));
      k = Hook(c, p, "k" + s, ggml_reshape_3d(c, k, Dh, HK, T));
      v = Hook(c, p, "v" + s, ggml_reshape_3d(c, v, Dh, HK, T));
      if (hp_.arch != "gpt2") {
        q = Hook(c, p, "rot_q" + s, Rope(c, q));
        k = Hook(c, p, "rot_k" + s, Rope(c, k));
      }
      auto softmax = [&] {
        ggml_tensor* qp = ggml_cont(c, ggml_permute(c, q, 0, 2, 1, 3));                   // [Dh, T, H]
        ggml_tensor* kp = ggml_cont(c, ggml_permute(c, RepeatKv(c, k, T), 0, 2, 1, 3));   // [Dh, T, H]
        ggml_tensor* kq = ggml_mul_mat(c, kp, qp);                                        // [Tk, Tq, H]
        return ggml_soft_max_ext(c, kq, mask_, 1.0f / sqrtf((float)Dh), 0.0f);
      };
      // AH-rule: the pattern is constant, relevance flows through V alone
      ggml_tensor* pattern = Hook(c, p, "pattern" + s, p.relevance ? Factor(p, "pattern" + s, softmax) : softmax());
      ggml_tensor* vt = ggml_cont(c, ggml_permute(c, RepeatKv(c, v, T), 1, 2, 0, 3));  // [T, Dh, H]
      ggml_tensor* kqv = ggml_mul_mat(c, vt, pattern);                                  // [Dh, Tq, H]
      ggml_tensor* z = Hook(c, p, "z" + s, ggml_cont(c, ggml_permute(c, kqv, 0, 2, 1, 3)));  // [Dh, H, T]
      ggml_tensor* attn = Hook(c, p, "attn_out" + s, Linear(c, b + "attn_output", ggml_reshape_2d(c, z, H * Dh, T)));
      x = Hook(c, p, "resid_mid" + s, ggml_add(c, x, attn));
      // scale by 1: a node of its own, whose gradient is the MLP's path alone
      ggml_tensor* xm = p.split_mlp.count(l) ? Hook(c, p, "mlp_in" + s, ggml_scale(c, x, 1.0f)) : x;
      ggml_tensor* cur = Hook(c, p, "ln2" + s, Norm(c, p, b + "ffn_norm", xm));
      ggml_tensor* post;
      if (hp_.arch == "gpt2") {
        ggml_tensor* pre = Hook(c, p, "mlp_pre" + s, Linear(c, b + "ffn_up", cur));
        // identity rule: GELU(x) = x * s(x) with s constant
        post = ggml_mul(c, pre, p.relevance ? Factor(p, "gelu" + s, [&] { return GeluFactor(c, pre); }) : GeluFactor(c, pre));
      } else {
        ggml_tensor* gate = Hook(c, p, "mlp_pre" + s, Linear(c, b + "ffn_gate", cur));
        ggml_tensor* up = Hook(c, p, "mlp_pre_linear" + s, Linear(c, b + "ffn_up", cur));
        if (p.relevance) {
          // half rule on silu(gate) * up, identity rule inside silu: silu(gate) = gate * sigmoid(gate), sigmoid constant
          ggml_tensor* sig = Factor(p, "sigmoid" + s, [&] { return ggml_sigmoid(c, gate); });
          ggml_tensor* silu_c = Factor(p, "silu" + s, [&] { return ggml_mul(c, gate, sig); });
          ggml_tensor* up_c = Factor(p, "up" + s, [&] { return up; });
          post = ggml_add(c, ggml_scale(c, ggml_mul(c, ggml_mul(c, gate, sig), up_c), 0.5f), ggml_scale(c, ggml_mul(c, silu_c, up), 0.5f));
        } else {
          post = ggml_mul(c, ggml_silu(c, gate), up);
        }
      }
      post = Hook(c, p, "mlp_post" + s, post);
      ggml_tensor* mlp = Hook(c, p, "mlp_out" + s, Linear(c, b + "ffn_down", post));
      x = Hook(c, p, "resid_post" + s, ggml_add(c, x, mlp));
    }
    if (p.rows) x = ggml_get_rows(c, x, p.rows);
    ggml_tensor* fin = Hook(c, p, "ln_final", Norm(c, p, "output_norm", x));
    ggml_tensor* logits = ggml_mul_mat(c, W("output.weight") ? W("output.weight") : Need("token_embd.weight"), fin);
    if (ggml_tensor* ob = W("output.bias")) logits = ggml_add(c, logits, ob);
    return logits;
  }

  // run(tokens, metric, names, nThreads, abortFlag, options) -> { status, value, logits, values[], grads[] }
  // metric: { kind: 0 logit difference (a - b) | 1 log-probability of a | 2 weights . logits, a, b, pos, weights }
  // options: { start: first layer computed (0: from the tokens), resid: its input [T][D] when start > 0
  //            or non-null, relevance: bool, splitAttn, splitMlp: Int32Array of layers }
  // A requested tensor off every gradient path (q and k under the relevance rules) gets a zero gradient.
  // status: 0 ok, 2 aborted, 1 failed (see error).
  //
  // Rule "relevance" (layer-wise relevance propagation as in RelP, Jafari et al. 2025; LN and attention
  // rules from Ali et al. 2022, the product rule from AttnLRP): the forward values are unchanged and the
  // backward treats some factors as constants. ggml has no stop-gradient, so a second copy of the forward
  // pass, fed by a copy of the input that is not a parameter (hence has no gradient), supplies them:
  //  - LN-rule: RMSNorm's rms and LayerNorm's standard deviation (LayerNorm's centering stays, it is linear);
  //  - AH-rule: the attention pattern (relevance flows through V alone; q and k get none);
  //  - identity rule: act(x) = x * c(x) with c constant (SiLU: sigmoid(x); GELU: its sigmoid factor);
  //  - half rule: silu(gate) * up = 0.5 silu(gate) up_const + 0.5 silu_const(gate) up.
  // Everything else (matmuls, sums, rotary, the final norm under the LN-rule, the metric) keeps its local gradient.
  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!wctx_) throw Napi::Error::New(env, "gradient model was freed");
    Napi::Int32Array tokens = info[0].As<Napi::Int32Array>();
    Napi::Object metric = info[1].As<Napi::Object>();
    Napi::Array names = info[2].As<Napi::Array>();
    if (set_threads_) set_threads_(backend_, info[3].As<Napi::Number>().Int32Value());
    abort_flag_ = info[4].IsTypedArray() ? info[4].As<Napi::Int32Array>().Data() : nullptr;
    Napi::Object opts = info[5].As<Napi::Object>();
    const int kind = metric.Get("kind").As<Napi::Number>().Int32Value();
    const int a = metric.Get("a").As<Napi::Number>().Int32Value();
    const int b = metric.Get("b").As<Napi::Number>().Int32Value();
    const int p = metric.Get("pos").As<Napi::Number>().Int32Value();
    const int first = opts.Get("start").As<Napi::Number>().Int32Value();
    const bool from_resid = opts.Get("resid").IsTypedArray();
    const bool relevance = opts.Get("relevance").As<Napi::Boolean>();
    Pass main_pass{nullptr, relevance, nullptr, {}, {}};
    auto layers = [&](const char* key, std::set<int>& into) {
      Napi::Int32Array arr = opts.Get(key).As<Napi::Int32Array>();
      for (size_t i = 0; i < arr.ElementLength(); i++) into.insert(arr[i]);
    };
    layers("splitAttn", main_pass.split_attn);
    layers("splitMlp", main_pass.split_mlp);

    const int T = (int)tokens.ElementLength();
    ggml_tensor* tok_embd = Need("token_embd.weight");
    const int64_t D = tok_embd->ne[0], V = W("output.weight") ? W("output.weight")->ne[1] : tok_embd->ne[1];
    if (from_resid && opts.Get("resid").As<Napi::Float32Array>().ElementLength() != (size_t)(T * D)) {
      throw Napi::Error::New(env, "internal: the start residual is not [T, d_model]");
    }
    // Room for forward and backward nodes with a wide margin (gpt2 needed about 160 a layer; the
    // relevance rules add the constant copy's forward, a split about 150 a layer, reading a view a
    // copy): running out is an assertion in ggml, not an error.
    const size_t graph_size = (512 * (size_t)(hp_.n_layer - first) + 2048) * (relevance ? 2 : 1) +
                              512 * (main_pass.split_attn.size() + main_pass.split_mlp.size()) + 2 * names.Length();
    ggml_init_params ip = {ggml_tensor_overhead() * graph_size * 4 + ggml_graph_overhead_custom(graph_size, true), nullptr, true};
    GraphScope scope(this, ip);
    ggml_context* c = scope.c;
    Napi::Object out = Napi::Object::New(env);
    try {
      // The graph's inputs; the main pass's are its parameters, so every activation lies on a gradient path.
      struct Input {
        ggml_tensor* t;
        ggml_tensor* rows_of;  // embedding weight whose rows it holds, or null for the start residual
        const int32_t* ids;
      };
      std::vector<Input> inputs;
      std::vector<int32_t> positions(T);
      for (int t = 0; t < T; t++) positions[t] = t;
      ggml_tensor* pos_weight = W("position_embd.weight");
      if (!from_resid && pos_weight && T > pos_weight->ne[1]) {
        throw std::runtime_error("the input has " + std::to_string(T) + " tokens, more than the model's " + std::to_string(pos_weight->ne[1]) + " learned positions; shorten it");
      }
      // the residual stream entering layer `first`, named as the hooks before it
      auto residual = [&](bool param, Named& named) {
        auto input = [&](ggml_tensor* rows_of, const int32_t* ids) {
          ggml_tensor* t = ggml_new_tensor_2d(c, GGML_TYPE_F32, D, T);
          ggml_set_input(t);
          if (param) ggml_set_param(t);
          inputs.push_back({t, rows_of, ids});
          return t;
        };
        if (from_resid) return input(nullptr, nullptr);
        ggml_tensor* x = named["embed"] = input(tok_embd, tokens.Data());
        if (pos_weight) x = ggml_add(c, x, named["pos_embed"] = input(pos_weight, positions.data()));
        return x;
      };
      NewSharedInputs(c, T);
      Named named, konst;
      if (relevance) {
        Pass constant{&konst, true, nullptr, {}, {}};
        Forward(c, constant, residual(false, konst), first, T);
        main_pass.konst = &konst;
      }
      main_pass.named = &named;
      ggml_tensor* logits = Forward(c, main_pass, residual(true, named), first, T);
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
      std::vector<ggml_tensor*> acts;
      for (uint32_t i = 0; i < names.Length(); i++) {
        std::string n = names.Get(i).As<Napi::String>();
        auto it = named.find(n);
        if (it == named.end()) throw std::runtime_error("no tensor " + n + " in the gradient graph of " + hp_.arch);
        // a tensor the loss does not read (q and k under the relevance rules) joins the graph here
        ggml_build_forward_expand(gf, it->second);
        acts.push_back(it->second);
      }
      ggml_build_backward_expand(c, gf, nullptr);
      // A gradient is often a view (the backward of a permute is a permuted view of the next gradient),
      // whose bytes are in its source's order and whose source the allocator may reuse: read every
      // view through a contiguous copy of its own.
      auto readable = [&](ggml_tensor* t) {
        if (t->view_src) {
          t = ggml_cont(c, t);
          ggml_build_forward_expand(gf, t);
        }
        ggml_set_output(t);
        return t;
      };
      std::vector<ggml_tensor*> grads;
      for (ggml_tensor*& t : acts) {
        ggml_tensor* g = ggml_graph_get_grad(gf, t);
        grads.push_back(g ? readable(g) : nullptr);
        t = readable(t);
      }
      scope.Allocate(gf, "the gradient graph");

      for (const Input& in : inputs) {
        if (in.rows_of) SetRows(in.t, in.rows_of, in.ids);
        else ggml_backend_tensor_set(in.t, opts.Get("resid").As<Napi::Float32Array>().Data(), 0, ggml_nbytes(in.t));
      }
      SetSharedInputs(positions, CausalMask(T, 1));
      if (weights) {
        Napi::Float32Array w = metric.Get("weights").As<Napi::Float32Array>();
        ggml_backend_tensor_set(weights, w.Data(), 0, sizeof(float) * V);
      }
      ggml_graph_reset(gf);
      ggml_status st = ggml_backend_graph_compute(backend_, gf);
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
          // typed arrays start zeroed
          ga.Set(i, grads[i] ? read(grads[i]) : Napi::Float32Array::New(env, ggml_nelements(acts[i])));
        }
        out.Set("values", va);
        out.Set("grads", ga);
      }
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
    return out;
  }

  // patched(T, start, resid, key, values, copies, nThreads, abortFlag) -> { status, logits }
  // Forward only, from `resid` ([T][D], the residual stream entering layer `start`): `copies` variants
  // side by side in one graph (one sequence of copies * T tokens whose mask keeps each copy to itself),
  // with the tensor `key` (at a layer >= start) replaced in copy i by values[i] (token-major, T rows
  // each). Returns each copy's last-position logits, [copies][V]. The layers below `start` are not
  // computed, nor anything the replaced tensor alone depended on: exact patching sweeps skip them.
  Napi::Value Patched(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!wctx_) throw Napi::Error::New(env, "gradient model was freed");
    const int T = info[0].As<Napi::Number>().Int32Value();
    const int first = info[1].As<Napi::Number>().Int32Value();
    Napi::Float32Array resid = info[2].As<Napi::Float32Array>();
    Pass::Override override{info[3].As<Napi::String>()};
    Napi::Float32Array values = info[4].As<Napi::Float32Array>();
    const int copies = info[5].As<Napi::Number>().Int32Value();
    if (set_threads_) set_threads_(backend_, info[6].As<Napi::Number>().Int32Value());
    abort_flag_ = info[7].IsTypedArray() ? info[7].As<Napi::Int32Array>().Data() : nullptr;
    const int N = T * copies;
    ggml_tensor* tok_embd = Need("token_embd.weight");
    const int64_t D = tok_embd->ne[0], V = W("output.weight") ? W("output.weight")->ne[1] : tok_embd->ne[1];
    const size_t graph_size = 512 * (size_t)(hp_.n_layer - first) + 2048;
    ggml_init_params ip = {ggml_tensor_overhead() * graph_size * 2 + ggml_graph_overhead_custom(graph_size, false), nullptr, true};
    GraphScope scope(this, ip);
    ggml_context* c = scope.c;
    Napi::Object out = Napi::Object::New(env);
    try {
      if (resid.ElementLength() != (size_t)(T * D)) throw std::runtime_error("internal: the start residual is not [T, d_model]");
      NewSharedInputs(c, N);
      ggml_tensor* start = ggml_new_tensor_2d(c, GGML_TYPE_F32, D, T);
      ggml_set_input(start);
      ggml_tensor* rows = ggml_new_tensor_1d(c, GGML_TYPE_I32, copies);
      ggml_set_input(rows);
      Named named;
      Pass p{&named, false, nullptr, {}, {}, rows, &override};
      ggml_tensor* logits = Forward(c, p, ggml_repeat(c, start, ggml_new_tensor_2d(c, GGML_TYPE_F32, D, N)), first, N);
      if (!override.value) throw std::runtime_error("no tensor " + override.key + " at or above layer " + std::to_string(first));
      if ((size_t)ggml_nelements(override.value) != values.ElementLength()) throw std::runtime_error("internal: the values of " + override.key + " do not fit its shape");
      ggml_set_output(logits);
      ggml_cgraph* gf = ggml_new_graph_custom(c, graph_size, false);
      ggml_build_forward_expand(gf, logits);
      scope.Allocate(gf, "the patched graph");

      std::vector<int32_t> positions(N), last(copies);
      for (int t = 0; t < N; t++) positions[t] = t % T;
      for (int i = 0; i < copies; i++) last[i] = i * T + T - 1;
      SetSharedInputs(positions, CausalMask(T, copies));
      ggml_backend_tensor_set(start, resid.Data(), 0, ggml_nbytes(start));
      ggml_backend_tensor_set(rows, last.data(), 0, sizeof(int32_t) * copies);
      ggml_backend_tensor_set(override.value, values.Data(), 0, ggml_nbytes(override.value));
      ggml_status st = ggml_backend_graph_compute(backend_, gf);
      out.Set("status", Napi::Number::New(env, st == GGML_STATUS_SUCCESS ? 0 : st == GGML_STATUS_ABORTED ? 2 : 1));
      if (st == GGML_STATUS_SUCCESS) {
        Napi::Float32Array arr = Napi::Float32Array::New(env, (size_t)copies * V);
        ggml_backend_tensor_get(logits, arr.Data(), 0, ggml_nbytes(logits));
        out.Set("logits", arr);
      }
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
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
