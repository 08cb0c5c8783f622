// lowmem-studio: the desktop app for inspecting, patching and comparing a model's training-step memory.
//   lowmem-studio [FILE]                         open a model (.pt) or a session (.db)
//   lowmem-studio --screenshots DIR SESSION.db   render each view of a session to DIR/*.png and exit

#include <QApplication>
#include <QDir>
#include <QTabWidget>
#include <iostream>

#include "ui/main_window.h"
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

}  // namespace

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName("lowmem-studio");
  QApplication::setApplicationVersion(LOWMEM_VERSION);
  lowmem::ui::MainWindow window;
  const auto args = QApplication::arguments();
  if (args.size() == 4 && args.at(1) == "--screenshots") return screenshots(window, args.at(2), args.at(3));
  window.show();
  if (args.size() > 1) window.openFile(args.at(1));
  return QApplication::exec();
}
