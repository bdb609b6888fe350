// Test-only addon: the gradient at hook_z (kqv_out-L) from llama.cpp's own training graph, following
// the recipe in /work/shared/notes/llama-cpp-gradients.md. test/engine/llama-backward.test.ts
// compares the engine's gradient graph (native/src/grad.cpp) with it.
//
// llamaBackward({ binsDir, model, tokens, labelA, labelB, layers, threads }) ->
//   { nUbatch, width, lossA, lossB, gradA: Float32Array[], gradB: Float32Array[] }
// gradA[i] is d loss / d kqv_out-layers[i] with the label at the last prompt position set to labelA,
// [tokens.length][width] (width = n_head * head_dim); the loss is the mean cross-entropy over the
// n_ubatch rows of the one micro-batch, so (gradB - gradA) * nUbatch is the gradient of
// logit(labelA) - logit(labelB) at the last position.
#include <napi.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "ggml-opt.h"
#include "ggml.h"
#include "gguf.h"
#include "llama.h"

namespace {

constexpr const char* kParam = "blk.0.attn_norm.weight";

// llama.cpp's log goes here during a call (the engine's addon, if loaded, gets its callback back after).
struct LogCapture {
  ggml_log_callback prev_cb = nullptr;
  void* prev_ud = nullptr;
  std::string last_error;
  LogCapture() {
    llama_log_get(&prev_cb, &prev_ud);
    llama_log_set(&LogCapture::Log, this);
  }
  ~LogCapture() { llama_log_set(prev_cb, prev_ud); }
  static void Log(ggml_log_level level, const char* text, void* ud) {
    if (level == GGML_LOG_LEVEL_ERROR) static_cast<LogCapture*>(ud)->last_error += text;
  }
};

struct Capture {
  std::vector<std::string> names;  // "grad for kqv_out-L", one per requested layer
  std::vector<std::vector<float>> grads;
  std::vector<int> seen;
  std::vector<int64_t> width, rows;  // ne0, ne1 of what was captured
  bool active = false;
  std::string error;
};

int Find(const Capture& c, const char* name) {
  for (size_t i = 0; i < c.names.size(); i++)
    if (c.names[i] == name) return (int)i;
  return -1;
}

// Accumulated gradients reuse the name ("grad for X" on every partial sum): the last one is the total.
bool Eval(ggml_tensor* t, bool ask, void* ud) {
  Capture* c = static_cast<Capture*>(ud);
  int i = c->active ? Find(*c, t->name) : -1;
  if (ask) return i >= 0;
  if (i < 0) return true;
  if (t->type != GGML_TYPE_F32 || !ggml_is_contiguous(t)) {
    c->error = std::string(t->name) + " is " + ggml_type_name(t->type) + (ggml_is_contiguous(t) ? "" : ", not contiguous");
    return false;
  }
  c->width[i] = t->ne[0];
  c->rows[i] = ggml_nelements(t) / t->ne[0];
  c->grads[i].resize(ggml_nelements(t));
  ggml_backend_tensor_get(t, c->grads[i].data(), 0, ggml_nbytes(t));
  c->seen[i]++;
  return true;
}

ggml_opt_optimizer_params TinyStep(void*) {
  // Both optimizers assert alpha > 0; a step of 1e-38 changes no F32 weight.
  ggml_opt_optimizer_params p = ggml_opt_get_default_optimizer_params(nullptr);
  p.sgd.alpha = 1e-38f;
  p.sgd.wd = 0.0f;
  return p;
}

bool OnlyParam(const ggml_tensor* t, void*) { return strcmp(t->name, kParam) == 0; }

// What llama.cpp would abort on (GGML_ASSERT) is checked first and thrown as a JS error instead.
void CheckFile(Napi::Env env, const std::string& path) {
  gguf_init_params gp = {/*no_alloc*/ true, /*ctx*/ nullptr};
  gguf_context* g = gguf_init_from_file(path.c_str(), gp);
  if (!g) throw Napi::Error::New(env, "llamaBackward: cannot read " + path + " as GGUF");
  int64_t arch_key = gguf_find_key(g, "general.architecture");
  std::string arch = arch_key >= 0 ? gguf_get_val_str(g, arch_key) : "";
  int64_t param = gguf_find_tensor(g, kParam);
  ggml_type param_type = param >= 0 ? gguf_get_tensor_type(g, param) : GGML_TYPE_COUNT;
  gguf_free(g);
  // gpt2's LayerNorm and GELU have no backward in ggml: its training graph would abort the process.
  if (arch != "llama" && arch != "qwen2") throw Napi::Error::New(env, "llamaBackward: architecture \"" + arch + "\" is not supported (llama or qwen2: ggml has no backward for the others' ops)");
  if (param_type != GGML_TYPE_F32) throw Napi::Error::New(env, std::string("llamaBackward: ") + path + " has no F32 tensor " + kParam + " to mark trainable");
}

struct Freer {
  void operator()(llama_model* m) const { llama_model_free(m); }
  void operator()(llama_context* c) const { llama_free(c); }
  void operator()(ggml_opt_dataset* d) const { ggml_opt_dataset_free(d); }
  void operator()(ggml_opt_result* r) const { ggml_opt_result_free(r); }
};

Napi::Value LlamaBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "llamaBackward takes { binsDir, model, tokens, labelA, labelB, layers, threads }");
  Napi::Object o = info[0].As<Napi::Object>();
  std::string bins = o.Get("binsDir").As<Napi::String>();
  std::string path = o.Get("model").As<Napi::String>();
  Napi::Int32Array tokens = o.Get("tokens").As<Napi::Int32Array>();
  int32_t label_a = o.Get("labelA").As<Napi::Number>().Int32Value();
  int32_t label_b = o.Get("labelB").As<Napi::Number>().Int32Value();
  Napi::Array layers = o.Get("layers").As<Napi::Array>();
  int32_t threads = o.Get("threads").As<Napi::Number>().Int32Value();
  const uint32_t n_tokens = (uint32_t)tokens.ElementLength();
  if (n_tokens == 0) throw Napi::RangeError::New(env, "llamaBackward: tokens is empty");

  LogCapture log;
  // The engine's addon shares these libraries: load the backends only if nobody has yet.
  if (ggml_backend_dev_count() == 0) ggml_backend_load_all_from_path(bins.c_str());
  if (ggml_backend_dev_count() == 0) throw Napi::Error::New(env, "llamaBackward: no ggml backend could be loaded from " + bins);
  CheckFile(env, path);

  // 1. No mmap: trainable tensors must be writable. An empty device list keeps everything on the CPU
  // (the recipe was checked there, not on GPU backends the engine may have loaded).
  llama_model_params mp = llama_model_default_params();
  ggml_backend_dev_t no_devices[1] = {nullptr};
  mp.devices = no_devices;
  mp.n_gpu_layers = 0;
  mp.load_mode = LLAMA_LOAD_MODE_NONE;
  std::unique_ptr<llama_model, Freer> model(llama_model_load_from_file(path.c_str(), mp));
  if (!model) throw Napi::Error::New(env, "llamaBackward: llama.cpp could not load " + path + ": " + log.last_error);
  const int32_t n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model.get()));
  const int32_t n_layer = llama_model_n_layer(model.get());
  for (uint32_t i = 0; i < n_tokens; i++)
    if (tokens[i] < 0 || tokens[i] >= n_vocab) throw Napi::RangeError::New(env, "llamaBackward: token " + std::to_string(tokens[i]) + " is outside the vocabulary of " + std::to_string(n_vocab));
  if (label_a < 0 || label_a >= n_vocab || label_b < 0 || label_b >= n_vocab) throw Napi::RangeError::New(env, "llamaBackward: labels must be token ids below " + std::to_string(n_vocab));

  Capture cap;
  for (uint32_t i = 0; i < layers.Length(); i++) {
    int32_t l = layers.Get(i).As<Napi::Number>().Int32Value();
    if (l < 0 || l >= n_layer) throw Napi::RangeError::New(env, "llamaBackward: layer " + std::to_string(l) + " is outside 0.." + std::to_string(n_layer - 1));
    cap.names.push_back("grad for kqv_out-" + std::to_string(l));
  }
  cap.grads.resize(cap.names.size());
  cap.seen.assign(cap.names.size(), 0);
  cap.width.assign(cap.names.size(), 0);
  cap.rows.assign(cap.names.size(), 0);

  // 2. F32 KV cache, no flash attention (no backward), one micro-batch of n_ubatch rows.
  const uint32_t n_ubatch = (n_tokens + 31) / 32 * 32;
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = n_ubatch;
  cp.n_batch = cp.n_ubatch = n_ubatch;
  cp.n_seq_max = 1;
  cp.n_threads = cp.n_threads_batch = threads;
  cp.type_k = cp.type_v = GGML_TYPE_F32;
  cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  cp.op_offload = false;
  cp.cb_eval = &Eval;
  cp.cb_eval_user_data = &cap;
  std::unique_ptr<llama_context, Freer> ctx(llama_init_from_model(model.get(), cp));
  if (!ctx) throw Napi::Error::New(env, "llamaBackward: llama.cpp could not create a context: " + log.last_error);

  // 3. One ordinary decode attaches the eval callback to the scheduler; the training graph reuses it.
  llama_batch batch = llama_batch_get_one(tokens.Data(), (int32_t)n_tokens);
  if (llama_decode(ctx.get(), batch) != 0) throw Napi::Error::New(env, "llamaBackward: the first decode failed: " + log.last_error);
  llama_memory_clear(llama_get_memory(ctx.get()), true);

  // 4. One trainable F32 tensor of the first layer puts every later activation on a gradient path.
  llama_opt_params op = {};
  op.n_ctx_train = n_ubatch;
  op.param_filter = &OnlyParam;
  op.get_opt_pars = &TinyStep;
  op.optimizer_type = GGML_OPT_OPTIMIZER_TYPE_SGD;
  llama_opt_init(ctx.get(), model.get(), op);

  // 5. One datapoint of n_ctx tokens (llama_opt_epoch reads that many); labels are the next tokens.
  const uint32_t n_ctx = llama_n_ctx(ctx.get());
  std::unique_ptr<ggml_opt_dataset, Freer> data(ggml_opt_dataset_init(GGML_TYPE_I32, GGML_TYPE_I32, n_ctx, n_ctx, 1, 1));
  std::vector<int32_t> toks(n_ctx, 0), labels(n_ctx, 0);
  for (uint32_t i = 0; i < n_tokens; i++) toks[i] = tokens[i];
  for (uint32_t i = 0; i + 1 < n_tokens; i++) labels[i] = tokens[i + 1];
  ggml_backend_tensor_set(ggml_opt_dataset_data(data.get()), toks.data(), 0, n_ctx * sizeof(int32_t));

  Napi::Object out = Napi::Object::New(env);
  out.Set("nUbatch", n_ubatch);
  const int32_t labels_ab[2] = {label_a, label_b};
  const char* keys[2] = {"A", "B"};
  cap.active = true;
  for (int pass = 0; pass < 2; pass++) {
    labels[n_tokens - 1] = labels_ab[pass];
    ggml_backend_tensor_set(ggml_opt_dataset_labels(data.get()), labels.data(), 0, n_ctx * sizeof(int32_t));
    std::fill(cap.seen.begin(), cap.seen.end(), 0);
    std::unique_ptr<ggml_opt_result, Freer> train(ggml_opt_result_init()), eval(ggml_opt_result_init());
    llama_opt_epoch(ctx.get(), data.get(), train.get(), eval.get(), /*idata_split=*/1, nullptr, nullptr);
    if (!cap.error.empty()) throw Napi::Error::New(env, "llamaBackward: " + cap.error + ": it cannot be read as a dense F32 array");
    double loss = 0, unc = 0;
    ggml_opt_result_loss(train.get(), &loss, &unc);
    Napi::Array grads = Napi::Array::New(env, cap.names.size());
    for (size_t i = 0; i < cap.names.size(); i++) {
      if (cap.seen[i] == 0) throw Napi::Error::New(env, "llamaBackward: the training graph never computed \"" + cap.names[i] + "\" (the eval callback saw no such node): " + log.last_error);
      if (cap.rows[i] != n_ubatch) throw Napi::Error::New(env, "llamaBackward: " + cap.names[i] + " has " + std::to_string(cap.rows[i]) + " rows, expected n_ubatch = " + std::to_string(n_ubatch));
      const int64_t width = cap.width[i];
      Napi::Float32Array g = Napi::Float32Array::New(env, width * n_tokens);
      memcpy(g.Data(), cap.grads[i].data(), width * n_tokens * sizeof(float));
      grads.Set(i, g);
    }
    out.Set(std::string("loss") + keys[pass], loss);
    out.Set(std::string("grad") + keys[pass], grads);
  }
  out.Set("width", Napi::Number::New(env, cap.names.empty() ? 0.0 : (double)cap.width[0]));
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("llamaBackward", Napi::Function::New(env, LlamaBackward));
  return exports;
}

}  // namespace

NODE_API_MODULE(llama_backward, Init)
