#include "serve/grpc_server.hpp"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstring>

#include "keel/version.hpp"
#include "serve/datatype.hpp"
#include "serve/inference.grpc.pb.h"

namespace keel::serve {

namespace {

grpc::Status to_grpc(const Outcome& o) {
  switch (o.code) {
    case Code::kOk: return grpc::Status::OK;
    case Code::kInvalidArgument: return {grpc::StatusCode::INVALID_ARGUMENT, o.message};
    case Code::kNotFound: return {grpc::StatusCode::NOT_FOUND, o.message};
    case Code::kTooLarge: return {grpc::StatusCode::RESOURCE_EXHAUSTED, o.message};
    case Code::kUnavailable: return {grpc::StatusCode::UNAVAILABLE, o.message};
    case Code::kUnsupported: return {grpc::StatusCode::UNIMPLEMENTED, o.message};
    case Code::kInternal: return {grpc::StatusCode::INTERNAL, o.message};
  }
  return {grpc::StatusCode::INTERNAL, o.message};
}

template <typename Dst, typename Src>
void append_as(std::vector<std::byte>& out, const Src& values) {
  out.resize(static_cast<size_t>(values.size()) * sizeof(Dst));
  for (int i = 0; i < values.size(); ++i) {
    const Dst v = static_cast<Dst>(values[i]);
    std::memcpy(out.data() + static_cast<size_t>(i) * sizeof(Dst), &v, sizeof(Dst));
  }
}

// Typed contents (fp32_contents...) into row-major bytes of `dtype`.
Outcome convert_contents(const inference::InferTensorContents& c, DataType dtype,
                         std::vector<std::byte>& out, const std::string& name) {
  switch (dtype) {
    case DataType::kFloat32: append_as<float>(out, c.fp32_contents()); break;
    case DataType::kFloat64: append_as<double>(out, c.fp64_contents()); break;
    case DataType::kInt8: append_as<int8_t>(out, c.int_contents()); break;
    case DataType::kInt16: append_as<int16_t>(out, c.int_contents()); break;
    case DataType::kInt32: append_as<int32_t>(out, c.int_contents()); break;
    case DataType::kInt64: append_as<int64_t>(out, c.int64_contents()); break;
    case DataType::kUint8: append_as<uint8_t>(out, c.uint_contents()); break;
    case DataType::kUint16: append_as<uint16_t>(out, c.uint_contents()); break;
    case DataType::kUint32: append_as<uint32_t>(out, c.uint_contents()); break;
    case DataType::kUint64: append_as<uint64_t>(out, c.uint64_contents()); break;
    case DataType::kBool: append_as<bool>(out, c.bool_contents()); break;
    default:
      return Outcome::error(
          Code::kInvalidArgument,
          "input '" + name + "': " + datatype_name(dtype) + " must be sent in raw_input_contents");
  }
  return {};
}

struct Converted {
  std::vector<std::vector<std::byte>> buffers;
};

}  // namespace

class Service final : public inference::GRPCInferenceService::CallbackService {
 public:
  explicit Service(ServerState& s) : state_(s) {}

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* ctx,
                                       const inference::ServerLiveRequest*,
                                       inference::ServerLiveResponse* resp) override {
    resp->set_live(state_.live());
    return done(ctx, grpc::Status::OK);
  }
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* ctx,
                                        const inference::ServerReadyRequest*,
                                        inference::ServerReadyResponse* resp) override {
    resp->set_ready(state_.ready());
    return done(ctx, grpc::Status::OK);
  }
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* ctx,
                                       const inference::ModelReadyRequest* req,
                                       inference::ModelReadyResponse* resp) override {
    Outcome why;
    auto runner = state_.repository->find(req->name(), req->version(), &why);
    if (!runner && why.code == Code::kNotFound) return done(ctx, to_grpc(why));
    resp->set_ready(runner != nullptr && !state_.draining);
    return done(ctx, grpc::Status::OK);
  }
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* ctx,
                                           const inference::ServerMetadataRequest*,
                                           inference::ServerMetadataResponse* resp) override {
    resp->set_name("keel");
    resp->set_version(keel::version());
    for (const char* e : {"binary_tensor_data", "model_configuration", "parameters"}) {
      resp->add_extensions(e);
    }
    return done(ctx, grpc::Status::OK);
  }
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* ctx,
                                          const inference::ModelMetadataRequest* req,
                                          inference::ModelMetadataResponse* resp) override {
    Outcome why;
    auto runner = state_.repository->find(req->name(), req->version(), &why);
    if (!runner) return done(ctx, to_grpc(why));
    const ServedModelConfig& c = runner->config();
    resp->set_name(req->name());
    resp->add_versions(runner->version());
    resp->set_platform(c.proto.platform());
    auto fill = [&](const std::vector<TensorConfig>& list, auto* out) {
      for (const TensorConfig& t : list) {
        auto* m = out->Add();
        m->set_name(t.name);
        m->set_datatype(datatype_name(t.dtype));
        if (c.max_batch_size > 0) m->add_shape(-1);
        for (int64_t d : t.dims) m->add_shape(d);
      }
    };
    fill(c.inputs, resp->mutable_inputs());
    fill(c.outputs, resp->mutable_outputs());
    return done(ctx, grpc::Status::OK);
  }
  grpc::ServerUnaryReactor* ModelConfig(grpc::CallbackServerContext* ctx,
                                        const inference::ModelConfigRequest* req,
                                        inference::ModelConfigResponse* resp) override {
    Outcome why;
    auto runner = state_.repository->find(req->name(), req->version(), &why);
    if (!runner) return done(ctx, to_grpc(why));
    *resp->mutable_config() = runner->config().proto;
    return done(ctx, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* ctx,
                                       const inference::ModelInferRequest* req,
                                       inference::ModelInferResponse* resp) override {
    if (state_.draining) {
      return done(ctx, {grpc::StatusCode::UNAVAILABLE, "the server is shutting down"});
    }
    Outcome why;
    auto runner = state_.repository->find(req->model_name(), req->model_version(), &why);
    if (!runner) return done(ctx, to_grpc(why));
    InferRequest r;
    r.model = req->model_name();
    r.version = req->model_version();
    r.id = req->id();
    const bool raw = req->raw_input_contents_size() > 0;
    if (raw && req->raw_input_contents_size() != req->inputs_size()) {
      return done(ctx, {grpc::StatusCode::INVALID_ARGUMENT,
                        "raw_input_contents has " + std::to_string(req->raw_input_contents_size()) +
                            " entries for " + std::to_string(req->inputs_size()) + " inputs"});
    }
    auto converted = std::make_shared<Converted>();
    for (int i = 0; i < req->inputs_size(); ++i) {
      const auto& in = req->inputs(i);
      InputTensor t;
      t.name = in.name();
      auto dtype = datatype_from_name(in.datatype());
      if (!dtype) {
        return done(ctx, {grpc::StatusCode::INVALID_ARGUMENT,
                          "input '" + t.name + "': unknown or unsupported datatype '" +
                              in.datatype() + "'"});
      }
      t.dtype = *dtype;
      t.shape.assign(in.shape().begin(), in.shape().end());
      if (raw) {
        // Viewed in place: the request message lives until the call finishes.
        t.data = req->raw_input_contents(i).data();
        t.bytes = req->raw_input_contents(i).size();
      } else {
        converted->buffers.emplace_back();
        Outcome o = convert_contents(in.contents(), t.dtype, converted->buffers.back(), t.name);
        if (!o.ok()) return done(ctx, to_grpc(o));
        t.data = converted->buffers.back().data();
        t.bytes = converted->buffers.back().size();
      }
      r.inputs.push_back(std::move(t));
    }
    for (const auto& o : req->outputs()) r.outputs.push_back({o.name(), true});
    r.binary_by_default = true;
    r.storage = converted;
    auto* reactor = ctx->DefaultReactor();
    auto in_flight = std::make_shared<InFlight>(state_);
    runner->submit(std::move(r), [reactor, resp, in_flight](InferResult result) {
      if (!result.status.ok()) return reactor->Finish(to_grpc(result.status));
      resp->set_model_name(result.model);
      resp->set_model_version(result.version);
      resp->set_id(result.id);
      for (const OutputTensor& t : result.outputs) {
        auto* o = resp->add_outputs();
        o->set_name(t.name);
        o->set_datatype(datatype_name(t.dtype));
        for (int64_t d : t.shape) o->add_shape(d);
        resp->add_raw_output_contents(static_cast<const char*>(t.data), t.bytes);
      }
      reactor->Finish(grpc::Status::OK);
    });
    return reactor;
  }

 private:
  static grpc::ServerUnaryReactor* done(grpc::CallbackServerContext* ctx, const grpc::Status& st) {
    auto* r = ctx->DefaultReactor();
    r->Finish(st);
    return r;
  }
  ServerState& state_;
};

