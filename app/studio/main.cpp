// lowmem-studio: the desktop app for inspecting, patching and comparing a model's training-step memory.

#include <QApplication>

#include "ui/main_window.h"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName("lowmem-studio");
  QApplication::setApplicationVersion(LOWMEM_VERSION);
  lowmem::ui::MainWindow window;
  window.show();
  // lowmem-studio FILE: open a model or a session at start.
  const auto args = QApplication::arguments();
  if (args.size() > 1) window.openFile(args.at(1));
  return QApplication::exec();
}
