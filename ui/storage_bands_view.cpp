#include "ui/storage_bands_view.h"

#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>
#include <algorithm>
#include <cmath>
#include <functional>

#include "core/format.h"
#include "core/module_path.h"
#include "core/peak_breakdown.h"
#include "core/storage_tensors.h"
#include "core/timeline_series.h"
#include "ui/category_colors.h"
#include "ui/tool_tip_event.h"

namespace lowmem::ui {
namespace {

constexpr double kLeft = 78, kRight = 12, kTop = 58, kBottom = 34;
constexpr double kHeadroom = 1.05;

QString q(const std::string& s) {
  return QString::fromStdString(s);
}

using ToWidget = std::function<QPointF(double, double)>;

// A stepped edge left to right: each step's level `lift` above its bottom until the next step (or `end`).
QPolygonF stepEdge(const std::vector<BandStep>& steps, size_t end, double lift, const ToWidget& at) {
  QPolygonF edge;
  for (size_t k = 0; k < steps.size(); ++k) {
    const double x0 = static_cast<double>(steps[k].point);
    const double x1 =
        k + 1 < steps.size() ? static_cast<double>(steps[k + 1].point) : static_cast<double>(end);
    const double y = static_cast<double>(steps[k].bottom) + lift;
    edge << at(x0, y) << at(x1, y);
  }
  return edge;
}

// A band's outline: along its lower edge left to right, back along the upper edge.
QPolygonF bandPolygon(const std::vector<BandStep>& steps, size_t end, double height, const ToWidget& at) {
  QPolygonF upper = stepEdge(steps, end, height, at);
  std::reverse(upper.begin(), upper.end());
  return stepEdge(steps, end, 0, at) + upper;
}

// Tick spacing of 1, 2 or 5 times a power of ten giving about five ticks.
double tickStep(double range) {
  if (range <= 0) return 1;
  const double raw = range / 5;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0}) {
    if (m * power >= raw) return m * power;
  }
  return 10 * power;
}

}  // namespace

StorageBandsView::StorageBandsView(QWidget* parent) : QWidget(parent) {
  setMouseTracking(true);
  setMinimumSize(400, 250);
}

void StorageBandsView::setRun(std::shared_ptr<const SessionRun> run, StorageBands bands,
                              std::vector<int32_t> tensors) {
  run_ = std::move(run);
  bands_ = std::move(bands);
  tensors_ = std::move(tensors);
  selected_ = -1;
  update();
}

void StorageBandsView::setModuleFilter(const QString& path) {
  module_ = path;
  update();
}

void StorageBandsView::selectStorage(int64_t storage) {
  selected_ = storage;
  update();
}

QRectF StorageBandsView::plot() const {
  return QRectF(kLeft, kTop, std::max(1.0, width() - kLeft - kRight),
                std::max(1.0, height() - kTop - kBottom));
}

double StorageBandsView::yMax() const {
  return run_ ? std::max(1.0, static_cast<double>(run_->profile.peak().total) * kHeadroom) : 1.0;
}

QPointF StorageBandsView::toWidget(double point, double bytes) const {
  const QRectF area = plot();
  const double xs = std::max<double>(1, static_cast<double>(bands_.pointCount));
  return {area.left() + point / xs * area.width(), area.bottom() - bytes / yMax() * area.height()};
}

int StorageBandsView::bandAt(const QPointF& pos) const {
  if (!run_) return -1;
  const QRectF area = plot();
  if (!area.contains(pos)) return -1;
  const double point = (pos.x() - area.left()) / area.width() * static_cast<double>(bands_.pointCount);
  const double bytes = (area.bottom() - pos.y()) / area.height() * yMax();
  return storageBandAt(bands_, run_->profile, point, bytes);
}

QString StorageBandsView::toolTipAt(const QPointF& pos) const {
  const int i = bandAt(pos);
  if (i < 0) {
    if (!run_ || !plot().contains(pos)) return {};
    return QString(
               "smaller storages and those alive before the step (the %1 largest allocated in the step are "
               "bands)")
        .arg(bands_.bands.size());
  }
  const size_t storage = bands_.bands[static_cast<size_t>(i)].storage;
  const auto& s = run_->profile.storages[storage];
  const auto& t = run_->trace;
  const auto& module = t.str(s.module);
  const auto& type = t.moduleType(module);
  const std::string tensor = storage < tensors_.size() ? tensorText(t, tensors_[storage]) : std::string();
  return QString("%1  %2%9\nallocated by %3 in %4%5 (%6), freed in %7\n%8")
      .arg(q(formatBytes(s.bytes)), q(categoryName(s.category)),
           q(t.opName(s.allocOp).empty() ? std::string("(no op)") : t.opName(requestingOp(t, s.allocOp))),
           q(module.empty() ? std::string("(root)") : module), type.empty() ? QString() : q(" : " + type),
           q(phaseName(s.allocPhase)),
           s.freeSeq < 0 ? QString("none (alive at the end)") : q(phaseName(s.freePhase)),
           q(run_->profile.reasonOf(s)))
      .arg(tensor.empty() ? QString() : q("  " + tensor));
}

