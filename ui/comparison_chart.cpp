#include "ui/comparison_chart.h"

#include <QBarCategoryAxis>
#include <QBarSeries>
#include <QBarSet>
#include <QCategoryAxis>
#include <QChart>
#include <QChartView>
#include <QCheckBox>
#include <QLineSeries>
#include <QScatterSeries>
#include <QVBoxLayout>
#include <QValueAxis>
#include <algorithm>
#include <memory>
#include <vector>

#include "core/format.h"
#include "core/peak_breakdown.h"
#include "core/timeline_series.h"
#include "ui/headless_png.h"

namespace lowmem::ui {
namespace {

constexpr double kMiB = 1048576.0;

// What the before/after chart draws, computed once from the runs: both x axes' points (a few thousand), so
// the wall-time toggle redraws without holding the runs.
struct Curve {
  QString name;
  std::vector<AlignedPoint> byPhase;  // x in phase units (phaseAlignedTimeline)
  std::vector<AlignedPoint> byTime;   // x in ms of wall time from the run's first event
  double lastMs = 0;                  // the run's last event (decimation keeps bucket maxima, not the end)
};

struct Curves {
  Curve baseline;
  Curve patched;
  QStringList phases;  // the baseline's, up to the last memory event
  double topMiB = 0;
};

Curve curveOf(const SessionRun& run, const QString& name) {
  Curve c;
  c.name = name + " (peak " + QString::fromStdString(formatBytes(run.profile.peak().total)) + ")";
  c.byPhase = phaseAlignedTimeline(run.trace, run.profile);
  for (const auto& p : decimatedTimeline(run.profile))
    c.byTime.push_back({p.ms, p.total});
  const auto& tl = run.profile.timeline;
  if (!tl.empty()) c.lastMs = static_cast<double>(tl.back().timeNs - tl.front().timeNs) / 1e6;
  return c;
}

Curves curvesOf(const SessionRun& base, const SessionRun& patched) {
  Curves c{curveOf(base, "baseline"), curveOf(patched, "patched"), {}, 0};
  // Phases that start after the last memory event (an optimizer step that allocates nothing) would only be
  // empty space.
  const int64_t last = base.profile.timeline.empty() ? 0 : base.profile.timeline.back().seq;
  for (const auto& mark : base.trace.phases) {
    if (!c.phases.isEmpty() && mark.seq > last) break;
    c.phases << phaseName(mark.phase);
  }
  c.topMiB = static_cast<double>(std::max(base.profile.peak().total, patched.profile.peak().total)) / kMiB;
  return c;
}

QLineSeries* timelineSeries(const Curve& curve, QScatterSeries* peaks, bool wallTime) {
  auto* s = new QLineSeries;
  s->setName(curve.name);
  double peakX = 0;
  int64_t peak = -1;
  for (const auto& p : wallTime ? curve.byTime : curve.byPhase) {
    s->append(p.x, static_cast<double>(p.total) / kMiB);
    if (p.total > peak) {
      peak = p.total;
      peakX = p.x;
    }
  }
  peaks->append(peakX, static_cast<double>(peak) / kMiB);
  return s;
}

// The step's phases as labelled ranges of the x axis, one unit each.
QCategoryAxis* phaseAxis(const QStringList& phases) {
  auto* x = new QCategoryAxis;
  x->setLabelsPosition(QCategoryAxis::AxisLabelsPositionCenter);
  int k = 0;
  for (const auto& name : phases)
    x->append(name, ++k);
  x->setRange(0, std::max(1, k));
  x->setTitleText("step progress: each phase drawn the same width, whatever its wall time");
  return x;
}

QChart* timelineChart(const Curves& curves, bool wallTime) {
  auto* chart = new QChart;
  chart->setTitle(wallTime ? "Memory during one training step: baseline vs patched, on wall time"
                           : "Memory during one training step: baseline vs patched, aligned by phase");
  auto* peaks = new QScatterSeries;
  peaks->setName("peaks");
  peaks->setMarkerSize(9);
  const std::vector<QAbstractSeries*> series = {timelineSeries(curves.baseline, peaks, wallTime),
                                                timelineSeries(curves.patched, peaks, wallTime), peaks};
  for (auto* s : series)
    chart->addSeries(s);
  QAbstractAxis* x = nullptr;
  if (wallTime) {
    auto* ms = new QValueAxis;
    ms->setTitleText("wall time in the step (ms; a traced step's length varies several times run to run)");
    x = ms;
  } else {
    x = phaseAxis(curves.phases);
  }
  chart->addAxis(x, Qt::AlignBottom);
  // From zero: an axis starting at the lower curve's minimum would enlarge the saving.
  auto* y = new QValueAxis;
  y->setRange(0, curves.topMiB * 1.08 + 1e-9);
  y->applyNiceNumbers();
  y->setTitleText("allocated (MiB, from zero)");
  chart->addAxis(y, Qt::AlignLeft);
  for (auto* s : series) {
    s->attachAxis(x);
    s->attachAxis(y);
  }
  if (wallTime) {
    auto* ms = static_cast<QValueAxis*>(x);
    // After attaching: attaching sets the axis to the series' extent, and decimation keeps bucket maxima, so
    // the last drawn point can be well before the step's end.
    double last = 0;
    for (const auto* curve : {&curves.baseline, &curves.patched})
      last = std::max(last, curve->lastMs);
    ms->setRange(0, last > 0 ? last : 1);
    ms->applyNiceNumbers();
  }
  return chart;
}

QChartView* categoryChart(const SessionRun& base, const SessionRun& patched) {
  const auto before = peakBreakdown(base.trace, base.profile).byCategory;
  const auto after = peakBreakdown(patched.trace, patched.profile).byCategory;
  // Only categories either run has at its peak: eight bars in a third of a window cut their labels short.
  QStringList names;
  for (int c = 0; c < kCategoryCount; ++c) {
    const std::string name = categoryName(static_cast<Category>(c));
    bool any = false;
    for (const auto* side : {&before, &after}) {
      for (const auto& [k, v] : *side)
        any = any || (k == name && v != 0);
    }
    if (any) names << QString::fromStdString(name);
  }
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
  y->applyNiceNumbers();
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
  auto* wallTime = new QCheckBox("x on wall time (default: each phase the same width)");
  wallTime->setObjectName("wallTime");
  layout->addWidget(wallTime, 0, Qt::AlignRight);
  auto curves = std::make_shared<const Curves>(curvesOf(baseline, patched));
  auto* timeline = new QChartView(timelineChart(*curves, false));
  timeline->setObjectName("compareTimeline");
  timeline->setRenderHint(QPainter::Antialiasing);
  layout->addWidget(timeline, 3);
  layout->addWidget(categoryChart(baseline, patched), 2);
  QObject::connect(wallTime, &QCheckBox::toggled, w, [timeline, curves](bool on) {
    auto* old = timeline->chart();
    timeline->setChart(timelineChart(*curves, on));
    delete old;
  });
  return w;
}

void saveComparisonPng(const SessionRun& baseline, const SessionRun& patched, const std::string& path) {
  saveWidgetPng(
      [&] {
        auto* charts = makeComparisonCharts(baseline, patched);
        charts->findChild<QCheckBox*>("wallTime")->hide();  // a control, not part of the figure
        return charts;
      },
      1200, 900, path);
}

}  // namespace lowmem::ui
