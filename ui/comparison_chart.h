#pragma once
// The before/after picture of a patch: both memory timelines overlaid (peaks marked) above per-category bars
// of what is alive at each peak. Built from core data only; used by the studio's compare view and rendered
// headless to PNG by `lowmem demo`.

#include <QWidget>
#include <string>

#include "core/session_store.h"

namespace lowmem::ui {

// A widget holding both charts; the caller owns it.
QWidget* makeComparisonCharts(const SessionRun& baseline, const SessionRun& patched,
                              QWidget* parent = nullptr);

// Renders the charts to a PNG file without a display (offscreen Qt platform when no QApplication exists).
// Throws lowmem::InputError naming `path` when it cannot be written.
void saveComparisonPng(const SessionRun& baseline, const SessionRun& patched, const std::string& path);

}  // namespace lowmem::ui
