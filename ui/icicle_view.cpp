#include "ui/icicle_view.h"

#include <QMouseEvent>
#include <QPainter>
#include <algorithm>
#include <functional>

#include "core/format.h"
#include "core/module_path.h"
#include "ui/tool_tip_event.h"

namespace lowmem::ui {
namespace {

constexpr double kRowHeight = 24;
constexpr double kTop = 28;  // room for the title
constexpr double kMargin = 8;

// Warm colours like a flame graph's, one per module type so the repeated blocks of a model read alike.
QColor typeColor(const std::string& type) {
  const auto h = std::hash<std::string>{}(type);
  return QColor::fromHsv(static_cast<int>(h % 50), 90 + static_cast<int>((h >> 8) % 80),
                         225 + static_cast<int>((h >> 16) % 30));
}

QString q(const std::string& s) {
  return QString::fromStdString(s);
}

}  // namespace

IcicleView::IcicleView(QWidget* parent) : QWidget(parent) {
  setMouseTracking(true);
  setMinimumHeight(200);
}

void IcicleView::setModules(const std::map<std::string, ModuleActivation>& modules,
                            const std::map<std::string, std::string>& types) {
  boxes_ = icicleLayout(modules);
  types_ = types;
  depth_ = 0;
  for (const auto& b : boxes_)
    depth_ = std::max(depth_, b.depth + 1);
  selected_.clear();
  setMinimumHeight(static_cast<int>(kTop + kMargin + kRowHeight * depth_));
  update();
}

QRectF IcicleView::boxRect(size_t i) const {
  const auto& b = boxes_[i];
  const double width = std::max(1.0, static_cast<double>(this->width()) - 2 * kMargin);
  return {kMargin + b.x0 * width, kTop + kRowHeight * b.depth, (b.x1 - b.x0) * width, kRowHeight - 1};
}

int IcicleView::boxAt(const QPointF& pos) const {
  const double width = std::max(1.0, static_cast<double>(this->width()) - 2 * kMargin);
  if (pos.y() < kTop) return -1;
  return icicleBoxAt(boxes_, (pos.x() - kMargin) / width, static_cast<int>((pos.y() - kTop) / kRowHeight));
}

QString IcicleView::label(const IcicleBox& box) const {
  const auto leaf = box.path.empty() ? std::string("(root)") : splitLastComponent(box.path).second;
  const auto type = types_.find(box.path);
  const QString typed = type == types_.end() ? q(leaf) : q(leaf + " (" + type->second + ")");
  return typed + "  " + q(formatBytes(box.inclusive));
}

void IcicleView::select(const QString& path) {
  selected_ = path;
  update();
}

QString IcicleView::toolTipAt(const QPointF& pos) const {
  const int i = boxAt(pos);
  if (i < 0) return {};
  const auto& b = boxes_[static_cast<size_t>(i)];
  const auto type = types_.find(b.path);
  const auto& root = boxes_.front();
  return QString("%1%2\n%3 of activations (%4%), %5 allocated by the module's own ops")
      .arg(b.path.empty() ? QString("(root)") : q(b.path))
      .arg(type == types_.end() ? QString() : q(" : " + type->second))
      .arg(q(formatBytes(b.inclusive)))
      .arg(root.inclusive > 0 ? 100.0 * static_cast<double>(b.inclusive) / static_cast<double>(root.inclusive)
                              : 0.0,
           0, 'f', 1)
      .arg(q(formatBytes(b.exclusive)));
}

void IcicleView::paintEvent(QPaintEvent*) {
  QPainter painter(this);
  painter.fillRect(rect(), palette().base());
  painter.setPen(palette().text().color());
  painter.drawText(QRectF(kMargin, 4, width() - 2 * kMargin, kTop - 6), Qt::AlignLeft | Qt::AlignVCenter,
                   boxes_.empty()
                       ? QString("No activations alive when backward starts.")
                       : QString("Activations alive when backward starts, by module (width: bytes; "
                                 "click a module to filter the other views)"));
  const QFontMetricsF metrics(font());
  for (size_t i = 0; i < boxes_.size(); ++i) {
    const QRectF r = boxRect(i);
    if (r.width() < 1) continue;
    const auto type = types_.find(boxes_[i].path);
    painter.fillRect(r, typeColor(type == types_.end() ? boxes_[i].path : type->second));
    const bool chosen = !selected_.isEmpty() && q(boxes_[i].path) == selected_;
    painter.setPen(chosen ? QPen(Qt::black, 2) : QPen(QColor(255, 255, 255), 1));
    painter.drawRect(r);
    if (r.width() > 30) {
      painter.setPen(Qt::black);
      const QString text = metrics.elidedText(label(boxes_[i]), Qt::ElideRight, r.width() - 6);
      painter.drawText(r.adjusted(3, 0, -3, 0), Qt::AlignLeft | Qt::AlignVCenter, text);
    }
  }
}

void IcicleView::mousePressEvent(QMouseEvent* event) {
  const int i = boxAt(event->position());
  const QString path = i <= 0 ? QString() : q(boxes_[static_cast<size_t>(i)].path);
  select(path);
  Q_EMIT moduleClicked(path);
}

bool IcicleView::event(QEvent* event) {
  if (handleToolTip(this, event, [this](const QPointF& pos) { return toolTipAt(pos); })) return true;
  return QWidget::event(event);
}

}  // namespace lowmem::ui
