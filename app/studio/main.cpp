// lowmem-studio: the desktop app for inspecting, patching and comparing a model's training-step memory.

#include <QApplication>

#include "ui/main_window.h"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName("lowmem-studio");
  QApplication::setApplicationVersion(LOWMEM_VERSION);
  lowmem::ui::MainWindow window;
  window.show();
  return QApplication::exec();
}
