#include "ui/pannable_chart_view.h"

#include <QKeyEvent>
#include <QMouseEvent>
#include <QWheelEvent>

namespace lowmem::ui {

PannableChartView::PannableChartView(QWidget* parent) : QChartView(parent) {
  setRubberBand(QChartView::HorizontalRubberBand);
  setFocusPolicy(Qt::StrongFocus);
}

void PannableChartView::mousePressEvent(QMouseEvent* event) {
  const bool pan = event->button() == Qt::MiddleButton ||
                   (event->button() == Qt::LeftButton && (event->modifiers() & Qt::ShiftModifier));
  if (!pan) {
    QChartView::mousePressEvent(event);
    return;
  }
  panning_ = true;
  last_ = event->position();
  setCursor(Qt::ClosedHandCursor);
  event->accept();
}

void PannableChartView::mouseMoveEvent(QMouseEvent* event) {
  if (!panning_) {
    QChartView::mouseMoveEvent(event);
    return;
  }
  // Only along time: the memory axis keeps its range so the peak stays in view.
  chart()->scroll(last_.x() - event->position().x(), 0);
  last_ = event->position();
  event->accept();
}

void PannableChartView::mouseReleaseEvent(QMouseEvent* event) {
  if (!panning_) {
    QChartView::mouseReleaseEvent(event);
    return;
  }
  panning_ = false;
  unsetCursor();
  event->accept();
}

void PannableChartView::wheelEvent(QWheelEvent* event) {
  if (!chart() || event->angleDelta().y() == 0) return;
  // Zoom the time axis around the pointer: scale the plot area's width, keep the pointer's x in place.
  const QRectF area = chart()->plotArea();
  const double factor = event->angleDelta().y() > 0 ? 0.8 : 1.25;
  const double x = event->position().x();
  QRectF r = area;
  r.setWidth(area.width() * factor);
  r.moveLeft(x - (x - area.left()) * factor);
  chart()->zoomIn(r);
  event->accept();
}

void PannableChartView::keyPressEvent(QKeyEvent* event) {
  if (!chart()) return;
  const double step = chart()->plotArea().width() / 10;
  switch (event->key()) {
    case Qt::Key_Left:
      chart()->scroll(-step, 0);
      break;
    case Qt::Key_Right:
      chart()->scroll(step, 0);
      break;
    case Qt::Key_Plus:
      chart()->zoom(1.25);
      break;
    case Qt::Key_Minus:
      chart()->zoom(0.8);
      break;
    case Qt::Key_0:
      chart()->zoomReset();
      break;
    default:
      QChartView::keyPressEvent(event);
      return;
  }
  event->accept();
}

}  // namespace lowmem::ui
