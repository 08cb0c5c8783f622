#include "ui/comparison_chart.h"

#include <QBarCategoryAxis>
#include <QBarSeries>
#include <QBarSet>
#include <QCategoryAxis>
#include <QChart>
#include <QChartView>
#include <QLineSeries>
#include <QScatterSeries>
#include <QVBoxLayout>
#include <QValueAxis>
#include <algorithm>
#include <vector>

#include "core/format.h"
#include "core/peak_breakdown.h"
#include "core/timeline_series.h"
#include "ui/headless_png.h"

namespace lowmem::ui {
namespace {

constexpr double kMiB = 1048576.0;

QLineSeries* timelineSeries(const SessionRun& run, const QString& name, QScatterSeries* peaks) {
  auto* s = new QLineSeries;
  s->setName(name + " (peak " + QString::fromStdString(formatBytes(run.profile.peak().total)) + ")");
  double peakX = 0;
  int64_t peak = -1;
  for (const auto& p : phaseAlignedTimeline(run.trace, run.profile)) {
    s->append(p.x, static_cast<double>(p.total) / kMiB);
    if (p.total > peak) {
      peak = p.total;
      peakX = p.x;
    }
  }
  peaks->append(peakX, static_cast<double>(peak) / kMiB);
  return s;
}

// The step's phases as labelled ranges of the x axis, one unit each; phases that start after the last memory
// event (an optimizer step that allocates nothing) would only be empty space.
QCategoryAxis* phaseAxis(const SessionRun& run) {
  auto* x = new QCategoryAxis;
  x->setLabelsPosition(QCategoryAxis::AxisLabelsPositionCenter);
  const int64_t last = run.profile.timeline.empty() ? 0 : run.profile.timeline.back().seq;
  int k = 0;
  for (const auto& mark : run.trace.phases) {
    if (k > 0 && mark.seq > last) break;
    x->append(phaseName(mark.phase), ++k);
  }
  x->setRange(0, std::max(1, k));
  x->setTitleText("step progress: each phase drawn the same width, whatever its wall time");
  return x;
}

QChartView* timelineChart(const SessionRun& base, const SessionRun& patched) {
  auto* chart = new QChart;
  chart->setTitle("Memory during one training step: baseline vs patched, aligned by phase");
  auto* peaks = new QScatterSeries;
  peaks->setName("peaks");
  peaks->setMarkerSize(9);
  const std::vector<QAbstractSeries*> series = {timelineSeries(base, "baseline", peaks),
                                                timelineSeries(patched, "patched", peaks), peaks};
  for (auto* s : series)
    chart->addSeries(s);
  auto* x = phaseAxis(base);
  chart->addAxis(x, Qt::AlignBottom);
  // From zero: an axis starting at the lower curve's minimum would enlarge the saving.
  auto* y = new QValueAxis;
  const double top =
      static_cast<double>(std::max(base.profile.peak().total, patched.profile.peak().total)) / kMiB;
  y->setRange(0, top * 1.08 + 1e-9);
  y->setTitleText("allocated (MiB, from zero)");
  chart->addAxis(y, Qt::AlignLeft);
  for (auto* s : series) {
    s->attachAxis(x);
    s->attachAxis(y);
  }
  auto* view = new QChartView(chart);
  view->setRenderHint(QPainter::Antialiasing);
  return view;
}

QChartView* categoryChart(const SessionRun& base, const SessionRun& patched) {
  const auto before = peakBreakdown(base.trace, base.profile).byCategory;
  const auto after = peakBreakdown(patched.trace, patched.profile).byCategory;
  QStringList names;
  for (int c = 0; c < kCategoryCount; ++c)
    names << categoryName(static_cast<Category>(c));
  auto* a = new QBarSet("baseline");
  auto* b = new QBarSet("patched");
  double top = 0;
  for (const auto& n : names) {
    double va = 0, vb = 0;
    for (const auto& [k, v] : before)
      if (QString::fromStdString(k) == n) va = static_cast<double>(v) / kMiB;
    for (const auto& [k, v] : after)
      if (QString::fromStdString(k) == n) vb = static_cast<double>(v) / kMiB;
    *a << va;
    *b << vb;
    top = std::max({top, va, vb});
  }
  auto* series = new QBarSeries;
  series->append(a);
  series->append(b);
  auto* chart = new QChart;
  chart->setTitle("Alive at the peak, by category");
  chart->addSeries(series);
  auto* x = new QBarCategoryAxis;
  x->append(names);
  chart->addAxis(x, Qt::AlignBottom);
  series->attachAxis(x);
  auto* y = new QValueAxis;
  y->setRange(0, top * 1.1 + 1e-9);
  y->setTitleText("MiB");
  chart->addAxis(y, Qt::AlignLeft);
  series->attachAxis(y);
  auto* view = new QChartView(chart);
  view->setRenderHint(QPainter::Antialiasing);
  return view;
}

}  // namespace

QWidget* makeComparisonCharts(const SessionRun& baseline, const SessionRun& patched, QWidget* parent) {
  auto* w = new QWidget(parent);
  auto* layout = new QVBoxLayout(w);
  layout->addWidget(timelineChart(baseline, patched), 3);
  layout->addWidget(categoryChart(baseline, patched), 2);
  return w;
}

void saveComparisonPng(const SessionRun& baseline, const SessionRun& patched, const std::string& path) {
  saveWidgetPng([&] { return makeComparisonCharts(baseline, patched); }, 1200, 900, path);
}

}  // namespace lowmem::ui
