// Steer's native bridge to llama.cpp: load a model, tokenize, decode a batch with an evaluation
// callback that hands chosen activations to JavaScript (and writes edits back), read logits, read
// GGUF weights as floats, quantize, abort. Kept deliberately small: all policy lives in
// src/engine (TypeScript); the typed view of this file is src/engine/native.ts.
#include <napi.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml.h"
#include "gguf.h"
#include "grad.h"
#include "llama.h"

namespace {

// ---- log capture: llama.cpp and ggml write here instead of stderr ----

std::mutex g_log_mutex;
std::deque<std::string> g_logs;
std::string g_log_partial;
constexpr size_t kMaxLogLines = 4000;

void LogCallback(enum ggml_log_level level, const char* text, void*) {
  std::lock_guard<std::mutex> lock(g_log_mutex);
  // llama.cpp streams one line in several calls (CONT level); join them at the newline.
  const char* tag = level == GGML_LOG_LEVEL_ERROR ? "error" : level == GGML_LOG_LEVEL_WARN ? "warn"
                    : level == GGML_LOG_LEVEL_DEBUG ? "debug" : "info";
  if (g_log_partial.empty() && level != GGML_LOG_LEVEL_CONT) g_log_partial = std::string(tag) + ": ";
  g_log_partial += text;
  size_t nl;
  while ((nl = g_log_partial.find('\n')) != std::string::npos) {
    g_logs.push_back(g_log_partial.substr(0, nl));
    g_log_partial.erase(0, nl + 1);
    if (!g_log_partial.empty()) g_log_partial = std::string(tag) + ": " + g_log_partial;
    if (g_logs.size() > kMaxLogLines) g_logs.pop_front();
  }
}

bool g_backends_loaded = false;

// init(binsDir, gpuBackends): the CPU backends of binsDir, then each GPU backend library given
// (node-llama-cpp's CUDA or Vulkan build); one that cannot load (no driver) is skipped, and the
// devices list says what loaded.
Napi::Value Init(const Napi::CallbackInfo& info) {
  std::string dir = info[0].As<Napi::String>();
  llama_log_set(LogCallback, nullptr);
  if (!g_backends_loaded) {
    ggml_backend_load_all_from_path(dir.c_str());
    if (info.Length() > 1 && info[1].IsArray()) {
      Napi::Array gpu = info[1].As<Napi::Array>();
      for (uint32_t i = 0; i < gpu.Length(); i++) ggml_backend_load(gpu.Get(i).As<Napi::String>().Utf8Value().c_str());
    }
    llama_backend_init();
    g_backends_loaded = true;
  }
  Napi::Array devices = Napi::Array::New(info.Env());
  for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
    ggml_backend_dev_t dev = ggml_backend_dev_get(i);
    devices.Set(i, Napi::String::New(info.Env(), std::string(ggml_backend_dev_name(dev)) + ": " + ggml_backend_dev_description(dev)));
  }
  return devices;
}

Napi::Value TakeLogs(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(g_log_mutex);
  Napi::Array out = Napi::Array::New(info.Env(), g_logs.size());
  for (size_t i = 0; i < g_logs.size(); i++) out.Set(i, g_logs[i]);
  g_logs.clear();
  return out;
}

Napi::Value Version(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), llama_version());
}

// ---- GGUF metadata and weights (ggml's gguf API, to_float for every tensor type) ----

Napi::Value GgufValue(Napi::Env env, const gguf_context* g, int64_t k) {
  switch (gguf_get_kv_type(g, k)) {
    case GGUF_TYPE_UINT8: return Napi::Number::New(env, gguf_get_val_u8(g, k));
    case GGUF_TYPE_INT8: return Napi::Number::New(env, gguf_get_val_i8(g, k));
    case GGUF_TYPE_UINT16: return Napi::Number::New(env, gguf_get_val_u16(g, k));
    case GGUF_TYPE_INT16: return Napi::Number::New(env, gguf_get_val_i16(g, k));
    case GGUF_TYPE_UINT32: return Napi::Number::New(env, gguf_get_val_u32(g, k));
    case GGUF_TYPE_INT32: return Napi::Number::New(env, gguf_get_val_i32(g, k));
    case GGUF_TYPE_FLOAT32: return Napi::Number::New(env, gguf_get_val_f32(g, k));
    case GGUF_TYPE_UINT64: return Napi::Number::New(env, (double)gguf_get_val_u64(g, k));
    case GGUF_TYPE_INT64: return Napi::Number::New(env, (double)gguf_get_val_i64(g, k));
    case GGUF_TYPE_FLOAT64: return Napi::Number::New(env, gguf_get_val_f64(g, k));
    case GGUF_TYPE_BOOL: return Napi::Boolean::New(env, gguf_get_val_bool(g, k));
    case GGUF_TYPE_STRING: return Napi::String::New(env, gguf_get_val_str(g, k));
    case GGUF_TYPE_ARRAY: {
      // Arrays (vocabularies) can be huge: report their element type and length only.
      Napi::Object o = Napi::Object::New(env);
      o.Set("arrayType", gguf_type_name(gguf_get_arr_type(g, k)));
      o.Set("length", Napi::Number::New(env, (double)gguf_get_arr_n(g, k)));
      return o;
    }
    default: return env.Null();
  }
}

