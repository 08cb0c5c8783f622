#pragma once
// The Flame tab: activation bytes by module path as an icicle (core/icicle_layout.h), heaptrack's flame graph
// turned top down. Same-typed modules share a colour; hovering names a box's path, type and bytes; clicking
// one filters the other views to that module (clicking the root, or outside any box, clears the filter).

#include <QWidget>
#include <map>
#include <string>
#include <vector>

#include "core/icicle_layout.h"

namespace lowmem::ui {

class IcicleView : public QWidget {
  Q_OBJECT

 public:
  explicit IcicleView(QWidget* parent = nullptr);

  // `types`: module classes by path (Trace::moduleTypes), empty for sessions that predate them.
  void setModules(const std::map<std::string, ModuleActivation>& modules,
                  const std::map<std::string, std::string>& types);
  const std::vector<IcicleBox>& boxes() const { return boxes_; }
  // Where box `i` is drawn, in the widget's coordinates.
  QRectF boxRect(size_t i) const;
  // Outlines the box of `path` ("" for none) without emitting anything.
  void select(const QString& path);
  QString selected() const { return selected_; }
  QString toolTipAt(const QPointF& pos) const;

 Q_SIGNALS:
  void moduleClicked(const QString& path);

 protected:
  void paintEvent(QPaintEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;
  bool event(QEvent* event) override;

 private:
  int boxAt(const QPointF& pos) const;
  QString label(const IcicleBox& box) const;

  std::vector<IcicleBox> boxes_;
  std::map<std::string, std::string> types_;
  QString selected_;
  int depth_ = 0;
};

}  // namespace lowmem::ui
