// lowmem-studio: the desktop app for inspecting, patching and comparing a model's training-step memory.
//   lowmem-studio [FILE]                         open a model (.pt) or a session (.db)
//   lowmem-studio --screenshots DIR SESSION.db   render each view of a session to DIR/*.png and exit

#include <QApplication>
#include <QDir>
#include <QTabWidget>
#include <iostream>
#include <string>

#include "ui/main_window.h"
#include "ui/qt_log.h"
#include "ui/session_view.h"

namespace {

int screenshots(lowmem::ui::MainWindow& window, const QString& dir, const QString& session) {
  const QString error = window.tryOpen(session);
  if (!error.isEmpty()) {
    std::cerr << "lowmem-studio: " << error.toStdString() << "\n";
    return 2;
  }
  QDir().mkpath(dir);
  window.resize(1400, 900);
  window.show();
  auto* view = window.findChild<lowmem::ui::SessionView*>("sessionView");
  auto* tabs = view->tabs();
  for (int i = 0; i < tabs->count(); ++i) {
    tabs->setCurrentIndex(i);
    QApplication::processEvents();
    const QString file = dir + "/studio-" + tabs->tabText(i).toLower() + ".png";
    if (!window.grab().save(file)) {
      std::cerr << "lowmem-studio: " << file.toStdString() << ": cannot write\n";
      return 2;
    }
    std::cout << "wrote " << file.toStdString() << "\n";
  }
  return 0;
}

constexpr const char* kUsage =
    "usage: lowmem-studio [FILE]\n"
    "       lowmem-studio --screenshots DIR SESSION.db\n"
    "\n"
    "Inspect, patch and compare the memory of a model's fine-tuning step.\n"
    "  FILE                 a TorchScript model (.pt) or a lowmem session (.db) to open\n"
    "  --screenshots DIR S  render each view of session S to DIR/studio-VIEW.png and exit\n"
    "  -h, --help           print this and exit\n"
    "  --version            print the version and exit\n"
    "Qt's own options (-platform offscreen, -style ...) are accepted too.\n";

}  // namespace

int main(int argc, char** argv) {
  // Before QApplication, which needs a display: --help must work where there is none.
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      return 0;
    }
    if (arg == "--version") {
      std::cout << "lowmem-studio " << LOWMEM_VERSION << "\n";
      return 0;
    }
  }
  lowmem::ui::routeQtMessagesToLog();
  QApplication app(argc, argv);
  QApplication::setApplicationName("lowmem-studio");
  QApplication::setApplicationVersion(LOWMEM_VERSION);
  // Qt has taken its own options out of the arguments by now; what is left is ours.
  const auto args = QApplication::arguments();
  const bool screenshotRun = args.size() > 1 && args.at(1) == "--screenshots";
  for (int i = 1; i < args.size(); ++i) {
    if (args.at(i).startsWith('-') && !(i == 1 && screenshotRun)) {
      std::cerr << "lowmem-studio: unknown option '" << args.at(i).toStdString() << "' (see --help)\n";
      return 2;
    }
  }
  if (screenshotRun && args.size() != 4) {
    std::cerr << "lowmem-studio: --screenshots takes DIR and SESSION.db (see --help)\n";
    return 2;
  }
  if (!screenshotRun && args.size() > 2) {
    std::cerr << "lowmem-studio: one file at a time (see --help)\n";
    return 2;
  }
  lowmem::ui::MainWindow window;
  if (screenshotRun) return screenshots(window, args.at(2), args.at(3));
  window.show();
  if (args.size() > 1) window.openFile(args.at(1));
  return QApplication::exec();
}