Napi::Value GgufInspect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>();
  gguf_init_params params = {/*no_alloc*/ true, /*ctx*/ nullptr};
  gguf_context* g = gguf_init_from_file(path.c_str(), params);
  if (!g) return env.Null();
  Napi::Object out = Napi::Object::New(env);
  out.Set("version", gguf_get_version(g));
  out.Set("dataOffset", Napi::Number::New(env, (double)gguf_get_data_offset(g)));
  Napi::Object kv = Napi::Object::New(env);
  for (int64_t k = 0; k < gguf_get_n_kv(g); k++) kv.Set(gguf_get_key(g, k), GgufValue(env, g, k));
  out.Set("kv", kv);
  Napi::Array tensors = Napi::Array::New(env);
  for (int64_t t = 0; t < gguf_get_n_tensors(g); t++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", gguf_get_tensor_name(g, t));
    o.Set("type", ggml_type_name(gguf_get_tensor_type(g, t)));
    const int64_t* ne = gguf_get_tensor_ne(g, t);
    Napi::Array shape = Napi::Array::New(env);
    for (int d = 0; d < GGML_MAX_DIMS; d++) shape.Set(d, Napi::Number::New(env, (double)ne[d]));
    o.Set("ne", shape);
    o.Set("offset", Napi::Number::New(env, (double)gguf_get_tensor_offset(g, t)));
    o.Set("size", Napi::Number::New(env, (double)gguf_get_tensor_size(g, t)));
    tensors.Set(t, o);
  }
  out.Set("tensors", tensors);
  gguf_free(g);
  return out;
}

// ggufTensorF32(path, type, offset, bytes, count): one tensor's data, read at `offset` of the file and
// converted to F32 with the type's own to_float. The caller knows where it is from ggufInspect, so the
// header is not parsed again for every weight.
Napi::Value GgufTensorF32(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>();
  std::string type_name = info[1].As<Napi::String>();
  int64_t offset = info[2].As<Napi::Number>().Int64Value();
  size_t bytes = (size_t)info[3].As<Napi::Number>().Int64Value();
  int64_t n = info[4].As<Napi::Number>().Int64Value();
  int type = -1;
  for (int t = 0; t < GGML_TYPE_COUNT && type < 0; t++) {
    const char* name = ggml_type_name((ggml_type)t);
    if (name && type_name == name) type = t;
  }
  if (type < 0) throw Napi::Error::New(env, "unknown ggml type " + type_name);
  if (ggml_row_size((ggml_type)type, n) != bytes) throw Napi::Error::New(env, "tensor size does not match its type and element count");

  std::vector<uint8_t> raw(bytes);
  FILE* f = fopen(path.c_str(), "rb");
  bool ok = f && fseeko(f, (off_t)offset, SEEK_SET) == 0 && fread(raw.data(), 1, bytes, f) == bytes;
  if (f) fclose(f);
  if (!ok) throw Napi::Error::New(env, "could not read " + std::to_string(bytes) + " bytes at offset " + std::to_string(offset) + " of " + path + " (truncated file?)");

  Napi::Float32Array out = Napi::Float32Array::New(env, n);
  if (type == GGML_TYPE_F32) {
    memcpy(out.Data(), raw.data(), n * sizeof(float));
  } else {
    const ggml_type_traits* traits = ggml_get_type_traits((ggml_type)type);
    if (!traits->to_float) throw Napi::Error::New(env, std::string("no float conversion for type ") + type_name);
    traits->to_float(raw.data(), out.Data(), n);
  }
  return out;
}

