#include "ui/headless_png.h"

#include <QApplication>
#include <QLayout>
#include <QPixmap>
#include <cstdlib>
#include <memory>

#include "core/atomic_file.h"
#include "core/error.h"
#include "ui/qt_log.h"

namespace lowmem::ui {

void saveWidgetPng(const std::function<QWidget*()>& make, int width, int height, const std::string& path) {
  std::unique_ptr<QApplication> app;
  static int argc = 1;
  static char name[] = "lowmem";
  static char* argv[] = {name, nullptr};
  if (!QApplication::instance()) {
    if (!std::getenv("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    routeQtMessagesToLog();
    app = std::make_unique<QApplication>(argc, argv);
  }
  std::unique_ptr<QWidget> w(make());
  w->resize(width, height);
  w->ensurePolished();
  if (w->layout()) w->layout()->activate();
  const QPixmap image = w->grab();
  writeFileAtomically(path, [&](const std::string& tmp) {
    if (!image.save(QString::fromStdString(tmp), "PNG")) throw InputError(path, "cannot write the PNG");
  });
}

}  // namespace lowmem::ui
