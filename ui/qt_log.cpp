#include "ui/qt_log.h"

#include <QString>
#include <QtGlobal>

#include <spdlog/spdlog.h>

namespace lowmem::ui {
namespace {

void qtToLog(QtMsgType type, const QMessageLogContext&, const QString& message) {
  if (type == QtCriticalMsg || type == QtFatalMsg) {
    spdlog::error("qt: {}", message.toStdString());
  } else {
    spdlog::debug("qt: {}", message.toStdString());
  }
}

}  // namespace

void routeQtMessagesToLog() {
  qInstallMessageHandler(qtToLog);
}

}  // namespace lowmem::ui
