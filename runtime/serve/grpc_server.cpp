#include "serve/grpc_server.hpp"

#include <grpcpp/grpcpp.h>

#include <chrono>

#include "keel/version.hpp"
#include "serve/datatype.hpp"
#include "serve/grpc_codec.hpp"
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
    // Raw contents are viewed in place: the request message lives until the call finishes.
    InferRequest r;
    Outcome decoded = decode_model_infer_request(*req, &r);
    if (!decoded.ok()) return done(ctx, to_grpc(decoded));
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
