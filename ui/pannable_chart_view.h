#pragma once
// A chart view for long timelines: drag to zoom into a range (right-click zooms out), the wheel zooms around
// the pointer, and the view pans with a middle-button or Shift+drag and with the arrow keys.

#include <QChartView>

namespace lowmem::ui {

class PannableChartView : public QChartView {
 public:
  explicit PannableChartView(QWidget* parent = nullptr);

 protected:
  void mousePressEvent(QMouseEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void mouseReleaseEvent(QMouseEvent* event) override;
  void wheelEvent(QWheelEvent* event) override;
  void keyPressEvent(QKeyEvent* event) override;

 private:
  bool panning_ = false;
  QPointF last_;
};

}  // namespace lowmem::ui
