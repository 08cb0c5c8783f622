// lowmem: profile, patch and compare the memory of a fine-tuning step from the command line.

#include <c10/util/Exception.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <new>

#include "app/lowmem/commands.h"
#include "app/lowmem/spec_options.h"
#include "core/error.h"
#include "core/log.h"

namespace {

int fail(lowmem::ExitCode code, const std::string& message) {
  std::cerr << "lowmem: " << lowmem::firstLine(message) << "\n";
  return static_cast<int>(code);
}

// CLI11 reports a mistyped command as "A subcommand is required"; name the word the user typed instead.
std::string unknownCommand(CLI::App& app, int argc, char** argv) {
  CLI::App* current = &app;
  std::string where = "lowmem";
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word.empty() || word[0] == '-') continue;
    auto subs = current->get_subcommands([](CLI::App*) { return true; });
    if (subs.empty()) return {};
    std::string known;
    for (auto* sub : subs) {
      if (sub->get_name() == word) {
        current = sub;
        where += " " + word;
        known.clear();
        break;
      }
      known += (known.empty() ? "" : ", ") + sub->get_name();
    }
    if (!known.empty()) return "'" + word + "' is not a command of " + where + " (known: " + known + ")";
  }
  return {};
}

// The files the command was given as positional arguments ("s.db", "m.pt"), for errors that know no file
// of their own, such as running out of memory while reading one.
std::string commandFiles(const CLI::App& app) {
  std::string files;
  for (const auto* command : app.get_subcommands()) {
    for (const auto* opt : command->get_options()) {
      if (!opt->get_positional()) continue;
      for (const auto& value : opt->results())
        files += (files.empty() ? "" : ", ") + value;
    }
    const auto inner = commandFiles(*command);
    if (!inner.empty()) files += (files.empty() ? "" : ", ") + inner;
  }
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lowmem: find and remove activation memory in a fine-tuning step", "lowmem"};
  app.set_version_flag("--version", std::string("lowmem ") + LOWMEM_VERSION);
  app.require_subcommand(1);
  // -v/-q anywhere on the line: `lowmem profile m.pt -q` as well as `lowmem -q profile m.pt`. Inherited by
  // the subcommands added below.
  app.fallthrough();
  bool verbose = false;
  bool quiet = false;
  app.add_flag("-v,--verbose", verbose, "Log debug detail to stderr");
  app.add_flag("-q,--quiet", quiet, "Log only warnings and errors");

  lowmem::cli::Action action;
  lowmem::cli::addInfoCommand(app, action);
  lowmem::cli::addModelsCommand(app, action);
  lowmem::cli::addProfileCommands(app, action);
  lowmem::cli::addPatchCommands(app, action);
  lowmem::cli::addDemoCommand(app, action);
  lowmem::cli::addValidateCommand(app, action);
  lowmem::cli::addPlanCommand(app, action);

  if (auto unknown = unknownCommand(app, argc, argv); !unknown.empty()) {
    return fail(lowmem::ExitCode::kBadInput, unknown);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return fail(lowmem::ExitCode::kBadInput, std::string(e.what()) + " (run lowmem --help)");
  } catch (const lowmem::SettingError& e) {  // a choice or regex refused while the flags were read
    return fail(e.exitCode(), lowmem::cli::flagOf(e.setting()) + ": " + e.problem());
  }

  lowmem::configureLogging(quiet ? lowmem::Verbosity::kQuiet
                                 : (verbose ? lowmem::Verbosity::kVerbose : lowmem::Verbosity::kNormal));
  try {
    return action ? action() : 0;
  } catch (const lowmem::SettingError& e) {
    return fail(e.exitCode(), lowmem::cli::flagOf(e.setting()) + ": " + e.problem());
  } catch (const lowmem::Error& e) {
    return fail(e.exitCode(), e.what());
  } catch (const std::bad_alloc&) {
    // Memory the input asked for (a huge session, spec or shape) that is not there: the input's size, exit 2.
    const auto files = commandFiles(app);
    return fail(lowmem::ExitCode::kBadInput,
                (files.empty() ? "" : files + ": ") +
                    "out of memory (std::bad_alloc): the files or shapes given need more memory than this "
                    "machine has");
  } catch (const c10::Error& e) {
    return fail(lowmem::ExitCode::kModelFailed, lowmem::modelErrorLine(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    // TorchScript's interpreter errors put the real error on their last line.
    return fail(lowmem::ExitCode::kFailure, lowmem::modelErrorLine(e.what()));
  }
}