struct GrpcServer::Impl {
  explicit Impl(ServerState& s) : service(s) {}
  Service service;
  std::unique_ptr<grpc::Server> server;
};

GrpcServer::GrpcServer(ServerState& state) : impl_(std::make_unique<Impl>(state)) {}

GrpcServer::~GrpcServer() { shutdown(0); }

Status GrpcServer::start(const std::string& address, int port, int max_message_bytes) {
  grpc::ServerBuilder builder;
  const std::string where =
      (address.find(':') != std::string::npos ? "[" + address + "]" : address) + ":" +
      std::to_string(port);
  builder.AddListeningPort(where, grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(&impl_->service);
  builder.SetMaxReceiveMessageSize(max_message_bytes);
  builder.SetMaxSendMessageSize(max_message_bytes);
  impl_->server = builder.BuildAndStart();
  if (!impl_->server || port_ == 0) {
    impl_->server.reset();
    return invalid_argument("cannot listen for gRPC on " + where);
  }
  return Status::ok();
}

void GrpcServer::shutdown(double deadline_s) {
  if (!impl_->server) return;
  impl_->server->Shutdown(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(static_cast<int64_t>(deadline_s * 1000)));
  impl_->server->Wait();
  impl_->server.reset();
}

}  // namespace keel::serve
