#include "ui/plan_chart.h"

#include <QChart>
#include <QFontDatabase>
#include <QLineSeries>
#include <QScatterSeries>
#include <QSplitter>
#include <QTextBrowser>
#include <QValueAxis>
#include <algorithm>
#include <sstream>

#include "core/format.h"
#include "ui/headless_png.h"

namespace lowmem::ui {
namespace {

// MiB for a small model's step, GiB once a peak reaches one.
struct Unit {
  double bytes;
  const char* name;
};
Unit unitFor(const Plan& plan) {
  int64_t top = plan.budgetBytes;
  for (const auto& p : plan.curve)
    top = std::max(top, p.baselinePeak);
  return top >= (int64_t{1} << 30) ? Unit{1073741824.0, "GiB"} : Unit{1048576.0, "MiB"};
}

}  // namespace

QChartView* makePlanChart(const Plan& plan, QWidget* parent) {
  const Unit unit = unitFor(plan);
  const double perUnit = unit.bytes;
  auto* chart = new QChart;
  // Along the sequence when every curve point has the same batch (only the sequence was fitted).
  const bool alongSeq =
      plan.curve.size() > 1 && plan.curve.front().size.batch == plan.curve.back().size.batch;
  const auto x = [alongSeq](const StepSize& s) { return static_cast<double>(alongSeq ? s.seq : s.batch); };
  chart->setTitle(QString("Predicted peak memory by %1%2")
                      .arg(alongSeq ? "sequence length" : "batch size")
                      .arg(plan.shard > 1 ? QString(", per rank over %1 ranks").arg(plan.shard) : QString()));
  auto* baseline = new QLineSeries;
  baseline->setName("as it is");
  auto* patched = new QLineSeries;
  patched->setName(QString("with %1 swaps").arg(plan.chosenSites));
  double top = 0, right = 1;
  for (const auto& p : plan.curve) {
    baseline->append(x(p.size), static_cast<double>(p.baselinePeak) / perUnit);
    patched->append(x(p.size), static_cast<double>(p.patchedPeak) / perUnit);
    top = std::max(top, static_cast<double>(p.baselinePeak) / perUnit);
    right = std::max(right, x(p.size));
  }
  auto* traced = new QScatterSeries;
  traced->setName("measured at the traced sizes");
  traced->setMarkerSize(8);
  for (const auto& t : plan.traced) {
    if (x(t.size) <= right) traced->append(x(t.size), static_cast<double>(t.measuredPeak) / perUnit);
  }
  chart->addSeries(baseline);
  chart->addSeries(patched);
  chart->addSeries(traced);
  if (plan.budgetBytes > 0) {
    auto* budget = new QLineSeries;
    budget->setName(QString::fromStdString("budget " + formatBytes(plan.budgetBytes)));
    budget->append(0, static_cast<double>(plan.budgetBytes) / perUnit);
    budget->append(right, static_cast<double>(plan.budgetBytes) / perUnit);
    QPen pen(Qt::DashLine);
    pen.setColor(QColor(200, 40, 40));
    pen.setWidth(2);
    budget->setPen(pen);
    chart->addSeries(budget);
    top = std::max(top, static_cast<double>(plan.budgetBytes) / perUnit);
  }
  chart->createDefaultAxes();
  auto* xAxis = qobject_cast<QValueAxis*>(chart->axes(Qt::Horizontal).front());
  xAxis->setRange(0, right);
  xAxis->applyNiceNumbers();
  xAxis->setLabelFormat("%d");
  xAxis->setTitleText(alongSeq ? "sequence length" : "batch size");
  auto* yAxis = qobject_cast<QValueAxis*>(chart->axes(Qt::Vertical).front());
  yAxis->setRange(0, top * 1.08 + 1e-9);
  yAxis->applyNiceNumbers();
  yAxis->setTitleText(QString("peak (%1, from zero)").arg(unit.name));
  auto* view = new QChartView(chart, parent);
  view->setRenderHint(QPainter::Antialiasing);
  return view;
}

QWidget* makePlanPage(const Plan& plan, QWidget* parent) {
  auto* page = new QSplitter(Qt::Horizontal, parent);
  page->setObjectName("planPage");
  auto* text = new QTextBrowser;
  text->setObjectName("planText");
  text->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  text->setLineWrapMode(QTextEdit::NoWrap);
  std::ostringstream out;
  writePlanText(plan, out);
  text->setPlainText(QString::fromStdString(out.str()));
  page->addWidget(text);
  auto* chart = makePlanChart(plan);
  chart->setObjectName("planChart");
  page->addWidget(chart);
  page->setStretchFactor(1, 1);
  return page;
}

void savePlanPng(const Plan& plan, const std::string& path) {
  saveWidgetPng([&] { return makePlanChart(plan); }, 1100, 700, path);
}

}  // namespace lowmem::ui
