#pragma once
// Tooltips of custom-painted views, which have one text per point rather than one per widget: a view's
// event() hands its QEvent::ToolTip here with the text for the point.

#include <QEvent>
#include <QHelpEvent>
#include <QToolTip>
#include <QWidget>
#include <functional>

namespace lowmem::ui {

// True when `event` was a tooltip request (shown, or hidden where the point has no text).
inline bool handleToolTip(QWidget* widget, QEvent* event,
                          const std::function<QString(const QPointF&)>& textAt) {
  if (event->type() != QEvent::ToolTip) return false;
  auto* help = static_cast<QHelpEvent*>(event);
  const QString text = textAt(help->pos());
  if (text.isEmpty()) {
    QToolTip::hideText();
  } else {
    QToolTip::showText(help->globalPos(), text, widget);
  }
  return true;
}

}  // namespace lowmem::ui
