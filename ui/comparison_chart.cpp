#include "ui/comparison_chart.h"

#include <QBarCategoryAxis>
#include <QBarSeries>
#include <QBarSet>
#include <QChart>
#include <QChartView>
#include <QLineSeries>
#include <QScatterSeries>
#include <QVBoxLayout>
#include <QValueAxis>

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
  double peakMs = 0;
  int64_t peak = -1;
  for (const auto& p : decimatedTimeline(run.profile)) {
    s->append(p.ms, static_cast<double>(p.total) / kMiB);
    if (p.total > peak) {
      peak = p.total;
      peakMs = p.ms;
    }
  }
  peaks->append(peakMs, static_cast<double>(peak) / kMiB);
  return s;
}

QChartView* timelineChart(const SessionRun& base, const SessionRun& patched) {
  auto* chart = new QChart;
  chart->setTitle("Memory during one training step: baseline vs patched");
  auto* peaks = new QScatterSeries;
  peaks->setName("peaks");
  peaks->setMarkerSize(9);
  chart->addSeries(timelineSeries(base, "baseline", peaks));
  chart->addSeries(timelineSeries(patched, "patched", peaks));
  chart->addSeries(peaks);
  chart->createDefaultAxes();
  chart->axes(Qt::Horizontal).front()->setTitleText("time in the step (ms)");
  chart->axes(Qt::Vertical).front()->setTitleText("allocated (MiB)");
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