void StorageBandsView::paintEvent(QPaintEvent*) {
  QPainter painter(this);
  painter.fillRect(rect(), palette().base());
  const QRectF area = plot();
  painter.setPen(palette().text().color());
  if (!run_ || bands_.pointCount == 0) {
    painter.drawText(area, Qt::AlignCenter, "No memory events in this run.");
    return;
  }
  painter.drawText(
      QRectF(kLeft, 2, area.width(), 18), Qt::AlignLeft | Qt::AlignVCenter,
      QString("The %1 largest storages allocated in the step, stacked in allocation order on the rest "
              "(grey); x: memory events in order")
          .arg(bands_.bands.size()));
  painter.setRenderHint(QPainter::Antialiasing, false);
  const auto at = [this](double x, double y) { return toWidget(x, y); };
  painter.setPen(Qt::NoPen);
  painter.setBrush(QColor(205, 205, 205));
  // The rest, from zero up to the level the bands sit on.
  painter.drawPolygon(stepEdge(bands_.others, bands_.pointCount, 0, at) +
                      QPolygonF({at(static_cast<double>(bands_.pointCount), 0), at(0, 0)}));
  for (size_t i = 0; i < bands_.bands.size(); ++i) {
    const auto& band = bands_.bands[i];
    const auto& s = run_->profile.storages[band.storage];
    QColor colour = categoryColor(s.category).lighter(100 + static_cast<int>(i % 3) * 12);
    if (!module_.isEmpty() && !isWithin(run_->trace.str(s.module), module_.toStdString()))
      colour.setAlpha(45);
    painter.setBrush(colour);
    painter.setPen(QPen(colour.darker(125), 0));
    const bool chosen = static_cast<int64_t>(band.storage) == selected_;
    if (chosen) painter.setPen(QPen(selectionColor(), 3));
    painter.drawPolygon(bandPolygon(band.steps, band.endPoint, static_cast<double>(s.bytes), at));
  }
  painter.setBrush(Qt::NoBrush);
  paintPhases(painter, area);
  paintAxes(painter, area);
}

void StorageBandsView::paintPhases(QPainter& painter, const QRectF& area) const {
  painter.setPen(QPen(QColor(80, 80, 80), 1, Qt::DashLine));
  const QFontMetricsF metrics(font());
  double labelEnd[2] = {-1e9, -1e9};  // where each of the two label rows is taken up to
  for (const auto& mark : run_->trace.phases) {
    if (mark.phase == Phase::kBefore) continue;
    const auto point = static_cast<double>(timelinePointAt(run_->profile, mark.seq));
    const double x = toWidget(point, 0).x();
    painter.drawLine(QPointF(x, area.top()), QPointF(x, area.bottom()));
    // A phase with few events puts its line close to the next: labels take a second row rather than overlap,
    // and one near the right edge stands left of its line.
    const QString name = phaseName(mark.phase);
    const double w = metrics.horizontalAdvance(name) + 6;
    const double left = x + w > area.right() ? x - w : x + 3;
    const int row = left >= labelEnd[0] ? 0 : (left >= labelEnd[1] ? 1 : 0);
    labelEnd[row] = left + w;
    painter.drawText(QRectF(left, area.top() - 36 + 18 * row, w, 16), Qt::AlignLeft | Qt::AlignVCenter, name);
  }
  // The peak: a line across at its height, named.
  const double peak = static_cast<double>(run_->profile.peak().total);
  painter.setPen(QPen(Qt::black, 1, Qt::DotLine));
  const double y = toWidget(0, peak).y();
  painter.drawLine(QPointF(area.left(), y), QPointF(area.right(), y));
  painter.drawText(QRectF(area.right() - 200, y - 17, 196, 16), Qt::AlignRight | Qt::AlignVCenter,
                   q("peak " + formatBytes(run_->profile.peak().total)));
}

void StorageBandsView::paintAxes(QPainter& painter, const QRectF& area) const {
  painter.setPen(palette().text().color());
  painter.drawRect(area);
  constexpr double kMiB = 1048576.0;
  const double topMiB = yMax() / kMiB;
  const double step = tickStep(topMiB);
  for (double v = 0; v <= topMiB + 1e-9; v += step) {
    const double y = toWidget(0, v * kMiB).y();
    painter.drawLine(QPointF(area.left() - 4, y), QPointF(area.left(), y));
    painter.drawText(QRectF(0, y - 8, kLeft - 8, 16), Qt::AlignRight | Qt::AlignVCenter,
                     QString::number(v, 'g', 4));
  }
  painter.save();
  painter.translate(12, area.center().y());
  painter.rotate(-90);
  painter.drawText(QRectF(-40, -8, 80, 16), Qt::AlignCenter, "MiB");
  painter.restore();
  painter.drawText(QRectF(area.left(), area.bottom() + 4, area.width(), kBottom - 6), Qt::AlignCenter,
                   QString("memory events in order (%1)").arg(bands_.pointCount));
}

void StorageBandsView::mousePressEvent(QMouseEvent* event) {
  const int i = bandAt(event->position());
  selectStorage(i < 0 ? -1 : static_cast<int64_t>(bands_.bands[static_cast<size_t>(i)].storage));
  Q_EMIT storageClicked(selected_);
}

bool StorageBandsView::event(QEvent* event) {
  if (handleToolTip(this, event, [this](const QPointF& pos) { return toolTipAt(pos); })) return true;
  return QWidget::event(event);
}

}  // namespace lowmem::ui
