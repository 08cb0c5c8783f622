// lowmem-studio's cost of opening a large session: SessionView (read and re-analyse on its worker, fill the
// timeline, module tree and activations table) on a synthetic session, offscreen, against reading and
// re-analysing alone in the same run, and how long the UI thread waits (the rest runs on the view's worker).
// Usage: studio_bench [--ci]   (1,000,000 events; --ci: 100,000)

#include <QApplication>
#include <QEventLoop>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "bench/synthetic_trace.h"
#include "core/profile.h"
#include "core/session_store.h"
#include "ui/session_view.h"

int main(int argc, char** argv) {
  bool ci = false;
  for (int i = 1; i < argc; ++i)
    ci = ci || std::strcmp(argv[i], "--ci") == 0;
  if (!qEnvironmentVariableIsSet("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
  QApplication app(argc, argv);
  const int64_t events = ci ? 100000 : 1000000;
  const auto path = (std::filesystem::temp_directory_path() / "lowmem-studio-bench.db").string();
  std::filesystem::remove(path);
  {
    auto trace = lowmem::bench::syntheticTrace(events);
    auto profile = lowmem::analyseTrace(trace);
    lowmem::RunInfo info;
    info.label = "bench";
    lowmem::SessionWriter(path).writeRun(info, trace, profile);
  }
  using Clock = std::chrono::steady_clock;
  for (int round = 0; round < 3; ++round) {
    const auto t0 = Clock::now();
    lowmem::SessionReader(path).load("bench");
    const double read = std::chrono::duration<double>(Clock::now() - t0).count();
    const auto t1 = Clock::now();
    lowmem::ui::SessionView view(path);
    // What the UI thread waits for before it can paint: opening and checking the file.
    const double blocked = std::chrono::duration<double>(Clock::now() - t1).count();
    view.resize(1400, 900);
    view.show();
    // The run is read on a worker: open ends when its views are filled (waiting in the event loop, as the
    // studio does, not spinning).
    QEventLoop loop;
    QObject::connect(&view, &lowmem::ui::SessionView::runShown, &loop, &QEventLoop::quit);
    if (view.loading()) loop.exec();
    QApplication::processEvents();
    const double open = std::chrono::duration<double>(Clock::now() - t1).count();
    std::cout << "studio: " << events << " events: reopen + re-analysis " << std::fixed
              << std::setprecision(3) << read << " s; SessionView open and render " << open << " s (ratio "
              << open / read << "); UI thread blocked " << blocked << " s\n";
  }
  std::filesystem::remove(path);
  return 0;
}
