// keel serve's flags (tools/keel/serve.cpp); kept apart from commands.hpp so that only this
// subcommand depends on the server library.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "serve/server.hpp"

namespace keel::tools {

void add_serve_options(CLI::App& app, serve::ServerOptions& options, std::string& log_format);
Status serve_command(serve::ServerOptions options, const std::string& log_format);

}  // namespace keel::tools
