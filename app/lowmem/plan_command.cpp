// `lowmem plan`: will the step fit at the sizes a user will train at? Traces small sizes, predicts the peak
// at the asked ones before and after the swaps, and the largest batch a budget allows.

#include <iostream>

#include "app/lowmem/charts.h"
#include "app/lowmem/commands.h"
#include "app/lowmem/spec_options.h"
#include "core/error.h"
#include "core/format.h"
#include "core/plan_report.h"
#include "core/session_store.h"
#include "service/plan_run.h"

namespace lowmem::cli {

void addPlanCommand(CLI::App& app, Action& action) {
  struct Args {
    std::string model;
    SpecArgs spec;
    PlanRequest request;
    std::string budget;
    std::string session;
    std::string png;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "plan", "Predict the peak at the batch and sequence you will train at, before and after the swaps");
  cmd->add_option("model", a->model, "TorchScript model (.pt)")->required();
  addSpecOptions(cmd, a->spec);
  cmd->add_option(flagOf("batch"), a->request.batches, "Batch sizes to predict (default: the spec's)");
  cmd->add_option(flagOf("seq"), a->request.seqs,
                  "Sequence lengths to predict, for token models (dimension 1 of integer inputs)");
  cmd->add_option(flagOf("fit-batch"), a->request.fitBatches,
                  "Batch sizes to trace and fit (default: 2 4 8; batch 1 often allocates differently)");
  cmd->add_option(flagOf("fit-seq"), a->request.fitSeqs,
                  "Sequence lengths to trace and fit (default: 1/4, 1/2 and 3/4 of the spec's)");
  cmd->add_option(
      flagOf("budget"), a->budget,
      "Memory per device, e.g. 24GiB or 80GB: the largest batch that fits, before and after the swaps");
  cmd->add_option(flagOf("shard"), a->request.shard,
                  "Ranks sharing parameters, gradients and optimizer state (ZeRO-3/FSDP model)")
      ->capture_default_str();
  cmd->add_option(flagOf("only"), a->request.selection.only,
                  "Swap only these sites: a kind, a module path or #ORDINAL");
  addBitsOption(cmd, a->request.selection.bits);
  cmd->add_option("-o,--output", a->session, "Store the plan in this session (.db)");
  cmd->add_option("--png", a->png, "Render the peak against the batch size (and the budget) to this PNG");
  cmd->add_flag("--json", a->json, "Print JSON");
  cmd->callback([a, &action] {
    action = [a] {
      const auto spec = resolveSpec(a->spec);
      if (!a->budget.empty()) {
        const auto bytes = parseByteSize(a->budget);
        if (!bytes)
          throw SettingError("budget",
                             "'" + printable(a->budget) + "' is not a size such as 24GiB, 80GB or 512MiB");
        a->request.budgetBytes = *bytes;
      }
      if (!a->png.empty() && !chartsAvailable())
        throw InputError(a->png, std::string("cannot draw a PNG: ") + kNoChartsReason);
      auto inputs = specInputs(a->spec, spec);
      inputs.push_back({"the model", a->model});
      checkOutputs(inputs, {{"the session (-o)", a->session}, {"--png", a->png}});
      if (!a->session.empty()) checkSessionToAppend(a->session);
      const auto plan = planModel(a->model, spec, a->request, cliProgress());
      endProgress();
      const auto record = planJson(plan);
      if (!a->session.empty())
        writeToSession(a->session, [&](SessionWriter& w) { w.writePlan(a->model, record); });
      if (!a->png.empty()) savePlanPng(plan, a->png);
      if (a->json) {
        std::cout << record.dump(2) << "\n";
      } else {
        writePlanText(plan, std::cout);
        if (!a->session.empty()) std::cout << "\nwrote       " << a->session << "\n";
        if (!a->png.empty()) std::cout << "wrote       " << a->png << "\n";
      }
      return 0;
    };
  });
}

}  // namespace lowmem::cli
