#pragma once
// The picture of `lowmem plan`: the predicted peak against the batch (or the sequence, when only it was
// fitted), as the model is and with the swaps, the traced sizes' measured peaks and the budget line. Used by
// the CLI (headless PNG) and the studio's Plan view.

#include <QChartView>
#include <string>

#include "core/plan_report.h"

namespace lowmem::ui {

QChartView* makePlanChart(const Plan& plan, QWidget* parent = nullptr);

// The plan's text (as `lowmem plan` prints it, "planText") beside its chart ("planChart"): what the model
// page and a session's Plan tab show.
QWidget* makePlanPage(const Plan& plan, QWidget* parent = nullptr);

// plan.png; InputError naming `path` when it cannot be written.
void savePlanPng(const Plan& plan, const std::string& path);

}  // namespace lowmem::ui