Napi::Value Quantize(const Napi::CallbackInfo& info) {
  std::string src = info[0].As<Napi::String>();
  std::string dst = info[1].As<Napi::String>();
  llama_model_quantize_params p = llama_model_quantize_default_params();
  p.ftype = (llama_ftype)info[2].As<Napi::Number>().Int32Value();
  p.nthread = info[3].As<Napi::Number>().Int32Value();
  return Napi::Number::New(info.Env(), llama_model_quantize(src.c_str(), dst.c_str(), &p));
}

// Native memory a wrapper owns, reported to V8 (napi_adjust_external_memory) so that garbage
// collection runs when unreferenced models pile up; the wrappers' finalizers free them.
void AdjustExternal(napi_env env, int64_t bytes) {
  int64_t total = 0;
  if (bytes != 0) napi_adjust_external_memory(env, bytes, &total);
}

// ---- model ----

class Model : public Napi::ObjectWrap<Model> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Model", {
      InstanceMethod("info", &Model::Info),
      InstanceMethod("meta", &Model::Meta),
      InstanceMethod("tokenize", &Model::Tokenize),
      InstanceMethod("tokenPiece", &Model::TokenPiece),
      InstanceMethod("detokenize", &Model::Detokenize),
      InstanceMethod("free", &Model::Free),
    });
  }

  Model(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Model>(info) {
    std::string path = info[0].As<Napi::String>();
    Napi::Object opts = info[1].As<Napi::Object>();
    llama_model_params p = llama_model_default_params();
    p.n_gpu_layers = opts.Get("gpuLayers").As<Napi::Number>().Int32Value();
    p.vocab_only = opts.Get("vocabOnly").As<Napi::Boolean>();
    model_ = llama_model_load_from_file(path.c_str(), p);
    if (!model_) throw Napi::Error::New(info.Env(), "llama.cpp could not load " + path);
    // Tell V8 what this small wrapper holds, so that dropping it triggers a collection.
    external_ = (int64_t)llama_model_size(model_);
    AdjustExternal(info.Env(), external_);
  }
  ~Model() override { Release(); }

  llama_model* get() const { return model_; }
  const llama_vocab* vocab() const { return llama_model_get_vocab(model_); }

 private:
  void Release() {
    if (model_) llama_model_free(model_);
    model_ = nullptr;
    AdjustExternal(Env(), -external_);
    external_ = 0;
  }
  void Check(Napi::Env env) const {
    if (!model_) throw Napi::Error::New(env, "model was freed");
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Check(env);
    Napi::Object o = Napi::Object::New(env);
    // A vocabulary-only model has no layers, and llama.cpp aborts when asked for layer 0's heads.
    int32_t n_layer = llama_model_n_layer(model_);
    o.Set("nLayer", n_layer);
    o.Set("nHead", n_layer > 0 ? llama_model_n_head(model_) : 0);
    o.Set("nHeadKv", n_layer > 0 ? llama_model_n_head_kv(model_) : 0);
    o.Set("nEmbd", llama_model_n_embd(model_));
    o.Set("nCtxTrain", llama_model_n_ctx_train(model_));
    o.Set("nVocab", llama_vocab_n_tokens(vocab()));
    o.Set("ftype", (int)llama_model_ftype(model_));
    o.Set("bos", llama_vocab_bos(vocab()));
    o.Set("eos", llama_vocab_eos(vocab()));
    o.Set("addBos", llama_vocab_get_add_bos(vocab()));
    char buf[256];
    llama_model_desc(model_, buf, sizeof(buf));
    o.Set("desc", buf);
    return o;
  }

  Napi::Value Meta(const Napi::CallbackInfo& info) {
    Check(info.Env());
    std::string key = info[0].As<Napi::String>();
    std::vector<char> buf(4096);
    int32_t n = llama_model_meta_val_str(model_, key.c_str(), buf.data(), buf.size());
    if (n < 0) return info.Env().Null();
    return Napi::String::New(info.Env(), buf.data());
  }

  Napi::Value Tokenize(const Napi::CallbackInfo& info) {
    Check(info.Env());
    std::string text = info[0].As<Napi::String>();
    bool add_special = info[1].As<Napi::Boolean>();
    bool parse_special = info[2].As<Napi::Boolean>();
    std::vector<llama_token> toks(text.size() + 8);
    int32_t n = llama_tokenize(vocab(), text.data(), (int32_t)text.size(), toks.data(), (int32_t)toks.size(), add_special, parse_special);
    if (n < 0) {
      toks.resize(-n);
      n = llama_tokenize(vocab(), text.data(), (int32_t)text.size(), toks.data(), (int32_t)toks.size(), add_special, parse_special);
    }
    if (n < 0) throw Napi::Error::New(info.Env(), "tokenization failed");
    Napi::Int32Array out = Napi::Int32Array::New(info.Env(), n);
    memcpy(out.Data(), toks.data(), n * sizeof(int32_t));
    return out;
  }

  // Bytes, not a string: a piece can be part of a UTF-8 character.
  Napi::Value TokenPiece(const Napi::CallbackInfo& info) {
    Check(info.Env());
    llama_token tok = info[0].As<Napi::Number>().Int32Value();
    if (tok < 0 || tok >= llama_vocab_n_tokens(vocab())) throw Napi::RangeError::New(info.Env(), "token id out of range");
    std::vector<char> buf(64);
    int32_t n = llama_token_to_piece(vocab(), tok, buf.data(), (int32_t)buf.size(), 0, true);
    if (n < 0) {
      buf.resize(-n);
      n = llama_token_to_piece(vocab(), tok, buf.data(), (int32_t)buf.size(), 0, true);
    }
    return Napi::Buffer<char>::Copy(info.Env(), buf.data(), n < 0 ? 0 : n);
  }

  Napi::Value Detokenize(const Napi::CallbackInfo& info) {
    Check(info.Env());
    Napi::Int32Array toks = info[0].As<Napi::Int32Array>();
    bool remove_special = info[1].As<Napi::Boolean>();
    bool unparse_special = info[2].As<Napi::Boolean>();
    std::vector<char> buf(toks.ElementLength() * 16 + 16);
    int32_t n = llama_detokenize(vocab(), toks.Data(), (int32_t)toks.ElementLength(), buf.data(), (int32_t)buf.size(), remove_special, unparse_special);
    if (n < 0) {
      buf.resize(-n);
      n = llama_detokenize(vocab(), toks.Data(), (int32_t)toks.ElementLength(), buf.data(), (int32_t)buf.size(), remove_special, unparse_special);
    }
    return Napi::Buffer<char>::Copy(info.Env(), buf.data(), n < 0 ? 0 : n);
  }

  Napi::Value Free(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }

  llama_model* model_ = nullptr;
  int64_t external_ = 0;
};

// ---- context: decode with observed activations ----

class Context : public Napi::ObjectWrap<Context> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Context", {
      InstanceMethod("info", &Context::Info),
      InstanceMethod("observe", &Context::Observe),
      InstanceMethod("decode", &Context::Decode),
      InstanceMethod("logits", &Context::Logits),
      InstanceMethod("clear", &Context::Clear),
      InstanceMethod("seqCopy", &Context::SeqCopy),
      InstanceMethod("setThreads", &Context::SetThreads),
      InstanceMethod("setAbortFlag", &Context::SetAbortFlag),
      InstanceMethod("trace", &Context::Trace),
      InstanceMethod("setControlVector", &Context::SetControlVector),
      InstanceMethod("free", &Context::Free),
    });
  }

  Context(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Context>(info) {
    Napi::Env env = info.Env();
    Model* model = Napi::ObjectWrap<Model>::Unwrap(info[0].As<Napi::Object>());
    model_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
    Napi::Object o = info[1].As<Napi::Object>();
    llama_context_params p = llama_context_default_params();
    p.n_ctx = o.Get("nCtx").As<Napi::Number>().Uint32Value();
    p.n_batch = o.Get("nBatch").As<Napi::Number>().Uint32Value();
    // One micro-batch per decode keeps rows in batch order for the callback (see the shared note).
    p.n_ubatch = p.n_batch;
    p.n_seq_max = o.Get("nSeqMax").As<Napi::Number>().Uint32Value();
    p.n_threads = o.Get("nThreads").As<Napi::Number>().Int32Value();
    p.n_threads_batch = p.n_threads;
    p.kv_unified = true;
    // F32 keeps cached K/V exact (interpretability default); F16 halves the cache's memory.
    p.type_k = p.type_v = o.Get("kvF32").As<Napi::Boolean>() ? GGML_TYPE_F32 : GGML_TYPE_F16;
    // kq_soft_max-L (attn.hook_pattern) only exists without flash attention.
    p.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    p.cb_eval = &Context::EvalCallback;
    p.cb_eval_user_data = this;
    p.abort_callback = &Context::AbortCallback;
    p.abort_callback_data = this;
    p.no_perf = true;
    ctx_ = llama_init_from_model(model->get(), p);
    if (!ctx_) throw Napi::Error::New(env, "llama.cpp could not create a context");
    AttachThreadpool(p.n_threads, o.Get("poll").As<Napi::Number>().Uint32Value());
    // The KV cache dominates a context's memory: 2 (K and V) x layers x cells x KV width.
    const llama_model* m = model->get();
    int64_t kv_width = (int64_t)llama_model_n_embd(m) / llama_model_n_head(m) * llama_model_n_head_kv(m);
    external_ = 2 * (int64_t)llama_model_n_layer(m) * llama_n_ctx(ctx_) * kv_width * (p.type_k == GGML_TYPE_F32 ? 4 : 2);
    AdjustExternal(env, external_);
  }
  ~Context() override { Release(); }

 private:
  // Without a threadpool of its own, the CPU backend creates and joins its threads for every graph
  // compute, and every observed tensor splits the graph into one more compute: keep one pool alive.
  // `poll` (0-100) is how long idle workers spin for the next compute before sleeping: 0 lets them
  // sleep at once, so a busy neighbour process does not stall every graph split.
  void AttachThreadpool(int n_threads, uint32_t poll) {
    ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (!cpu) return;
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(cpu);
    auto* create = (decltype(ggml_threadpool_new)*)ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_new");
    pool_free_ = (decltype(ggml_threadpool_free)*)ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_free");
    if (!create || !pool_free_) return;
    ggml_threadpool_params tpp = ggml_threadpool_params_default(n_threads);
    tpp.poll = poll;
    pool_ = create(&tpp);
    if (pool_) llama_attach_threadpool(ctx_, pool_, pool_);
  }

  void Release() {
    if (ctx_) llama_free(ctx_);
    ctx_ = nullptr;
    if (pool_ && pool_free_) pool_free_(pool_);
    pool_ = nullptr;
    AdjustExternal(Env(), -external_);
    external_ = 0;
  }
  void Check(Napi::Env env) const {
    if (!ctx_) throw Napi::Error::New(env, "context was freed");
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Check(info.Env());
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("nCtx", llama_n_ctx(ctx_));
    o.Set("nBatch", llama_n_batch(ctx_));
    o.Set("nUbatch", llama_n_ubatch(ctx_));
    o.Set("nSeqMax", llama_n_seq_max(ctx_));
    o.Set("nThreads", llama_n_threads(ctx_));
    return o;
  }

  // observe(["l_out-3", "Qcur-2@RESHAPE", ...]): the tensors the next decodes hand to JavaScript,
  // by graph name, optionally restricted to one op (names repeat within a layer).
  Napi::Value Observe(const Napi::CallbackInfo& info) {
    Napi::Array keys = info[0].As<Napi::Array>();
    observed_.clear();
    for (uint32_t i = 0; i < keys.Length(); i++) {
      std::string key = keys.Get(i).As<Napi::String>();
      size_t at = key.find('@');
      std::string name = at == std::string::npos ? key : key.substr(0, at);
      std::string op = at == std::string::npos ? "" : key.substr(at + 1);
      observed_[name].push_back({op, (int)i});
    }
    return info.Env().Undefined();
  }

  int Match(const ggml_tensor* t) const {
    auto it = observed_.find(t->name);
    if (it == observed_.end()) return -1;
    for (const auto& e : it->second)
      if (e.op.empty() || e.op == ggml_op_desc(t)) return e.index;
    return -1;
  }

  static bool EvalCallback(ggml_tensor* t, bool ask, void* user_data) {
    Context* self = static_cast<Context*>(user_data);
    if (ask && self->tracing_) self->trace_.push_back({t->name, ggml_op_desc(t), {t->ne[0], t->ne[1], t->ne[2], t->ne[3]}});
    if (self->observed_.empty() || !self->on_tensor_) return !ask;
    int index = self->Match(t);
    if (ask) return index >= 0;
    if (index < 0) return true;
    return self->Deliver(t, index);
  }

  // Copies the tensor to a Float32Array, calls JS, and writes the array back when JS says it edited it.
  // Returning false stops the graph; the error is rethrown after llama_decode returns.
  bool Deliver(ggml_tensor* t, int index) {
    Napi::Env env = on_tensor_->Env();
    if (t->type != GGML_TYPE_F32 || !ggml_is_contiguous(t)) {
      error_ = std::string("activation ") + t->name + " (" + ggml_op_desc(t) + ") is " + ggml_type_name(t->type) +
               (ggml_is_contiguous(t) ? "" : ", not contiguous") + ": it cannot be read as a dense F32 array";
      return false;
    }
    int64_t n = ggml_nelements(t);
    Napi::Float32Array data = Napi::Float32Array::New(env, n);
    ggml_backend_tensor_get(t, data.Data(), 0, n * sizeof(float));
    Napi::Array ne = Napi::Array::New(env, GGML_MAX_DIMS);
    for (int d = 0; d < GGML_MAX_DIMS; d++) ne.Set(d, Napi::Number::New(env, (double)t->ne[d]));
    Napi::Value result;
    try {
      result = on_tensor_->Call({Napi::Number::New(env, index), data, ne});
    } catch (const Napi::Error& e) {
      js_error_ = Napi::Reference<Napi::Value>::New(e.Value(), 1);
      return false;
    }
    if (result.IsBoolean() && result.As<Napi::Boolean>().Value()) {
      ggml_backend_tensor_set(t, data.Data(), 0, n * sizeof(float));
    }
    return true;
  }

  static bool AbortCallback(void* user_data) {
    Context* self = static_cast<Context*>(user_data);
    return self->abort_flag_ && __atomic_load_n(self->abort_flag_, __ATOMIC_RELAXED) != 0;
  }

  // decode(tokens, positions, seqIds, outputs, onTensor?) -> llama_decode's status.
  Napi::Value Decode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Check(env);
    Napi::Int32Array tokens = info[0].As<Napi::Int32Array>();
    Napi::Int32Array pos = info[1].As<Napi::Int32Array>();
    Napi::Int32Array seq = info[2].As<Napi::Int32Array>();
    Napi::Uint8Array out = info[3].As<Napi::Uint8Array>();
    int32_t n = (int32_t)tokens.ElementLength();
    llama_batch batch = llama_batch_init(n, 0, 1);
    for (int32_t i = 0; i < n; i++) {
      batch.token[i] = tokens[i];
      batch.pos[i] = pos[i];
      batch.n_seq_id[i] = 1;
      batch.seq_id[i][0] = seq[i];
      batch.logits[i] = out[i];
    }
    batch.n_tokens = n;
    Napi::FunctionReference fn;
    if (info.Length() > 4 && info[4].IsFunction()) {
      fn = Napi::Persistent(info[4].As<Napi::Function>());
      on_tensor_ = &fn;
    }
    error_.clear();
    js_error_.Reset();
    int32_t rc = llama_decode(ctx_, batch);
    on_tensor_ = nullptr;
    llama_batch_free(batch);
    if (!js_error_.IsEmpty()) {
      Napi::Value e = js_error_.Value();
      js_error_.Reset();
      throw Napi::Error(env, e);
    }
    if (!error_.empty()) throw Napi::Error::New(env, error_);
    return Napi::Number::New(env, rc);
  }

  // logits(rows) -> Float32Array [rows.length, n_vocab] for batch rows that asked for output.
  Napi::Value Logits(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Check(env);
    Napi::Int32Array rows = info[0].As<Napi::Int32Array>();
    int32_t n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(llama_get_model(ctx_)));
    Napi::Float32Array out = Napi::Float32Array::New(env, rows.ElementLength() * (size_t)n_vocab);
    for (size_t r = 0; r < rows.ElementLength(); r++) {
      float* src = llama_get_logits_ith(ctx_, rows[r]);
      if (!src) throw Napi::Error::New(env, "no logits for batch row " + std::to_string(rows[r]));
      memcpy(out.Data() + r * n_vocab, src, n_vocab * sizeof(float));
    }
    return out;
  }

  Napi::Value Clear(const Napi::CallbackInfo& info) {
    Check(info.Env());
    llama_memory_clear(llama_get_memory(ctx_), true);
    return info.Env().Undefined();
  }

  // seqCopy(src, dst): sequence dst also sees every cell of src (a shared prefix). With kv_unified
  // the cells themselves are shared, not copied.
  Napi::Value SeqCopy(const Napi::CallbackInfo& info) {
    Check(info.Env());
    llama_memory_seq_cp(llama_get_memory(ctx_), info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value(), -1, -1);
    return info.Env().Undefined();
  }

  // setThreads(n): threads the next decodes use, at most the pool's (the rest of the pool sleeps).
  Napi::Value SetThreads(const Napi::CallbackInfo& info) {
    Check(info.Env());
    int32_t n = info[0].As<Napi::Number>().Int32Value();
    llama_set_n_threads(ctx_, n, n);
    return info.Env().Undefined();
  }

  // The kernel's interrupt flag (an Int32Array over a SharedArrayBuffer): index 0 != 0 aborts decoding.
  Napi::Value SetAbortFlag(const Napi::CallbackInfo& info) {
    if (info[0].IsTypedArray()) {
      Napi::Int32Array flag = info[0].As<Napi::Int32Array>();
      abort_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
      abort_flag_ = flag.Data();
    } else {
      abort_ref_.Reset();
      abort_flag_ = nullptr;
    }
    return info.Env().Undefined();
  }

  // trace(true) records every graph node the next decodes visit; trace(false) returns and stops.
  // For finding tensor names when adding an architecture to the hook table.
  Napi::Value Trace(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    tracing_ = info[0].As<Napi::Boolean>();
    Napi::Array out = Napi::Array::New(env, trace_.size());
    for (size_t i = 0; i < trace_.size(); i++) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", trace_[i].name);
      o.Set("op", trace_[i].op);
      Napi::Array ne = Napi::Array::New(env, GGML_MAX_DIMS);
      for (int d = 0; d < GGML_MAX_DIMS; d++) ne.Set(d, Napi::Number::New(env, (double)trace_[i].ne[d]));
      o.Set("ne", ne);
      out.Set(i, o);
    }
    trace_.clear();
    return out;
  }

  // setControlVector(data | null, nEmbd, ilStart, ilEnd) -> llama_set_adapter_cvec's status (0 ok).
  // llama.cpp's own control vector (what --control-vector loads): data holds one n_embd vector per
  // layer starting at layer 1 (llama.cpp never steers layer 0), added to l_out-L for ilStart <= L <= ilEnd.
  // null turns it off. llama.cpp copies the data, so the array need not outlive the call.
  Napi::Value SetControlVector(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Check(env);
    if (!info[0].IsTypedArray()) return Napi::Number::New(env, llama_set_adapter_cvec(ctx_, nullptr, 0, 0, -1, -1));
    Napi::Float32Array data = info[0].As<Napi::Float32Array>();
    int32_t n_embd = info[1].As<Napi::Number>().Int32Value();
    int32_t il_start = info[2].As<Napi::Number>().Int32Value();
    int32_t il_end = info[3].As<Napi::Number>().Int32Value();
    return Napi::Number::New(env, llama_set_adapter_cvec(ctx_, data.Data(), data.ElementLength(), n_embd, il_start, il_end));
  }

  Napi::Value Free(const Napi::CallbackInfo& info) {
    Release();
    model_ref_.Reset();
    return info.Env().Undefined();
  }

  struct Entry {
    std::string op;
    int index;
  };
  struct TraceEntry {
    std::string name;
    std::string op;
    int64_t ne[GGML_MAX_DIMS];
  };
  llama_context* ctx_ = nullptr;
  int64_t external_ = 0;
  ggml_threadpool_t pool_ = nullptr;
  decltype(ggml_threadpool_free)* pool_free_ = nullptr;
  bool tracing_ = false;
  std::vector<TraceEntry> trace_;
  Napi::ObjectReference model_ref_;
  Napi::ObjectReference abort_ref_;
  int32_t* abort_flag_ = nullptr;
  std::unordered_map<std::string, std::vector<Entry>> observed_;
  Napi::FunctionReference* on_tensor_ = nullptr;
  std::string error_;
  Napi::Reference<Napi::Value> js_error_;
};

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  exports.Set("init", Napi::Function::New(env, Init));
  exports.Set("takeLogs", Napi::Function::New(env, TakeLogs));
  exports.Set("version", Napi::Function::New(env, Version));
  exports.Set("ggufInspect", Napi::Function::New(env, GgufInspect));
  exports.Set("ggufTensorF32", Napi::Function::New(env, GgufTensorF32));
  exports.Set("quantize", Napi::Function::New(env, Quantize));
  exports.Set("Model", Model::Define(env));
  exports.Set("Context", Context::Define(env));
  exports.Set("GradModel", steer::DefineGradModel(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(steer_llama, InitModule)
